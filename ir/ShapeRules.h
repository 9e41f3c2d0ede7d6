//===- ir/ShapeRules.h - Result-type rules named by the op table ----------===//
#pragma once

#include "ir/Op.h"

namespace dlc {

#define DLC_SHAPE_RULE(Name) \
  TypeOrError Name(OpKind kind, const std::vector<TensorType> &ops, const Attrs &attrs);
DLC_SHAPE_RULE(inferLeaf)
DLC_SHAPE_RULE(inferUnary)
DLC_SHAPE_RULE(inferBinary)
DLC_SHAPE_RULE(inferMatMul)
DLC_SHAPE_RULE(inferTranspose)
DLC_SHAPE_RULE(inferReshape)
DLC_SHAPE_RULE(inferBroadcast)
DLC_SHAPE_RULE(inferSlice)
DLC_SHAPE_RULE(inferConcat)
DLC_SHAPE_RULE(inferReduce)
DLC_SHAPE_RULE(inferSoftmax)
DLC_SHAPE_RULE(inferOneHot)
DLC_SHAPE_RULE(inferConv2D)
DLC_SHAPE_RULE(inferConv2DBwdData)
DLC_SHAPE_RULE(inferConv2DBwdFilter)
DLC_SHAPE_RULE(inferPool2D) // PoolShapes.cpp
DLC_SHAPE_RULE(inferMaxPool2DGather)
DLC_SHAPE_RULE(inferMaxPool2DBwd)
DLC_SHAPE_RULE(inferAvgPool2DBwd)
DLC_SHAPE_RULE(inferJvp) // DerivativeShapes.cpp
DLC_SHAPE_RULE(inferHvp)
DLC_SHAPE_RULE(inferJacobian)
DLC_SHAPE_RULE(inferSelectMode) // ModeShapes.cpp
DLC_SHAPE_RULE(inferBatchMean)
#undef DLC_SHAPE_RULE

/// Result type of an op of this kind, or why it has none.
TypeOrError inferType(OpKind kind, const std::vector<TensorType> &operands, const Attrs &attrs);

/// The numpy broadcast of two shapes (aligned at the right), if compatible.
std::optional<Shape> broadcastShapes(const Shape &a, const Shape &b);

/// Output extent of a convolution window: (in + 2 pad - k) / stride + 1.
std::optional<Dim> convOutDim(const Dim &in, int64_t k, int64_t stride, int64_t pad);

} // namespace dlc
