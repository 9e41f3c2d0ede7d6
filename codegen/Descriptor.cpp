//===- codegen/Descriptor.cpp ---------------------------------------------===//
#include "codegen/Descriptor.h"

#include <unordered_map>

namespace dlc {

namespace {

int initKind(const std::string &init) {
  static const char *names[] = {"", "zeros", "ones", "fill", "normal", "uniform", "he", "glorot"};
  for (int i = 0; i < 8; ++i)
    if (init == names[i]) return i;
  return 0;
}

/// Fan-in and fan-out for he/glorot: [out, in] matrices, [O, C, KH, KW] filters.
std::pair<int64_t, int64_t> fans(const Shape &s) {
  if (!isKnown(s)) return {1, 1};
  int64_t total = numElements(s).value_or(1);
  if (s.size() < 2) return {total, total};
  int64_t receptive = total / (s[0].value() * s[1].value());
  return {s[1].value() * receptive, s[0].value() * receptive};
}

} // namespace

ModelDescription describeModel(const Graph &g, const ModelLayout &layout) {
  ModelDescription d;
  d.name = g.name;
  d.capacity = layout.capacity;
  d.arenaSize = layout.arenaSize;
  d.adam = layout.optimizer == Optimizer::Adam;
  if (Node *loss = g.result(Role::Loss)) d.lossOffset = layout.slots.at(loss).first;
  std::unordered_map<const Node *, const Node *> gradOf;
  for (const auto &r : g.results)
    if (r.role == Role::Grad && r.of) gradOf[r.of] = r.node;

  auto add = [&](const Node *n, int role) {
    TensorDescription t;
    t.node = n;
    t.name = n->name;
    t.role = role;
    t.isClassLabel = n->kind == OpKind::Label && n->attrs.has("classes");
    t.batched = !n->shape().empty() && n->shape()[0].isSymbolic();
    for (const Dim &dim : n->shape()) t.dims.push_back(dim.isSymbolic() ? -1 : dim.value());
    t.offset = layout.slots.at(n).first;
    t.count = layout.elements(n->shape()) / (t.batched ? layout.capacity : 1);
    if (auto it = gradOf.find(n); it != gradOf.end()) t.gradOffset = layout.slots.at(it->second).first;
    if (auto it = layout.state.find(n); it != layout.state.end())
      for (size_t i = 0; i < it->second.size() && i < 2; ++i) t.state[i] = it->second[i];
    t.classes = n->attrs.getInt("classes");
    t.init = initKind(n->attrs.getString("init"));
    std::vector<double> args = n->attrs.getFloats("init_args");
    t.initA = args.size() > 0 ? args[0] : 0;
    t.initB = args.size() > 1 ? args[1] : 0;
    std::tie(t.fanIn, t.fanOut) = fans(n->shape());
    d.tensors.push_back(std::move(t));
  };
  for (const auto &n : g.nodes()) {
    if (n->kind == OpKind::Input) add(n.get(), 0);
    if (n->kind == OpKind::Label) add(n.get(), 1);
    if (n->kind == OpKind::Param) add(n.get(), 2);
  }
  for (Node *o : g.resultsWith(Role::Output)) add(o, 3);

  const Attrs &tr = g.train;
  double defaults[7] = {tr.getFloat("lr", d.adam ? 1e-3 : 0.01), tr.getFloat("momentum", 0), tr.getFloat("nesterov", 0),
                        tr.getFloat("beta1", 0.9), tr.getFloat("beta2", 0.999), tr.getFloat("eps", 1e-8),
                        tr.getFloat("weight_decay", 0)};
  std::copy(defaults, defaults + 7, d.hyperDefaults);
  int index[9] = {kLearningRate, kMomentum, kNesterov, kBeta1, kBeta2, kEpsilon, kWeightDecay, kCorrection1, kCorrection2};
  std::copy(index, index + 9, d.hyperIndex);
  return d;
}

} // namespace dlc
