//===- onnx/ImportOps.cpp - ONNX elementwise, product and shape ops -------===//
//
// The handlers of the ops that are not about images: elementwise and
// broadcasting ops, MatMul and Gemm, Flatten, Reshape, Softmax, the
// reductions, Transpose, Slice and Concat. Each turns one node into one .net
// statement or an error naming the node (onnx/Importer.h).
//
//===----------------------------------------------------------------------===//
#include <algorithm>

#include "onnx/Importer.h"

namespace dlc::onnx_import {

namespace {

/// numpy broadcasting of two shapes; nullopt when they do not broadcast.
std::optional<Dims> broadcastDims(const Dims &a, const Dims &b) {
  Dims out(std::max(a.size(), b.size()), 1);
  for (size_t i = 0; i < out.size(); ++i) {
    int64_t x = i < a.size() ? a[a.size() - 1 - i] : 1, y = i < b.size() ? b[b.size() - 1 - i] : 1;
    if (x != y && x != 1 && y != 1) return std::nullopt;
    out[out.size() - 1 - i] = std::max(x, y);
  }
  return out;
}

} // namespace

llvm::Error Importer::unary(const NodeProto &n) {
  static const std::map<std::string, std::string> fn = {{"Relu", "relu"}, {"Sigmoid", "sigmoid"}, {"Tanh", "tanh"},
                                                        {"Exp", "exp"},   {"Log", "log"},         {"Sqrt", "sqrt"},
                                                        {"Abs", "abs"}};
  auto x = input(n, 0);
  if (!x) return x.takeError();
  std::string e = use(**x);
  std::string expr = n.op_type() == "Neg" ? "-" + e : fmt::format("{}({})", fn.at(n.op_type()), e);
  define(n, expr, (*x)->batched, (*x)->dims);
  return llvm::Error::success();
}

llvm::Error Importer::binary(const NodeProto &n) {
  auto a = input(n, 0);
  if (!a) return a.takeError();
  auto b = input(n, 1);
  if (!b) return b.takeError();
  if (n.input_size() != 2) return nodeFail(n, "takes exactly two inputs here, got {}", n.input_size());
  Value &x = **a, &y = **b;
  if (x.batched && y.batched && x.dims.size() != y.dims.size())
    return nodeFail(n, "operands of ranks {} and {} would align the batch dim with another dim",
                    x.dims.size() + 1, y.dims.size() + 1);
  auto ex = broadcastOperand(n, x, y);
  if (!ex) return ex.takeError();
  auto ey = broadcastOperand(n, y, x);
  if (!ey) return ey.takeError();
  Dims dx = x.dims, dy = y.dims;
  // A stripped leading 1 does not count in the per-sample shape.
  if (!x.batched && y.batched && dx.size() == dy.size() + 1) dx.erase(dx.begin());
  if (!y.batched && x.batched && dy.size() == dx.size() + 1) dy.erase(dy.begin());
  auto dims = broadcastDims(dx, dy);
  if (!dims) return nodeFail(n, "shapes [{}] and [{}] do not broadcast", fmt::join(x.dims, ", "), fmt::join(y.dims, ", "));
  static const std::map<std::string, std::string> op = {{"Add", "+"}, {"Sub", "-"}, {"Mul", "*"}, {"Div", "/"}};
  std::string expr = n.op_type() == "Max" ? fmt::format("max({}, {})", *ex, *ey)
                                          : fmt::format("{} {} {}", *ex, op.at(n.op_type()), *ey);
  define(n, expr, x.batched || y.batched, *dims);
  return llvm::Error::success();
}

llvm::Error Importer::pow(const NodeProto &n) {
  auto x = input(n, 0);
  if (!x) return x.takeError();
  auto p = input(n, 1);
  if (!p) return p.takeError();
  if (!(*p)->known || (*p)->data.size() != 1) return nodeFail(n, "the exponent must be a constant number");
  define(n, fmt::format("{} ^ {}", use(**x), literal((*p)->data[0])), (*x)->batched, (*x)->dims);
  return llvm::Error::success();
}

llvm::Error Importer::matmul(const NodeProto &n) {
  auto a = input(n, 0);
  if (!a) return a.takeError();
  auto b = input(n, 1);
  if (!b) return b.takeError();
  Value &x = **a, &y = **b;
  if (x.batched && y.batched) return nodeFail(n, "both operands depend on the batch; dlc multiplies by params");
  // Per sample: a batched [N, k] row times B is `a @ B`; A times a batched
  // [N, k, p] is `A @ b`.
  if (y.batched && y.dims.size() != 2)
    return nodeFail(n, "a batch-dependent right operand must be [N, k, p], got rank {}", y.dims.size() + 1);
  const Dims &dx = x.dims, &dy = y.dims;
  if (dx.size() > 2 || dy.size() > 2) return nodeFail(n, "operands above rank 2 per sample are not supported");
  int64_t k1 = dx.empty() ? 1 : dx.back(), k2 = dy.size() == 2 ? dy[0] : (dy.empty() ? 1 : dy[0]);
  if (k1 != k2) return nodeFail(n, "inner dims differ: [{}] @ [{}]", fmt::join(dx, ", "), fmt::join(dy, ", "));
  Dims out;
  if (dx.size() == 2) out.push_back(dx[0]);
  if (dy.size() == 2) out.push_back(dy[1]);
  define(n, fmt::format("{} @ {}", use(x), use(y)), x.batched || y.batched, out);
  return llvm::Error::success();
}

// Gemm: Y = alpha A' B' + beta C with A' = transA ? A^T : A. Per sample (a row
// of a batched A): y = alpha (a @ B) + beta c, and a @ B^T is B @ a.
llvm::Error Importer::gemm(const NodeProto &n) {
  auto a = input(n, 0);
  if (!a) return a.takeError();
  auto b = input(n, 1);
  if (!b) return b.takeError();
  Value &x = **a, &w = **b;
  float alpha = attrFloat(n, "alpha", 1), beta = attrFloat(n, "beta", 1);
  bool transA = attrInt(n, "transA", 0) != 0, transB = attrInt(n, "transB", 0) != 0;
  if (!x.batched || w.batched)
    return nodeFail(n, "dlc imports Gemm with a batch-dependent A and a constant B (a layer's weights)");
  if (transA) return nodeFail(n, "transA = 1 would transpose the batch dim");
  if (x.dims.size() != 1 || w.dims.size() != 2) return nodeFail(n, "A and B must be matrices");
  int64_t k = transB ? w.dims[1] : w.dims[0], m = transB ? w.dims[0] : w.dims[1];
  if (k != x.dims[0]) return nodeFail(n, "A has {} columns but B has {} rows", x.dims[0], k);
  std::string prod = transB ? fmt::format("{} @ {}", use(w), use(x)) : fmt::format("{} @ {}", use(x), use(w));
  std::string expr = alpha == 1 ? prod : fmt::format("{} * ({})", literal(alpha), prod);
  if (hasInput(n, 2) && beta != 0) {
    auto c = input(n, 2);
    if (!c) return c.takeError();
    Value out;
    out.batched = true, out.dims = {m};
    auto ec = broadcastOperand(n, **c, out);
    if (!ec) return ec.takeError();
    Dims dc = (*c)->dims;
    if (!(*c)->batched && dc.size() == 2) dc.erase(dc.begin());
    if (!broadcastDims(dc, {m}) || dc.size() > 1 || (!dc.empty() && dc[0] != m && dc[0] != 1))
      return nodeFail(n, "C of shape [{}] does not broadcast to [N, {}]", fmt::join((*c)->dims, ", "), m);
    expr += beta == 1 ? fmt::format(" + {}", *ec) : fmt::format(" + {} * {}", literal(beta), *ec);
  }
  define(n, expr, true, {m});
  return llvm::Error::success();
}

llvm::Error Importer::flatten(const NodeProto &n) {
  auto xv = input(n, 0);
  if (!xv) return xv.takeError();
  Value &x = **xv;
  if (!x.batched) return nodeFail(n, "flattening a constant is not supported");
  int64_t full = int64_t(x.dims.size()) + 1, axis = attrInt(n, "axis", 1);
  if (axis < 0) axis += full;
  if (axis != 1)
    return nodeFail(n, "axis = {} would merge the batch dim with others; dlc flattens each sample (axis 1)",
                    attrInt(n, "axis", 1));
  define(n, fmt::format("flatten({})", use(x)), true, {product(x.dims)});
  return llvm::Error::success();
}

llvm::Error Importer::reshape(const NodeProto &n) {
  auto xv = input(n, 0);
  if (!xv) return xv.takeError();
  Value &x = **xv;
  auto shape = knownInts(n, 1);
  if (!shape) return shape.takeError();
  if (!x.batched) return nodeFail(n, "reshaping a constant is not supported");
  Dims t = *shape;
  bool allowZero = attrInt(n, "allowzero", 0) != 0;
  if (t.empty()) return nodeFail(n, "a reshape to a scalar would drop the batch dim");
  if (t[0] != 0 && t[0] != -1 && !(fixedBatch_ > 0 && t[0] == fixedBatch_))
    return nodeFail(n, "the target shape [{}] changes the batch dim", fmt::join(t, ", "));
  if (t[0] == -1 && std::count(t.begin(), t.end(), -1) > 1) return nodeFail(n, "more than one -1 in the shape");
  Dims out;
  int64_t inferAt = -1;
  for (size_t i = 1; i < t.size(); ++i) {
    if (t[i] == 0 && !allowZero) {
      if (i > x.dims.size()) return nodeFail(n, "a 0 in the shape copies a dim the input does not have");
      out.push_back(x.dims[i - 1]);
    } else if (t[i] == -1) {
      if (t[0] == -1 || inferAt >= 0) return nodeFail(n, "more than one -1 in the shape");
      inferAt = int64_t(out.size());
      out.push_back(1);
    } else if (t[i] < 1) {
      return nodeFail(n, "extent {} in the target shape is not supported", t[i]);
    } else {
      out.push_back(t[i]);
    }
  }
  int64_t count = product(x.dims);
  if (inferAt >= 0) out[size_t(inferAt)] = count / std::max<int64_t>(1, product(out));
  if (out.empty()) return nodeFail(n, "a reshape to one number per sample is not supported");
  if (product(out) != count)
    return nodeFail(n, "the target shape [{}] does not hold the {} elements of a sample", fmt::join(t, ", "), count);
  define(n, out == x.dims ? use(x) : fmt::format("reshape({}, [{}])", use(x), fmt::join(out, ", ")), true, out);
  return llvm::Error::success();
}

llvm::Error Importer::softmax(const NodeProto &n) {
  auto xv = input(n, 0);
  if (!xv) return xv.takeError();
  Value &x = **xv;
  int64_t full = int64_t(x.dims.size()) + (x.batched ? 1 : 0);
  int64_t axis = attrInt(n, "axis", opset_ >= 13 ? -1 : 1);
  if (axis < 0) axis += full;
  // Before opset 13 the op flattened to 2-D at `axis`: the same only when that is the last axis.
  if (opset_ < 13 && axis != full - 1)
    return nodeFail(n, "axis = {} at opset {} normalizes over several dims; dlc imports one axis", axis, opset_);
  auto a = sampleAxis(n, axis, x, "axis");
  if (!a) return a.takeError();
  std::string fn = n.op_type() == "Softmax" ? "softmax" : "log_softmax";
  std::string ax = *a == int64_t(x.dims.size()) - 1 ? "" : fmt::format(", axis = {}", *a);
  define(n, fmt::format("{}({}{})", fn, use(x), ax), x.batched, x.dims);
  return llvm::Error::success();
}

llvm::Error Importer::reduce(const NodeProto &n) {
  auto xv = input(n, 0);
  if (!xv) return xv.takeError();
  Value &x = **xv;
  Dims axes = attrInts(n, "axes", {});
  if (n.op_type() == "ReduceSum" && opset_ >= 13 && hasInput(n, 1)) {
    auto given = knownInts(n, 1);
    if (!given) return given.takeError();
    axes = *given;
  }
  if (axes.empty()) return nodeFail(n, "reducing over every dim would include the batch dim");
  std::set<int64_t, std::greater<>> sampleAxes;
  for (int64_t a : axes) {
    auto s = sampleAxis(n, a, x, "axis");
    if (!s) return s.takeError();
    sampleAxes.insert(*s);
  }
  std::string fn = n.op_type() == "ReduceMax" ? "max" : n.op_type() == "ReduceSum" ? "sum" : "mean";
  std::string expr = use(x);
  Dims out = x.dims, kept = x.dims;
  for (int64_t a : sampleAxes) { // highest first, so lower axes keep their numbers
    expr = fmt::format("{}({}, axis = {})", fn, expr, a);
    out.erase(out.begin() + a);
    kept[size_t(a)] = 1;
  }
  if (attrInt(n, "keepdims", 1) != 0 && out != kept) {
    expr = fmt::format("reshape({}, [{}])", expr, fmt::join(kept, ", "));
    out = kept;
  }
  define(n, expr, x.batched, out);
  return llvm::Error::success();
}

llvm::Error Importer::transpose(const NodeProto &n) {
  auto xv = input(n, 0);
  if (!xv) return xv.takeError();
  Value &x = **xv;
  int64_t full = int64_t(x.dims.size()) + (x.batched ? 1 : 0);
  Dims perm = attrInts(n, "perm", {});
  if (perm.empty())
    for (int64_t i = full - 1; i >= 0; --i) perm.push_back(i);
  if (x.batched) {
    if (perm[0] != 0) return nodeFail(n, "perm [{}] moves the batch dim", fmt::join(perm, ", "));
    for (int64_t &p : perm) --p;
    perm.erase(perm.begin());
  }
  Dims identity(perm.size());
  for (size_t i = 0; i < identity.size(); ++i) identity[i] = int64_t(i);
  if (perm == identity) {
    define(n, use(x), x.batched, x.dims);
    return llvm::Error::success();
  }
  if (perm != Dims{1, 0}) return nodeFail(n, "perm [{}]: dlc transposes matrices only", fmt::join(perm, ", "));
  define(n, fmt::format("transpose({})", use(x)), x.batched, {x.dims[1], x.dims[0]});
  return llvm::Error::success();
}

// Slice with constant starts, ends, axes and unit steps: x[a:b] on each
// sliced per-sample axis (ends past the extent, as exporters write
// INT64_MAX, mean the end).
llvm::Error Importer::slice(const NodeProto &n) {
  auto xv = input(n, 0);
  if (!xv) return xv.takeError();
  Value &x = **xv;
  Dims starts = attrInts(n, "starts", {}), ends = attrInts(n, "ends", {}), axes = attrInts(n, "axes", {}), steps;
  if (opset_ >= 10) {
    for (int i = 1; i <= 4; ++i) {
      if (!hasInput(n, i)) continue;
      auto v = knownInts(n, i);
      if (!v) return v.takeError();
      (i == 1 ? starts : i == 2 ? ends : i == 3 ? axes : steps) = *v;
    }
  }
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(int64_t(i));
  if (starts.size() != ends.size() || starts.size() != axes.size() || (!steps.empty() && steps.size() != axes.size()))
    return nodeFail(n, "starts, ends and axes must have one entry per sliced axis");
  for (int64_t step : steps)
    if (step != 1) return nodeFail(n, "steps other than 1 are not supported");
  std::vector<std::string> items(x.dims.size(), ":");
  Dims out = x.dims;
  for (size_t i = 0; i < axes.size(); ++i) {
    auto a = sampleAxis(n, axes[i], x, "axis");
    if (!a) return a.takeError();
    int64_t extent = x.dims[size_t(*a)];
    auto clamp = [&](int64_t v) { return std::clamp<int64_t>(v < 0 ? v + extent : v, 0, extent); };
    int64_t from = clamp(starts[i]), to = clamp(ends[i]);
    if (from >= to) return nodeFail(n, "the slice [{}, {}) of axis {} is empty", starts[i], ends[i], axes[i]);
    items[size_t(*a)] = fmt::format("{}:{}", from, to);
    out[size_t(*a)] = to - from;
  }
  while (!items.empty() && items.back() == ":") items.pop_back();
  std::string e = use(x);
  bool plainName = std::all_of(e.begin(), e.end(), [](char c) { return std::isalnum((unsigned char)c) || c == '_'; });
  std::string sliced = fmt::format("{}[{}]", plainName ? e : "(" + e + ")", fmt::join(items, ", "));
  define(n, items.empty() ? e : sliced, x.batched, out);
  return llvm::Error::success();
}

// Concat along a per-sample axis: concat(a, b, ..., axis = k); a constant
// operand is the same for every sample.
llvm::Error Importer::concat(const NodeProto &n) {
  if (n.input_size() < 2) return nodeFail(n, "takes two or more inputs here, got {}", n.input_size());
  std::vector<Value *> parts;
  const Value *batched = nullptr;
  for (int i = 0; i < n.input_size(); ++i) {
    auto v = input(n, i);
    if (!v) return v.takeError();
    parts.push_back(*v);
    if ((*v)->batched && !batched) batched = *v;
  }
  const Value &ref = batched ? *batched : *parts[0];
  auto a = sampleAxis(n, attrInt(n, "axis", 0), ref, "axis");
  if (!a) return a.takeError();
  Dims out = ref.dims;
  out[size_t(*a)] = 0;
  std::vector<std::string> exprs;
  for (Value *p : parts) {
    Dims d = p->dims;
    if (batched && !p->batched) {
      if (d.size() != ref.dims.size() + 1 || d[0] != 1)
        return nodeFail(n, "a constant operand of shape [{}] would be concatenated with the batch dim", fmt::join(d, ", "));
      d.erase(d.begin());
      exprs.push_back(p->fromInitializer ? use(*p, &d) : fmt::format("reshape({}, [{}])", use(*p), fmt::join(d, ", ")));
    } else {
      exprs.push_back(use(*p));
    }
    if (d.size() != ref.dims.size()) return nodeFail(n, "inputs of different ranks");
    out[size_t(*a)] += d[size_t(*a)];
  }
  std::string axis = *a == 0 ? "" : fmt::format(", axis = {}", *a);
  define(n, fmt::format("concat({}{})", fmt::join(exprs, ", "), axis), batched != nullptr, out);
  return llvm::Error::success();
}

} // namespace dlc::onnx_import
