//===- ir/Dataflow.h - The IR as a Boost.Graph dataflow graph -------------===//
//
// Graph algorithms (topological order, cycle checks, reachability) run on a
// Boost.Graph adjacency list built from the IR: vertex i is the i-th node,
// and an edge goes from each operand to its user. The Graphviz writer
// (ir/Dot.h) draws the same view.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <optional>
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

} // namespace dlc
