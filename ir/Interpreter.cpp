//===- ir/Interpreter.cpp -------------------------------------------------===//
#include "ir/Interpreter.h"

#include <cmath>
#include <numeric>
#include <stdexcept>

#include <fmt/format.h>

#include "ir/ConvGeometry.h"
#include "ir/DropoutMask.h"
#include "ir/PoolGeometry.h"
#include "ir/ScalarOps.h"

namespace dlc {

Tensor::Tensor(std::vector<int64_t> s, double fill) : shape(std::move(s)) {
  data.assign(size_t(std::accumulate(shape.begin(), shape.end(), int64_t(1), std::multiplies<>())), fill);
}

namespace {

std::vector<int64_t> stridesOf(const std::vector<int64_t> &shape) {
  std::vector<int64_t> st(shape.size(), 1);
  for (int64_t i = int64_t(shape.size()) - 2; i >= 0; --i) st[size_t(i)] = st[size_t(i) + 1] * shape[size_t(i) + 1];
  return st;
}

/// Calls f(index) for every multi-index of `shape`, in row-major order.
template <typename F> void forEachIndex(const std::vector<int64_t> &shape, F f) {
  for (int64_t d : shape)
    if (d == 0) return;
  std::vector<int64_t> idx(shape.size(), 0);
  while (true) {
    f(idx);
    int64_t k = int64_t(shape.size()) - 1;
    while (k >= 0 && ++idx[size_t(k)] == shape[size_t(k)]) idx[size_t(k--)] = 0;
    if (k < 0) return;
  }
}

/// Offset into `t` of the broadcast element at `outIdx` (dims aligned right).
int64_t broadcastOffset(const Tensor &t, const std::vector<int64_t> &st, const std::vector<int64_t> &outIdx) {
  int64_t off = 0;
  size_t shift = outIdx.size() - t.shape.size();
  for (size_t i = 0; i < t.shape.size(); ++i)
    if (t.shape[i] != 1) off += outIdx[i + shift] * st[i];
  return off;
}

Tensor matmul(const Tensor &a, const Tensor &b, bool ta, bool tb, const std::vector<int64_t> &outShape) {
  // View both as matrices: a vector on the left is a row, on the right a column.
  int64_t ar = a.shape.size() == 2 ? a.shape[0] : 1, ac = a.shape.size() == 2 ? a.shape[1] : a.shape[0];
  int64_t br = b.shape.size() == 2 ? b.shape[0] : b.shape[0], bc = b.shape.size() == 2 ? b.shape[1] : 1;
  auto A = [&](int64_t i, int64_t j) { return ta ? a[size_t(j * ac + i)] : a[size_t(i * ac + j)]; };
  auto B = [&](int64_t i, int64_t j) { return tb ? b[size_t(j * bc + i)] : b[size_t(i * bc + j)]; };
  int64_t m = ta ? ac : ar, k = ta ? ar : ac, n = tb ? br : bc;
  Tensor out(outShape);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t p = 0; p < k; ++p) s += A(i, p) * B(p, j);
      out[size_t(i * n + j)] = s;
    }
  return out;
}

/// Visits every (image element, filter element, output element) triple of a
/// convolution: f(xOffset, kOffset, yOffset).
template <typename F> void forEachConvTap(const ConvGeometry &g, F f) {
  for (int64_t b = 0; b < g.images; ++b)
    for (int64_t o = 0; o < g.O; ++o)
      for (int64_t oy = 0; oy < g.OH; ++oy)
        for (int64_t ox = 0; ox < g.OW; ++ox)
          for (int64_t c = 0; c < g.C; ++c)
            for (int64_t ky = 0; ky < g.KH; ++ky)
              for (int64_t kx = 0; kx < g.KW; ++kx) {
                int64_t iy = oy * g.strideH - g.padH + ky, ix = ox * g.strideW - g.padW + kx;
                if (iy < 0 || iy >= g.H || ix < 0 || ix >= g.W) continue;
                f(((b * g.C + c) * g.H + iy) * g.W + ix, ((o * g.C + c) * g.KH + ky) * g.KW + kx,
                  ((b * g.O + o) * g.OH + oy) * g.OW + ox);
              }
}

// The rules, one per op family. Each computes the result of one node from its
// operands' values and the result's concrete shape.

Tensor unaryMap(const Node &n, const Tensor &x, const std::vector<int64_t> &shape) {
  Tensor out(shape);
  for (size_t i = 0; i < out.size(); ++i) out[i] = evalUnary(n.kind, x[i], n.attrs);
  return out;
}

/// out[idx] = op(x, y) at the broadcast positions of idx (dims aligned right).
Tensor binaryMap(const Node &n, const Tensor &x, const Tensor &y, const std::vector<int64_t> &shape) {
  Tensor out(shape);
  auto sx = stridesOf(x.shape), sy = stridesOf(y.shape);
  size_t i = 0;
  forEachIndex(shape, [&](const std::vector<int64_t> &idx) {
    out[i++] = evalBinary(n.kind, x[size_t(broadcastOffset(x, sx, idx))], y[size_t(broadcastOffset(y, sy, idx))]);
  });
  return out;
}

Tensor transpose(const Tensor &x, const Attrs &a, const std::vector<int64_t> &shape) {
  Tensor out(shape);
  auto perm = a.has("perm") ? a.getInts("perm") : std::vector<int64_t>{1, 0};
  auto sx = stridesOf(x.shape);
  size_t i = 0;
  forEachIndex(shape, [&](const std::vector<int64_t> &idx) {
    int64_t off = 0;
    for (size_t d = 0; d < idx.size(); ++d) off += idx[d] * sx[size_t(perm[d])];
    out[i++] = x[size_t(off)];
  });
  return out;
}

Tensor reshape(const Tensor &x, const std::vector<int64_t> &shape) {
  Tensor out(shape);
  out.data = x.data;
  return out;
}

/// Operand dim d goes to result dim dims[d]; extents of 1 stretch.
Tensor broadcast(const Tensor &x, const Attrs &a, const std::vector<int64_t> &shape) {
  Tensor out(shape);
  auto dims = a.getInts("dims");
  auto sx = stridesOf(x.shape);
  size_t i = 0;
  forEachIndex(shape, [&](const std::vector<int64_t> &idx) {
    int64_t off = 0;
    for (size_t d = 0; d < dims.size(); ++d)
      if (x.shape[d] != 1) off += idx[size_t(dims[d])] * sx[d];
    out[i++] = x[size_t(off)];
  });
  return out;
}

Tensor reduce(bool isMax, const Tensor &x, const Attrs &a, const std::vector<int64_t> &shape) {
  Tensor out(shape, isMax ? -INFINITY : 0.0);
  std::vector<bool> reduced(x.shape.size(), false);
  for (int64_t ax : a.getInts("axes")) reduced[size_t(ax)] = true;
  auto so = stridesOf(shape);
  size_t i = 0;
  forEachIndex(x.shape, [&](const std::vector<int64_t> &idx) {
    int64_t off = 0;
    for (size_t d = 0, o = 0; d < idx.size(); ++d)
      if (!reduced[d]) off += idx[d] * so[o++];
    double v = x[i++];
    double &r = out[size_t(off)];
    r = isMax ? std::max(r, v) : r + v;
  });
  return out;
}

/// softmax (or log_softmax) along `axis`, shifted by the maximum for range.
/// A graph without a batch dim is one sample: the mean over the axes alone,
/// the sum divided by max(count - ddof, 1).
Tensor batchMean(const Tensor &x, const Attrs &a, const std::vector<int64_t> &shape) {
  Tensor sum = reduce(false, x, a, shape);
  double count = double(x.size()) / double(std::max<size_t>(sum.size(), 1));
  double scale = 1.0 / std::max(count - double(a.getInt("ddof", 0)), 1.0);
  for (double &v : sum.data) v *= scale;
  return sum;
}

Tensor softmax(bool isLog, const Tensor &x, const Attrs &a, const std::vector<int64_t> &shape) {
  Tensor out(shape);
  int64_t axis = a.getInt("axis", int64_t(shape.size()) - 1);
  auto st = stridesOf(shape);
  int64_t len = shape[size_t(axis)], stride = st[size_t(axis)];
  std::vector<int64_t> outer = shape;
  outer[size_t(axis)] = 1;
  forEachIndex(outer, [&](const std::vector<int64_t> &idx) {
    int64_t base = 0;
    for (size_t d = 0; d < idx.size(); ++d) base += idx[d] * st[d];
    auto at = [&](int64_t j) { return size_t(base + j * stride); };
    double m = -INFINITY, sum = 0;
    for (int64_t j = 0; j < len; ++j) m = std::max(m, x[at(j)]);
    for (int64_t j = 0; j < len; ++j) sum += std::exp(x[at(j)] - m);
    for (int64_t j = 0; j < len; ++j) out[at(j)] = isLog ? x[at(j)] - m - std::log(sum) : std::exp(x[at(j)] - m) / sum;
  });
  return out;
}

/// out[.., i, ..] = x[.., start + i, ..] along `axis`.
Tensor slice(const Tensor &x, const Attrs &a, const std::vector<int64_t> &shape) {
  Tensor out(shape);
  int64_t axis = a.getInt("axis"), start = a.getInt("start");
  auto st = stridesOf(x.shape);
  size_t i = 0;
  forEachIndex(shape, [&](std::vector<int64_t> idx) {
    idx[size_t(axis)] += start;
    int64_t off = 0;
    for (size_t d = 0; d < idx.size(); ++d) off += idx[d] * st[d];
    out[i++] = x[size_t(off)];
  });
  return out;
}

/// a's elements, then b's, along `axis`.
Tensor concat(const Tensor &a, const Tensor &b, const Attrs &attrs, const std::vector<int64_t> &shape) {
  Tensor out(shape);
  int64_t axis = attrs.getInt("axis"), split = a.shape[size_t(axis)];
  auto sa = stridesOf(a.shape), sb = stridesOf(b.shape);
  size_t i = 0;
  forEachIndex(shape, [&](std::vector<int64_t> idx) {
    bool first = idx[size_t(axis)] < split;
    if (!first) idx[size_t(axis)] -= split;
    const auto &st = first ? sa : sb;
    int64_t off = 0;
    for (size_t d = 0; d < idx.size(); ++d) off += idx[d] * st[d];
    out[i++] = first ? a[size_t(off)] : b[size_t(off)];
  });
  return out;
}

/// Class indices to one-hot rows; an index outside 0..classes-1 is an error.
Tensor oneHot(const Tensor &y, const Attrs &a, const std::vector<int64_t> &shape, std::string &error) {
  int64_t classes = a.getInt("classes");
  Tensor out(shape);
  for (size_t i = 0; i < y.size(); ++i) {
    int64_t c = int64_t(y[i]);
    if (c < 0 || c >= classes) {
      error = fmt::format("class label {} is outside 0..{}", c, classes - 1);
      return out;
    }
    out[i * size_t(classes) + size_t(c)] = 1;
  }
  return out;
}

// The convolution family, each a sum over the same taps:
//   conv2d:            y[yi]  += x[xi] k[ki]
//   conv2d_bwd_data:   dx[xi] += g[yi] k[ki]
//   conv2d_bwd_filter: dk[ki] += x[xi] g[yi]
Tensor conv2d(const Tensor &x, const Tensor &k, const Attrs &a, const std::vector<int64_t> &shape) {
  Tensor out(shape);
  forEachConvTap(convGeometry(x.shape, k.shape, a),
                 [&](int64_t xi, int64_t ki, int64_t yi) { out[size_t(yi)] += x[size_t(xi)] * k[size_t(ki)]; });
  return out;
}

Tensor conv2dBwdData(const Tensor &g, const Tensor &k, const Attrs &a, const std::vector<int64_t> &shape) {
  Tensor out(shape);
  forEachConvTap(convGeometry(shape, k.shape, a),
                 [&](int64_t xi, int64_t ki, int64_t yi) { out[size_t(xi)] += g[size_t(yi)] * k[size_t(ki)]; });
  return out;
}

Tensor conv2dBwdFilter(const Tensor &x, const Tensor &g, const Attrs &a, const std::vector<int64_t> &shape) {
  Tensor out(shape);
  forEachConvTap(convGeometry(x.shape, shape, a),
                 [&](int64_t xi, int64_t ki, int64_t yi) { out[size_t(ki)] += x[size_t(xi)] * g[size_t(yi)]; });
  return out;
}

/// Visits every window of a pooling: f(plane, o, rows, cols) with `plane`
/// the offset of its [H, W] plane in the image, `o` its output element and
/// the in-image taps as image rows [rows.first, rows.second) and columns
/// likewise (the padding is not visited).
template <typename F> void forEachPoolWindow(const PoolGeometry &g, F f) {
  using Range = std::pair<int64_t, int64_t>;
  for (int64_t p = 0; p < g.planes(); ++p)
    for (int64_t oy = 0; oy < g.OH; ++oy)
      for (int64_t ox = 0; ox < g.OW; ++ox) {
        auto [ky0, ky1] = windowTaps(oy, g.strideH, g.padTop, g.KH, g.H);
        auto [kx0, kx1] = windowTaps(ox, g.strideW, g.padLeft, g.KW, g.W);
        int64_t y0 = oy * g.strideH - g.padTop, x0 = ox * g.strideW - g.padLeft;
        f(p * g.H * g.W, (p * g.OH + oy) * g.OW + ox, Range{y0 + ky0, y0 + ky1}, Range{x0 + kx0, x0 + kx1});
      }
}

/// The offset in x of a window's argmax: its first NaN, else its first
/// maximum in row-major order (codegen/lower/Pooling.cpp picks the same).
int64_t windowArgmax(const Tensor &x, int64_t plane, int64_t W, std::pair<int64_t, int64_t> rows,
                     std::pair<int64_t, int64_t> cols) {
  int64_t at = plane + rows.first * W + cols.first;
  double best = x[size_t(at)];
  for (int64_t iy = rows.first; iy < rows.second; ++iy)
    for (int64_t ix = cols.first; ix < cols.second; ++ix) {
      double v = x[size_t(plane + iy * W + ix)];
      if (v > best || (std::isnan(v) && !std::isnan(best))) best = v, at = plane + iy * W + ix;
    }
  return at;
}

// The max-pooling family, each through the windows' argmaxes of x:
//   maxpool2d:        y[o]        = x[argmax_o]
//   maxpool2d_gather: y[o]        = h[argmax_o]
//   maxpool2d_bwd:    dx[argmax_o] += g[o]
Tensor maxPool(OpKind kind, const Tensor &x, const Tensor *other, const Attrs &a, const std::vector<int64_t> &shape) {
  Tensor out(shape);
  PoolGeometry g = poolGeometry(x.shape, a);
  forEachPoolWindow(g, [&](int64_t plane, int64_t o, auto rows, auto cols) {
    int64_t at = windowArgmax(x, plane, g.W, rows, cols);
    if (kind == OpKind::MaxPool2D) out[size_t(o)] = x[size_t(at)];
    else if (kind == OpKind::MaxPool2DGather) out[size_t(o)] = (*other)[size_t(at)];
    else out[size_t(at)] += (*other)[size_t(o)];
  });
  return out;
}

/// A window's divisor: its pixels in the image, or all kh kw with count_include_pad.
int64_t windowCount(const PoolGeometry &g, std::pair<int64_t, int64_t> rows, std::pair<int64_t, int64_t> cols) {
  return g.countIncludePad ? g.KH * g.KW : (rows.second - rows.first) * (cols.second - cols.first);
}

// avgpool2d:     y[o]   = sum of the window's x / count_o
// avgpool2d_bwd: dx[i] += g[o] / count_o for each window o holding pixel i
Tensor avgPool(const Tensor &x, const Attrs &a, const std::vector<int64_t> &shape) {
  Tensor out(shape);
  PoolGeometry g = poolGeometry(x.shape, a);
  forEachPoolWindow(g, [&](int64_t plane, int64_t o, auto rows, auto cols) {
    double sum = 0;
    for (int64_t iy = rows.first; iy < rows.second; ++iy)
      for (int64_t ix = cols.first; ix < cols.second; ++ix) sum += x[size_t(plane + iy * g.W + ix)];
    out[size_t(o)] = sum / double(windowCount(g, rows, cols));
  });
  return out;
}

Tensor avgPoolBwd(const Tensor &grad, const Attrs &a, const std::vector<int64_t> &shape) {
  Tensor out(shape);
  PoolGeometry g = poolGeometry(shape, a);
  forEachPoolWindow(g, [&](int64_t plane, int64_t o, auto rows, auto cols) {
    double share = grad[size_t(o)] / double(windowCount(g, rows, cols));
    for (int64_t iy = rows.first; iy < rows.second; ++iy)
      for (int64_t ix = cols.first; ix < cols.second; ++ix) out[size_t(plane + iy * g.W + ix)] += share;
  });
  return out;
}

} // namespace

bool Interpreter::set(const std::string &name, Tensor value) {
  Node *n = graph_.findByName(name);
  if (!n) return false;
  values_[n] = std::move(value);
  return true;
}

const Tensor &Interpreter::value(const std::string &name) const {
  Node *n = graph_.findByName(name);
  if (!n) throw std::out_of_range("no value named " + name);
  return values_.at(n);
}

std::vector<int64_t> Interpreter::resolve(const Shape &s) const {
  std::vector<int64_t> out;
  for (const Dim &d : s) {
    if (d.isKnown()) {
      out.push_back(d.value());
      continue;
    }
    auto it = symbols_.find(d.symbolName());
    if (it == symbols_.end()) throw std::runtime_error("unbound symbolic dim " + d.symbolName());
    out.push_back(it->second);
  }
  return out;
}

bool Interpreter::run(std::string &error) {
  try {
    for (const auto &n : graph_.nodes()) {
      if (n->isSupplied()) {
        if (!checkGiven(*n, error)) return false;
        continue;
      }
      values_[n.get()] = evaluate(*n, error);
      if (!error.empty()) return false;
    }
  } catch (const std::exception &e) {
    error = e.what();
    return false;
  }
  return true;
}

void Interpreter::commitUpdates() {
  for (const auto &r : graph_.results)
    if (r.role == Role::Update && values_.count(r.node)) values_[r.of] = values_.at(r.node);
}

bool Interpreter::checkGiven(const Node &n, std::string &error) {
  auto it = values_.find(&n);
  std::string init = n.attrs.getString("init", "zeros");
  if (it == values_.end() && n.kind == OpKind::State && (init == "zeros" || init == "ones" || init == "fill")) {
    std::vector<double> args = n.attrs.getFloats("init_args");
    double fill = init == "ones" ? 1.0 : init == "fill" && !args.empty() ? args[0] : 0.0;
    it = values_.emplace(&n, Tensor(resolve(n.shape()), fill)).first;
  }
  if (it == values_.end()) {
    error = fmt::format("no value for {} '{}'", n.info().mnemonic, n.name);
    return false;
  }
  if (it->second.shape != resolve(n.shape())) {
    error = fmt::format("value of '{}' has the wrong shape", n.name);
    return false;
  }
  return true;
}

Tensor Interpreter::evaluate(const Node &n, std::string &error) {
  std::vector<int64_t> shape = resolve(n.shape());
  auto in = [&](size_t i) -> const Tensor & { return values_.at(n.operands[i]); };
  const Attrs &a = n.attrs;
  if (n.info().is(Elementwise)) return n.info().arity == 1 ? unaryMap(n, in(0), shape) : binaryMap(n, in(0), in(1), shape);
  switch (n.kind) {
  case OpKind::Const: return Tensor(shape, a.getFloat("value"));
  case OpKind::Literal: {
    Tensor t(shape);
    t.data = a.getFloats("values");
    if (t.data.size() != size_t(std::accumulate(shape.begin(), shape.end(), int64_t(1), std::multiplies<>())))
      error = fmt::format("literal {} holds {} values", shapeStr(n.shape()), t.data.size());
    return t;
  }
  case OpKind::DropoutMask: {
    Tensor t(shape, 1.0);
    if (trainingKey_)
      for (size_t i = 0; i < t.size(); ++i)
        t[i] = dropoutMaskValue(*trainingKey_, uint32_t(a.getInt("salt")), uint32_t(i), float(a.getFloat("p")));
    return t;
  }
  case OpKind::SelectMode: return in(mode_ == Mode::Train ? 0 : 1);
  case OpKind::BatchMean: return batchMean(in(0), a, shape);
  case OpKind::Slice: return slice(in(0), a, shape);
  case OpKind::Concat: return concat(in(0), in(1), a, shape);
  case OpKind::DimSize: return Tensor({}, double(symbols_.at(a.getString("symbol"))));
  case OpKind::MatMul: return matmul(in(0), in(1), a.getBool("transpose_a"), a.getBool("transpose_b"), shape);
  case OpKind::Transpose: return transpose(in(0), a, shape);
  case OpKind::Reshape: return reshape(in(0), shape);
  case OpKind::Broadcast: return broadcast(in(0), a, shape);
  case OpKind::ReduceSum:
  case OpKind::ReduceMax: return reduce(n.kind == OpKind::ReduceMax, in(0), a, shape);
  case OpKind::Softmax:
  case OpKind::LogSoftmax: return softmax(n.kind == OpKind::LogSoftmax, in(0), a, shape);
  case OpKind::OneHot: return oneHot(in(0), a, shape, error);
  case OpKind::Conv2D: return conv2d(in(0), in(1), a, shape);
  case OpKind::Conv2DBwdData: return conv2dBwdData(in(0), in(1), a, shape);
  case OpKind::Conv2DBwdFilter: return conv2dBwdFilter(in(0), in(1), a, shape);
  case OpKind::MaxPool2D: return maxPool(n.kind, in(0), nullptr, a, shape);
  case OpKind::MaxPool2DGather:
  case OpKind::MaxPool2DBwd: return maxPool(n.kind, in(0), &in(1), a, shape);
  case OpKind::AvgPool2D: return avgPool(in(0), a, shape);
  case OpKind::AvgPool2DBwd: return avgPoolBwd(in(0), a, shape);
  default: break;
  }
  error = fmt::format("the interpreter has no rule for '{}'", n.info().mnemonic);
  return {};
}

} // namespace dlc
