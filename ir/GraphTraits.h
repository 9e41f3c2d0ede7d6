//===- ir/GraphTraits.h - Boost.Graph view of the IR ----------------------===//
//
// Graph algorithms (topological order, cycle checks, Graphviz output) run on
// a Boost.Graph adjacency list built from the IR: vertex i is the i-th node,
// and an edge goes from each operand to its user.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <functional>
#include <optional>
#include <ostream>
#include <unordered_map>
#include <vector>

#include <boost/graph/adjacency_list.hpp>

#include "ir/Graph.h"

namespace dlc {

using BoostDataflow = boost::adjacency_list<boost::vecS, boost::vecS, boost::bidirectionalS>;

/// The dataflow graph of `g` and the node of each vertex.
struct DataflowView {
  BoostDataflow graph;
  std::vector<Node *> nodeOf;
  std::unordered_map<const Node *, size_t> vertexOf;
};
DataflowView buildDataflow(const Graph &g);

/// Nodes in an order where operands precede users; nullopt if there is a cycle.
std::optional<std::vector<Node *>> topologicalOrder(const Graph &g);

/// Nodes from which `target` can be reached (its transitive operands), itself included.
std::vector<bool> reachesTo(const Graph &g, const Node *target);

struct DotOptions {
  /// Nodes drawn as part of the backward pass (their in-edges dashed, red).
  std::function<bool(const Node *)> isBackward;
};

/// Writes `g` in Graphviz dot: one box per value with name, op and type.
void writeDot(const Graph &g, std::ostream &os, const DotOptions &opts = {});

} // namespace dlc
