//===- ir/Op.cpp - The op table, materialized -----------------------------===//
#include "ir/Op.h"

#include "ir/ShapeRules.h"

namespace dlc {

const std::vector<OpInfo> &allOps() {
  static const std::vector<OpInfo> table = {
#define OP(Enum, Mnemonic, Arity, Shape, Flags) {OpKind::Enum, Mnemonic, Arity, &Shape, unsigned(Flags)},
#include "ir/Ops.def"
  };
  return table;
}

const OpInfo &opInfo(OpKind k) { return allOps()[size_t(k)]; }

std::optional<OpKind> opKindFromMnemonic(std::string_view m) {
  for (const OpInfo &info : allOps())
    if (m == info.mnemonic) return info.kind;
  return std::nullopt;
}

} // namespace dlc
