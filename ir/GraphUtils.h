//===- ir/GraphUtils.h - Copying, rebuilding and counting uses of graphs --===//
//
// What passes share when they turn one graph into another. Most passes
// rebuild: they walk the source in program order and, for each node, build
// its replacement in a fresh graph on the replacements of its operands
// (`rebuildGraph`); a plain copy is the rebuild that adds each node unchanged
// (`copyNodes`). Results are copied separately, through the returned map,
// because some passes change them (batching turns the loss into a mean).
//
//===----------------------------------------------------------------------===//
#pragma once

#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include <llvm/ADT/STLFunctionalExtras.h>

#include "ir/Graph.h"

namespace dlc {

/// Source node -> the node that replaces it in the rebuilt graph.
using NodeMap = std::unordered_map<const Node *, Node *>;

/// Builds the replacement of `n` (in the graph being built), given the
/// replacements of its operands; null means failure (with a diagnostic).
using RebuildFn = llvm::function_ref<Node *(const Node &n, std::vector<Node *> operands)>;

/// Rebuilds every node of `src` in program order, each by `rebuild` on its
/// operands' replacements. Returns the map from each source node to its
/// replacement, or nullopt as soon as `rebuild` returns null.
std::optional<NodeMap> rebuildGraph(const Graph &src, RebuildFn rebuild);

/// Adds a node like `n` (kind, attributes, type, name, location and note) on
/// `operands` to `dst`.
Node *copyNode(Graph &dst, const Node &n, std::vector<Node *> operands);

/// Copies `src` into `dst` (which may already hold nodes); returns the copy
/// of each source node.
NodeMap copyNodes(const Graph &src, Graph &dst);

/// An empty graph with `g`'s name, train settings and sources: the start of
/// a pass that rebuilds `g`.
std::unique_ptr<Graph> emptyGraphLike(const Graph &g);

/// Adds `src`'s results to `dst`, each mapped through `map`.
void copyResults(const Graph &src, Graph &dst, const NodeMap &map);

/// A deep copy of a graph: nodes, results, train settings.
std::unique_ptr<Graph> cloneGraph(const Graph &g);

/// How many nodes use each node as an operand (results count as uses).
std::unordered_map<const Node *, int> useCounts(const Graph &g);

} // namespace dlc
