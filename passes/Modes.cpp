//===- passes/Modes.cpp - Resolve select_mode per entry point -------------===//
//
// One graph serves every entry point, but `forward` infers and the training
// entries (loss_and_grad, train_step) train: select_mode(train, infer) is the
// value that differs (batch norm's normalization by the batch's statistics or
// by the running ones). This pass makes the graph mode-free, so that fusion,
// the layout and the lowering never see a mode: every value that depends on
// a select is built once per mode that needs it, the outputs read the infer
// copies, the loss, gradients and updates the train copies, and the select
// itself becomes the operand its mode takes. Values that depend on no select
// stay shared. Where both copies live, the infer copy keeps the source name
// (outputs are named in the ABI) and the train copy is named `NAME.train`.
// Simplify then removes what the gradient of the unused mode left behind
// (the zeros select_mode's VJP sends to it).
//
//===----------------------------------------------------------------------===//
#include <array>
#include <unordered_set>

#include "ir/GraphUtils.h"
#include "passes/Pass.h"

namespace dlc {

namespace {

enum Mode : size_t { kInfer = 0, kTrain = 1 };

bool readInMode(const GraphResult &r, Mode m) { return (r.role == Role::Output) == (m == kInfer); }

/// The operand a select takes in mode `m`.
const Node *chosen(const Node *select, Mode m) { return select->operands[m == kTrain ? 0 : 1]; }

/// live[m]: the values the entries of mode `m` compute.
std::array<std::unordered_set<const Node *>, 2> liveValues(const Graph &g) {
  std::array<std::unordered_set<const Node *>, 2> live;
  for (const auto &r : g.results)
    for (Mode m : {kInfer, kTrain})
      if (readInMode(r, m)) live[m].insert(r.node);
  for (auto it = g.nodes().rbegin(); it != g.nodes().rend(); ++it) {
    const Node *n = it->get();
    for (Mode m : {kInfer, kTrain}) {
      if (!live[m].count(n)) continue;
      if (n->kind == OpKind::SelectMode) live[m].insert(chosen(n, m));
      else live[m].insert(n->operands.begin(), n->operands.end());
    }
  }
  return live;
}

/// `base` if no value of `g` or `taken` has that name, else `base.2`, `base.3`, ...
std::string freshName(const std::string &base, const Graph &g, std::unordered_set<std::string> &taken) {
  std::string name = base;
  for (int k = 2; g.findByName(name) || taken.count(name); ++k) name = base + "." + std::to_string(k);
  taken.insert(name);
  return name;
}

} // namespace

PassResult runModes(std::unique_ptr<Graph> &g, PassContext &) {
  if (g->nodesOfKind(OpKind::SelectMode).empty()) return PassResult::Unchanged;
  std::unordered_set<const Node *> dependent; // on some select
  for (const auto &n : g->nodes()) {
    bool dep = n->kind == OpKind::SelectMode;
    for (const Node *o : n->operands) dep = dep || dependent.count(o);
    if (dep) dependent.insert(n.get());
  }
  auto live = liveValues(*g);
  auto out = emptyGraphLike(*g);
  std::array<NodeMap, 2> copy; // per mode: a source value's replacement
  std::unordered_set<std::string> taken;
  for (const auto &up : g->nodes()) {
    const Node *n = up.get();
    if (!dependent.count(n)) {
      std::vector<Node *> ops;
      for (const Node *o : n->operands) ops.push_back(copy[kInfer].at(o));
      copy[kInfer][n] = copy[kTrain][n] = copyNode(*out, *n, std::move(ops));
      continue;
    }
    bool both = live[kInfer].count(n) && live[kTrain].count(n);
    for (Mode m : {kInfer, kTrain}) {
      if (!live[m].count(n)) continue;
      if (n->kind == OpKind::SelectMode) { // the operand, named after the select if it has no name
        Node *c = copy[m][n] = copy[m].at(chosen(n, m));
        if (c->name.empty() && !c->isLeaf() && !n->name.empty())
          c->name = both && m == kTrain ? freshName(n->name + ".train", *g, taken) : n->name;
        continue;
      }
      std::vector<Node *> ops;
      for (const Node *o : n->operands) ops.push_back(copy[m].at(o));
      Node *c = copyNode(*out, *n, std::move(ops));
      if (both && m == kTrain && !n->name.empty()) c->name = freshName(n->name + ".train", *g, taken);
      copy[m][n] = c;
    }
  }
  for (const auto &r : g->results) {
    Mode m = readInMode(r, kInfer) ? kInfer : kTrain;
    out->addResult(r.role, copy[m].at(r.node), r.loc, r.of ? copy[m].at(r.of) : nullptr);
  }
  g = std::move(out);
  return PassResult::Changed;
}

} // namespace dlc
