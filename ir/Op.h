//===- ir/Op.h - Op kinds and their static description --------------------===//
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ir/Attributes.h"
#include "ir/Types.h"

namespace dlc {

enum class OpKind : uint8_t {
#define OP(Enum, Mnemonic, Arity, Shape, Flags) Enum,
#include "ir/Ops.def"
};

/// Bits of an op table row's flags column.
enum OpFlag : unsigned {
  None = 0,
  Leaf = 1u << 0,
  Elementwise = 1u << 1,
  NoGrad = 1u << 2,
  Derivative = 1u << 3,
};

/// A result type, or why none exists (message without location).
struct TypeOrError {
  TensorType type;
  std::string error;
  bool ok() const { return error.empty(); }
  static TypeOrError fail(std::string msg) { return {{}, std::move(msg)}; }
};

/// Computes the result type of an op from its operand types and attributes.
using ShapeRule = TypeOrError (*)(OpKind kind, const std::vector<TensorType> &operands,
                                 const Attrs &attrs);

struct OpInfo {
  OpKind kind;
  const char *mnemonic;
  int arity;
  ShapeRule infer;
  unsigned flags;

  bool is(OpFlag f) const { return (flags & f) != 0; }
};

const OpInfo &opInfo(OpKind k);
/// Every row of the op table, in table order.
const std::vector<OpInfo> &allOps();
std::optional<OpKind> opKindFromMnemonic(std::string_view mnemonic);
inline const char *mnemonic(OpKind k) { return opInfo(k).mnemonic; }

} // namespace dlc
