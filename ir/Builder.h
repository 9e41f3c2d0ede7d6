//===- ir/Builder.h - Appending shape-checked ops to a graph --------------===//
//
// The IR builder: frontends and passes append ops through it so that every
// new op is checked against its shape rule. Copying and rebuilding whole
// graphs is in ir/GraphUtils.h; dead-code elimination is a pass
// (passes/DeadCode.h).
//
//===----------------------------------------------------------------------===//
#pragma once

#include <optional>
#include <vector>

#include "ir/Graph.h"

namespace dlc {

/// Appends ops to a graph, checking each against its shape rule. A null
/// operand (an earlier error) yields null without a new message.
class IRBuilder {
public:
  IRBuilder(Graph &g, DiagnosticEngine &diags) : graph(g), diags(diags) {}

  Node *op(OpKind kind, std::vector<Node *> operands, const SourceLoc &loc, Attrs attrs = {});
  /// A scalar f32 constant.
  Node *scalar(double v, const SourceLoc &loc);
  /// The value of a scalar constant node (after folding), if it is one.
  static std::optional<double> constantValue(const Node *n);

  /// Reduces every axis of `x` (a per-sample full reduction).
  Node *reduceAll(OpKind kind, Node *x, const SourceLoc &loc);

  Graph &graph;
  DiagnosticEngine &diags;
};

/// An attribute holding a list of integers (axes, a permutation, a shape).
Attrs axesAttr(const char *key, std::vector<int64_t> axes);

} // namespace dlc
