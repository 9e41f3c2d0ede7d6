//===- ir/SliceShapes.cpp - Result types of slice and concat --------------===//
//
// slice(x) {axis, start, end} keeps x[start:end] along one axis
// (0 <= start < end <= extent); concat(a, b) {axis} puts b after a along one
// axis, every other dim equal. The axis extents must be known (a slice or a
// concatenation along the batch dim is not a per-sample operation).
//
//===----------------------------------------------------------------------===//
#include <fmt/format.h>

#include "ir/ShapeRules.h"

namespace dlc {

namespace {

TypeOrError ok(DType t, Shape s) { return {{t, std::move(s)}, {}}; }

/// The axis attribute of an op on `s`, or an error.
std::optional<std::string> checkAxis(const char *op, const Shape &s, int64_t axis) {
  if (axis < 0 || axis >= int64_t(s.size()))
    return fmt::format("'{}': axis {} is out of range for {}", op, axis, shapeStr(s));
  if (s[size_t(axis)].isSymbolic())
    return fmt::format("'{}': axis {} of {} is the batch dim", op, axis, shapeStr(s));
  return std::nullopt;
}

} // namespace

TypeOrError inferSlice(OpKind, const std::vector<TensorType> &ops, const Attrs &attrs) {
  const Shape &s = ops[0].shape;
  int64_t axis = attrs.getInt("axis", -1), start = attrs.getInt("start", -1), end = attrs.getInt("end", -1);
  if (auto e = checkAxis("slice", s, axis)) return TypeOrError::fail(*e);
  int64_t extent = s[size_t(axis)].value();
  if (start < 0 || end > extent || start >= end)
    return TypeOrError::fail(fmt::format("slice [{}:{}] is out of range for axis {} of {} (0..{})", start, end,
                                         axis, shapeStr(s), extent));
  Shape out = s;
  out[size_t(axis)] = Dim(end - start);
  return ok(ops[0].dtype, out);
}

TypeOrError inferConcat(OpKind, const std::vector<TensorType> &ops, const Attrs &attrs) {
  const Shape &a = ops[0].shape, &b = ops[1].shape;
  int64_t axis = attrs.getInt("axis", -1);
  if (ops[0].dtype != DType::F32 || ops[1].dtype != DType::F32)
    return TypeOrError::fail(fmt::format("'concat' needs f32 operands, got {} and {}", ops[0].str(), ops[1].str()));
  if (a.size() != b.size())
    return TypeOrError::fail(fmt::format("cannot concatenate {} and {}: ranks differ", shapeStr(a), shapeStr(b)));
  if (auto e = checkAxis("concat", a, axis)) return TypeOrError::fail(*e);
  if (auto e = checkAxis("concat", b, axis)) return TypeOrError::fail(*e);
  for (size_t i = 0; i < a.size(); ++i)
    if (int64_t(i) != axis && a[i] != b[i])
      return TypeOrError::fail(fmt::format("cannot concatenate {} and {} along axis {}: dim {} differs ({} vs {})",
                                           shapeStr(a), shapeStr(b), axis, i, a[i].str(), b[i].str()));
  Shape out = a;
  out[size_t(axis)] = Dim(a[size_t(axis)].value() + b[size_t(axis)].value());
  return ok(DType::F32, out);
}

} // namespace dlc
