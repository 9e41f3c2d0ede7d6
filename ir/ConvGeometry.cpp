//===- ir/ConvGeometry.cpp ------------------------------------------------===//
#include "ir/ConvGeometry.h"

#include <cassert>
#include <vector>

#include "ir/Limits.h"

namespace dlc {

std::optional<int64_t> convOutExtent(int64_t in, int64_t k, int64_t stride, int64_t pad) {
  // Extents and pads past the element limit cannot make a valid value, and
  // in + 2 pad - k must not overflow.
  if (stride < 1 || pad < 0 || pad > kMaxElements || k > kMaxElements || in > kMaxElements) return std::nullopt;
  int64_t span = in + 2 * pad - k;
  if (span < 0) return std::nullopt;
  return span / stride + 1;
}

ConvGeometry convGeometry(std::span<const int64_t> x, std::span<const int64_t> k, const Attrs &attrs) {
  ConvGeometry g{};
  size_t c = x.size() - 3;
  g.batched = c == 1;
  g.images = g.batched ? x[0] : 1;
  g.C = x[c], g.H = x[c + 1], g.W = x[c + 2];
  g.O = k[0], g.KH = k[2], g.KW = k[3];
  auto stride = attrs.getInts("stride"), pad = attrs.getInts("pad");
  g.strideH = stride.size() == 2 ? stride[0] : 1, g.strideW = stride.size() == 2 ? stride[1] : 1;
  g.padH = pad.size() == 2 ? pad[0] : 0, g.padW = pad.size() == 2 ? pad[1] : 0;
  g.OH = convOutExtent(g.H, g.KH, g.strideH, g.padH).value_or(0);
  g.OW = convOutExtent(g.W, g.KW, g.strideW, g.padW).value_or(0);
  return g;
}

ConvGeometry convGeometry(const Node &n) {
  const Shape *x = nullptr, *k = nullptr;
  if (n.kind == OpKind::Conv2D) x = &n.operands[0]->shape(), k = &n.operands[1]->shape();
  if (n.kind == OpKind::Conv2DBwdData) x = &n.shape(), k = &n.operands[1]->shape();
  if (n.kind == OpKind::Conv2DBwdFilter) x = &n.operands[0]->shape(), k = &n.shape();
  assert(x && k && "not a convolution");
  auto extents = [](const Shape &s) {
    std::vector<int64_t> out;
    for (const Dim &d : s) out.push_back(d.isKnown() ? d.value() : 0);
    return out;
  };
  std::vector<int64_t> image = extents(*x), filter = extents(*k);
  return convGeometry(image, filter, n.attrs);
}

} // namespace dlc
