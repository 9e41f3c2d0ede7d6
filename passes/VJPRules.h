//===- passes/VJPRules.h - One vector-Jacobian product rule per op --------===//
#pragma once

#include <vector>

#include "ir/Builder.h"

namespace dlc {

/// What a VJP rule may use: a builder on the graph being extended, and
/// helpers shared by the rules.
class GradBuilder {
public:
  GradBuilder(Graph &g, DiagnosticEngine &diags) : b(g, diags) {}
  IRBuilder b;

  /// Sums `t` over the dims that broadcasting added or stretched, so that the
  /// result has `x`'s shape (the gradient of an implicit broadcast).
  Node *unbroadcast(const Node *x, Node *t, const SourceLoc &loc);
  /// Broadcasts `t` (the result of reducing `x` over `axes`) back to x's shape.
  Node *expandReduced(const Node *x, Node *t, const std::vector<int64_t> &axes, const SourceLoc &loc);
  Node *scalar(double v, const SourceLoc &loc) { return b.scalar(v, loc); }
  /// A tensor of zeros of type `t` (the padding of a slice's gradient).
  Node *zeros(const TensorType &t, const SourceLoc &loc) {
    Attrs a;
    a.set("value", 0.0);
    return b.graph.add(OpKind::Const, {}, std::move(a), t, "", loc);
  }
  Node *op(OpKind k, std::vector<Node *> ops, const SourceLoc &loc, Attrs a = {}) {
    return b.op(k, std::move(ops), loc, std::move(a));
  }
};

/// dL/d(operand i) for each operand of `y`, given g = dL/dy; null where an
/// operand gets no gradient. The result has one entry per operand.
using VJPRule = std::vector<Node *> (*)(GradBuilder &gb, const Node *y, Node *g);

/// The rule of an op kind (every row of the op table has one).
VJPRule vjpRule(OpKind kind);

} // namespace dlc
