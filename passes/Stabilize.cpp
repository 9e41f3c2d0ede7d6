//===- passes/Stabilize.cpp - Numerically stable forms of log-exp patterns ===//
//
// Three patterns whose values and gradients overflow as written are
// rewritten to a log-sum-exp with the maximum taken out:
//
//   log(1 + exp(x))     -> m + log(exp(-m) + exp(x - m)),        m = max(x, 0)
//   log(sum(exp(x)))    -> m + log(sum(exp(x - m))),             m = max(x)
//   log(sigmoid(x))     -> -(m + log(exp(-m) + exp(-x - m))),    m = max(-x, 0)
//
// The gradient then stays finite: d/dx log(1 + exp(x)) = exp(x - m) / (...)
// is 1 at x = 100 in f32, where the written form gives inf / inf = NaN. The
// gradient through m cancels (its weights sum to 1), so ties in max do not
// matter. Runs before autodiff, so derived gradients inherit the stable form.
//
//===----------------------------------------------------------------------===//
#include <algorithm>
#include <unordered_map>

#include <fmt/format.h>

#include "ir/Builder.h"
#include "ir/GraphUtils.h"
#include "passes/DeadCode.h"
#include "passes/Pass.h"

namespace dlc {

namespace {

bool isOne(const Node *n) { return IRBuilder::constantValue(n) == 1.0; }

/// x in log(1 + exp(x)) (either order), unless x = -|z| (already bounded).
const Node *softplusArgument(const Node *log) {
  const Node *sum = log->operands[0];
  if (sum->kind != OpKind::Add) return nullptr;
  for (int i = 0; i < 2; ++i) {
    const Node *e = sum->operands[size_t(i)];
    if (isOne(sum->operands[size_t(1 - i)]) && e->kind == OpKind::Exp && e->type == log->type) {
      const Node *x = e->operands[0];
      bool bounded = x->kind == OpKind::Neg && x->operands[0]->kind == OpKind::Abs;
      return bounded ? nullptr : x;
    }
  }
  return nullptr;
}

class StableForms {
public:
  StableForms(IRBuilder &b, const SourceLoc &loc) : b_(b), loc_(loc) {}

  /// m + log(exp(-m) + exp(x - m)), m = max(x, 0)
  Node *softplus(Node *x) {
    Node *m = b_.op(OpKind::Max, {x, b_.scalar(0, loc_)}, loc_);
    Node *zeroTerm = b_.op(OpKind::Exp, {b_.op(OpKind::Neg, {m}, loc_)}, loc_);
    Node *xTerm = b_.op(OpKind::Exp, {b_.op(OpKind::Sub, {x, m}, loc_)}, loc_);
    return b_.op(OpKind::Add, {m, b_.op(OpKind::Log, {b_.op(OpKind::Add, {zeroTerm, xTerm}, loc_)}, loc_)}, loc_);
  }
  /// m + log(sum(exp(x - m))), m = max(x) over the summed axes
  Node *logSumExp(Node *x, const Attrs &axes) {
    Node *m = b_.op(OpKind::ReduceMax, {x}, loc_, axes);
    if (!m) return nullptr;
    Shape kept;
    auto reduced = axes.getInts("axes");
    for (int64_t i = 0; i < x->type.rank(); ++i)
      if (std::find(reduced.begin(), reduced.end(), i) == reduced.end()) kept.push_back(Dim(i));
    Attrs back;
    back.set("shape", x->shape());
    back.set("dims", kept);
    Node *shifted = b_.op(OpKind::Sub, {x, b_.op(OpKind::Broadcast, {m}, loc_, back)}, loc_);
    Node *sum = b_.op(OpKind::ReduceSum, {b_.op(OpKind::Exp, {shifted}, loc_)}, loc_, axes);
    return b_.op(OpKind::Add, {m, b_.op(OpKind::Log, {sum}, loc_)}, loc_);
  }
  /// log sigmoid(x) = -softplus(-x)
  Node *logSigmoid(Node *x) { return b_.op(OpKind::Neg, {softplus(b_.op(OpKind::Neg, {x}, loc_))}, loc_); }

private:
  IRBuilder &b_;
  const SourceLoc &loc_;
};

/// The stable form of a log node, or null when it matches no pattern.
Node *rewrite(IRBuilder &b, const Node &log, const std::unordered_map<const Node *, Node *> &map, std::string &what) {
  if (log.kind != OpKind::Log) return nullptr;
  StableForms forms(b, log.loc);
  const Node *inner = log.operands[0];
  if (const Node *x = softplusArgument(&log)) {
    what = "log(1 + exp(x))";
    return forms.softplus(map.at(x));
  }
  if (inner->kind == OpKind::ReduceSum && inner->operands[0]->kind == OpKind::Exp) {
    what = "log(sum(exp(x)))";
    return forms.logSumExp(map.at(inner->operands[0]->operands[0]), inner->attrs);
  }
  if (inner->kind == OpKind::Sigmoid) {
    what = "log(sigmoid(x))";
    return forms.logSigmoid(map.at(inner->operands[0]));
  }
  return nullptr;
}

} // namespace

PassResult runStabilize(std::unique_ptr<Graph> &g, PassContext &ctx) {
  auto out = emptyGraphLike(*g);
  IRBuilder b(*out, ctx.diags);
  std::unordered_map<const Node *, Node *> map;
  bool changed = false;
  for (const auto &up : g->nodes()) {
    const Node &n = *up;
    std::string what;
    Node *r = rewrite(b, n, map, what);
    if (r && r->type == n.type) {
      r->name = n.name;
      r->note = "stable form of " + what;
      ctx.remarks.push_back(fmt::format("stable: {} at {} rewritten with its maximum taken out",
                                        what, n.name.empty() ? fmt::format("line {}", n.loc.line) : "%" + n.name));
      map[&n] = r;
      changed = true;
      continue;
    }
    std::vector<Node *> ops;
    for (const Node *o : n.operands) ops.push_back(map.at(o));
    Node *c = out->add(n.kind, ops, n.attrs, n.type, n.name, n.loc);
    c->note = n.note;
    map[&n] = c;
  }
  if (!changed) return PassResult::Unchanged;
  copyResults(*g, *out, map);
  eliminateDeadNodes(*out);
  g = std::move(out);
  return PassResult::Changed;
}

} // namespace dlc
