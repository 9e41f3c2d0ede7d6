//===- ir/GraphTraits.cpp -------------------------------------------------===//
#include "ir/GraphTraits.h"

#include <boost/graph/breadth_first_search.hpp>
#include <boost/graph/graphviz.hpp>
#include <boost/graph/reverse_graph.hpp>
#include <boost/graph/topological_sort.hpp>

#include <fmt/format.h>

#include "ir/Printer.h"

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

static std::string escapeDot(const std::string &s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

void writeDot(const Graph &g, std::ostream &os, const DotOptions &opts) {
  DataflowView v = buildDataflow(g);
  std::unordered_map<const Node *, std::string> roles;
  for (const auto &r : g.results) roles[r.node] += std::string(roleName(r.role)) + " ";

  std::vector<std::string> names = printedNames(g);
  auto vertexWriter = [&](std::ostream &out, size_t i) {
    const Node *n = v.nodeOf[i];
    const AttrValue *value = n->kind == OpKind::Const ? n->attrs.get("value") : nullptr;
    std::string op = value ? "const " + formatAttrValue(*value) : n->info().mnemonic;
    std::string label = fmt::format("{}\\n{}\\n{}", escapeDot(names[i]), escapeDot(op), n->type.str());
    if (auto it = roles.find(n); it != roles.end()) label += "\\n[" + it->second.substr(0, it->second.size() - 1) + "]";
    const char *shape = "box", *fill = "white";
    if (n->kind == OpKind::Param) { shape = "box3d"; fill = "lightyellow"; }
    else if (n->kind == OpKind::Input || n->kind == OpKind::Label) { shape = "ellipse"; fill = "lightblue"; }
    else if (n->kind == OpKind::Const) { shape = "plaintext"; }
    else if (opts.isBackward && opts.isBackward(n)) { fill = "mistyrose"; }
    out << fmt::format(" [label=\"{}\", shape={}, style=filled, fillcolor={}]", label, shape, fill);
  };
  auto edgeWriter = [&](std::ostream &out, const BoostDataflow::edge_descriptor &e) {
    const Node *user = v.nodeOf[boost::target(e, v.graph)];
    if (opts.isBackward && opts.isBackward(user)) out << " [style=dashed, color=red]";
  };
  auto graphWriter = [&](std::ostream &out) {
    out << fmt::format("label=\"{}\";\nrankdir=TB;\nnode [fontname=\"monospace\"];\n", escapeDot(g.name));
  };
  boost::write_graphviz(os, v.graph, vertexWriter, edgeWriter, graphWriter);
}

} // namespace dlc
