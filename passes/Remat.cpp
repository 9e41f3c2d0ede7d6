//===- passes/Remat.cpp - Recompute cheap forward values in the backward --===//
//
// --remat=memory: a forward value the backward pass reads stays live from
// the forward until that read. When it is a cheap elementwise op whose
// operands the backward keeps anyway (h * h of a tanh output h, which the
// tanh gradient reads), the backward gets its own copy computed right
// before its first use, so the forward value dies with its last forward use
// and the memory plan can reuse its buffer. Runs last: CSE would merge the
// copy back. Each copy is a remark with the floats per sample it frees.
//
//===----------------------------------------------------------------------===//
#include <functional>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "ir/Builder.h"
#include "ir/GraphUtils.h"
#include "ir/Dataflow.h"
#include "ir/Printer.h"
#include "passes/Pass.h"

namespace dlc {

namespace {

struct Regions {
  std::vector<bool> forward, backward;
  std::unordered_map<const Node *, size_t> index;
};

Regions regionsOf(const Graph &g, const Node *loss) {
  Regions r;
  r.forward = reachesTo(g, loss);
  r.backward.assign(g.size(), false);
  for (Node *grad : g.resultsWith(Role::Grad)) {
    std::vector<bool> reach = reachesTo(g, grad);
    for (size_t i = 0; i < reach.size(); ++i) r.backward[i] = r.backward[i] || (reach[i] && !r.forward[i]);
  }
  for (size_t i = 0; i < g.size(); ++i) r.index[g.nodes()[i].get()] = i;
  return r;
}

bool isResult(const Graph &g, const Node *n) {
  for (const auto &r : g.results)
    if (r.node == n) return true;
  return false;
}

/// Cheap to recompute: elementwise ops and reshapes (a copy).
bool isCheap(const Node *n) { return n->info().is(Elementwise) || n->kind == OpKind::Reshape; }

class RematPlan {
public:
  RematPlan(const Graph &g, const Regions &r) : g_(g), r_(r) {
    for (size_t i = 0; i < g.size(); ++i)
      if (r.backward[i])
        for (const Node *o : g.nodes()[i]->operands)
          if (r.forward[r.index.at(o)]) readByBackward.insert(o);
  }

  /// Forward values the backward reads that it can recompute from values it
  /// keeps anyway (leaves, scalars, other values it reads).
  std::vector<const Node *> candidates() {
    std::vector<const Node *> out;
    for (size_t i = 0; i < g_.size(); ++i) {
      const Node *n = g_.nodes()[i].get();
      if (readByBackward.count(n) && recomputable(n)) out.push_back(n);
    }
    return out;
  }

  /// A value available to the backward without keeping `n` itself.
  bool available(const Node *n) { return n->isLeaf() || n->type.isScalar() || (readByBackward.count(n) && !recomputable(n)); }

  /// `n` is cheap and its operands are available or recomputable in turn.
  bool recomputable(const Node *n) {
    auto it = memo_.find(n);
    if (it != memo_.end()) return it->second;
    bool ok = r_.forward[r_.index.at(n)] && !n->isLeaf() && !n->type.isScalar() && isCheap(n) && !isResult(g_, n);
    memo_[n] = false; // no cycles in a DAG, but keep the recursion finite
    for (const Node *o : n->operands) ok = ok && (o->isLeaf() || o->type.isScalar() || readByBackward.count(o) || recomputable(o));
    return memo_[n] = ok;
  }

  std::unordered_set<const Node *> readByBackward;

private:
  const Graph &g_;
  const Regions &r_;
  std::unordered_map<const Node *, bool> memo_;
};

} // namespace

PassResult runRemat(std::unique_ptr<Graph> &g, PassContext &ctx) {
  Node *loss = g->result(Role::Loss);
  if (!loss) return PassResult::Unchanged;
  Regions r = regionsOf(*g, loss);
  RematPlan plan(*g, r);
  std::vector<const Node *> recompute = plan.candidates();
  if (recompute.empty()) {
    ctx.remarks.push_back("remat: nothing to recompute (no forward value the backward reads is a cheap op of values it keeps)");
    return PassResult::Unchanged;
  }
  std::unordered_set<const Node *> chosen(recompute.begin(), recompute.end());
  auto names = printedNames(*g);

  auto out = emptyGraphLike(*g);
  std::unordered_map<const Node *, Node *> map, copy; // copy: the backward's own value
  // The backward's copy of a chosen value, its non-kept operands copied first.
  std::function<Node *(const Node *)> recomputed = [&](const Node *o) -> Node * {
    if (auto it = copy.find(o); it != copy.end()) return it->second;
    if (!chosen.count(o) && plan.available(o)) return map.at(o);
    std::vector<Node *> ops;
    for (const Node *oo : o->operands) ops.push_back(plan.available(oo) ? map.at(oo) : recomputed(oo));
    Node *c = out->add(o->kind, ops, o->attrs, o->type, "", o->loc);
    c->note = fmt::format("recomputed for the backward ({})", names[r.index.at(o)]);
    return copy[o] = c;
  };
  for (size_t i = 0; i < g->size(); ++i) {
    const Node *n = g->nodes()[i].get();
    std::vector<Node *> ops;
    for (const Node *o : n->operands) {
      bool fresh = r.backward[i] && chosen.count(o) && !copy.count(o);
      ops.push_back(r.backward[i] && chosen.count(o) ? recomputed(o) : map.at(o));
      if (fresh)
        ctx.remarks.push_back(fmt::format("remat: {} = {} {} recomputed in the backward instead of kept",
                                          names[r.index.at(o)], o->info().mnemonic, o->type.str()));
    }
    Node *c = out->add(n->kind, ops, n->attrs, n->type, n->name, n->loc);
    c->note = n->note;
    map[n] = c;
  }
  copyResults(*g, *out, map);
  g = std::move(out);
  return PassResult::Changed;
}

} // namespace dlc
