//===- passes/Simplify.cpp - Folding, identities, CSE and DCE -------------===//
//
// Rebuilds the graph in order, rewriting each op on its already-simplified
// operands: constant folding (uniform constants of any shape), algebraic
// identities, transposes folded into matmul flags, and common subexpressions
// shared (hash-consing). Dead values are then removed, and the whole is
// repeated until nothing changes, so gradient graphs stay as small as
// hand-written ones.
//
//===----------------------------------------------------------------------===//
#include <cmath>
#include <unordered_map>

#include "ir/Builder.h"
#include "ir/ShapeRules.h"
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

double foldElementwise(OpKind k, const std::vector<double> &v, const Attrs &a) {
  switch (k) {
  case OpKind::Neg: return -v[0];
  case OpKind::Exp: return std::exp(v[0]);
  case OpKind::Log: return std::log(v[0]);
  case OpKind::Sqrt: return std::sqrt(v[0]);
  case OpKind::Abs: return std::fabs(v[0]);
  case OpKind::Sign: return double((v[0] > 0) - (v[0] < 0));
  case OpKind::Tanh: return std::tanh(v[0]);
  case OpKind::Sigmoid: return 1 / (1 + std::exp(-v[0]));
  case OpKind::Relu: return v[0] > 0 ? v[0] : 0;
  case OpKind::Pow: return std::pow(v[0], a.getFloat("exponent"));
  case OpKind::Add: return v[0] + v[1];
  case OpKind::Sub: return v[0] - v[1];
  case OpKind::Mul: return v[0] * v[1];
  case OpKind::Div: return v[0] / v[1];
  case OpKind::Max: return std::max(v[0], v[1]);
  case OpKind::Gt: return v[0] > v[1];
  case OpKind::Eq: return v[0] == v[1];
  default: return NAN;
  }
}

class Simplifier {
public:
  Simplifier(Graph &out, PassContext &ctx) : out_(out), diags_(ctx.diags) {}
  unsigned rewrites = 0;

  /// The value that replaces `n` (whose operands are already rewritten).
  Node *simplify(const Node &n, std::vector<Node *> ops) {
    if (Node *r = rewrite(n, ops)) {
      ++rewrites;
      if (r->name.empty() && !n.name.empty() && !r->isLeaf()) r->name = n.name;
      return r;
    }
    return intern(n.kind, ops, n.attrs, n.type, n.name, n.loc, n.note);
  }

private:
  /// Creates a node, or returns an identical existing one (CSE).
  Node *intern(OpKind kind, std::vector<Node *> ops, const Attrs &attrs, const TensorType &type,
               const std::string &name, const SourceLoc &loc, const std::string &note = "") {
    bool leaf = opInfo(kind).is(Leaf);
    std::string key;
    if (!leaf || kind == OpKind::Const || kind == OpKind::DimSize) {
      key = fmt::format("{}|{}|{}|", int(kind), formatAttrs(attrs), type.str());
      for (Node *o : ops) key += fmt::format("{},", static_cast<void *>(o));
      auto it = table_.find(key);
      if (it != table_.end()) {
        ++rewrites;
        Node *r = it->second;
        if (r->name.empty() && !name.empty() && !(r->isLeaf() && kind != OpKind::Const)) r->name = name;
        return r;
      }
    }
    Node *n = out_.add(kind, std::move(ops), attrs, type, name, loc);
    n->note = note;
    if (!key.empty()) table_[key] = n;
    return n;
  }

  Node *constant(double v, const TensorType &type, const SourceLoc &loc) {
    Attrs a;
    a.set("value", v);
    return intern(OpKind::Const, {}, a, type, "", loc);
  }

  /// A new op built on simplified operands (its type from the shape rule).
  Node *make(OpKind kind, std::vector<Node *> ops, Attrs attrs, const SourceLoc &loc) {
    std::vector<TensorType> types;
    for (Node *o : ops) types.push_back(o->type);
    TypeOrError t = inferType(kind, types, attrs);
    if (!t.ok()) return nullptr;
    return intern(kind, std::move(ops), attrs, t.type, "", loc);
  }

  Node *rewrite(const Node &n, std::vector<Node *> &ops) {
    const Attrs &a = n.attrs;
    const TensorType &type = n.type;
    auto same = [&](Node *x) { return x->type == type ? x : nullptr; };
    // Constant folding: elementwise ops and layout ops on uniform constants.
    if (!ops.empty() && !n.isLeaf()) {
      std::vector<double> vals;
      for (Node *o : ops)
        if (auto c = uniformConst(o)) vals.push_back(*c);
      if (vals.size() == ops.size()) {
        if (n.info().is(Elementwise)) {
          double v = foldElementwise(n.kind, vals, a);
          if (std::isfinite(v)) return constant(v, type, n.loc);
        }
        if (n.kind == OpKind::Reshape || n.kind == OpKind::Transpose || n.kind == OpKind::Broadcast)
          return constant(vals[0], type, n.loc);
        if (n.kind == OpKind::ReduceMax) return constant(vals[0], type, n.loc);
        if (n.kind == OpKind::ReduceSum) {
          auto in = numElements(ops[0]->shape()), outN = numElements(type.shape);
          if (in && outN) return constant(vals[0] * double(*in / std::max<int64_t>(1, *outN)), type, n.loc);
        }
      }
    }
    // f(broadcast(x)) = broadcast(f(x)) for elementwise f: compute on fewer elements.
    if (n.info().is(Elementwise) && ops.size() == 1 && ops[0]->kind == OpKind::Broadcast)
      return make(OpKind::Broadcast, {make(n.kind, {ops[0]->operands[0]}, a, n.loc)}, ops[0]->attrs, n.loc);
    // A broadcast scalar in an elementwise op is broadcast implicitly.
    if (n.info().is(Elementwise) && ops.size() == 2) {
      for (size_t i = 0; i < 2; ++i)
        if (ops[i]->kind == OpKind::Broadcast && ops[i]->operands[0]->type.isScalar() && ops[1 - i]->type == type) {
          std::vector<Node *> narrowed = ops;
          narrowed[i] = ops[i]->operands[0];
          return make(n.kind, narrowed, a, n.loc);
        }
    }
    // a c - b c = (a - b) c, a c + b c = (a + b) c
    if ((n.kind == OpKind::Sub || n.kind == OpKind::Add) && ops[0]->kind == OpKind::Mul && ops[1]->kind == OpKind::Mul) {
      for (size_t i = 0; i < 2; ++i)
        for (size_t k = 0; k < 2; ++k)
          if (ops[0]->operands[i] == ops[1]->operands[k]) {
            Node *common = ops[0]->operands[i];
            Node *inner = make(n.kind, {ops[0]->operands[1 - i], ops[1]->operands[1 - k]}, {}, n.loc);
            Node *r = inner ? make(OpKind::Mul, {inner, common}, {}, n.loc) : nullptr;
            if (r && r->type == type) return r;
          }
    }
    // A uniform constant operand need not carry the full shape: keep it scalar.
    if (n.info().is(Elementwise) && ops.size() == 2) {
      for (size_t i = 0; i < 2; ++i) {
        auto c = uniformConst(ops[i]);
        if (c && !ops[i]->type.isScalar() && ops[1 - i]->type == type) {
          std::vector<Node *> narrowed = ops;
          narrowed[i] = constant(*c, TensorType{DType::F32, {}}, n.loc);
          return make(n.kind, narrowed, a, n.loc);
        }
      }
    }
    switch (n.kind) {
    case OpKind::Add:
      if (isConst(ops[1], 0)) return same(ops[0]);
      if (isConst(ops[0], 0)) return same(ops[1]);
      break;
    case OpKind::Sub:
      if (ops[0]->kind == OpKind::Neg && ops[1]->kind == OpKind::Neg) // -a - -b = b - a
        return make(OpKind::Sub, {ops[1]->operands[0], ops[0]->operands[0]}, {}, n.loc);
      if (isConst(ops[1], 0)) return same(ops[0]);
      if (isConst(ops[0], 0) && ops[1]->type == type) return make(OpKind::Neg, {ops[1]}, {}, n.loc);
      if (ops[0] == ops[1]) return constant(0, type, n.loc);
      break;
    case OpKind::Mul:
      if (isConst(ops[1], 1)) return same(ops[0]);
      if (isConst(ops[0], 1)) return same(ops[1]);
      if (isConst(ops[0], 0) || isConst(ops[1], 0)) return constant(0, type, n.loc);
      if (isConst(ops[1], -1) && ops[0]->type == type) return make(OpKind::Neg, {ops[0]}, {}, n.loc);
      if (isConst(ops[0], -1) && ops[1]->type == type) return make(OpKind::Neg, {ops[1]}, {}, n.loc);
      // c (d x) = (c d) x for scalar constants c, d
      for (size_t i = 0; i < 2; ++i) {
        auto c = uniformConst(ops[i]);
        Node *inner = ops[1 - i];
        if (!c || !ops[i]->type.isScalar() || inner->kind != OpKind::Mul) continue;
        for (size_t k = 0; k < 2; ++k) {
          auto d = uniformConst(inner->operands[k]);
          if (d && inner->operands[k]->type.isScalar() && inner->type == type)
            return make(OpKind::Mul, {constant(*c * *d, TensorType{DType::F32, {}}, n.loc), inner->operands[1 - k]}, {}, n.loc);
        }
      }
      // (-a) * b = -(a b)
      if (ops[0]->kind == OpKind::Neg) return make(OpKind::Neg, {make(OpKind::Mul, {ops[0]->operands[0], ops[1]}, {}, n.loc)}, {}, n.loc);
      if (ops[1]->kind == OpKind::Neg) return make(OpKind::Neg, {make(OpKind::Mul, {ops[0], ops[1]->operands[0]}, {}, n.loc)}, {}, n.loc);
      break;
    case OpKind::Div:
      if (isConst(ops[1], 1)) return same(ops[0]);
      break;
    case OpKind::Neg:
      if (ops[0]->kind == OpKind::Neg) return same(ops[0]->operands[0]);
      if (ops[0]->kind == OpKind::Sub) // -(a - b) = b - a
        return make(OpKind::Sub, {ops[0]->operands[1], ops[0]->operands[0]}, {}, n.loc);
      if (ops[0]->kind == OpKind::Mul) // -((a - b) c) = (b - a) c
        for (size_t i = 0; i < 2; ++i)
          if (Node *d = ops[0]->operands[i]; d->kind == OpKind::Sub) {
            Node *flipped = make(OpKind::Sub, {d->operands[1], d->operands[0]}, {}, n.loc);
            return make(OpKind::Mul, {flipped, ops[0]->operands[1 - i]}, {}, n.loc);
          }
      break;
    case OpKind::Pow:
      if (a.getFloat("exponent") == 1) return same(ops[0]);
      if (a.getFloat("exponent") == 0) return constant(1, type, n.loc);
      break;
    case OpKind::Transpose: {
      std::vector<int64_t> perm = a.getInts("perm");
      if (isIdentityPerm(perm)) return same(ops[0]);
      if (ops[0]->kind == OpKind::Transpose) { // compose
        std::vector<int64_t> inner = ops[0]->attrs.getInts("perm"), composed;
        for (int64_t p : perm) composed.push_back(inner[size_t(p)]);
        if (isIdentityPerm(composed)) return same(ops[0]->operands[0]);
        return make(OpKind::Transpose, {ops[0]->operands[0]}, axesAttr("perm", composed), n.loc);
      }
      break;
    }
    case OpKind::Reshape:
      if (ops[0]->type == type) return ops[0];
      if (ops[0]->kind == OpKind::Reshape) {
        Node *inner = ops[0]->operands[0];
        if (inner->type == type) return inner;
        return make(OpKind::Reshape, {inner}, a, n.loc);
      }
      break;
    case OpKind::Broadcast:
      if (ops[0]->type == type) return ops[0];
      if (ops[0]->kind == OpKind::Broadcast) { // compose: x dim i -> inner dims[i] -> outer dims[..]
        std::vector<int64_t> inner = ops[0]->attrs.getInts("dims"), outer = a.getInts("dims"), composed;
        for (int64_t d : inner) composed.push_back(outer[size_t(d)]);
        Attrs c = a;
        c.set("dims", axesAttr("dims", composed).getShape("dims"));
        if (Node *r = make(OpKind::Broadcast, {ops[0]->operands[0]}, c, n.loc)) return r;
      }
      break;
    case OpKind::ReduceSum:
    case OpKind::ReduceMax:
      if (a.getInts("axes").empty()) return same(ops[0]);
      if (n.kind == OpKind::ReduceSum) {
        // A one-hot row sums to one: sum_c (s onehot(y))_c = s when s is constant along c.
        auto axes = a.getInts("axes");
        Node *x = ops[0];
        bool negated = x->kind == OpKind::Neg;
        if (negated) x = x->operands[0];
        auto sign = [&](Node *r) { return negated && r ? make(OpKind::Neg, {r}, {}, n.loc) : r; };
        if (axes.size() == 1 && axes[0] == x->type.rank() - 1 && x->kind == OpKind::Mul) {
          for (size_t i = 0; i < 2; ++i) {
            Node *hot = x->operands[i], *scale = x->operands[1 - i];
            if (hot->kind != OpKind::OneHot || hot->type != x->type) continue;
            if (scale->type.isScalar()) {
              if (type.isScalar()) return sign(scale);
              Attrs b;
              b.set("shape", type.shape);
              b.set("dims", Shape{});
              return sign(make(OpKind::Broadcast, {scale}, b, n.loc));
            }
            if (scale->kind == OpKind::Broadcast && scale->operands[0]->type == type &&
                !scale->attrs.getInts("dims").empty() && scale->attrs.getInts("dims").back() < axes[0])
              return sign(scale->operands[0]);
          }
        }
      }
      break;
    case OpKind::MatMul: { // matmul(transpose(a), b) -> matmul(a, b) {transpose_a}
      Attrs flags = a;
      bool changed = false;
      const char *keys[] = {"transpose_a", "transpose_b"};
      for (size_t i = 0; i < 2; ++i) {
        Node *o = ops[i];
        if (o->kind == OpKind::Transpose && o->type.rank() == 2) {
          ops[i] = o->operands[0];
          flags.set(keys[i], !a.getBool(keys[i]));
          changed = true;
        }
      }
      if (changed) {
        for (const char *k : keys)
          if (!flags.getBool(k)) flags.erase(k);
        return make(OpKind::MatMul, ops, flags, n.loc);
      }
      break;
    }
    default: break;
    }
    return nullptr;
  }

  Graph &out_;
  DiagnosticEngine &diags_;
  std::unordered_map<std::string, Node *> table_;
};

/// One rebuild; returns the number of rewrites made.
unsigned simplifyOnce(std::unique_ptr<Graph> &g, PassContext &ctx) {
  auto out = emptyGraphLike(*g);
  Simplifier s(*out, ctx);
  std::unordered_map<const Node *, Node *> map;
  for (const auto &n : g->nodes()) {
    std::vector<Node *> ops;
    for (const Node *o : n->operands) ops.push_back(map.at(o));
    map[n.get()] = s.simplify(*n, ops);
  }
  copyResults(*g, *out, map);
  unsigned removed = unsigned(eliminateDeadNodes(*out));
  g = std::move(out);
  return s.rewrites + removed;
}

} // namespace

bool runSimplify(std::unique_ptr<Graph> &g, PassContext &ctx) {
  bool changed = false;
  for (int round = 0; round < 20; ++round) {
    if (simplifyOnce(g, ctx) == 0) break;
    changed = true;
  }
  return changed;
}

} // namespace dlc
