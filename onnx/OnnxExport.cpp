//===- onnx/OnnxExport.cpp - Batched IR -> ONNX (opset 13) ----------------===//
#include "onnx/OnnxExport.h"

#include <functional>
#include <unordered_map>

#include <fmt/format.h>
#include <onnx/onnx_pb.h>

#include "onnx/TensorData.h"

namespace dlc::onnx_export {

using ::onnx::ModelProto;
using ::onnx::NodeProto;
using ::onnx::TensorProto;
using onnx_import::makeError;

namespace {

constexpr int64_t kOpset = 13;

class Exporter {
public:
  Exporter(const Graph &g, const ParamValues &p) : g_(g), params_(p) {}
  llvm::Expected<std::string> run();

private:
  llvm::Expected<std::string> valueOf(const Node *n);
  llvm::Expected<std::string> emit(const Node *n);
  std::string nameFor(const Node *n);
  NodeProto &node(const std::string &op, std::vector<std::string> inputs, const std::string &output);
  std::string constInts(const std::vector<int64_t> &v);
  std::string constFloat(double v);
  std::string constTensor(const std::string &name, const std::vector<int64_t> &dims, const std::vector<float> &values);
  template <typename... Args> llvm::Error fail(const Node *n, fmt::format_string<Args...> f, Args &&...args) {
    std::string where = n->loc.file ? fmt::format("{}:{}:{}: ", n->loc.file->name, n->loc.line, n->loc.col) : "";
    return makeError(fmt::format("{}error: --emit=onnx: {}", where, fmt::format(f, std::forward<Args>(args)...)));
  }

  const Graph &g_;
  const ParamValues &params_;
  ModelProto model_;
  ::onnx::GraphProto *graph_ = nullptr;
  std::unordered_map<const Node *, std::string> names_;
  std::set<std::string> used_;
  int temps_ = 0;
};

void setShape(::onnx::ValueInfoProto &v, const std::string &name, const Shape &shape) {
  v.set_name(name);
  auto *t = v.mutable_type()->mutable_tensor_type();
  t->set_elem_type(TensorProto::FLOAT);
  auto *s = t->mutable_shape();
  for (const Dim &d : shape) {
    auto *dim = s->add_dim();
    if (d.isSymbolic()) dim->set_dim_param(d.symbolName());
    else dim->set_dim_value(d.value());
  }
}

std::string Exporter::nameFor(const Node *n) {
  std::string base = n->name.empty() ? fmt::format("t{}", temps_++) : n->name;
  std::string name = base;
  for (int k = 2; used_.count(name); ++k) name = fmt::format("{}_{}", base, k);
  used_.insert(name);
  return name;
}

NodeProto &Exporter::node(const std::string &op, std::vector<std::string> inputs, const std::string &output) {
  NodeProto *p = graph_->add_node();
  p->set_op_type(op);
  p->set_name(fmt::format("{}_{}", op, graph_->node_size()));
  for (auto &i : inputs) p->add_input(i);
  p->add_output(output);
  return *p;
}

void addInts(NodeProto &n, const char *name, const std::vector<int64_t> &v) {
  auto *a = n.add_attribute();
  a->set_name(name);
  a->set_type(::onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}
void addInt(NodeProto &n, const char *name, int64_t v) {
  auto *a = n.add_attribute();
  a->set_name(name);
  a->set_type(::onnx::AttributeProto::INT);
  a->set_i(v);
}

std::string Exporter::constInts(const std::vector<int64_t> &v) {
  std::string name = fmt::format("const{}", temps_++);
  TensorProto *t = graph_->add_initializer();
  t->set_name(name);
  t->set_data_type(TensorProto::INT64);
  t->add_dims(int64_t(v.size()));
  for (int64_t x : v) t->add_int64_data(x);
  return name;
}

std::string Exporter::constFloat(double v) { return constTensor(fmt::format("const{}", temps_++), {}, {float(v)}); }

std::string Exporter::constTensor(const std::string &name, const std::vector<int64_t> &dims,
                                  const std::vector<float> &values) {
  NodeProto &c = node("Constant", {}, name);
  auto *a = c.add_attribute();
  a->set_name("value");
  a->set_type(::onnx::AttributeProto::TENSOR);
  onnx_import::fillTensor(*a->mutable_t(), name, dims, values);
  return name;
}

llvm::Expected<std::string> Exporter::valueOf(const Node *n) {
  auto it = names_.find(n);
  if (it != names_.end()) return it->second;
  auto name = emit(n);
  if (!name) return name.takeError();
  names_[n] = *name;
  return *name;
}

std::vector<int64_t> reshapeTarget(const Shape &shape, bool &ok) {
  std::vector<int64_t> out;
  int symbolic = 0;
  for (const Dim &d : shape) {
    symbolic += d.isSymbolic();
    out.push_back(d.isSymbolic() ? -1 : d.value());
  }
  ok = symbolic <= 1;
  return out;
}

llvm::Expected<std::string> Exporter::emit(const Node *n) {
  static const std::unordered_map<int, const char *> same = {
      {int(OpKind::Neg), "Neg"},   {int(OpKind::Exp), "Exp"},         {int(OpKind::Log), "Log"},
      {int(OpKind::Sqrt), "Sqrt"}, {int(OpKind::Abs), "Abs"},         {int(OpKind::Sign), "Sign"},
      {int(OpKind::Tanh), "Tanh"}, {int(OpKind::Sigmoid), "Sigmoid"}, {int(OpKind::Relu), "Relu"},
      {int(OpKind::Add), "Add"},   {int(OpKind::Sub), "Sub"},         {int(OpKind::Mul), "Mul"},
      {int(OpKind::Div), "Div"},   {int(OpKind::Max), "Max"}};
  if (n->type.dtype != DType::F32) return fail(n, "'{}' is not a float tensor", n->info().mnemonic);
  if (n->kind == OpKind::Input) {
    std::string name = nameFor(n);
    setShape(*graph_->add_input(), name, n->shape());
    return name;
  }
  if (n->kind == OpKind::Param) {
    auto it = params_.find(n->name);
    auto count = numElements(n->shape());
    if (it == params_.end() || !count || int64_t(it->second.size()) != *count)
      return fail(n, "no values for param '{}'", n->name);
    std::string name = nameFor(n);
    std::vector<int64_t> dims;
    for (const Dim &d : n->shape()) dims.push_back(d.value());
    onnx_import::fillTensor(*graph_->add_initializer(), name, dims, it->second);
    return name;
  }
  if (n->kind == OpKind::Const || n->kind == OpKind::Literal) { // a Constant tensor
    if (n->type.isScalar() && n->kind == OpKind::Const) return constFloat(n->attrs.getFloat("value"));
    auto count = numElements(n->shape());
    if (!count) return fail(n, "a constant of a symbolic shape is not exported");
    std::vector<int64_t> dims;
    for (const Dim &d : n->shape()) dims.push_back(d.value());
    std::vector<float> values(size_t(*count), float(n->attrs.getFloat("value")));
    if (n->kind == OpKind::Literal) {
      std::vector<double> given = n->attrs.getFloats("values");
      values.assign(given.begin(), given.end());
    }
    return constTensor(nameFor(n), dims, values);
  }
  if (n->kind == OpKind::DropoutMask) return fail(n, "a dropout mask outside x * mask is not exported");
  // dropout(x, p) = x * mask is the identity at inference, which is what ONNX runs.
  auto isMask = [](const Node *o) { return o->kind == OpKind::DropoutMask; };
  if (n->kind == OpKind::Mul && (isMask(n->operands[0]) || isMask(n->operands[1]))) {
    auto x = valueOf(n->operands[isMask(n->operands[0]) ? 1 : 0]);
    if (!x) return x.takeError();
    std::string out = nameFor(n);
    node("Identity", {*x}, out);
    return out;
  }
  std::vector<std::string> in;
  for (const Node *o : n->operands) {
    auto v = valueOf(o);
    if (!v) return v.takeError();
    in.push_back(*v);
  }
  std::string out = nameFor(n);
  if (auto it = same.find(int(n->kind)); it != same.end()) {
    node(it->second, in, out);
    return out;
  }
  switch (n->kind) {
  case OpKind::Pow:
    node("Pow", {in[0], constFloat(n->attrs.getFloat("exponent"))}, out);
    return out;
  case OpKind::Gt:
  case OpKind::Eq: {
    std::string b = out + "_bool";
    node(n->kind == OpKind::Gt ? "Greater" : "Equal", in, b);
    addInt(node("Cast", {b}, out), "to", TensorProto::FLOAT);
    return out;
  }
  case OpKind::MatMul: {
    bool ta = n->attrs.getBool("transpose_a"), tb = n->attrs.getBool("transpose_b");
    if (n->operands[0]->type.rank() == 2 && n->operands[1]->type.rank() == 2) {
      NodeProto &gemm = node("Gemm", in, out);
      if (ta) addInt(gemm, "transA", 1);
      if (tb) addInt(gemm, "transB", 1);
      return out;
    }
    if ((ta && n->operands[0]->type.rank() == 2) || (tb && n->operands[1]->type.rank() == 2))
      return fail(n, "a transposed matmul operand of rank other than 2 is not exported");
    node("MatMul", in, out);
    return out;
  }
  case OpKind::Transpose:
    addInts(node("Transpose", in, out), "perm", n->attrs.getInts("perm"));
    return out;
  case OpKind::Slice: {
    const Attrs &a = n->attrs;
    std::string starts = constInts({a.getInt("start")}), ends = constInts({a.getInt("end")});
    node("Slice", {in[0], starts, ends, constInts({a.getInt("axis")})}, out);
    return out;
  }
  case OpKind::Broadcast: // ONNX's Expand would need the batch's extent as a tensor
    return fail(n, "a value shared by every sample, repeated over the batch (a concat of a per-sample value with a "
                   "constant), is not exported");
  case OpKind::Concat:
    addInt(node("Concat", in, out), "axis", n->attrs.getInt("axis"));
    return out;
  case OpKind::Reshape: {
    bool ok = false;
    std::vector<int64_t> target = reshapeTarget(n->shape(), ok);
    if (!ok) return fail(n, "a reshape with two symbolic dims is not exported");
    node("Reshape", {in[0], constInts(target)}, out);
    return out;
  }
  case OpKind::ReduceSum: {
    addInt(node("ReduceSum", {in[0], constInts(n->attrs.getInts("axes"))}, out), "keepdims", 0);
    return out;
  }
  case OpKind::ReduceMax: {
    NodeProto &r = node("ReduceMax", in, out);
    addInts(r, "axes", n->attrs.getInts("axes"));
    addInt(r, "keepdims", 0);
    return out;
  }
  case OpKind::Softmax:
  case OpKind::LogSoftmax:
    addInt(node(n->kind == OpKind::Softmax ? "Softmax" : "LogSoftmax", in, out), "axis", n->attrs.getInt("axis"));
    return out;
  case OpKind::Conv2D: {
    if (n->operands[0]->type.rank() != 4) return fail(n, "conv2d of an unbatched image is not exported");
    std::vector<int64_t> stride = n->attrs.getInts("stride"), pad = n->attrs.getInts("pad");
    const Shape &k = n->operands[1]->shape();
    NodeProto &c = node("Conv", in, out);
    addInts(c, "kernel_shape", {k[2].value(), k[3].value()});
    addInts(c, "strides", stride);
    addInts(c, "pads", {pad[0], pad[1], pad[0], pad[1]});
    return out;
  }
  case OpKind::MaxPool2D:
  case OpKind::AvgPool2D: {
    if (n->operands[0]->type.rank() != 4) return fail(n, "pooling of an unbatched image is not exported");
    NodeProto &p = node(n->kind == OpKind::MaxPool2D ? "MaxPool" : "AveragePool", in, out);
    addInts(p, "kernel_shape", n->attrs.getInts("kernel"));
    addInts(p, "strides", n->attrs.getInts("stride"));
    addInts(p, "pads", n->attrs.getInts("pad")); // [top, left, bottom, right], ONNX's order too
    if (n->attrs.getBool("count_include_pad")) addInt(p, "count_include_pad", 1);
    return out;
  }
  default:
    return fail(n, "op '{}' is not exported to ONNX", n->info().mnemonic);
  }
}

llvm::Expected<std::string> Exporter::run() {
  model_.set_ir_version(7);
  model_.set_producer_name("dlc");
  model_.set_producer_version("0.1.0");
  auto *opset = model_.add_opset_import();
  opset->set_domain("");
  opset->set_version(kOpset);
  graph_ = model_.mutable_graph();
  graph_->set_name(g_.name);
  std::vector<Node *> outputs = g_.resultsWith(Role::Output);
  if (outputs.empty()) return makeError("error: --emit=onnx: the model has no output");
  // Every input is an ONNX input, used or not, in declaration order.
  for (Node *in : g_.nodesOfKind(OpKind::Input))
    if (auto v = valueOf(in); !v) return v.takeError();
  for (const Node *o : outputs) {
    auto v = valueOf(o);
    if (!v) return v.takeError();
    std::string name = *v;
    if (o->kind == OpKind::Input || o->kind == OpKind::Param) { // an output must be a node's result
      name = nameFor(o);
      node("Identity", {*v}, name);
    }
    setShape(*graph_->add_output(), name, o->shape());
  }
  std::string bytes;
  if (!model_.SerializeToString(&bytes)) return makeError("error: --emit=onnx: serialization failed");
  return bytes;
}

} // namespace

llvm::Expected<std::string> exportOnnx(const Graph &g, const ParamValues &params) {
  return Exporter(g, params).run();
}

} // namespace dlc::onnx_export
