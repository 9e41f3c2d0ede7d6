//===- codegen/Descriptor.cpp ---------------------------------------------===//
#include "codegen/Descriptor.h"

#include <unordered_map>

namespace dlc {

namespace {

/// The initializer of a param's `init` attribute; zeros for none (IR text).
dlc_init_kind initKind(const std::string &init) {
#define DLC_INIT(Id, name, args, argNames, valid, draw, shift, scale) \
  if (init == name) return DLC_INIT_##Id;
#include "runtime/Initializers.def"
  return DLC_INIT_Zeros;
}

/// Fan-in and fan-out for he/glorot: [out, in] matrices, [O, C, KH, KW] filters.
std::pair<int64_t, int64_t> fans(const Shape &s) {
  if (!isKnown(s)) return {1, 1};
  int64_t total = numElements(s).value_or(1);
  if (s.size() < 2) return {total, total};
  int64_t receptive = total / (s[0].value() * s[1].value());
  return {s[1].value() * receptive, s[0].value() * receptive};
}

/// The glue's record of `n`: its place in the arena, its gradient and
/// optimizer state, and for a param or a state its initializer.
dlc_rt_tensor tensorRecord(const Node *n, const ModelLayout &layout, const Node *grad) {
  dlc_rt_tensor r{};
  r.offset = layout.slots.at(n).first;
  r.grad_offset = grad ? layout.slots.at(grad).first : -1;
  r.state[0] = r.state[1] = -1;
  if (auto it = layout.state.find(n); it != layout.state.end())
    for (size_t i = 0; i < it->second.size() && i < 2; ++i) r.state[i] = it->second[i];
  r.batched = !n->shape().empty() && n->shape()[0].isSymbolic();
  r.count = layout.elements(n->shape()) / (r.batched ? layout.capacity : 1);
  r.classes = n->attrs.getInt("classes");
  r.init = initKind(n->attrs.getString("init"));
  std::vector<double> args = n->attrs.getFloats("init_args");
  r.init_a = args.size() > 0 ? args[0] : 0;
  r.init_b = args.size() > 1 ? args[1] : 0;
  std::tie(r.fan_in, r.fan_out) = fans(n->shape());
  return r;
}

} // namespace

std::vector<ApiTensor> apiTensors(const Graph &g) {
  std::vector<ApiTensor> out;
  for (const auto &n : g.nodes()) {
    if (n->kind == OpKind::Input) out.push_back({n.get(), DLC_ROLE_INPUT, false});
    if (n->kind == OpKind::Label) out.push_back({n.get(), DLC_ROLE_LABEL, n->attrs.has("classes")});
    if (n->kind == OpKind::Param) out.push_back({n.get(), DLC_ROLE_PARAM, false});
  }
  for (Node *s : g.nodesOfKind(OpKind::State)) out.push_back({s, DLC_ROLE_STATE, false});
  for (Node *o : g.resultsWith(Role::Output)) out.push_back({o, DLC_ROLE_OUTPUT, false});
  return out;
}

ModelDescription describeModel(const Graph &g, const ModelLayout &layout) {
  ModelDescription d;
  d.name = g.name;
  d.capacity = layout.capacity;
  d.arenaSize = layout.arenaSize;
  d.optimizer = layout.optimizer == Optimizer::Adam ? DLC_OPT_ADAM : DLC_OPT_SGD;
  if (Node *loss = g.result(Role::Loss)) d.lossOffset = layout.slots.at(loss).first;
  d.dropoutKeyOffset = layout.dropoutKeyOffset;
  std::unordered_map<const Node *, const Node *> gradOf;
  for (const auto &r : g.results)
    if (r.role == Role::Grad && r.of) gradOf[r.of] = r.node;

  for (const ApiTensor &a : apiTensors(g)) {
    TensorDescription t{a, a.node->name, {}, {}};
    for (const Dim &dim : a.node->shape()) t.dims.push_back(dim.isSymbolic() ? -1 : dim.value());
    auto grad = gradOf.find(a.node);
    t.record = tensorRecord(a.node, layout, grad == gradOf.end() ? nullptr : grad->second);
    d.tensors.push_back(std::move(t));
  }

  bool adam = d.optimizer == DLC_OPT_ADAM;
#define DLC_HYPER(Id, key, gd, sgd, adamUses, sgdDefault, adamDefault, meaning) \
  d.hyperDefaults[DLC_HYPER_##Id] = g.train.getFloat(key, adam ? adamDefault : sgdDefault);
#include "runtime/Hyperparameters.def"
  return d;
}

} // namespace dlc
