//===- analysis/AffineNet.cpp ---------------------------------------------===//
#include "analysis/AffineNet.h"

#include <algorithm>
#include <unordered_map>

#include <fmt/format.h>

namespace dlc {

double AffineTensor::at(int64_t e, const double *t) const {
  double v = offset(e);
  for (int k = 0; k < m; ++k) v += slope(e, k) * t[k];
  return v;
}

std::vector<double> Plane::point(const double *t) const {
  std::vector<double> x = origin;
  for (size_t k = 0; k < directions.size(); ++k)
    for (size_t i = 0; i < x.size(); ++i) x[i] += t[k] * directions[k][i];
  return x;
}

bool AffineNet::Step::isRelu() const { return node->kind == OpKind::Relu || node->kind == OpKind::Max; }

namespace {

std::vector<int64_t> knownShape(const Shape &s) {
  std::vector<int64_t> out;
  for (const Dim &d : s) out.push_back(d.isKnown() ? d.value() : 1);
  return out;
}

bool isZero(const Tensor &t) {
  for (double v : t.data)
    if (v != 0) return false;
  return true;
}

/// out = a (op) b elementwise with numpy broadcasting (dims aligned right).
Tensor broadcastBinary(const Tensor &a, const Tensor &b, const std::vector<int64_t> &shape, OpKind kind) {
  Tensor out(shape);
  auto offsetIn = [&](const Tensor &t, int64_t flat) {
    int64_t off = 0, stride = 1;
    for (int64_t i = int64_t(shape.size()) - 1, j = int64_t(t.shape.size()) - 1; i >= 0; --i, --j) {
      int64_t idx = flat % shape[size_t(i)];
      flat /= shape[size_t(i)];
      if (j < 0) continue;
      if (t.shape[size_t(j)] != 1) off += idx * stride;
      stride *= t.shape[size_t(j)];
    }
    return off;
  };
  for (int64_t e = 0; e < int64_t(out.size()); ++e) {
    double x = a[size_t(offsetIn(a, e))], y = b[size_t(offsetIn(b, e))];
    double &r = out[size_t(e)];
    switch (kind) {
    case OpKind::Add: r = x + y; break;
    case OpKind::Sub: r = x - y; break;
    case OpKind::Mul: r = x * y; break;
    default: r = x / y; break;
    }
  }
  return out;
}

/// A matrix product of rank-1 or rank-2 operands (vectors as rows on the
/// left, columns on the right), with optional transposes.
Tensor matmul(const Tensor &a, const Tensor &b, bool ta, bool tb, const std::vector<int64_t> &shape) {
  auto dims = [](const Tensor &t, bool left, bool transposed) {
    int64_t r = t.shape.size() == 2 ? t.shape[0] : (left ? 1 : t.shape[0]);
    int64_t c = t.shape.size() == 2 ? t.shape[1] : (left ? t.shape[0] : 1);
    return transposed ? std::pair{c, r} : std::pair{r, c};
  };
  auto [n, k] = dims(a, true, ta);
  auto [k2, p] = dims(b, false, tb);
  (void)k2;
  int64_t ac = a.shape.size() == 2 ? a.shape[1] : a.shape[0], bc = b.shape.size() == 2 ? b.shape[1] : 1;
  Tensor out(shape);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < p; ++j) {
      double s = 0;
      for (int64_t l = 0; l < k; ++l)
        s += a[size_t(ta ? l * ac + i : i * ac + l)] * b[size_t(tb ? j * bc + l : l * bc + j)];
      out[size_t(i * p + j)] = s;
    }
  return out;
}

Tensor channel(const AffineTensor &a, int k) {
  Tensor t(a.shape);
  for (int64_t e = 0; e < a.size(); ++e) t[size_t(e)] = a.rows[size_t(e * (a.m + 1) + k)];
  return t;
}

void setChannel(AffineTensor &a, int k, const Tensor &t) {
  for (int64_t e = 0; e < a.size(); ++e) a.rows[size_t(e * (a.m + 1) + k)] = t[size_t(e)];
}

} // namespace

std::optional<AffineNet> AffineNet::fromGraph(const Graph &g, const ParamValues &params, const std::string &outputName,
                                              std::string &error) {
  AffineNet net(g, params);
  std::vector<Node *> inputs = g.nodesOfKind(OpKind::Input);
  if (inputs.size() != 1 || inputs[0]->shape().size() != 1 || !inputs[0]->shape()[0].isKnown()) {
    error = inputs.size() != 1 ? fmt::format("regions needs a model with one input (input x : [d]); this one has {}", inputs.size())
                               : fmt::format("regions needs an input vector (input x : [d]); '{}' is {}", inputs[0]->name,
                                             shapeStr(inputs[0]->shape()));
    return std::nullopt;
  }
  net.input_ = inputs[0];
  net.inputSize_ = inputs[0]->shape()[0].value();
  const Node *out = outputName.empty() ? g.result(Role::Output) : g.findByName(outputName);
  if (!out) {
    error = outputName.empty() ? "the model has no output" : "the model has no value named '" + outputName + "'";
    return std::nullopt;
  }
  // The input-dependent values, in graph order.
  std::unordered_map<const Node *, bool> dependsOnInput;
  for (const auto &n : g.nodes()) {
    bool d = n.get() == net.input_;
    for (const Node *o : n->operands) d = d || dependsOnInput[o];
    dependsOnInput[n.get()] = d;
  }
  if (!dependsOnInput[out]) {
    error = "'" + out->name + "' does not depend on the input";
    return std::nullopt;
  }
  static const OpKind monotone[] = {OpKind::Softmax, OpKind::LogSoftmax, OpKind::Sigmoid, OpKind::Tanh};
  for (OpKind k : monotone)
    if (out->kind == k) {
      net.outputNote_ = fmt::format("counting the pieces of the {} operand of output '{}'", out->info().mnemonic, out->name);
      out = out->operands[0];
    }
  net.output_ = out;
  std::unordered_map<const Node *, bool> needed{{out, true}};
  for (auto it = g.nodes().rbegin(); it != g.nodes().rend(); ++it)
    if (needed[it->get()])
      for (const Node *o : (*it)->operands) needed[o] = true;
  // Constants (params and what follows from them) from one interpreter run.
  Interpreter it(g);
  if (!net.run(it, std::vector<double>(size_t(net.inputSize_), 0.0), error)) return std::nullopt;
  std::unordered_map<const Node *, int> stepOf, constOf;
  static const OpKind linear[] = {OpKind::Input, OpKind::MatMul, OpKind::Add, OpKind::Sub, OpKind::Mul, OpKind::Div,
                                  OpKind::Neg, OpKind::Reshape, OpKind::Relu, OpKind::Max};
  for (const auto &n : g.nodes()) {
    if (!needed[n.get()] || !dependsOnInput[n.get()]) continue;
    Step step{n.get(), {}};
    for (const Node *o : n->operands) {
      if (dependsOnInput[o]) {
        step.operands.push_back(stepOf.at(o));
        continue;
      }
      if (!constOf.count(o)) {
        constOf[o] = int(net.constants_.size());
        net.constants_.push_back(it.value(o));
      }
      step.operands.push_back(-1 - constOf[o]);
    }
    bool ok = std::find(std::begin(linear), std::end(linear), n->kind) != std::end(linear);
    int affineOperands = 0;
    for (int o : step.operands) affineOperands += o >= 0;
    if ((n->kind == OpKind::MatMul || n->kind == OpKind::Mul) && affineOperands > 1) ok = false;
    if (n->kind == OpKind::Div && step.operands[1] >= 0) ok = false;
    if (n->kind == OpKind::Max && (affineOperands > 1 || step.operands[0] < 0 ||
                                   !isZero(net.constants_[size_t(-1 - step.operands[1])])))
      ok = false;
    if (!ok) {
      std::string what = n->name.empty() ? std::string(n->info().mnemonic)
                                         : fmt::format("'{}' ({})", n->name, n->info().mnemonic);
      error = fmt::format("{}:{}:{}: {} is not piecewise linear in input '{}'; regions counts networks of "
                          "matrix products, sums, constant scalings and relu",
                          n->loc.file ? n->loc.file->name : g.name, n->loc.line, n->loc.col, what, net.input_->name);
      return std::nullopt;
    }
    stepOf[n.get()] = int(net.steps_.size());
    net.steps_.push_back(std::move(step));
  }
  return net;
}

bool AffineNet::run(Interpreter &it, const std::vector<double> &x, std::string &error) const {
  for (const Node *p : graph_->nodesOfKind(OpKind::Param)) {
    auto v = params_.find(p->name);
    if (v == params_.end()) {
      error = "no value for param '" + p->name + "'";
      return false;
    }
    it.set(p, v->second);
  }
  for (const Node *l : graph_->nodesOfKind(OpKind::Label)) it.set(l, Tensor(knownShape(l->shape())));
  Tensor in({inputSize_});
  in.data = x;
  it.set(input_, in);
  return it.run(error);
}

AffineTensor AffineNet::inputValue(const Plane &plane) const {
  AffineTensor a{{inputSize_}, plane.dims(), {}};
  a.rows.assign(size_t(inputSize_ * (a.m + 1)), 0.0);
  for (int64_t i = 0; i < inputSize_; ++i) {
    a.rows[size_t(i * (a.m + 1))] = plane.origin[size_t(i)];
    for (int k = 0; k < a.m; ++k) a.rows[size_t(i * (a.m + 1) + 1 + k)] = plane.directions[size_t(k)][size_t(i)];
  }
  return a;
}

AffineTensor AffineNet::apply(size_t s, const std::vector<AffineTensor> &values) const {
  const Step &step = steps_[s];
  const Node &n = *step.node;
  int m = values[size_t(step.operands[0] >= 0 ? step.operands[0] : step.operands[1])].m;
  AffineTensor out{knownShape(n.shape()), m, {}};
  int64_t count = 1;
  for (int64_t d : out.shape) count *= d;
  out.rows.assign(size_t(count * (m + 1)), 0.0);
  // Channel k of a linear op's result is the op on channel k of each affine
  // operand; a constant operand enters every channel of a product but only
  // channel 0 (the offsets) of a sum.
  bool additive = n.kind == OpKind::Add || n.kind == OpKind::Sub;
  for (int k = 0; k <= m; ++k) {
    std::vector<Tensor> args;
    for (int o : step.operands) {
      if (o >= 0) args.push_back(channel(values[size_t(o)], k));
      else if (additive && k > 0) args.push_back(Tensor(constants_[size_t(-1 - o)].shape, 0.0));
      else args.push_back(constants_[size_t(-1 - o)]);
    }
    Tensor r;
    switch (n.kind) {
    case OpKind::MatMul:
      r = matmul(args[0], args[1], n.attrs.getBool("transpose_a"), n.attrs.getBool("transpose_b"), out.shape);
      break;
    case OpKind::Neg:
      r = args[0];
      for (double &v : r.data) v = -v;
      break;
    case OpKind::Reshape:
      r = args[0];
      r.shape = out.shape;
      break;
    default: r = broadcastBinary(args[0], args[1], out.shape, n.kind); break;
    }
    setChannel(out, k, r);
  }
  return out;
}

std::vector<double> AffineNet::evaluate(const std::vector<double> &x, std::string &error) const {
  Interpreter it(*graph_);
  if (!run(it, x, error)) return {};
  return it.value(output_).data;
}

std::vector<double> AffineNet::preActivations(const std::vector<double> &x, std::string &error) const {
  Interpreter it(*graph_);
  if (!run(it, x, error)) return {};
  std::vector<double> out;
  for (const Step &s : steps_)
    if (s.isRelu()) {
      const Tensor &z = it.value(s.node->operands[0]);
      out.insert(out.end(), z.data.begin(), z.data.end());
    }
  return out;
}

} // namespace dlc
