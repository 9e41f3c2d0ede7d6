//===- ir/PoolGeometry.h - The windows of a 2-D pooling, computed once ----===//
//
// maxpool2d, avgpool2d and their gradient ops share one geometry: image
// [C, H, W] (an optional leading batch dim), windows {kernel = [kh, kw],
// stride = [sh, sw], pad = [top, left, bottom, right]}, output [C, OH, OW]
// with OH = (H + top + bottom - kh) / sh + 1 (likewise OW; ONNX's ceil_mode
// 0: a window never leaves the padded image). Each pad is smaller than the
// window, so every window holds at least one pixel of the image. The shape
// rules, the interpreter and the code generator all take it from here.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "ir/Attributes.h"
#include "ir/Graph.h"

namespace dlc {

/// Output extent (in + padBegin + padEnd - k) / stride + 1, or nothing when
/// the window does not fit the padded extent (or an attribute is out of
/// range: k or stride below 1, a pad below 0 or not below k, a value too
/// large for the arithmetic to be exact).
std::optional<int64_t> poolOutExtent(int64_t in, int64_t k, int64_t stride, int64_t padBegin, int64_t padEnd);

/// Why `attrs` are not a pooling's kernel, stride and pad (and, for an
/// average, count_include_pad), or "" when they are; `op` names the op.
std::string checkPoolAttrs(const char *op, const Attrs &attrs);

struct PoolGeometry {
  int64_t C, H, W, KH, KW, strideH, strideW, padTop, padLeft, padBottom, padRight, OH, OW;
  bool countIncludePad; ///< an average divides by KH KW, not by the window's pixels in the image
  bool batched;         ///< the image has a leading batch dimension
  int64_t images;       ///< that dimension's extent: 1 without one, 0 while it is symbolic
  int64_t planes() const { return images * C; } ///< [H, W] planes (per image: C)
  int64_t pixels() const { return OH * OW; }    ///< of one output plane
};

/// The taps [first, last) of window `o` along one axis that fall inside the
/// image (the others are padding): window o covers o stride - padBegin + k
/// for k in [0, kernel).
std::pair<int64_t, int64_t> windowTaps(int64_t o, int64_t stride, int64_t padBegin, int64_t kernel, int64_t extent);

/// The geometry of a concrete image extent under valid pooling attributes
/// (the shape rule checked them).
PoolGeometry poolGeometry(std::span<const int64_t> image, const Attrs &attrs);

/// The geometry of a pooling node: the image is its first operand, or its
/// result for avgpool2d_bwd. Every dim but the batch must be known.
PoolGeometry poolGeometry(const Node &pool);

} // namespace dlc
