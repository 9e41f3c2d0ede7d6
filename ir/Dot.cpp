//===- ir/Dot.cpp ---------------------------------------------------------===//
#include "ir/Dot.h"

#include <boost/graph/graphviz.hpp>

#include <fmt/format.h>

#include "ir/Dataflow.h"
#include "ir/Printer.h"

namespace dlc {

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
    else if (n->kind == OpKind::State) { shape = "box3d"; fill = "palegreen"; }
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
