//===- passes/Derivatives.cpp - Expand jvp, hvp and jacobian into ops -----===//
//
// The derive pass copies the graph and replaces each derivative request by
// ordinary ops, in program order (so a request may use an earlier one):
//
//   jvp(y, x, t)    forward mode: one sweep of JVP rules from x to y
//   hvp(f, x, v)    forward over reverse: the JVP, in direction v, of the
//                   reverse-mode gradient df/dx
//   jacobian(y, x)  the chain of factors between x and y (weights and
//                   diagonal derivatives of elementwise ops), multiplied in
//                   the order JacobianPlan finds cheapest; the choice (mode,
//                   bracketing, multiplies against pure forward and pure
//                   reverse) becomes a remark
//
//===----------------------------------------------------------------------===//
#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "ir/Dataflow.h"
#include "ir/GraphUtils.h"
#include "ir/Printer.h"
#include "passes/DeadCode.h"
#include "passes/JVPRules.h"
#include "passes/JacobianPlan.h"
#include "passes/Pass.h"

namespace dlc {

namespace {

Node *zerosLike(Graph &g, const Node *like, const SourceLoc &loc) {
  Attrs zero;
  zero.set("value", 0.0);
  return g.add(OpKind::Const, {}, zero, like->type, "", loc);
}

/// The nodes of `g` that depend on x, in program order.
std::unordered_set<const Node *> dependents(const Graph &g, const Node *x) {
  std::unordered_set<const Node *> dep{x};
  for (const auto &n : g.nodes())
    if (!n->info().is(NoGrad))
      for (const Node *o : n->operands)
        if (dep.count(o)) dep.insert(n.get());
  return dep;
}

std::vector<Node *> snapshot(const Graph &g) {
  std::vector<Node *> out;
  for (const auto &n : g.nodes()) out.push_back(n.get());
  return out;
}

/// dy/dx t by one forward sweep of JVP rules over the nodes between x and y.
Node *tangentOf(GradBuilder &gb, Graph &g, Node *y, Node *x, Node *t) {
  std::vector<Node *> nodes = snapshot(g);
  std::vector<bool> feedsY = reachesTo(g, y);
  std::unordered_map<const Node *, Node *> tangent{{x, t}};
  for (size_t i = 0; i < nodes.size(); ++i) {
    Node *n = nodes[i];
    if (n == x || !feedsY[i] || n->isLeaf() || n->info().is(NoGrad)) continue;
    std::vector<Node *> ts;
    bool any = false;
    for (const Node *o : n->operands) {
      auto it = tangent.find(o);
      ts.push_back(it == tangent.end() ? nullptr : it->second);
      any = any || ts.back();
    }
    if (!any) continue;
    if (Node *dn = jvpRule(n->kind)(gb, n, ts)) tangent[n] = dn;
    if (n == y) break;
  }
  auto it = tangent.find(y);
  return it != tangent.end() ? it->second : zerosLike(g, y, y->loc);
}

/// df/dx for a scalar f by one reverse sweep of VJP rules.
Node *gradientOf(GradBuilder &gb, Graph &g, Node *f, Node *x) {
  std::vector<Node *> nodes = snapshot(g);
  std::vector<bool> feedsF = reachesTo(g, f);
  std::unordered_set<const Node *> dep = dependents(g, x);
  std::unordered_map<const Node *, Node *> adjoint{{f, gb.scalar(1.0, f->loc)}};
  for (size_t i = nodes.size(); i-- > 0;) {
    Node *y = nodes[i];
    auto it = adjoint.find(y);
    if (it == adjoint.end() || !feedsF[i] || y->isLeaf() || y->info().is(NoGrad)) continue;
    std::vector<Node *> contributions = vjpRule(y->kind)(gb, y, it->second);
    for (size_t k = 0; k < y->operands.size(); ++k) {
      Node *o = y->operands[k], *c = contributions[k];
      if (!c || !dep.count(o)) continue;
      auto [acc, fresh] = adjoint.emplace(o, c);
      if (!fresh) acc->second = gb.op(OpKind::Add, {acc->second, c}, y->loc);
    }
  }
  auto it = adjoint.find(x);
  return it != adjoint.end() ? it->second : zerosLike(g, x, x->loc);
}

/// One factor of a Jacobian chain: a matrix (maybe transposed) or a diagonal.
struct ChainLink {
  Node *value;     ///< the matrix, or the diagonal's vector (or scalar)
  bool transposed; ///< the matrix enters as value^T
  bool diagonal;
  int64_t rows, cols;
  std::string name;
  std::string what; ///< for a diagonal: what it is the derivative of
};

class JacobianBuilder {
public:
  JacobianBuilder(GradBuilder &gb, Graph &g, PassContext &ctx) : gb_(gb), g_(g), ctx_(ctx) {
    auto names = printedNames(g);
    for (size_t i = 0; i < g.size(); ++i) printed_[g.nodes()[i].get()] = names[i];
  }

  /// dy/dx as a [m, n] matrix, or null after an error.
  Node *build(Node *request, Node *y, Node *x) {
    dep_ = dependents(g_, x);
    std::vector<ChainLink> links;
    if (!collect(y, x, links)) return nullptr;
    if (links.empty() || std::all_of(links.begin(), links.end(), [](const ChainLink &l) { return l.diagonal; })) {
      ctx_.diags.error(request->loc, "jacobian: d{}/d{} is diagonal; jvp({}, {}, t) with t = 1 gives its diagonal",
                       y->name, x->name, y->name, x->name);
      return nullptr;
    }
    std::vector<JacobianFactor> factors;
    std::vector<std::string> names;
    int diagonals = 0;
    for (size_t i = links.size(); i-- > 0;) // D1 is next to x
      if (links[i].diagonal) links[i].name = "D" + std::to_string(++diagonals);
    for (const ChainLink &l : links) {
      factors.push_back({l.rows, l.cols, l.diagonal});
      names.push_back(l.name);
    }
    std::optional<JacobianMode> force;
    if (!ctx_.jacobianMode.empty() && ctx_.jacobianMode != "auto") force = parseJacobianMode(ctx_.jacobianMode);
    JacobianPlan plan = planJacobian(factors, force);
    remark(request, y, x, plan, names, links);
    return emit(links, plan.order, 0, links.size() - 1);
  }

private:
  bool depends(const Node *n) const { return dep_.count(n) != 0; }

  ChainLink matrix(Node *a, bool transposed) {
    const Shape &s = a->shape();
    int64_t r = s[0].value(), c = s[1].value();
    std::string name = printed_.count(a) ? printed_.at(a).substr(1) : "W";
    return {a, transposed, false, transposed ? c : r, transposed ? r : c, transposed ? name + "^T" : name, ""};
  }
  ChainLink diagonal(Node *d, const Node *at, std::string what) {
    int64_t k = at->shape()[0].value();
    return {d, false, true, k, k, "", std::move(what)};
  }

  /// Walks from y down to x, appending one link per factor (identities skipped).
  bool collect(Node *v, Node *x, std::vector<ChainLink> &links) {
    while (v != x) {
      Node *next = step(v, links);
      if (!next) {
        ctx_.diags.error(v->loc,
                         "jacobian: {} = {}(...) is not a factor of a chain (a product with a matrix that does not "
                         "depend on {}, an elementwise op, or a bias)",
                         printed_.count(v) ? printed_.at(v) : "a value", v->info().mnemonic, x->name);
        return false;
      }
      v = next;
    }
    return true;
  }

  /// The link of one op on the path; returns the operand the path continues
  /// with, or null when the op is not a chain factor.
  Node *step(Node *v, std::vector<ChainLink> &links) {
    auto only = [&](int &which) {
      int n = 0;
      for (size_t i = 0; i < v->operands.size(); ++i)
        if (depends(v->operands[i])) which = int(i), ++n;
      return n == 1;
    };
    int k = -1;
    if (v->type.rank() != 1 || !only(k)) return nullptr;
    Node *on = v->operands[size_t(k)];
    if (on->type.rank() != 1 || on->shape() != v->shape()) {
      if (v->kind != OpKind::MatMul) return nullptr;
    }
    Node *other = v->operands.size() == 2 ? v->operands[size_t(1 - k)] : nullptr;
    const SourceLoc &loc = v->loc;
    switch (v->kind) {
    case OpKind::MatMul: {
      bool ta = v->attrs.getBool("transpose_a"), tb = v->attrs.getBool("transpose_b");
      if (k == 1 && other->type.rank() == 2 && on->type.rank() == 1) links.push_back(matrix(other, ta)); // A v
      else if (k == 0 && other->type.rank() == 2 && on->type.rank() == 1) links.push_back(matrix(other, !tb)); // v B = B^T v
      else return nullptr;
      return on;
    }
    case OpKind::Add: return on;
    case OpKind::Sub:
      if (k == 1) links.push_back(diagonal(gb_.scalar(-1, loc), v, "-1"));
      return on;
    case OpKind::Mul:
      if (!other->type.isScalar() && other->shape() != v->shape()) return nullptr;
      links.push_back(diagonal(other, v, printed_.count(other) ? printed_.at(other) : "a factor")); return on;
    case OpKind::Div:
      if (k != 0) return nullptr;
      links.push_back(diagonal(gb_.op(OpKind::Div, {gb_.scalar(1, loc), other}, loc), v, "1 / divisor"));
      return on;
    case OpKind::Reshape: return on;
    default: break;
    }
    if (!v->info().is(Elementwise) || v->info().arity != 1) return nullptr;
    // f'(x) is the tangent of f(x) in the direction 1.
    Node *d = jvpRule(v->kind)(gb_, v, {gb_.scalar(1, loc)});
    if (!d) return nullptr;
    links.push_back(diagonal(d, v, std::string(v->info().mnemonic) + "'(" + (printed_.count(on) ? printed_.at(on) : "") + ")"));
    return on;
  }

  /// A product of links i..j in the plan's order. Returns a matrix node with
  /// a pending transpose flag, or a diagonal as its vector.
  struct Part {
    Node *node;
    bool transposed, diagonal;
    int64_t rows;
  };
  Node *materialize(const Part &p) { return p.transposed ? transpose(p.node) : p.node; }
  Node *transpose(Node *m) { return gb_.op(OpKind::Transpose, {m}, m->loc, axesAttr("perm", {1, 0})); }

  Part emitPart(const std::vector<ChainLink> &l, const ChainOrder &order, size_t i, size_t j) {
    if (i == j) return {l[i].value, l[i].transposed, l[i].diagonal, l[i].rows};
    size_t s = order.split[i][j];
    Part a = emitPart(l, order, i, s), b = emitPart(l, order, s + 1, j);
    const SourceLoc &loc = a.node->loc;
    if (a.diagonal && b.diagonal) return {gb_.op(OpKind::Mul, {a.node, b.node}, loc), false, true, a.rows};
    if (a.diagonal) { // diag(d) M scales M's rows
      Node *d = a.node->type.isScalar() ? a.node : reshape(a.node, {a.rows, 1});
      return {gb_.op(OpKind::Mul, {d, materialize(b)}, loc), false, false, a.rows};
    }
    if (b.diagonal) // M diag(d) scales M's columns
      return {gb_.op(OpKind::Mul, {materialize(a), b.node}, loc), false, false, a.rows};
    Attrs flags;
    if (a.transposed) flags.set("transpose_a", true);
    if (b.transposed) flags.set("transpose_b", true);
    return {gb_.op(OpKind::MatMul, {a.node, b.node}, loc, flags), false, false, a.rows};
  }
  Node *emit(const std::vector<ChainLink> &l, const ChainOrder &order, size_t i, size_t j) {
    Part p = emitPart(l, order, i, j);
    return p.node ? materialize(p) : nullptr;
  }
  Node *reshape(Node *x, std::vector<int64_t> dims) { return gb_.op(OpKind::Reshape, {x}, x->loc, axesAttr("shape", dims)); }

  void remark(const Node *request, const Node *y, const Node *x, const JacobianPlan &plan,
              const std::vector<std::string> &names, const std::vector<ChainLink> &links) {
    std::string what = request->name.empty() ? "a jacobian" : "%" + request->name;
    ctx_.remarks.push_back(fmt::format("jacobian {} = d{}/d{} [{} x {}]: {} mode, {} = {} multiplies (forward: {}, "
                                       "reverse: {})",
                                       what, y->name.empty() ? "y" : y->name, x->name, links.front().rows,
                                       links.back().cols, modeName(plan.mode), plan.order.bracketing(names),
                                       plan.order.cost, plan.forwardCost, plan.reverseCost));
    std::string legend;
    for (size_t i = links.size(); i-- > 0;)
      if (links[i].diagonal) legend += fmt::format("{}{} = diag({})", legend.empty() ? "" : ", ", links[i].name, links[i].what);
    if (!legend.empty()) ctx_.remarks.push_back(fmt::format("jacobian {}: {}", what, legend));
  }

  GradBuilder &gb_;
  Graph &g_;
  PassContext &ctx_;
  std::unordered_set<const Node *> dep_;
  std::unordered_map<const Node *, std::string> printed_;
};

bool isVariable(const Node *x) { return x->kind == OpKind::Input || x->kind == OpKind::Param; }

Node *expand(GradBuilder &gb, Graph &g, PassContext &ctx, const Node &request, const std::vector<Node *> &ops) {
  Node *x = ops[1];
  if (!isVariable(x)) {
    ctx.diags.error(request.loc, "{}: differentiate with respect to an input or a param, not {}",
                    request.info().mnemonic, x->name.empty() ? x->info().mnemonic : x->name);
    return nullptr;
  }
  switch (request.kind) {
  case OpKind::Jvp: return tangentOf(gb, g, ops[0], x, ops[2]);
  case OpKind::Hvp: {
    Node *grad = gradientOf(gb, g, ops[0], x);
    return grad ? tangentOf(gb, g, grad, x, ops[2]) : nullptr;
  }
  case OpKind::Jacobian: {
    JacobianBuilder jb(gb, g, ctx);
    return jb.build(const_cast<Node *>(&request), ops[0], x);
  }
  default: return nullptr;
  }
}

} // namespace

PassResult runDerive(std::unique_ptr<Graph> &g, PassContext &ctx) {
  bool any = false;
  for (const auto &n : g->nodes()) any = any || n->info().is(Derivative);
  if (!any) return PassResult::Unchanged;
  auto out = emptyGraphLike(*g);
  GradBuilder gb(*out, ctx.diags);
  std::unordered_map<const Node *, Node *> map;
  for (const auto &up : g->nodes()) {
    const Node &n = *up;
    std::vector<Node *> ops;
    for (const Node *o : n.operands) ops.push_back(map.at(o));
    if (!n.info().is(Derivative)) {
      Node *c = out->add(n.kind, ops, n.attrs, n.type, n.name, n.loc);
      c->note = n.note;
      map[&n] = c;
      continue;
    }
    unsigned errors = ctx.diags.errorCount();
    Node *r = expand(gb, *out, ctx, n, ops);
    if (!r || ctx.diags.errorCount() > errors) return PassResult::Failed;
    if (r->type != n.type) {
      ctx.diags.bug(n.loc, "derive: the expansion of {} has type {} instead of {}",
                      n.info().mnemonic, r->type.str(), n.type.str());
      return PassResult::Failed;
    }
    // A leaf or a value with its own name is wrapped, so the request keeps its name.
    if (r->isLeaf() || !r->name.empty()) {
      Attrs same;
      same.set("shape", n.type.shape);
      r = gb.op(OpKind::Reshape, {r}, n.loc, same);
    }
    if (!r) return PassResult::Failed;
    if (!n.name.empty()) r->name = n.name;
    r->note = fmt::format("{} expanded by the derive pass", n.info().mnemonic);
    map[&n] = r;
  }
  copyResults(*g, *out, map);
  eliminateDeadNodes(*out);
  g = std::move(out);
  return PassResult::Changed;
}

} // namespace dlc
