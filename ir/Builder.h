//===- ir/Builder.h - Appending shape-checked ops to a graph --------------===//
#pragma once

#include <optional>
#include <unordered_map>
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

/// Copies `src` into `dst` (which may already hold nodes); returns the copy
/// of each source node.
std::unordered_map<const Node *, Node *> copyNodes(const Graph &src, Graph &dst);

/// An empty graph with `g`'s name, train settings and sources: the start of
/// a pass that rebuilds `g`.
std::unique_ptr<Graph> emptyGraphLike(const Graph &g);

/// Adds `src`'s results to `dst`, each mapped through `map`.
void copyResults(const Graph &src, Graph &dst, const std::unordered_map<const Node *, Node *> &map);

/// A deep copy of a graph: nodes, results, train settings.
std::unique_ptr<Graph> cloneGraph(const Graph &g);

/// Removes nodes that no result depends on; returns how many were removed.
size_t eliminateDeadNodes(Graph &g);

/// How many nodes use each node as an operand (results count as uses).
std::unordered_map<const Node *, int> useCounts(const Graph &g);

} // namespace dlc
