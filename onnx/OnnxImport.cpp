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
#include "onnx/Importer.h"

#include <algorithm>

#include "onnx/TensorData.h"

namespace dlc::onnx_import {

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

llvm::Expected<ImportedModel> importOnnx(const std::string &bytes, const ImportOptions &options) {
  ModelProto model;
  if (!model.ParseFromString(bytes))
    return makeError(fmt::format("{}: error: not an ONNX model (the protobuf does not parse)", options.sourceName));
  return Importer(model, options).run();
}

} // namespace dlc::onnx_import
