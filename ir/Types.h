//===- ir/Types.h - Element types, dims and shapes of IR values -----------===//
//
// A value's type is an element type and a shape. A dim is either a known
// extent or a symbol (the batch dim `N` added by the batching pass).
//
//===----------------------------------------------------------------------===//
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace dlc {

enum class DType { F32, I32 };

const char *dtypeName(DType t);
std::optional<DType> parseDType(std::string_view s);

/// One extent of a shape: a non-negative integer or a named symbol.
class Dim {
public:
  Dim() = default;
  Dim(int64_t v) : value_(v) {}
  static Dim symbol(std::string name) {
    Dim d;
    d.symbol_ = std::move(name);
    return d;
  }

  bool isSymbolic() const { return !symbol_.empty(); }
  bool isKnown() const { return symbol_.empty(); }
  int64_t value() const { return value_; }
  const std::string &symbolName() const { return symbol_; }

  bool operator==(const Dim &o) const {
    return symbol_ == o.symbol_ && (isSymbolic() || value_ == o.value_);
  }
  bool operator!=(const Dim &o) const { return !(*this == o); }
  std::string str() const;

private:
  int64_t value_ = 0;
  std::string symbol_;
};

/// The symbol for the batch dimension.
inline const char *kBatchSymbol = "N";

using Shape = std::vector<Dim>;

std::string shapeStr(const Shape &s); ///< "[128, 784]", "[]" for a scalar
bool isKnown(const Shape &s);         ///< no symbolic dims
/// Number of elements, if every dim is known and the count fits in int64.
std::optional<int64_t> numElements(const Shape &s);

struct TensorType {
  DType dtype = DType::F32;
  Shape shape;

  int64_t rank() const { return int64_t(shape.size()); }
  bool isScalar() const { return shape.empty(); }
  bool operator==(const TensorType &o) const { return dtype == o.dtype && shape == o.shape; }
  bool operator!=(const TensorType &o) const { return !(*this == o); }
  std::string str() const; ///< "f32[128, 784]"
};

} // namespace dlc
