//===- passes/Simplify.cpp - Folding, identities, CSE and DCE -------------===//
//
// Rebuilds the graph in order, rewriting each op on its already-simplified
// operands by a list of named patterns (kPatterns, below): constant folding
// (uniform constants of any shape), algebraic identities, transposes folded
// into matmul flags; ops no pattern rewrites are shared when identical
// (hash-consing, CSE). Dead values are then removed, and the whole is
// repeated until nothing changes, so gradient graphs stay as small as
// hand-written ones. How often each pattern fired is a statistic
// (`dlc --pass-stats`: simplify.<pattern>, simplify.cse, simplify.dead).
//
//===----------------------------------------------------------------------===//
#include <cmath>
#include <iterator>
#include <optional>
#include <unordered_map>

#include "ir/Builder.h"
#include "ir/GraphUtils.h"
#include "ir/ScalarOps.h"
#include "ir/ShapeRules.h"
#include "passes/DeadCode.h"
#include "passes/Pass.h"

namespace dlc {

namespace {

std::optional<double> uniformConst(const Node *n) {
  if (n && n->kind == OpKind::Const) return n->attrs.getFloat("value");
  return std::nullopt;
}
bool isConst(const Node *n, double v) {
  auto c = uniformConst(n);
  return c && *c == v;
}
bool isIdentityPerm(const std::vector<int64_t> &p) {
  for (size_t i = 0; i < p.size(); ++i)
    if (p[i] != int64_t(i)) return false;
  return true;
}

/// Rebuilds a graph one node at a time: each node is offered to the rewrite
/// patterns on its already-simplified operands; the first pattern that
/// returns a replacement wins, and an op no pattern rewrites is interned
/// (created, or shared with an identical one: CSE).
class Simplifier {
public:
  Simplifier(Graph &out, size_t patterns) : fired(patterns, 0), out_(out) {}

  /// The value that replaces `n` (whose operands are already rewritten).
  Node *simplify(const Node &n, std::vector<Node *> ops);

  /// Creates a node, or returns an identical existing one (CSE).
  Node *intern(OpKind kind, std::vector<Node *> ops, const Attrs &attrs, const TensorType &type,
               const std::string &name, const SourceLoc &loc, const std::string &note = "");

  /// A uniform constant of `type`.
  Node *constant(double v, const TensorType &type, const SourceLoc &loc) {
    Attrs a;
    a.set("value", v);
    return intern(OpKind::Const, {}, a, type, "", loc);
  }
  Node *scalar(double v, const SourceLoc &loc) { return constant(v, TensorType{DType::F32, {}}, loc); }

  /// A new op built on simplified operands (its type from the shape rule);
  /// null if an operand is null or the shape rule rejects it.
  Node *make(OpKind kind, std::vector<Node *> ops, const Attrs &attrs, const SourceLoc &loc) {
    std::vector<TensorType> types;
    for (Node *o : ops) {
      if (!o) return nullptr;
      types.push_back(o->type);
    }
    TypeOrError t = inferType(kind, types, attrs);
    if (!t.ok()) return nullptr;
    return intern(kind, std::move(ops), attrs, t.type, "", loc);
  }

  /// Rewrites made (pattern replacements and CSE hits) in this rebuild.
  unsigned rewrites = 0;
  unsigned cseHits = 0;
  /// How often each pattern of kPatterns fired, by index.
  std::vector<unsigned> fired;

private:
  Graph &out_;
  std::unordered_map<std::string, Node *> table_;
};

Node *Simplifier::intern(OpKind kind, std::vector<Node *> ops, const Attrs &attrs, const TensorType &type,
                         const std::string &name, const SourceLoc &loc, const std::string &note) {
  bool leaf = opInfo(kind).is(Leaf);
  std::string key;
  if (!leaf || kind == OpKind::Const || kind == OpKind::DimSize || kind == OpKind::Literal) {
    key = fmt::format("{}|{}|{}|", int(kind), formatAttrs(attrs), type.str());
    for (Node *o : ops) key += fmt::format("{},", static_cast<void *>(o));
    auto it = table_.find(key);
    if (it != table_.end()) {
      ++rewrites;
      ++cseHits;
      Node *r = it->second;
      if (r->name.empty() && !name.empty() && !(r->isLeaf() && kind != OpKind::Const && kind != OpKind::Literal))
        r->name = name;
      return r;
    }
  }
  Node *n = out_.add(kind, std::move(ops), attrs, type, name, loc);
  n->note = note;
  if (!key.empty()) table_[key] = n;
  return n;
}

//===----------------------------------------------------------------------===//
// The rewrite patterns. Each sees the original node `n` (its kind, attributes
// and type) and its simplified operands `ops`, and returns the replacement or
// null if it does not apply. The replacement has `n`'s type.
//===----------------------------------------------------------------------===//

using Ops = std::vector<Node *>;

/// `x` if it has `n`'s type (an identity may not change the shape).
Node *same(const Node &n, Node *x) { return x && x->type == n.type ? x : nullptr; }

/// The uniform-constant values of all operands, if every operand is one.
std::optional<std::vector<double>> constantOperands(const Node &n, const Ops &ops) {
  if (ops.empty() || n.isLeaf()) return std::nullopt;
  std::vector<double> vals;
  for (Node *o : ops)
    if (auto c = uniformConst(o)) vals.push_back(*c);
  if (vals.size() != ops.size()) return std::nullopt;
  return vals;
}

bool isElementwise(const Node &n) { return n.info().is(Elementwise); }

// --- constant folding -------------------------------------------------------

Node *foldElementwiseOp(Simplifier &s, const Node &n, const Ops &ops) {
  auto vals = constantOperands(n, ops);
  if (!vals || !isElementwise(n)) return nullptr;
  double v = evalElementwise(n.kind, *vals, n.attrs);
  return std::isfinite(v) ? s.constant(v, n.type, n.loc) : nullptr;
}

/// reshape, transpose, broadcast and max of a uniform constant.
Node *foldLayout(Simplifier &s, const Node &n, const Ops &ops) {
  auto vals = constantOperands(n, ops);
  bool layout = n.kind == OpKind::Reshape || n.kind == OpKind::Transpose || n.kind == OpKind::Broadcast ||
                n.kind == OpKind::ReduceMax;
  return vals && layout ? s.constant((*vals)[0], n.type, n.loc) : nullptr;
}

/// sum of a uniform constant c over k elements = k c.
Node *foldSum(Simplifier &s, const Node &n, const Ops &ops) {
  auto vals = constantOperands(n, ops);
  if (!vals || n.kind != OpKind::ReduceSum) return nullptr;
  auto in = numElements(ops[0]->shape()), outN = numElements(n.type.shape);
  if (!in || !outN) return nullptr;
  return s.constant((*vals)[0] * double(*in / std::max<int64_t>(1, *outN)), n.type, n.loc);
}

// --- broadcasts and constants in elementwise ops ------------------------------

/// f(broadcast(x)) = broadcast(f(x)) for elementwise f: compute on fewer elements.
Node *hoistBroadcast(Simplifier &s, const Node &n, const Ops &ops) {
  if (!isElementwise(n) || ops.size() != 1 || ops[0]->kind != OpKind::Broadcast) return nullptr;
  Node *inner = s.make(n.kind, {ops[0]->operands[0]}, n.attrs, n.loc);
  return s.make(OpKind::Broadcast, {inner}, ops[0]->attrs, n.loc);
}

/// A broadcast scalar in an elementwise op is broadcast implicitly.
Node *implicitScalarBroadcast(Simplifier &s, const Node &n, const Ops &ops) {
  if (!isElementwise(n) || ops.size() != 2) return nullptr;
  for (size_t i = 0; i < 2; ++i)
    if (ops[i]->kind == OpKind::Broadcast && ops[i]->operands[0]->type.isScalar() && ops[1 - i]->type == n.type) {
      Ops narrowed = ops;
      narrowed[i] = ops[i]->operands[0];
      return s.make(n.kind, narrowed, n.attrs, n.loc);
    }
  return nullptr;
}

/// a c - b c = (a - b) c, a c + b c = (a + b) c
Node *factorCommonOperand(Simplifier &s, const Node &n, const Ops &ops) {
  if (n.kind != OpKind::Sub && n.kind != OpKind::Add) return nullptr;
  if (ops[0]->kind != OpKind::Mul || ops[1]->kind != OpKind::Mul) return nullptr;
  for (size_t i = 0; i < 2; ++i)
    for (size_t k = 0; k < 2; ++k)
      if (ops[0]->operands[i] == ops[1]->operands[k]) {
        Node *common = ops[0]->operands[i];
        Node *inner = s.make(n.kind, {ops[0]->operands[1 - i], ops[1]->operands[1 - k]}, {}, n.loc);
        if (Node *r = same(n, s.make(OpKind::Mul, {inner, common}, {}, n.loc))) return r;
      }
  return nullptr;
}

/// A uniform constant operand need not carry the full shape: keep it scalar.
Node *scalarUniformConstant(Simplifier &s, const Node &n, const Ops &ops) {
  if (!isElementwise(n) || ops.size() != 2) return nullptr;
  for (size_t i = 0; i < 2; ++i) {
    auto c = uniformConst(ops[i]);
    if (c && !ops[i]->type.isScalar() && ops[1 - i]->type == n.type) {
      Ops narrowed = ops;
      narrowed[i] = s.scalar(*c, n.loc);
      return s.make(n.kind, narrowed, n.attrs, n.loc);
    }
  }
  return nullptr;
}

// --- add, sub, mul, div, neg, pow --------------------------------------------

/// x + 0 = 0 + x = x
Node *addZero(Simplifier &, const Node &n, const Ops &ops) {
  if (isConst(ops[1], 0))
    if (Node *r = same(n, ops[0])) return r;
  return isConst(ops[0], 0) ? same(n, ops[1]) : nullptr;
}

/// -a - -b = b - a
Node *subOfNegations(Simplifier &s, const Node &n, const Ops &ops) {
  if (ops[0]->kind != OpKind::Neg || ops[1]->kind != OpKind::Neg) return nullptr;
  return s.make(OpKind::Sub, {ops[1]->operands[0], ops[0]->operands[0]}, {}, n.loc);
}

/// x - 0 = x, 0 - x = -x
Node *subZero(Simplifier &s, const Node &n, const Ops &ops) {
  if (isConst(ops[1], 0))
    if (Node *r = same(n, ops[0])) return r;
  if (isConst(ops[0], 0) && ops[1]->type == n.type) return s.make(OpKind::Neg, {ops[1]}, {}, n.loc);
  return nullptr;
}

/// x - x = 0
Node *subSelf(Simplifier &s, const Node &n, const Ops &ops) {
  return ops[0] == ops[1] ? s.constant(0, n.type, n.loc) : nullptr;
}

/// x * 1 = 1 * x = x
Node *mulOne(Simplifier &, const Node &n, const Ops &ops) {
  if (isConst(ops[1], 1))
    if (Node *r = same(n, ops[0])) return r;
  return isConst(ops[0], 1) ? same(n, ops[1]) : nullptr;
}

/// x * 0 = 0 * x = 0
Node *mulZero(Simplifier &s, const Node &n, const Ops &ops) {
  return isConst(ops[0], 0) || isConst(ops[1], 0) ? s.constant(0, n.type, n.loc) : nullptr;
}

/// x * -1 = -1 * x = -x
Node *mulMinusOne(Simplifier &s, const Node &n, const Ops &ops) {
  for (size_t i = 0; i < 2; ++i)
    if (isConst(ops[1 - i], -1) && ops[i]->type == n.type) return s.make(OpKind::Neg, {ops[i]}, {}, n.loc);
  return nullptr;
}

/// c (d x) = (c d) x for scalar constants c, d
Node *mulScalarConstants(Simplifier &s, const Node &n, const Ops &ops) {
  for (size_t i = 0; i < 2; ++i) {
    auto c = uniformConst(ops[i]);
    Node *inner = ops[1 - i];
    if (!c || !ops[i]->type.isScalar() || inner->kind != OpKind::Mul) continue;
    for (size_t k = 0; k < 2; ++k) {
      auto d = uniformConst(inner->operands[k]);
      if (d && inner->operands[k]->type.isScalar() && inner->type == n.type)
        return s.make(OpKind::Mul, {s.scalar(*c * *d, n.loc), inner->operands[1 - k]}, {}, n.loc);
    }
  }
  return nullptr;
}

/// (-a) b = a (-b) = -(a b)
Node *mulOfNegation(Simplifier &s, const Node &n, const Ops &ops) {
  for (size_t i = 0; i < 2; ++i)
    if (ops[i]->kind == OpKind::Neg) {
      Ops inner = ops;
      inner[i] = ops[i]->operands[0];
      return s.make(OpKind::Neg, {s.make(OpKind::Mul, inner, {}, n.loc)}, {}, n.loc);
    }
  return nullptr;
}

/// x / 1 = x
Node *divOne(Simplifier &, const Node &n, const Ops &ops) { return isConst(ops[1], 1) ? same(n, ops[0]) : nullptr; }
/// 0 / x = 0 (as 0 x = 0 above: a zero gradient stays zero through a division).
Node *divZero(Simplifier &s, const Node &n, const Ops &ops) {
  return isConst(ops[0], 0) ? s.constant(0, n.type, n.loc) : nullptr;
}

/// -(-x) = x
Node *negNeg(Simplifier &, const Node &n, const Ops &ops) {
  return ops[0]->kind == OpKind::Neg ? same(n, ops[0]->operands[0]) : nullptr;
}

/// -(a - b) = b - a
Node *negSub(Simplifier &s, const Node &n, const Ops &ops) {
  if (ops[0]->kind != OpKind::Sub) return nullptr;
  return s.make(OpKind::Sub, {ops[0]->operands[1], ops[0]->operands[0]}, {}, n.loc);
}

/// -((a - b) c) = (b - a) c
Node *negMulSub(Simplifier &s, const Node &n, const Ops &ops) {
  if (ops[0]->kind != OpKind::Mul) return nullptr;
  for (size_t i = 0; i < 2; ++i)
    if (Node *d = ops[0]->operands[i]; d->kind == OpKind::Sub) {
      Node *flipped = s.make(OpKind::Sub, {d->operands[1], d->operands[0]}, {}, n.loc);
      return s.make(OpKind::Mul, {flipped, ops[0]->operands[1 - i]}, {}, n.loc);
    }
  return nullptr;
}

/// x^1 = x
Node *powOne(Simplifier &, const Node &n, const Ops &ops) {
  return n.attrs.getFloat("exponent") == 1 ? same(n, ops[0]) : nullptr;
}

/// x^0 = 1
Node *powZero(Simplifier &s, const Node &n, const Ops &) {
  return n.attrs.getFloat("exponent") == 0 ? s.constant(1, n.type, n.loc) : nullptr;
}

// --- layout ops -----------------------------------------------------------------

/// A transpose by the identity permutation is its operand.
Node *transposeIdentity(Simplifier &, const Node &n, const Ops &ops) {
  return isIdentityPerm(n.attrs.getInts("perm")) ? same(n, ops[0]) : nullptr;
}

/// A transpose of a transpose is one transpose (or none).
Node *transposeCompose(Simplifier &s, const Node &n, const Ops &ops) {
  if (ops[0]->kind != OpKind::Transpose) return nullptr;
  std::vector<int64_t> inner = ops[0]->attrs.getInts("perm"), composed;
  for (int64_t p : n.attrs.getInts("perm")) composed.push_back(inner[size_t(p)]);
  if (isIdentityPerm(composed)) return same(n, ops[0]->operands[0]);
  return s.make(OpKind::Transpose, {ops[0]->operands[0]}, axesAttr("perm", composed), n.loc);
}

/// A reshape or broadcast to the operand's own type is the operand.
Node *layoutToSameType(Simplifier &, const Node &n, const Ops &ops) {
  bool layout = n.kind == OpKind::Reshape || n.kind == OpKind::Broadcast;
  return layout && ops[0]->type == n.type ? ops[0] : nullptr;
}

/// A reshape of a reshape is one reshape (or none).
Node *reshapeCompose(Simplifier &s, const Node &n, const Ops &ops) {
  if (ops[0]->kind != OpKind::Reshape) return nullptr;
  Node *inner = ops[0]->operands[0];
  if (inner->type == n.type) return inner;
  return s.make(OpKind::Reshape, {inner}, n.attrs, n.loc);
}

/// A broadcast of a broadcast is one: x dim i -> inner dims[i] -> outer dims[..].
Node *broadcastCompose(Simplifier &s, const Node &n, const Ops &ops) {
  if (ops[0]->kind != OpKind::Broadcast) return nullptr;
  std::vector<int64_t> inner = ops[0]->attrs.getInts("dims"), outer = n.attrs.getInts("dims"), composed;
  for (int64_t d : inner) composed.push_back(outer[size_t(d)]);
  Attrs c = n.attrs;
  c.set("dims", axesAttr("dims", composed).getShape("dims"));
  return s.make(OpKind::Broadcast, {ops[0]->operands[0]}, c, n.loc);
}

/// select_mode(x, x): the same value in both modes.
Node *selectSame(Simplifier &, const Node &n, const Ops &ops) { return ops[0] == ops[1] ? same(n, ops[0]) : nullptr; }

// --- reductions and products ----------------------------------------------------

/// A reduction over no axes is its operand.
Node *reduceNoAxes(Simplifier &, const Node &n, const Ops &ops) {
  bool reduce = n.kind == OpKind::ReduceSum || n.kind == OpKind::ReduceMax;
  return reduce && n.attrs.getInts("axes").empty() ? same(n, ops[0]) : nullptr;
}

/// A one-hot row sums to one: sum_c (s onehot(y))_c = s when s is constant
/// along c (also under a negation).
Node *sumOfOneHot(Simplifier &s, const Node &n, const Ops &ops) {
  auto axes = n.attrs.getInts("axes");
  Node *x = ops[0];
  bool negated = x->kind == OpKind::Neg;
  if (negated) x = x->operands[0];
  if (axes.size() != 1 || axes[0] != x->type.rank() - 1 || x->kind != OpKind::Mul) return nullptr;
  auto sign = [&](Node *r) { return negated && r ? s.make(OpKind::Neg, {r}, {}, n.loc) : r; };
  for (size_t i = 0; i < 2; ++i) {
    Node *hot = x->operands[i], *scale = x->operands[1 - i];
    if (hot->kind != OpKind::OneHot || hot->type != x->type) continue;
    if (scale->type.isScalar()) {
      if (n.type.isScalar()) return sign(scale);
      Attrs b;
      b.set("shape", n.type.shape);
      b.set("dims", Shape{});
      return sign(s.make(OpKind::Broadcast, {scale}, b, n.loc));
    }
    if (scale->kind == OpKind::Broadcast && scale->operands[0]->type == n.type &&
        !scale->attrs.getInts("dims").empty() && scale->attrs.getInts("dims").back() < axes[0])
      return sign(scale->operands[0]);
  }
  return nullptr;
}

/// matmul(transpose(a), b) = matmul(a, b) {transpose_a} (and so for b).
Node *transposeIntoMatMul(Simplifier &s, const Node &n, const Ops &ops) {
  Attrs flags = n.attrs;
  Ops operands = ops;
  bool changed = false;
  const char *keys[] = {"transpose_a", "transpose_b"};
  for (size_t i = 0; i < 2; ++i)
    if (ops[i]->kind == OpKind::Transpose && ops[i]->type.rank() == 2) {
      operands[i] = ops[i]->operands[0];
      flags.set(keys[i], !n.attrs.getBool(keys[i]));
      changed = true;
    }
  if (!changed) return nullptr;
  for (const char *k : keys)
    if (!flags.getBool(k)) flags.erase(k);
  return s.make(OpKind::MatMul, operands, flags, n.loc);
}

using PatternFn = Node *(*)(Simplifier &s, const Node &n, const Ops &ops);

struct RewritePattern {
  const char *name;       ///< as in `dlc --pass-stats`: simplify.<name>
  std::optional<OpKind> only; ///< the one op kind it applies to, if not checked inside
  PatternFn apply;
};

/// Every rewrite, in the order they are tried.
const RewritePattern kPatterns[] = {
    {"fold-elementwise", std::nullopt, foldElementwiseOp},
    {"fold-layout", std::nullopt, foldLayout},
    {"fold-sum", std::nullopt, foldSum},
    {"hoist-broadcast", std::nullopt, hoistBroadcast},
    {"implicit-scalar-broadcast", std::nullopt, implicitScalarBroadcast},
    {"factor-common-operand", std::nullopt, factorCommonOperand},
    {"scalar-uniform-constant", std::nullopt, scalarUniformConstant},
    {"add-zero", OpKind::Add, addZero},
    {"sub-of-negations", OpKind::Sub, subOfNegations},
    {"sub-zero", OpKind::Sub, subZero},
    {"sub-self", OpKind::Sub, subSelf},
    {"mul-one", OpKind::Mul, mulOne},
    {"mul-zero", OpKind::Mul, mulZero},
    {"mul-minus-one", OpKind::Mul, mulMinusOne},
    {"mul-scalar-constants", OpKind::Mul, mulScalarConstants},
    {"mul-of-negation", OpKind::Mul, mulOfNegation},
    {"div-one", OpKind::Div, divOne},
    {"div-zero", OpKind::Div, divZero},
    {"neg-neg", OpKind::Neg, negNeg},
    {"neg-sub", OpKind::Neg, negSub},
    {"neg-mul-sub", OpKind::Neg, negMulSub},
    {"pow-one", OpKind::Pow, powOne},
    {"pow-zero", OpKind::Pow, powZero},
    {"transpose-identity", OpKind::Transpose, transposeIdentity},
    {"transpose-compose", OpKind::Transpose, transposeCompose},
    {"layout-to-same-type", std::nullopt, layoutToSameType},
    {"reshape-compose", OpKind::Reshape, reshapeCompose},
    {"broadcast-compose", OpKind::Broadcast, broadcastCompose},
    {"reduce-no-axes", std::nullopt, reduceNoAxes},
    {"sum-of-one-hot", OpKind::ReduceSum, sumOfOneHot},
    {"transpose-into-matmul", OpKind::MatMul, transposeIntoMatMul},
    {"select-same", OpKind::SelectMode, selectSame},
};
constexpr size_t kPatternCount = std::size(kPatterns);

Node *Simplifier::simplify(const Node &n, std::vector<Node *> ops) {
  for (size_t i = 0; i < kPatternCount; ++i) {
    const RewritePattern &p = kPatterns[i];
    if (p.only && *p.only != n.kind) continue;
    Node *r = p.apply(*this, n, ops);
    if (!r) continue;
    ++rewrites;
    ++fired[i];
    if (r->name.empty() && !n.name.empty() && !r->isLeaf()) r->name = n.name;
    return r;
  }
  return intern(n.kind, std::move(ops), n.attrs, n.type, n.name, n.loc, n.note);
}

/// One rebuild; returns the number of rewrites made (CSE hits and removed
/// dead values included) and adds to the statistics.
unsigned simplifyOnce(std::unique_ptr<Graph> &g, PassContext &ctx) {
  auto out = emptyGraphLike(*g);
  Simplifier s(*out, kPatternCount);
  NodeMap map = *rebuildGraph(*g, [&](const Node &n, std::vector<Node *> ops) { return s.simplify(n, std::move(ops)); });
  copyResults(*g, *out, map);
  unsigned removed = unsigned(eliminateDeadNodes(*out));
  g = std::move(out);
  for (size_t i = 0; i < kPatternCount; ++i)
    if (s.fired[i]) ctx.addStat("simplify", kPatterns[i].name, s.fired[i]);
  if (s.cseHits) ctx.addStat("simplify", "cse", s.cseHits);
  if (removed) ctx.addStat("simplify", "dead", removed);
  return s.rewrites + removed;
}

} // namespace

PassResult runSimplify(std::unique_ptr<Graph> &g, PassContext &ctx) {
  bool changed = false;
  for (int round = 0; round < 20; ++round) {
    if (simplifyOnce(g, ctx) == 0) break;
    changed = true;
  }
  return changed ? PassResult::Changed : PassResult::Unchanged;
}

} // namespace dlc
