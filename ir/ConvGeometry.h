//===- ir/ConvGeometry.h - The extents of a convolution, computed once ----===//
//
// conv2d and its two backward ops share one geometry: image [C, H, W] (an
// optional leading batch dim), filter [O, C, KH, KW], output [O, OH, OW] with
// OH = (H + 2 padH - KH) / strideH + 1 (likewise OW). The shape rules, the
// interpreter and the code generator all take it from here.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "ir/Attributes.h"
#include "ir/Graph.h"

namespace dlc {

/// Output extent of a convolution window, (in + 2 pad - k) / stride + 1, or
/// nothing when the window does not fit (or stride < 1, pad < 0).
std::optional<int64_t> convOutExtent(int64_t in, int64_t k, int64_t stride, int64_t pad);

struct ConvGeometry {
  int64_t C, H, W, O, KH, KW, strideH, strideW, padH, padW, OH, OW;
  bool batched;   ///< the image has a leading batch dimension
  int64_t images; ///< that dimension's extent: 1 without one, 0 while it is symbolic
  int64_t taps() const { return C * KH * KW; } ///< rows of the im2col matrix
  int64_t pixels() const { return OH * OW; }   ///< its columns
};

/// The geometry of concrete image and filter extents under a conv's
/// `stride` and `pad` attributes ([h, w] pairs; 1 and 0 when absent). The
/// shapes are assumed valid (the shape rule checked them).
ConvGeometry convGeometry(std::span<const int64_t> image, std::span<const int64_t> filter, const Attrs &attrs);

/// The geometry of a conv2d, conv2d_bwd_data or conv2d_bwd_filter node: its
/// image and filter are operands or the result, by kind. Every dim but the
/// batch must be known.
ConvGeometry convGeometry(const Node &conv);

} // namespace dlc
