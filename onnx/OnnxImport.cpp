//===- onnx/OnnxImport.cpp - ONNX graph -> per-sample .net text -----------===//
//
// Walks the ONNX graph in order, tracking for each value whether it depends
// on the batch (an input, or anything computed from one) and its shape: a
// batch-dependent value's shape is per sample (the ONNX dim 0 dropped), any
// other value's is its whole shape. Each node becomes one named .net
// statement; an initializer becomes a `param` at its first use as a tensor.
// Whatever cannot be said per sample (reducing, reshaping or transposing over
// the batch dim) or is outside the subset is an error naming the node.
//
//===----------------------------------------------------------------------===//
#include "onnx/OnnxImport.h"

#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include <fmt/format.h>
#include <onnx/onnx_pb.h>

#include "ir/PoolGeometry.h"
#include "onnx/TensorData.h"

namespace dlc::onnx_import {

using ::onnx::AttributeProto;
using ::onnx::ModelProto;
using ::onnx::NodeProto;
using ::onnx::TensorProto;
using Dims = std::vector<int64_t>;

namespace {

int64_t product(const Dims &d) {
  int64_t n = 1;
  for (int64_t x : d) n *= x;
  return n;
}

/// One ONNX value as the importer sees it.
struct Value {
  std::string expr;      ///< .net name or literal; empty for an initializer not yet declared
  bool batched = false;  ///< depends on the batch: dims are per sample
  Dims dims;
  bool known = false;    ///< data is known at import time (initializer, Constant)
  std::vector<double> data;
  bool fromInitializer = false;
  std::string onnxName;
  std::string declaredAs; ///< for an initializer: the param's .net name once declared
  Dims declaredDims;
  /// A Pad of zeros around the image `padded` (torch's export of an average
  /// pool that counts its padding): [top, left, bottom, right]; it becomes
  /// the pool's own padding, and any other use is an error.
  std::string padded;
  Dims zeroPads;
};

/// Names .net may not use for a value (statement keywords and built-ins).
const std::set<std::string> &reservedNames() {
  static const std::set<std::string> names = {
      "model", "input", "label", "param", "const", "fn", "output", "loss", "penalty", "train", "class",
      "exp", "log", "sqrt", "abs", "tanh", "sigmoid", "relu", "sum", "mean", "max", "softmax", "log_softmax",
      "transpose", "flatten", "reshape", "conv2d", "conv1d", "maxpool2d", "avgpool2d", "cross_entropy",
      "square_loss", "hinge", "binary_cross_entropy", "concat", "layer_norm", "dropout", "one_hot", "jvp", "hvp",
      "jacobian", "T", "N", "L"};
  return names;
}

std::string literal(double v) {
  std::string s = fmt::format("{}", float(v));
  if (s == "inf" || s == "-inf" || s == "nan") s = v > 0 ? "3.4e38" : "-3.4e38";
  return v < 0 ? "(" + s + ")" : s;
}

class Importer {
public:
  Importer(const ModelProto &m, const ImportOptions &o) : model_(m), options_(o) {}
  llvm::Expected<ImportedModel> run();

private:
  using Handler = llvm::Error (Importer::*)(const NodeProto &);
  struct OpRule {
    Handler handler;
    std::set<std::string> attributes; ///< the attributes the handler understands
  };
  static const std::map<std::string, OpRule> &rules();

  // ---- errors -------------------------------------------------------------
  template <typename... Args> llvm::Error fail(fmt::format_string<Args...> f, Args &&...args) {
    return makeError(fmt::format("{}: error: {}", options_.sourceName, fmt::format(f, std::forward<Args>(args)...)));
  }
  std::string nodeLabel(const NodeProto &n) const {
    std::string name = n.name().empty() ? fmt::format("#{}", nodeIndex_) : n.name();
    return fmt::format("node '{}' ({})", name, n.op_type());
  }
  template <typename... Args>
  llvm::Error nodeFail(const NodeProto &n, fmt::format_string<Args...> f, Args &&...args) {
    return fail("{}: {}", nodeLabel(n), fmt::format(f, std::forward<Args>(args)...));
  }

  // ---- attributes ---------------------------------------------------------
  const AttributeProto *attr(const NodeProto &n, const std::string &name) const {
    for (const AttributeProto &a : n.attribute())
      if (a.name() == name) return &a;
    return nullptr;
  }
  int64_t attrInt(const NodeProto &n, const std::string &name, int64_t dflt) const {
    const AttributeProto *a = attr(n, name);
    return a ? a->i() : dflt;
  }
  float attrFloat(const NodeProto &n, const std::string &name, float dflt) const {
    const AttributeProto *a = attr(n, name);
    return a ? a->f() : dflt;
  }
  Dims attrInts(const NodeProto &n, const std::string &name, Dims dflt) const {
    const AttributeProto *a = attr(n, name);
    return a ? Dims(a->ints().begin(), a->ints().end()) : dflt;
  }
  std::string attrString(const NodeProto &n, const std::string &name, std::string dflt) const {
    const AttributeProto *a = attr(n, name);
    return a ? a->s() : dflt;
  }

  // ---- values -------------------------------------------------------------
  llvm::Expected<Value *> input(const NodeProto &n, int i) {
    if (i >= n.input_size() || n.input(i).empty()) return nodeFail(n, "input {} is missing", i);
    auto it = values_.find(n.input(i));
    if (it == values_.end())
      return nodeFail(n, "uses '{}', which no earlier node, graph input or initializer defines", n.input(i));
  if (!it->second.padded.empty() && n.op_type() != "AveragePool")
    return nodeFail(n, "uses the Pad output '{}'; dlc imports Pad only before an AveragePool (as its padding)", n.input(i));
    return &it->second;
  }
  bool hasInput(const NodeProto &n, int i) const { return i < n.input_size() && !n.input(i).empty(); }
  std::string freshName(const std::string &hint);
  /// The .net expression of v as a tensor operand; declares an initializer
  /// as a param (with `dims`, if given, else its own shape) at its first use.
  std::string use(Value &v, const Dims *dims = nullptr);
  /// v as an operand of a broadcasting op whose other operand is `other`.
  llvm::Expected<std::string> broadcastOperand(const NodeProto &n, Value &v, const Value &other);
  llvm::Expected<Dims> knownInts(const NodeProto &n, int i);
  void define(const NodeProto &n, const std::string &expr, bool batched, Dims dims, int output = 0);
  /// The batch dim's position in ONNX terms is 0; per-sample axis = axis - 1.
  llvm::Expected<int64_t> sampleAxis(const NodeProto &n, int64_t axis, const Value &x, const char *what);

  // ---- handlers -----------------------------------------------------------
  llvm::Error identity(const NodeProto &n);
  llvm::Error constant(const NodeProto &n);
  llvm::Error unary(const NodeProto &n);
  llvm::Error binary(const NodeProto &n);
  llvm::Error pow(const NodeProto &n);
  llvm::Error matmul(const NodeProto &n);
  llvm::Error gemm(const NodeProto &n);
  llvm::Error conv(const NodeProto &n);
  llvm::Error pool(const NodeProto &n);
  llvm::Error globalPool(const NodeProto &n);
  llvm::Error pad(const NodeProto &n);
  llvm::Error slice(const NodeProto &n);
  llvm::Error concat(const NodeProto &n);
  llvm::Error flatten(const NodeProto &n);
  llvm::Error reshape(const NodeProto &n);
  llvm::Error softmax(const NodeProto &n);
  llvm::Error reduce(const NodeProto &n);
  llvm::Error transpose(const NodeProto &n);

  llvm::Error declareInputs();
  llvm::Error declareOutputs();

  const ModelProto &model_;
  const ImportOptions &options_;
  int64_t opset_ = 0;
  int nodeIndex_ = 0;
  int64_t fixedBatch_ = 0; ///< the inputs' dim 0 when the file fixes it
  std::map<std::string, Value> values_;
  std::set<std::string> names_;
  std::map<std::string, int> opCounts_;
  std::string decls_, body_, tail_;
  std::vector<NamedTensor> params_;
  std::vector<std::pair<std::string, Value *>> outputs_;
  std::map<std::string, const NodeProto *> producer_;
};

const std::map<std::string, Importer::OpRule> &Importer::rules() {
  static const std::map<std::string, OpRule> table = {
      {"Identity", {&Importer::identity, {}}},
      {"Constant", {&Importer::constant, {"value", "value_float", "value_floats", "value_int", "value_ints"}}},
      {"Relu", {&Importer::unary, {}}},
      {"Sigmoid", {&Importer::unary, {}}},
      {"Tanh", {&Importer::unary, {}}},
      {"Exp", {&Importer::unary, {}}},
      {"Log", {&Importer::unary, {}}},
      {"Sqrt", {&Importer::unary, {}}},
      {"Abs", {&Importer::unary, {}}},
      {"Neg", {&Importer::unary, {}}},
      {"Add", {&Importer::binary, {}}},
      {"Sub", {&Importer::binary, {}}},
      {"Mul", {&Importer::binary, {}}},
      {"Div", {&Importer::binary, {}}},
      {"Max", {&Importer::binary, {}}},
      {"Pow", {&Importer::pow, {}}},
      {"MatMul", {&Importer::matmul, {}}},
      {"Gemm", {&Importer::gemm, {"alpha", "beta", "transA", "transB", "broadcast"}}},
      {"Conv", {&Importer::conv, {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"}}},
      {"MaxPool", {&Importer::pool, {"auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order", "strides"}}},
      {"AveragePool", {&Importer::pool, {"auto_pad", "ceil_mode", "count_include_pad", "kernel_shape", "pads", "strides"}}},
      {"Pad", {&Importer::pad, {"mode", "pads", "value"}}},
      {"GlobalMaxPool", {&Importer::globalPool, {}}},
      {"GlobalAveragePool", {&Importer::globalPool, {}}},
      {"Flatten", {&Importer::flatten, {"axis"}}},
      {"Reshape", {&Importer::reshape, {"allowzero"}}},
      {"Softmax", {&Importer::softmax, {"axis"}}},
      {"LogSoftmax", {&Importer::softmax, {"axis"}}},
      {"ReduceSum", {&Importer::reduce, {"axes", "keepdims", "noop_with_empty_axes"}}},
      {"ReduceMax", {&Importer::reduce, {"axes", "keepdims"}}},
      {"ReduceMean", {&Importer::reduce, {"axes", "keepdims"}}},
      {"Transpose", {&Importer::transpose, {"perm"}}},
      {"Slice", {&Importer::slice, {"axes", "ends", "starts"}}},
      {"Concat", {&Importer::concat, {"axis"}}},
  };
  return table;
}

std::string Importer::freshName(const std::string &hint) {
  std::string s;
  for (char c : hint) {
    bool ok = std::isalnum((unsigned char)c) || c == '_';
    if (!ok) c = '_';
    if (c == '_' && (s.empty() || s.back() == '_')) continue;
    s += c;
  }
  while (!s.empty() && s.back() == '_') s.pop_back();
  if (s.empty() || std::isdigit((unsigned char)s[0])) s = "v" + s;
  if (reservedNames().count(s)) s += "_";
  std::string name = s;
  for (int k = 2; names_.count(name); ++k) name = fmt::format("{}_{}", s, k);
  names_.insert(name);
  return name;
}

std::string Importer::use(Value &v, const Dims *dims) {
  if (!v.fromInitializer) {
    if (v.known && v.data.size() == 1) return literal(v.data[0]);
    return v.expr;
  }
  Dims want = dims ? *dims : v.dims;
  if (v.declaredAs.empty()) {
    v.declaredAs = freshName(v.onnxName);
    v.declaredDims = want;
    // The initializer only matters for `dlc train` without --resume.
    decls_ += fmt::format("  param {} : [{}] ~ {}{}\n", v.declaredAs, fmt::join(want, ", "), want.size() >= 2 && want[1] > 1 ? "he" : "zeros",
                          v.declaredAs == v.onnxName ? "" : fmt::format("    # ONNX initializer '{}'", v.onnxName));
    params_.push_back({v.declaredAs, want, std::vector<float>(v.data.begin(), v.data.end()), v.onnxName});
  }
  if (v.declaredDims == want) return v.declaredAs;
  return fmt::format("reshape({}, [{}])", v.declaredAs, fmt::join(want, ", "));
}

llvm::Expected<std::string> Importer::broadcastOperand(const NodeProto &n, Value &v, const Value &other) {
  if (v.batched || !other.batched) return use(v);
  if (v.known && !v.fromInitializer && v.data.size() == 1) return use(v);
  size_t rank = other.dims.size();
  if (v.dims.size() <= rank) return use(v);
  if (v.dims.size() == rank + 1 && v.dims[0] == 1 && rank > 0) {
    Dims stripped(v.dims.begin() + 1, v.dims.end());
    if (v.fromInitializer) return use(v, &stripped);
    return fmt::format("reshape({}, [{}])", use(v), fmt::join(stripped, ", "));
  }
  return nodeFail(n, "operand '{}' of shape [{}] would broadcast over the batch dim", v.onnxName,
                  fmt::join(v.dims, ", "));
}

llvm::Expected<Dims> Importer::knownInts(const NodeProto &n, int i) {
  auto v = input(n, i);
  if (!v) return v.takeError();
  if (!(*v)->known) return nodeFail(n, "input '{}' must be a constant (an initializer or a Constant node)", n.input(i));
  Dims out;
  for (double d : (*v)->data) out.push_back(int64_t(d));
  return out;
}

void Importer::define(const NodeProto &n, const std::string &expr, bool batched, Dims dims, int output) {
  std::string hint = n.output(output);
  // Generated names ("/fc1/Gemm_output_0", "onnx::Relu_5") read better as the op's name and a count.
  if (hint.find('/') != std::string::npos || hint.find("::") != std::string::npos || hint.empty() ||
      std::isdigit((unsigned char)hint[0])) {
    std::string op;
    for (char c : n.op_type()) op += char(std::tolower((unsigned char)c));
    hint = fmt::format("{}{}", op, ++opCounts_[op]);
  }
  std::string name = freshName(hint);
  body_ += fmt::format("  {} = {}\n", name, expr);
  Value v;
  v.expr = name;
  v.batched = batched;
  v.dims = std::move(dims);
  v.onnxName = n.output(output);
  values_[n.output(output)] = std::move(v);
}

llvm::Expected<int64_t> Importer::sampleAxis(const NodeProto &n, int64_t axis, const Value &x, const char *what) {
  int64_t full = int64_t(x.dims.size()) + (x.batched ? 1 : 0);
  int64_t a = axis < 0 ? axis + full : axis;
  if (a < 0 || a >= full) return nodeFail(n, "{} {} is out of range for rank {}", what, axis, full);
  if (!x.batched) return a;
  if (a == 0) return nodeFail(n, "{} 0 is the batch dim, which dlc keeps implicit", what);
  return a - 1;
}

// ---- handlers ---------------------------------------------------------------

llvm::Error Importer::identity(const NodeProto &n) {
  auto x = input(n, 0);
  if (!x) return x.takeError();
  Value copy = **x;
  if (copy.fromInitializer) copy.expr = use(**x), copy.fromInitializer = false, copy.known = false;
  values_[n.output(0)] = copy;
  return llvm::Error::success();
}

llvm::Error Importer::constant(const NodeProto &n) {
  Value v;
  v.known = true;
  v.onnxName = n.output(0);
  if (const AttributeProto *a = attr(n, "value")) {
    auto dims = tensorDims(a->t(), nodeLabel(n));
    if (!dims) return dims.takeError();
    auto data = tensorValues(a->t(), nodeLabel(n));
    if (!data) return data.takeError();
    v.dims = *dims, v.data = *data;
  } else if (const AttributeProto *f = attr(n, "value_float")) {
    v.data = {f->f()};
  } else if (const AttributeProto *fs = attr(n, "value_floats")) {
    v.data.assign(fs->floats().begin(), fs->floats().end()), v.dims = {int64_t(v.data.size())};
  } else if (const AttributeProto *i = attr(n, "value_int")) {
    v.data = {double(i->i())};
  } else if (const AttributeProto *is = attr(n, "value_ints")) {
    v.data.assign(is->ints().begin(), is->ints().end()), v.dims = {int64_t(v.data.size())};
  } else {
    return nodeFail(n, "has no value attribute dlc reads (value, value_float(s), value_int(s))");
  }
  // A constant tensor of more than one element is a param here: the .net
  // language's constants are numbers.
  if (v.data.size() != 1) v.fromInitializer = true;
  values_[n.output(0)] = std::move(v);
  return llvm::Error::success();
}

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

/// One value for both spatial dims, or an error naming the attribute.
llvm::Expected<int64_t> uniform(const Dims &v, int64_t dflt, const char *what, const std::function<llvm::Error(std::string)> &fail) {
  if (v.empty()) return dflt;
  for (int64_t x : v)
    if (x != v[0]) return fail(fmt::format("{} [{}] differ; dlc takes one value for height and width", what, fmt::join(v, ", ")));
  return v[0];
}

llvm::Error Importer::conv(const NodeProto &n) {
  auto xv = input(n, 0);
  if (!xv) return xv.takeError();
  auto wv = input(n, 1);
  if (!wv) return wv.takeError();
  Value &x = **xv, &w = **wv;
  auto failWith = [&](std::string why) { return nodeFail(n, "{}", why); };
  if (!x.batched || x.dims.size() != 3 || w.batched || w.dims.size() != 4)
    return nodeFail(n, "dlc imports 2-D Conv of a batch of [C, H, W] images with constant [O, C, KH, KW] weights");
  if (attrInt(n, "group", 1) != 1) return nodeFail(n, "group = {} is not supported (only 1)", attrInt(n, "group", 1));
  for (int64_t d : attrInts(n, "dilations", {}))
    if (d != 1) return nodeFail(n, "dilations other than 1 are not supported");
  std::string autoPad = attrString(n, "auto_pad", "NOTSET");
  if (autoPad != "NOTSET" && autoPad != "VALID") return nodeFail(n, "auto_pad = {} is not supported", autoPad);
  Dims kernel = attrInts(n, "kernel_shape", {w.dims[2], w.dims[3]});
  if (kernel != Dims{w.dims[2], w.dims[3]}) return nodeFail(n, "kernel_shape does not match the weights");
  if (w.dims[1] != x.dims[0]) return nodeFail(n, "the weights expect {} channels, the input has {}", w.dims[1], x.dims[0]);
  auto stride = uniform(attrInts(n, "strides", {}), 1, "strides", failWith);
  if (!stride) return stride.takeError();
  auto pad = uniform(attrInts(n, "pads", {}), 0, "pads", failWith);
  if (!pad) return pad.takeError();
  int64_t oh = (x.dims[1] + 2 * *pad - w.dims[2]) / *stride + 1, ow = (x.dims[2] + 2 * *pad - w.dims[3]) / *stride + 1;
  if (oh < 1 || ow < 1) return nodeFail(n, "the kernel is larger than the padded image");
  std::string expr = fmt::format("conv2d({}, {}", use(x), use(w));
  if (*stride != 1) expr += fmt::format(", stride = {}", *stride);
  if (*pad != 0) expr += fmt::format(", pad = {}", *pad);
  expr += ")";
  if (hasInput(n, 2)) {
    auto bv = input(n, 2);
    if (!bv) return bv.takeError();
    if ((*bv)->batched || (*bv)->dims != Dims{w.dims[0]}) return nodeFail(n, "the bias must be a constant [{}]", w.dims[0]);
    Dims perChannel{w.dims[0], 1, 1};
    expr += " + " + ((*bv)->fromInitializer ? use(**bv, &perChannel)
                                            : fmt::format("reshape({}, [{}, 1, 1])", use(**bv), w.dims[0]));
  }
  define(n, expr, true, {w.dims[0], oh, ow});
  return llvm::Error::success();
}

/// One value when all of `v` are equal, else the list: `3` or `[3, 2]`.
std::string poolArg(const Dims &v) {
  if (std::all_of(v.begin(), v.end(), [&](int64_t x) { return x == v[0]; })) return std::to_string(v[0]);
  return fmt::format("[{}]", fmt::join(v, ", "));
}

/// The explicit pads [top, left, bottom, right] of auto_pad SAME_UPPER or
/// SAME_LOWER: the output keeps ceil(in / stride) pixels per axis, the odd
/// pixel of padding at the end (UPPER) or the beginning (LOWER).
Dims samePads(const Dims &in, const Dims &kernel, const Dims &strides, bool upper) {
  Dims pads(4);
  for (size_t i = 0; i < 2; ++i) {
    int64_t out = (in[i] + strides[i] - 1) / strides[i];
    int64_t total = std::max<int64_t>(0, (out - 1) * strides[i] + kernel[i] - in[i]);
    pads[i] = upper ? total / 2 : total - total / 2;
    pads[i + 2] = total - pads[i];
  }
  return pads;
}

llvm::Error Importer::pool(const NodeProto &n) {
  auto xv = input(n, 0);
  if (!xv) return xv.takeError();
  Value *source = *xv;
  if (!source->padded.empty()) source = &values_.at(source->padded); // the Pad's zeros become the pool's padding
  Value &x = *source;
  if (n.output_size() > 1) return nodeFail(n, "the Indices output is not supported");
  if (!x.batched || x.dims.size() != 3) return nodeFail(n, "dlc pools a batch of [C, H, W] images (2-D pooling)");
  Dims kernel = attrInts(n, "kernel_shape", {});
  if (kernel.size() != 2 || kernel[0] < 1 || kernel[1] < 1)
    return nodeFail(n, "kernel_shape [{}]: dlc pools 2-D windows", fmt::join(kernel, ", "));
  Dims strides = attrInts(n, "strides", {1, 1});
  if (strides.size() != 2 || strides[0] < 1 || strides[1] < 1)
    return nodeFail(n, "strides [{}]: dlc pools with two strides of 1 or more", fmt::join(strides, ", "));
  for (int64_t d : attrInts(n, "dilations", {}))
    if (d != 1) return nodeFail(n, "dilations [{}]: dilated pooling is not supported", fmt::join(attrInts(n, "dilations", {}), ", "));
  if (attrInt(n, "ceil_mode", 0) != 0)
    return nodeFail(n, "ceil_mode = 1 is not supported (dlc's windows stay inside the padded image, ceil_mode 0)");
  if (attrInt(n, "storage_order", 0) != 0) return nodeFail(n, "storage_order = 1 is not supported");
  std::string autoPad = attrString(n, "auto_pad", "NOTSET");
  Dims image{x.dims[1], x.dims[2]}, pads = attrInts(n, "pads", {0, 0, 0, 0});
  if (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") pads = samePads(image, kernel, strides, autoPad == "SAME_UPPER");
  else if (autoPad == "VALID") pads = {0, 0, 0, 0};
  else if (autoPad != "NOTSET") return nodeFail(n, "auto_pad = {} is not supported", autoPad);
  if (pads.size() != 4) return nodeFail(n, "pads [{}]: 2-D pooling takes 4 pads", fmt::join(pads, ", "));
  bool countPad = n.op_type() == "AveragePool" && attrInt(n, "count_include_pad", 0) != 0;
  if (const Dims &zeros = (*xv)->zeroPads; !zeros.empty()) {
    if (pads != Dims{0, 0, 0, 0} && !countPad)
      return nodeFail(n, "pads its input with zeros (a Pad) and pads [{}] without counting them", fmt::join(pads, ", "));
    for (size_t i = 0; i < 4; ++i) pads[i] += zeros[i];
    countPad = true;
  }
  for (size_t i = 0; i < 4; ++i)
    if (pads[i] < 0 || pads[i] >= kernel[i % 2])
      return nodeFail(n, "pads [{}]: each pad must be 0 or more and smaller than the {}x{} window", fmt::join(pads, ", "),
                      kernel[0], kernel[1]);
  Dims out{x.dims[0], 0, 0};
  for (size_t i = 0; i < 2; ++i) {
    auto extent = poolOutExtent(image[i], kernel[i], strides[i], pads[i], pads[i + 2]);
    if (!extent) return nodeFail(n, "the {}x{} window does not fit the {}x{} image", kernel[0], kernel[1], image[0], image[1]);
    out[i + 1] = *extent;
  }
  bool average = n.op_type() == "AveragePool";
  std::string expr = fmt::format("{}({}, {}", average ? "avgpool2d" : "maxpool2d", use(x), poolArg(kernel));
  if (strides != kernel) expr += fmt::format(", stride = {}", poolArg(strides));
  bool symmetric = pads[0] == pads[2] && pads[1] == pads[3];
  if (pads != Dims{0, 0, 0, 0})
    expr += fmt::format(", pad = {}", symmetric ? poolArg({pads[0], pads[1]}) : fmt::format("[{}]", fmt::join(pads, ", ")));
  if (average && countPad) expr += ", count_include_pad = 1";
  define(n, expr + ")", true, out);
  return llvm::Error::success();
}

// Pad with zeros around the height and width of a batch of images: kept
// aside (not a statement) for the AveragePool that reads it, which counts
// the zeros (torch exports AvgPool2d(padding = p) so).
llvm::Error Importer::pad(const NodeProto &n) {
  auto xv = input(n, 0);
  if (!xv) return xv.takeError();
  Value &x = **xv;
  if (attrString(n, "mode", "constant") != "constant") return nodeFail(n, "mode = {} is not supported", attrString(n, "mode", ""));
  Dims pads = attrInts(n, "pads", {});
  double value = attrFloat(n, "value", 0);
  if (opset_ >= 11) {
    auto given = knownInts(n, 1);
    if (!given) return given.takeError();
    pads = *given;
    if (hasInput(n, 2)) {
      auto v = input(n, 2);
      if (!v) return v.takeError();
      if (!(*v)->known || (*v)->data.size() != 1) return nodeFail(n, "the pad value must be a constant number");
      value = (*v)->data[0];
    }
  }
  if (!x.batched || x.dims.size() != 3 || pads.size() != 8 || value != 0 || pads[0] || pads[1] || pads[4] || pads[5])
    return nodeFail(n, "dlc imports a Pad of zeros around the height and width of a batch of images, before an AveragePool");
  Value v;
  v.batched = true;
  v.onnxName = n.output(0);
  v.padded = n.input(0);
  v.zeroPads = {pads[2], pads[3], pads[6], pads[7]};
  v.dims = {x.dims[0], x.dims[1] + pads[2] + pads[6], x.dims[2] + pads[3] + pads[7]};
  values_[n.output(0)] = std::move(v);
  return llvm::Error::success();
}

// GlobalMaxPool, GlobalAveragePool: one window over the whole image.
llvm::Error Importer::globalPool(const NodeProto &n) {
  auto xv = input(n, 0);
  if (!xv) return xv.takeError();
  Value &x = **xv;
  if (!x.batched || x.dims.size() != 3) return nodeFail(n, "dlc pools a batch of [C, H, W] images (2-D pooling)");
  std::string fn = n.op_type() == "GlobalMaxPool" ? "maxpool2d" : "avgpool2d";
  define(n, fmt::format("{}({}, {})", fn, use(x), poolArg({x.dims[1], x.dims[2]})), true, {x.dims[0], 1, 1});
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
  define(n, items.empty() ? e : fmt::format("{}[{}]", plainName ? e : "(" + e + ")", fmt::join(items, ", ")), x.batched, out);
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

// ---- the graph ----------------------------------------------------------------

llvm::Error Importer::declareInputs() {
  const auto &g = model_.graph();
  for (const TensorProto &t : g.initializer()) {
    Value v;
    v.onnxName = t.name();
    v.fromInitializer = v.known = true;
    auto dims = tensorDims(t, fmt::format("initializer '{}'", t.name()));
    if (!dims) return dims.takeError();
    auto data = tensorValues(t, fmt::format("initializer '{}'", t.name()));
    if (!data) return data.takeError();
    v.dims = *dims, v.data = std::move(*data);
    values_[t.name()] = std::move(v);
  }
  int count = 0;
  for (const auto &in : g.input()) {
    if (values_.count(in.name())) continue; // an initializer listed as an input (IR version < 4)
    const auto &type = in.type();
    if (!type.has_tensor_type() || type.tensor_type().elem_type() != TensorProto::FLOAT)
      return fail("graph input '{}' is not a float tensor; dlc imports float inputs", in.name());
    const auto &shape = type.tensor_type().shape();
    if (shape.dim_size() < 1) return fail("graph input '{}' is a scalar; it needs a batch dim", in.name());
    Value v;
    v.batched = true;
    v.onnxName = in.name();
    for (int i = 1; i < shape.dim_size(); ++i) {
      if (!shape.dim(i).has_dim_value() || shape.dim(i).dim_value() < 1)
        return fail("graph input '{}': dim {} must be a fixed positive extent", in.name(), i);
      v.dims.push_back(shape.dim(i).dim_value());
    }
    if (shape.dim(0).has_dim_value()) fixedBatch_ = shape.dim(0).dim_value();
    v.expr = freshName(in.name());
    decls_ += fmt::format("  input {} : [{}]\n", v.expr, fmt::join(v.dims, ", "));
    values_[in.name()] = std::move(v);
    ++count;
  }
  if (count == 0) return fail("the graph has no input (besides initializers); a dlc model needs one");
  return llvm::Error::success();
}

llvm::Error Importer::declareOutputs() {
  const auto &g = model_.graph();
  if (g.output_size() == 0) return fail("the graph has no output");
  for (const auto &out : g.output()) {
    auto it = values_.find(out.name());
    if (it == values_.end()) return fail("graph output '{}' is not computed by any node", out.name());
    Value &v = it->second;
    if (!v.batched) return fail("graph output '{}' does not depend on the input", out.name());
    if (!v.padded.empty()) return fail("graph output '{}' is a Pad; dlc imports Pad only before an AveragePool", out.name());
    outputs_.push_back({out.name(), &v});
    tail_ += v.expr == out.name() ? fmt::format("  output {}\n", v.expr)
                                  : fmt::format("  output {} = {}\n", freshName(out.name()), v.expr);
  }
  // The loss: ONNX files have none, so the import adds one (a choice the file states).
  LossKind loss = options_.loss;
  Value &first = *outputs_[0].second;
  if (loss == LossKind::Auto) loss = outputs_.size() == 1 && first.dims.size() == 1 ? LossKind::CrossEntropy : LossKind::None;
  if (loss == LossKind::CrossEntropy) {
    if (first.dims.size() != 1) return fail("cross_entropy needs a vector output per sample, got [{}]", fmt::join(first.dims, ", "));
    std::string logits = first.expr;
    const NodeProto *p = producer_[outputs_[0].first];
    if (p && (p->op_type() == "Softmax" || p->op_type() == "LogSoftmax") && values_.count(p->input(0)))
      logits = use(values_[p->input(0)]); // cross_entropy takes logits
    std::string y = freshName("y");
    decls_ += fmt::format("  label {} : class({})\n", y, first.dims[0]);
    tail_ += fmt::format("  loss cross_entropy({}, {})\n", logits, y);
  } else if (loss == LossKind::Square) {
    std::string t = freshName("t");
    decls_ += fmt::format("  label {} : [{}]\n", t, fmt::join(first.dims, ", "));
    tail_ += fmt::format("  loss square_loss({}, {})\n", first.expr, t);
  }
  return llvm::Error::success();
}

llvm::Expected<ImportedModel> Importer::run() {
  for (const auto &o : model_.opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx") opset_ = o.version();
  if (!model_.has_graph()) return fail("no graph in the file (is it an ONNX model?)");
  if (opset_ < 6 || opset_ > 17) return fail("opset {} is not supported (dlc imports opsets 6 to 17; 13 to 17 fully)", opset_);
  if (llvm::Error e = declareInputs()) return e;
  for (const NodeProto &n : model_.graph().node()) {
    if (!n.domain().empty() && n.domain() != "ai.onnx")
      return nodeFail(n, "op domain '{}' is not supported", n.domain());
    auto rule = rules().find(n.op_type());
    if (rule == rules().end()) {
      std::string supported;
      for (const auto &[name, _] : rules()) supported += (supported.empty() ? "" : ", ") + name;
      return nodeFail(n, "op '{}' is not supported by dlc import (supported: {})", n.op_type(), supported);
    }
    for (const AttributeProto &a : n.attribute())
      if (!rule->second.attributes.count(a.name())) return nodeFail(n, "attribute '{}' is not supported", a.name());
    if (n.output_size() < 1 || n.output(0).empty()) return nodeFail(n, "has no output");
    if (n.op_type() != "MaxPool" && n.output_size() > 1) return nodeFail(n, "more than one output is not supported");
    if (llvm::Error e = (this->*rule->second.handler)(n)) return e;
    producer_[n.output(0)] = &n;
    ++nodeIndex_;
  }
  if (llvm::Error e = declareOutputs()) return e;
  ImportedModel out;
  out.modelName = options_.modelName;
  std::string producer = model_.producer_name().empty() ? "" : fmt::format(" (producer: {} {})", model_.producer_name(), model_.producer_version());
  out.netText = fmt::format("# Imported from {} by `dlc import`{}, opset {}.\n# The params' values are in the "
                            "checkpoint written beside this file.\nmodel {} {{\n{}\n{}{}}}\n\ntrain {} {{\n  optimizer "
                            "adam(lr = 1e-3)\n  batch {}\n  epochs 1\n}}\n",
                            options_.sourceName, producer, opset_, options_.modelName, decls_, body_, tail_,
                            options_.modelName, fixedBatch_ > 1 ? fixedBatch_ : 64);
  out.params = std::move(params_);
  return out;
}

} // namespace

llvm::Expected<ImportedModel> importOnnx(const std::string &bytes, const ImportOptions &options) {
  ModelProto model;
  if (!model.ParseFromString(bytes))
    return makeError(fmt::format("{}: error: not an ONNX model (the protobuf does not parse)", options.sourceName));
  return Importer(model, options).run();
}

} // namespace dlc::onnx_import
