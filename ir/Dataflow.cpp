//===- ir/Dataflow.cpp ----------------------------------------------------===//
#include "ir/Dataflow.h"

#include <boost/graph/breadth_first_search.hpp>
#include <boost/graph/reverse_graph.hpp>
#include <boost/graph/topological_sort.hpp>

namespace dlc {

DataflowView buildDataflow(const Graph &g) {
  DataflowView v;
  v.graph = BoostDataflow(g.size());
  for (const auto &n : g.nodes()) {
    v.vertexOf[n.get()] = v.nodeOf.size();
    v.nodeOf.push_back(n.get());
  }
  for (const auto &n : g.nodes())
    for (Node *op : n->operands) {
      auto it = v.vertexOf.find(op);
      if (it != v.vertexOf.end()) boost::add_edge(it->second, v.vertexOf[n.get()], v.graph);
    }
  return v;
}

std::optional<std::vector<Node *>> topologicalOrder(const Graph &g) {
  DataflowView v = buildDataflow(g);
  std::vector<size_t> reversed;
  try {
    boost::topological_sort(v.graph, std::back_inserter(reversed));
  } catch (const boost::not_a_dag &) {
    return std::nullopt;
  }
  std::vector<Node *> order;
  for (auto it = reversed.rbegin(); it != reversed.rend(); ++it) order.push_back(v.nodeOf[*it]);
  return order;
}

std::vector<bool> reachesTo(const Graph &g, const Node *target) {
  DataflowView v = buildDataflow(g);
  std::vector<bool> seen(g.size(), false);
  auto it = v.vertexOf.find(target);
  if (it == v.vertexOf.end()) return seen;
  // Walk operand edges backwards from the target.
  auto rev = boost::make_reverse_graph(v.graph);
  struct Marker : boost::default_bfs_visitor {
    std::vector<bool> *seen;
    void discover_vertex(size_t u, const decltype(rev) &) const { (*seen)[u] = true; }
  } marker;
  marker.seen = &seen;
  boost::breadth_first_search(rev, it->second, boost::visitor(marker));
  return seen;
}

} // namespace dlc
