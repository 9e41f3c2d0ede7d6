//===- ir/Builder.cpp -----------------------------------------------------===//
#include "ir/Builder.h"

#include <cmath>
#include <unordered_set>

#include "ir/ScalarOps.h"
#include "ir/Limits.h"
#include "ir/ShapeRules.h"

namespace dlc {

Node *IRBuilder::op(OpKind kind, std::vector<Node *> operands, const SourceLoc &loc, Attrs attrs) {
  std::vector<TensorType> types;
  for (Node *o : operands) {
    if (!o) return nullptr;
    types.push_back(o->type);
  }
  // Fold arithmetic on scalar constants so `-1`, `1/2` and `2 * c` stay
  // constants (the simplify pass folds the other elementwise ops).
  bool arithmetic = kind == OpKind::Neg || kind == OpKind::Add || kind == OpKind::Sub || kind == OpKind::Mul ||
                    kind == OpKind::Div || kind == OpKind::Pow;
  if (arithmetic) {
    std::vector<double> v;
    for (Node *o : operands)
      if (auto c = constantValue(o)) v.push_back(*c);
    if (v.size() == operands.size()) {
      double r = evalElementwise(kind, v, attrs);
      if (std::isfinite(r)) return scalar(r, loc);
    }
  }
  TypeOrError t = inferType(kind, types, attrs);
  if (!t.ok()) {
    diags.error(loc, "{}", t.error);
    return nullptr;
  }
  if (std::string e = checkTypeLimits(t.type); !e.empty()) {
    diags.error(loc, "the result of '{}': {}", opInfo(kind).mnemonic, e);
    return nullptr;
  }
  return graph.add(kind, std::move(operands), std::move(attrs), t.type, "", loc);
}

Node *IRBuilder::scalar(double v, const SourceLoc &loc) {
  Attrs a;
  a.set("value", v);
  return graph.add(OpKind::Const, {}, std::move(a), TensorType{DType::F32, {}}, "", loc);
}

std::optional<double> IRBuilder::constantValue(const Node *n) {
  if (n && n->kind == OpKind::Const && n->type.isScalar()) return n->attrs.getFloat("value");
  return std::nullopt;
}

Attrs axesAttr(const char *key, std::vector<int64_t> axes) {
  Attrs a;
  Shape s;
  for (int64_t x : axes) s.push_back(Dim(x));
  a.set(key, s);
  return a;
}

Node *IRBuilder::reduceAll(OpKind kind, Node *x, const SourceLoc &loc) {
  if (!x) return nullptr;
  if (x->type.isScalar()) return x;
  std::vector<int64_t> axes;
  for (int64_t i = 0; i < x->type.rank(); ++i) axes.push_back(i);
  return op(kind, {x}, loc, axesAttr("axes", axes));
}

} // namespace dlc
