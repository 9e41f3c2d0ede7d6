//===- passes/DeadCode.cpp ------------------------------------------------===//
#include "passes/DeadCode.h"

#include <unordered_set>

#include "passes/Pass.h"

namespace dlc {

size_t eliminateDeadNodes(Graph &g) {
  std::unordered_set<const Node *> live;
  for (const auto &r : g.results) {
    live.insert(r.node);
    if (r.of) live.insert(r.of);
  }
  for (auto it = g.nodes().rbegin(); it != g.nodes().rend(); ++it)
    if (live.count(it->get()))
      for (const Node *o : (*it)->operands) live.insert(o);
  size_t before = g.size();
  g.eraseIf([&](const Node *n) {
    return !live.count(n) && !n->isSupplied(); // the model's interface stays, used or not
  });
  return before - g.size();
}

PassResult runDeadCode(std::unique_ptr<Graph> &g, PassContext &ctx) {
  size_t removed = eliminateDeadNodes(*g);
  ctx.addStat("dce", "removed", removed);
  return removed ? PassResult::Changed : PassResult::Unchanged;
}

} // namespace dlc
