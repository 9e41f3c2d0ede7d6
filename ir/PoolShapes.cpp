//===- ir/PoolShapes.cpp - Result types of the pooling ops ----------------===//
//
// Every pooling op checks one geometry (ir/PoolGeometry.h): the image
// [C, H, W] or [N, C, H, W] with known H and W, valid kernel, stride and pad
// attributes, and a window that fits the padded image. The gradient and
// gather ops then match their other operand against the image or the
// pooled shape.
//
//===----------------------------------------------------------------------===//
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "ir/PoolGeometry.h"
#include "ir/ShapeRules.h"

namespace dlc {

namespace {

TypeOrError ok(Shape s) { return {{DType::F32, std::move(s)}, {}}; }

std::optional<std::string> requireF32(OpKind kind, const std::vector<TensorType> &ops) {
  for (const auto &t : ops)
    if (t.dtype != DType::F32) return fmt::format("'{}' needs f32 operands, got {}", mnemonic(kind), t.str());
  return std::nullopt;
}

/// The pooled shape of image `x`, or an error.
TypeOrError pooledShape(OpKind kind, const Shape &x, const Attrs &attrs) {
  const char *op = mnemonic(kind);
  if (std::string why = checkPoolAttrs(op, attrs); !why.empty()) return TypeOrError::fail(why);
  if (kind != OpKind::AvgPool2D && kind != OpKind::AvgPool2DBwd && attrs.has("count_include_pad"))
    return TypeOrError::fail(fmt::format("'{}' takes no count_include_pad (max pooling never counts)", op));
  if (x.size() != 3 && x.size() != 4)
    return TypeOrError::fail(fmt::format("'{}' needs a [C, H, W] image, got {}", op, shapeStr(x)));
  for (const Dim &d : x)
    if (d.isKnown() && d.value() < 1)
      return TypeOrError::fail(fmt::format("'{}' needs an image of positive extents, got {}", op, shapeStr(x)));
  size_t c = x.size() - 3;
  if (!x[c + 1].isKnown() || !x[c + 2].isKnown())
    return TypeOrError::fail(fmt::format("'{}' needs an image of known height and width, got {}", op, shapeStr(x)));
  auto kernel = attrs.getInts("kernel"), stride = attrs.getInts("stride"), pad = attrs.getInts("pad");
  auto oh = poolOutExtent(x[c + 1].value(), kernel[0], stride[0], pad[0], pad[2]);
  auto ow = poolOutExtent(x[c + 2].value(), kernel[1], stride[1], pad[1], pad[3]);
  if (!oh || !ow)
    return TypeOrError::fail(fmt::format("'{}': the {}x{} window does not fit image {} with pad [{}]", op, kernel[0],
                                         kernel[1], shapeStr(x), fmt::join(pad, ", ")));
  Shape out(x.begin(), x.begin() + long(c) + 1);
  out.insert(out.end(), {Dim(*oh), Dim(*ow)});
  return ok(out);
}

} // namespace

TypeOrError inferPool2D(OpKind kind, const std::vector<TensorType> &ops, const Attrs &attrs) {
  if (auto e = requireF32(kind, ops)) return TypeOrError::fail(*e);
  return pooledShape(kind, ops[0].shape, attrs);
}

// maxpool2d_gather(x, h): h is read where x has its maxima, so it has x's shape.
TypeOrError inferMaxPool2DGather(OpKind kind, const std::vector<TensorType> &ops, const Attrs &attrs) {
  if (auto e = requireF32(kind, ops)) return TypeOrError::fail(*e);
  if (ops[1].shape != ops[0].shape)
    return TypeOrError::fail(fmt::format("'maxpool2d_gather': values {} do not match image {}", shapeStr(ops[1].shape),
                                         shapeStr(ops[0].shape)));
  return pooledShape(kind, ops[0].shape, attrs);
}

// maxpool2d_bwd(x, g): g has the pooled shape; the result, x's.
TypeOrError inferMaxPool2DBwd(OpKind kind, const std::vector<TensorType> &ops, const Attrs &attrs) {
  if (auto e = requireF32(kind, ops)) return TypeOrError::fail(*e);
  TypeOrError fwd = pooledShape(kind, ops[0].shape, attrs);
  if (!fwd.ok()) return fwd;
  if (fwd.type.shape != ops[1].shape)
    return TypeOrError::fail(fmt::format("'maxpool2d_bwd': gradient {} does not match output {}",
                                         shapeStr(ops[1].shape), shapeStr(fwd.type.shape)));
  return ok(ops[0].shape);
}

// avgpool2d_bwd(g) {shape}: g has the pooled shape of `shape`, the result's.
TypeOrError inferAvgPool2DBwd(OpKind kind, const std::vector<TensorType> &ops, const Attrs &attrs) {
  if (auto e = requireF32(kind, ops)) return TypeOrError::fail(*e);
  if (!attrs.has("shape")) return TypeOrError::fail("'avgpool2d_bwd' needs the image's shape (a 'shape' attribute)");
  Shape x = attrs.getShape("shape");
  TypeOrError fwd = pooledShape(kind, x, attrs);
  if (!fwd.ok()) return fwd;
  if (fwd.type.shape != ops[0].shape)
    return TypeOrError::fail(fmt::format("'avgpool2d_bwd': gradient {} does not match output {}",
                                         shapeStr(ops[0].shape), shapeStr(fwd.type.shape)));
  return ok(x);
}

} // namespace dlc
