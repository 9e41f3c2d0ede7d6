//===- codegen/Explain.cpp - The --explain report --------------------------===//
#include "codegen/Explain.h"

#include <fmt/format.h>

#include "codegen/Fusion.h"
#include "ir/Dataflow.h"
#include "ir/Printer.h"

namespace dlc {

namespace {

int64_t floatsAt(const Shape &s, int64_t batch) {
  int64_t n = 1;
  for (const Dim &d : s) n *= d.isKnown() ? d.value() : batch;
  return n;
}

/// Remarks whose text starts with `prefix`, as report lines.
std::string section(const std::vector<std::string> &remarks, const std::string &prefix, const char *none) {
  std::string out;
  for (const std::string &r : remarks)
    if (r.rfind(prefix, 0) == 0) out += "  " + r + "\n";
  return out.empty() ? fmt::format("  {}\n", none) : out;
}

} // namespace

std::vector<KeptValue> keptForwardValues(const Graph &g, int64_t batch) {
  std::vector<KeptValue> kept;
  Node *loss = g.result(Role::Loss);
  if (!loss) return kept;
  std::vector<bool> forward = reachesTo(g, loss), backward(g.size(), false);
  for (Node *grad : g.resultsWith(Role::Grad)) {
    std::vector<bool> r = reachesTo(g, grad);
    for (size_t i = 0; i < r.size(); ++i) backward[i] = backward[i] || (r[i] && !forward[i]);
  }
  std::unordered_map<const Node *, size_t> index;
  for (size_t i = 0; i < g.size(); ++i) index[g.nodes()[i].get()] = i;
  std::vector<bool> read(g.size(), false);
  for (size_t i = 0; i < g.size(); ++i)
    if (backward[i])
      for (const Node *o : g.nodes()[i]->operands) read[index.at(o)] = true;
  for (size_t i = 0; i < g.size(); ++i) {
    const Node *n = g.nodes()[i].get();
    bool scalarConstant = n->kind == OpKind::Const || n->type.isScalar();
    if (forward[i] && read[i] && !n->isLeaf() && !scalarConstant) kept.push_back({n, floatsAt(n->shape(), batch)});
  }
  return kept;
}

std::string explainModel(const Graph &g, const std::vector<std::string> &remarks, int64_t batch, Optimizer optimizer) {
  std::string out = fmt::format("dlc --explain {} (batch {} for the costs)\n\n", g.name, batch);
  out += "matrix chains (the order chosen; its multiplies against the order as written):\n";
  out += section(remarks, "chain ", "(no product of three or more factors)");
  out += "\njacobians (the mode chosen; its multiplies against pure forward and pure reverse mode):\n";
  out += section(remarks, "jacobian ", "(no jacobian(y, x) in the model)");
  out += "\nstable rewrites:\n" + section(remarks, "stable", "(no log(1 + exp(x)), log(sum(exp(x))) or log(sigmoid(x)))");

  out += "\nrematerialization (--remat=memory):\n" +
         section(remarks, "remat", "(off: every forward value the backward reads is kept)");
  out += "\nkernel plan (what fused, and why):\n";
  auto [outputs, training] = entryRoots(g);
  auto plan = [&](const char *entry, const std::vector<const Node *> &roots) {
    std::vector<const Node *> nodes = entryNodes(g, roots);
    out += printKernelPlan(g, planKernels(nodes, {roots.begin(), roots.end()}), entry);
  };
  plan("forward", outputs);
  if (g.result(Role::Loss)) plan("loss_and_grad", training);

  ModelLayout l = planLayout(g, batch, optimizer);
  out += fmt::format("\nmemory at batch {}: arena peak {} floats ({:.1f} KiB) = {} persistent + {} temporary "
                     "({} without buffer sharing) + {} workspace\n",
                     batch, l.arenaSize, double(l.arenaSize) * 4 / 1024, l.persistentSize,
                     l.arenaSize - l.persistentSize - l.workspaceSize, l.unsharedTemporarySize, l.workspaceSize);

  std::vector<KeptValue> kept = keptForwardValues(g, batch);
  auto names = printedNames(g);
  std::unordered_map<const Node *, std::string> printed;
  for (size_t i = 0; i < g.size(); ++i) printed[g.nodes()[i].get()] = names[i];
  int64_t total = 0;
  out += "\nforward values the backward keeps (besides inputs and params):\n";
  for (const KeptValue &k : kept) {
    out += fmt::format("  {} = {} : {}  {} floats\n", printed.at(k.node), k.node->info().mnemonic, k.node->type.str(),
                       k.floats);
    total += k.floats;
  }
  if (kept.empty()) out += "  (none)\n";
  else out += fmt::format("  total {} floats ({:.1f} KiB) at batch {}\n", total, double(total) * 4 / 1024, batch);
  return out;
}

} // namespace dlc
