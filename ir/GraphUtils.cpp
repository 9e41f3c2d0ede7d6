//===- ir/GraphUtils.cpp --------------------------------------------------===//
#include "ir/GraphUtils.h"

namespace dlc {

std::optional<NodeMap> rebuildGraph(const Graph &src, RebuildFn rebuild) {
  NodeMap map;
  for (const auto &n : src.nodes()) {
    std::vector<Node *> operands;
    for (const Node *o : n->operands) operands.push_back(map.at(o));
    Node *r = rebuild(*n, std::move(operands));
    if (!r) return std::nullopt;
    map[n.get()] = r;
  }
  return map;
}

Node *copyNode(Graph &dst, const Node &n, std::vector<Node *> operands) {
  Node *c = dst.add(n.kind, std::move(operands), n.attrs, n.type, n.name, n.loc);
  c->note = n.note;
  return c;
}

NodeMap copyNodes(const Graph &src, Graph &dst) {
  return *rebuildGraph(src, [&](const Node &n, std::vector<Node *> ops) { return copyNode(dst, n, std::move(ops)); });
}

std::unique_ptr<Graph> emptyGraphLike(const Graph &g) {
  auto out = std::make_unique<Graph>(g.name);
  out->loc = g.loc;
  out->train = g.train;
  out->sources = g.sources;
  return out;
}

void copyResults(const Graph &src, Graph &dst, const NodeMap &map) {
  for (const auto &r : src.results) dst.addResult(r.role, map.at(r.node), r.loc, r.of ? map.at(r.of) : nullptr);
}

std::unique_ptr<Graph> cloneGraph(const Graph &g) {
  auto out = emptyGraphLike(g);
  copyResults(g, *out, copyNodes(g, *out));
  return out;
}

std::unordered_map<const Node *, int> useCounts(const Graph &g) {
  std::unordered_map<const Node *, int> uses;
  for (const auto &n : g.nodes())
    for (const Node *o : n->operands) ++uses[o];
  for (const auto &r : g.results) ++uses[r.node];
  return uses;
}

} // namespace dlc
