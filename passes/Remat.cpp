//===- passes/Remat.cpp - Recompute cheap forward values in the backward --===//
//
// --remat=memory: a forward value the backward pass reads stays live from
// the forward until that read. When it is a cheap elementwise op whose
// operands the backward keeps anyway (a relu of a pre-activation whose mask
// the backward also needs), the backward gets its own copy computed right
// before its first use, so the forward value dies with its last forward use
// and the memory plan can reuse its buffer. Runs last: CSE would merge the
// copy back. Each copy is a remark with the floats per sample it frees.
//
//===----------------------------------------------------------------------===//
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

/// Forward values to recompute: elementwise, read by the backward, whose
/// operands are leaves, scalars or values the backward reads as well.
std::vector<const Node *> candidates(const Graph &g, const Regions &r) {
  std::unordered_set<const Node *> readByBackward;
  for (size_t i = 0; i < g.size(); ++i)
    if (r.backward[i])
      for (const Node *o : g.nodes()[i]->operands)
        if (r.forward[r.index.at(o)]) readByBackward.insert(o);
  std::vector<const Node *> out;
  for (size_t i = 0; i < g.size(); ++i) {
    const Node *n = g.nodes()[i].get();
    if (!r.forward[i] || !readByBackward.count(n) || !n->info().is(Elementwise) || n->isLeaf() ||
        n->type.isScalar() || isResult(g, n))
      continue;
    bool operandsKept = true;
    for (const Node *o : n->operands)
      operandsKept = operandsKept && (o->isLeaf() || o->type.isScalar() || readByBackward.count(o));
    if (operandsKept) out.push_back(n);
  }
  return out;
}

} // namespace

PassResult runRemat(std::unique_ptr<Graph> &g, PassContext &ctx) {
  Node *loss = g->result(Role::Loss);
  if (!loss) return PassResult::Unchanged;
  Regions r = regionsOf(*g, loss);
  std::vector<const Node *> recompute = candidates(*g, r);
  if (recompute.empty()) return PassResult::Unchanged;
  std::unordered_set<const Node *> chosen(recompute.begin(), recompute.end());
  auto names = printedNames(*g);

  auto out = emptyGraphLike(*g);
  std::unordered_map<const Node *, Node *> map, copy; // copy: the backward's own value
  for (size_t i = 0; i < g->size(); ++i) {
    const Node *n = g->nodes()[i].get();
    if (r.backward[i])
      for (const Node *o : n->operands) {
        if (!chosen.count(o) || copy.count(o)) continue;
        std::vector<Node *> ops;
        for (const Node *oo : o->operands) ops.push_back(map.at(oo));
        Node *c = out->add(o->kind, ops, o->attrs, o->type, "", o->loc);
        c->note = fmt::format("recomputed for the backward ({})", names[r.index.at(o)]);
        copy[o] = c;
        ctx.remarks.push_back(fmt::format("remat: {} = {} recomputed in the backward instead of kept ({} floats per "
                                          "sample)",
                                          names[r.index.at(o)], o->info().mnemonic,
                                          numElements(Shape(o->shape().begin() + (o->shape().empty() ||
                                                                                   o->shape()[0].isKnown() ? 0 : 1),
                                                            o->shape().end()))
                                              .value_or(0)));
      }
    std::vector<Node *> ops;
    for (const Node *o : n->operands) ops.push_back(r.backward[i] && copy.count(o) ? copy.at(o) : map.at(o));
    Node *c = out->add(n->kind, ops, n->attrs, n->type, n->name, n->loc);
    c->note = n->note;
    map[n] = c;
  }
  copyResults(*g, *out, map);
  g = std::move(out);
  return PassResult::Changed;
}

} // namespace dlc
