//===- passes/Autodiff.cpp - Reverse-mode differentiation as an IR pass ---===//
//
// Copies the graph and appends the backward sweep: reverse topological order
// (program order reversed), one VJP rule per op, contributions to a value
// used several times summed with `add`. Gradients of params (and requested
// inputs) become `grad` results; adjoints of named values are named after
// them (`dL/dA1`, `dL/dv1`) and carry a note saying which chain-rule factor
// produced them. The output is ordinary IR: it can be printed, simplified,
// and differentiated again once a new loss replaces its results (a graph
// that already has gradients is refused: its dL/dX would be defined twice).
//
//===----------------------------------------------------------------------===//
#include <unordered_map>
#include <unordered_set>

#include "ir/Dataflow.h"
#include "ir/GraphUtils.h"
#include "passes/Pass.h"
#include "passes/VJPRules.h"

namespace dlc {

namespace {

std::string label(const Node *n) { return n->name.empty() ? std::string("(") + n->info().mnemonic + ")" : n->name; }

/// "dL/dv1 += through w = add(v1, b2)" style remark for a contribution.
std::string chainNote(const std::string &lossName, const Node *y, const Node *x) {
  std::string args;
  for (const Node *o : y->operands) args += (args.empty() ? "" : ", ") + label(o);
  return fmt::format("d{}/d{} via {} = {}({})", lossName, label(x), label(y), y->info().mnemonic, args);
}

} // namespace

PassResult runAutodiff(std::unique_ptr<Graph> &g, PassContext &ctx) {
  Node *lossOld = g->result(Role::Loss);
  if (!lossOld) {
    // A forward-only model (a network deployed for inference): nothing to
    // differentiate, unless gradients of inputs were asked for.
    if (ctx.gradInputs.empty()) return PassResult::Unchanged;
    ctx.diags.error(g->loc, "autodiff: model '{}' has no loss to differentiate", g->name);
    return PassResult::Failed;
  }
  if (!lossOld->type.isScalar()) {
    ctx.diags.error(lossOld->loc, "autodiff: the loss must be a scalar, got {}", lossOld->type.str());
    return PassResult::Failed;
  }
  if (!g->resultsWith(Role::Grad).empty()) {
    // A second reverse sweep would define dL/dL and every dL/dX again
    // (Hessian-vector products need a new loss first, e.g. with jacobian).
    ctx.diags.error({}, "autodiff: graph '{}' already has gradients; autodiff runs once per pipeline", g->name);
    return PassResult::Failed;
  }
  size_t lossIndex = 0;
  while (g->nodes()[lossIndex].get() != lossOld) ++lossIndex;
  auto out = cloneGraph(*g);
  Node *loss = out->nodes()[lossIndex].get();
  if (loss->name.empty() && !out->findByName("L")) loss->name = "L";
  const std::string lossName = loss->name.empty() ? "L" : loss->name;

  // What to differentiate with respect to.
  std::vector<Node *> wrt = out->nodesOfKind(OpKind::Param);
  for (const std::string &name : ctx.gradInputs) {
    Node *n = out->findByName(name);
    if (!n || n->kind != OpKind::Input) {
      ctx.diags.error({}, "autodiff: no input named '{}'", name);
      return PassResult::Failed;
    }
    wrt.push_back(n);
  }
  std::unordered_set<const Node *> wrtSet(wrt.begin(), wrt.end());

  // Forward: which values depend on something we differentiate for.
  std::vector<Node *> forward;
  std::unordered_set<const Node *> needsGrad;
  for (const auto &n : out->nodes()) {
    forward.push_back(n.get());
    bool dep = wrtSet.count(n.get()) != 0;
    if (!n->info().is(NoGrad))
      for (const Node *o : n->operands) dep = dep || needsGrad.count(o);
    if (dep) needsGrad.insert(n.get());
  }
  std::vector<bool> onPath = reachesTo(*out, loss);

  GradBuilder gb(*out, ctx.diags);
  std::unordered_map<const Node *, Node *> adjoint;
  adjoint[loss] = gb.scalar(1.0, loss->loc);
  for (size_t i = forward.size(); i-- > 0;) {
    Node *y = forward[i];
    auto it = adjoint.find(y);
    if (it == adjoint.end() || y->isLeaf() || y->info().is(NoGrad) || !onPath[i]) continue;
    std::vector<Node *> contributions = vjpRule(y->kind)(gb, y, it->second);
    if (ctx.diags.hasErrors()) return PassResult::Failed;
    for (size_t k = 0; k < y->operands.size(); ++k) {
      Node *x = y->operands[k], *c = contributions[k];
      if (!c || !needsGrad.count(x)) continue;
      if (c->note.empty() && c->name.empty() && !c->isLeaf()) c->note = chainNote(lossName, y, x);
      auto [acc, fresh] = adjoint.emplace(x, c);
      if (!fresh) acc->second = gb.op(OpKind::Add, {acc->second, c}, y->loc);
    }
  }

  // Name the adjoints: params first, then every named value.
  auto nameAdjoint = [&](const Node *x, Node *adj) {
    std::string name = "d" + lossName + "/d" + x->name;
    if (adj->name.empty() && !adj->isLeaf() && !out->findByName(name)) adj->name = name;
  };
  for (Node *p : wrt) {
    Node *adj = adjoint.count(p) ? adjoint[p] : nullptr;
    if (!adj) { // the loss does not depend on p: its gradient is zero
      Attrs zero;
      zero.set("value", 0.0);
      adj = out->add(OpKind::Const, {}, zero, p->type, "", p->loc);
    }
    nameAdjoint(p, adj);
    out->addResult(Role::Grad, adj, p->loc, p);
  }
  for (Node *x : forward)
    if (!x->name.empty() && adjoint.count(x) && x != loss) nameAdjoint(x, adjoint[x]);
  if (adjoint[loss]->name.empty()) adjoint[loss]->name = "d" + lossName + "/d" + lossName;
  g = std::move(out);
  return PassResult::Changed;
}

} // namespace dlc
