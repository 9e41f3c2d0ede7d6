//===- ir/Types.cpp -------------------------------------------------------===//
#include "ir/Types.h"

#include <fmt/format.h>

namespace dlc {

const char *dtypeName(DType t) {
  switch (t) {
  case DType::F32: return "f32";
  case DType::I32: return "i32";
  }
  return "?";
}

std::optional<DType> parseDType(std::string_view s) {
  if (s == "f32") return DType::F32;
  if (s == "i32") return DType::I32;
  return std::nullopt;
}

std::string Dim::str() const { return isSymbolic() ? symbol_ : std::to_string(value_); }

std::string shapeStr(const Shape &s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ", ";
    out += s[i].str();
  }
  return out + "]";
}

bool isKnown(const Shape &s) {
  for (const Dim &d : s)
    if (d.isSymbolic()) return false;
  return true;
}

std::optional<int64_t> numElements(const Shape &s) {
  int64_t n = 1;
  for (const Dim &d : s) {
    if (d.isSymbolic() || __builtin_mul_overflow(n, d.value(), &n)) return std::nullopt;
  }
  return n;
}

std::string TensorType::str() const { return std::string(dtypeName(dtype)) + shapeStr(shape); }

} // namespace dlc
