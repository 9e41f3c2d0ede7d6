//===- ir/DerivativeShapes.cpp - Result types of the derivative requests --===//
//
// jvp(y, x, t) has y's type; hvp(f, x, v) has x's; jacobian(y, x) is the
// matrix dy/dx of shape y.shape ++ x.shape. The direction has x's shape.
//
//===----------------------------------------------------------------------===//
#include <fmt/format.h>

#include "ir/ShapeRules.h"

namespace dlc {

namespace {

TypeOrError checkDirection(const char *op, const TensorType &x, const TensorType &dir) {
  if (x.shape != dir.shape)
    return TypeOrError::fail(fmt::format("{}: the direction must have the shape of the variable, {}; got {}", op,
                                         shapeStr(x.shape), shapeStr(dir.shape)));
  return {};
}

} // namespace

TypeOrError inferJvp(OpKind, const std::vector<TensorType> &ops, const Attrs &) {
  if (auto e = checkDirection("jvp", ops[1], ops[2]); !e.ok()) return e;
  return {ops[0], {}};
}

TypeOrError inferHvp(OpKind, const std::vector<TensorType> &ops, const Attrs &) {
  if (!ops[0].isScalar())
    return TypeOrError::fail(fmt::format("hvp: the function must be a scalar, got {}", shapeStr(ops[0].shape)));
  if (auto e = checkDirection("hvp", ops[1], ops[2]); !e.ok()) return e;
  return {ops[1], {}};
}

TypeOrError inferJacobian(OpKind, const std::vector<TensorType> &ops, const Attrs &) {
  if (ops[0].rank() != 1 || ops[1].rank() != 1)
    return TypeOrError::fail(fmt::format("jacobian: needs a vector of a vector, got d{}/d{}", shapeStr(ops[0].shape),
                                         shapeStr(ops[1].shape)));
  Shape s = ops[0].shape;
  s.insert(s.end(), ops[1].shape.begin(), ops[1].shape.end());
  return {{DType::F32, s}, {}};
}

} // namespace dlc
