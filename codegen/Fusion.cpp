//===- codegen/Fusion.cpp -------------------------------------------------===//
#include "codegen/Fusion.h"

#include <functional>

#include <fmt/format.h>

#include "ir/Printer.h"

namespace dlc {

namespace {

bool isElementwise(const Node *n) { return n->info().is(Elementwise); }
bool isScalarConstant(const Node *n) { return (n->kind == OpKind::Const || n->kind == OpKind::DimSize) && n->type.isScalar(); }

} // namespace

std::vector<const Node *> entryNodes(const Graph &g, const std::vector<const Node *> &roots) {
  std::unordered_set<const Node *> live(roots.begin(), roots.end());
  for (auto it = g.nodes().rbegin(); it != g.nodes().rend(); ++it)
    if (live.count(it->get()))
      for (const Node *o : (*it)->operands) live.insert(o);
  std::vector<const Node *> out;
  for (const auto &n : g.nodes())
    if (live.count(n.get())) out.push_back(n.get());
  return out;
}

std::pair<std::vector<const Node *>, std::vector<const Node *>> entryRoots(const Graph &g) {
  std::vector<const Node *> outputs, training;
  for (const auto &r : g.results) (r.role == Role::Output ? outputs : training).push_back(r.node);
  return {outputs, training};
}

KernelPlan planKernels(const std::vector<const Node *> &nodes, const std::unordered_set<const Node *> &keep) {
  KernelPlan plan;
  std::unordered_map<const Node *, std::vector<const Node *>> users;
  std::unordered_map<const Node *, size_t> position;
  for (size_t i = 0; i < nodes.size(); ++i) {
    position[nodes[i]] = i;
    for (const Node *o : nodes[i]->operands) users[o].push_back(nodes[i]);
  }
  auto soleUser = [&](const Node *n) -> const Node * {
    auto it = users.find(n);
    if (keep.count(n) || it == users.end() || it->second.size() != 1) return nullptr;
    // Used once, and only as one operand.
    const Node *u = it->second[0];
    int uses = 0;
    for (const Node *o : u->operands) uses += o == n;
    return uses == 1 ? u : nullptr;
  };

  // Matmul epilogues: follow single-use elementwise users of the same shape
  // whose other operands already exist when the matmul runs.
  for (const Node *n : nodes) {
    if (n->kind != OpKind::MatMul) continue;
    std::vector<const Node *> chain;
    const Node *cur = n;
    // An operand is ready at the matmul if it was computed before it, or can
    // be computed inline from ready values (the relu mask of a backward product).
    std::function<bool(const Node *, const Node *)> ready = [&](const Node *o, const Node *user) {
      if (!position.count(o) || position[o] < position[n] || isScalarConstant(o)) return true;
      if (!isElementwise(o) || soleUser(o) != user || o->type.shape != user->type.shape) return false;
      for (const Node *x : o->operands)
        if (!ready(x, o)) return false;
      return true;
    };
    while (const Node *u = soleUser(cur)) {
      if (!isElementwise(u) || u->type != n->type) break;
      bool allReady = true;
      for (const Node *o : u->operands)
        if (o != cur && !ready(o, u)) allReady = false;
      if (!allReady) break;
      chain.push_back(u);
      cur = u;
    }
    if (chain.empty()) continue;
    plan.epilogues[n] = chain;
    for (const Node *c : chain) plan.fused.insert(c);
  }
  // Inline: scalar constants anywhere; single-use elementwise ops into an
  // elementwise user (or an epilogue op) of the same shape.
  for (const Node *n : nodes) {
    if (plan.fused.count(n)) continue;
    if (isScalarConstant(n) && !keep.count(n)) {
      plan.inlineOps.insert(n);
      plan.fused.insert(n);
      continue;
    }
    if (!isElementwise(n)) continue;
    const Node *u = soleUser(n);
    if (u && isElementwise(u) && u->type.shape == n->type.shape) {
      plan.inlineOps.insert(n);
      plan.fused.insert(n);
    }
  }
  // The kernels, in program order, with what each computes inline.
  std::unordered_map<const Node *, size_t> kernelOf;
  for (const Node *n : nodes) {
    if (plan.fused.count(n) || n->isLeaf()) continue;
    Kernel k{n, {}, {}};
    if (auto it = plan.epilogues.find(n); it != plan.epilogues.end()) k.epilogue = it->second;
    kernelOf[n] = plan.kernels.size();
    for (const Node *e : k.epilogue) kernelOf[e] = plan.kernels.size();
    plan.kernels.push_back(std::move(k));
  }
  // Attribute each inline op to the kernel of its (transitive) user.
  for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
    const Node *n = *it;
    if (!plan.inlineOps.count(n) || isScalarConstant(n)) continue;
    const Node *u = users[n].front();
    if (auto k = kernelOf.find(u); k != kernelOf.end()) {
      kernelOf[n] = k->second;
      plan.kernels[k->second].inlined.push_back(n);
    }
  }
  return plan;
}

std::string printKernelPlan(const Graph &g, const KernelPlan &plan, const std::string &entry) {
  std::vector<std::string> names = printedNames(g);
  std::unordered_map<const Node *, std::string> name;
  for (size_t i = 0; i < g.size(); ++i) name[g.nodes()[i].get()] = names[i];
  auto describe = [&](const Node *n) { return fmt::format("{} = {}", name.at(n), n->info().mnemonic); };
  std::string out = fmt::format("{}: {} kernels\n", entry, plan.kernels.size());
  for (size_t i = 0; i < plan.kernels.size(); ++i) {
    const Kernel &k = plan.kernels[i];
    out += fmt::format("  kernel {}: {} -> {} {}\n", i, describe(k.anchor), name.at(k.output()), k.output()->type.str());
    for (const Node *e : k.epilogue) out += fmt::format("    epilogue {}\n", describe(e));
    for (auto it = k.inlined.rbegin(); it != k.inlined.rend(); ++it) out += fmt::format("    inline {}\n", describe(*it));
  }
  return out;
}

} // namespace dlc
