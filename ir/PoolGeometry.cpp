//===- ir/PoolGeometry.cpp ------------------------------------------------===//
#include "ir/PoolGeometry.h"

#include <algorithm>
#include <cassert>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "ir/Limits.h"

namespace dlc {

namespace {

/// Extents and attributes past the element limit cannot make a valid value,
/// and below it in + pads - k is exact in int64 whatever the IR text says.
bool inRange(int64_t v, int64_t lo) { return v >= lo && v <= kMaxElements; }

} // namespace

std::optional<int64_t> poolOutExtent(int64_t in, int64_t k, int64_t stride, int64_t padBegin, int64_t padEnd) {
  if (!inRange(in, 1) || !inRange(k, 1) || !inRange(stride, 1) || !inRange(padBegin, 0) || !inRange(padEnd, 0))
    return std::nullopt;
  if (padBegin >= k || padEnd >= k) return std::nullopt;
  int64_t span = in + padBegin + padEnd - k;
  if (span < 0) return std::nullopt;
  return span / stride + 1;
}

std::string checkPoolAttrs(const char *op, const Attrs &attrs) {
  std::vector<int64_t> kernel = attrs.getInts("kernel"), stride = attrs.getInts("stride"), pad = attrs.getInts("pad");
  if (kernel.size() != 2) return fmt::format("'{}' needs kernel = [kh, kw]", op);
  if (stride.size() != 2) return fmt::format("'{}' needs stride = [sh, sw]", op);
  if (pad.size() != 4) return fmt::format("'{}' needs pad = [top, left, bottom, right]", op);
  if (attrs.has("count_include_pad") && !std::holds_alternative<bool>(*attrs.get("count_include_pad")))
    return fmt::format("'{}': count_include_pad is true or false", op);
  for (size_t i = 0; i < 2; ++i)
    if (!inRange(kernel[i], 1) || !inRange(stride[i], 1))
      return fmt::format("'{}' needs a window and a stride of 1 or more, got kernel [{}], stride [{}]", op,
                         fmt::join(kernel, ", "), fmt::join(stride, ", "));
  for (size_t i = 0; i < 4; ++i)
    if (!inRange(pad[i], 0) || pad[i] >= kernel[i % 2])
      return fmt::format("'{}': pad [{}] must be 0 or more and smaller than the {}x{} window", op, fmt::join(pad, ", "),
                         kernel[0], kernel[1]);
  return "";
}

std::pair<int64_t, int64_t> windowTaps(int64_t o, int64_t stride, int64_t padBegin, int64_t kernel, int64_t extent) {
  int64_t start = o * stride - padBegin;
  return {std::max<int64_t>(0, -start), std::min(kernel, extent - start)};
}

PoolGeometry poolGeometry(std::span<const int64_t> x, const Attrs &attrs) {
  PoolGeometry g{};
  size_t c = x.size() - 3;
  g.batched = c == 1;
  g.images = g.batched ? x[0] : 1;
  g.C = x[c], g.H = x[c + 1], g.W = x[c + 2];
  auto kernel = attrs.getInts("kernel"), stride = attrs.getInts("stride"), pad = attrs.getInts("pad");
  assert(kernel.size() == 2 && stride.size() == 2 && pad.size() == 4 && "checked by the shape rule");
  g.KH = kernel[0], g.KW = kernel[1], g.strideH = stride[0], g.strideW = stride[1];
  g.padTop = pad[0], g.padLeft = pad[1], g.padBottom = pad[2], g.padRight = pad[3];
  g.countIncludePad = attrs.getBool("count_include_pad");
  g.OH = poolOutExtent(g.H, g.KH, g.strideH, g.padTop, g.padBottom).value_or(0);
  g.OW = poolOutExtent(g.W, g.KW, g.strideW, g.padLeft, g.padRight).value_or(0);
  return g;
}

PoolGeometry poolGeometry(const Node &n) {
  assert((n.kind == OpKind::MaxPool2D || n.kind == OpKind::MaxPool2DGather || n.kind == OpKind::MaxPool2DBwd ||
          n.kind == OpKind::AvgPool2D || n.kind == OpKind::AvgPool2DBwd) &&
         "not a pooling");
  const Shape &image = n.kind == OpKind::AvgPool2DBwd ? n.shape() : n.operands[0]->shape();
  std::vector<int64_t> extents;
  for (const Dim &d : image) extents.push_back(d.isKnown() ? d.value() : 0);
  return poolGeometry(extents, n.attrs);
}

} // namespace dlc
