//===- codegen/Layout.cpp -------------------------------------------------===//
#include "codegen/Layout.h"

namespace dlc {

int64_t ModelLayout::elements(const Shape &shape) const {
  int64_t n = 1;
  for (const Dim &d : shape) n *= d.isKnown() ? d.value() : capacity;
  return n;
}

ModelLayout planLayout(const Graph &g, int64_t capacity, Optimizer optimizer) {
  ModelLayout l;
  l.capacity = capacity;
  l.optimizer = optimizer;
  // 16-float (64-byte) alignment for every buffer.
  auto take = [&](int64_t count) {
    int64_t at = l.arenaSize;
    l.arenaSize += (std::max<int64_t>(count, 1) + 15) / 16 * 16;
    return at;
  };
  for (const auto &n : g.nodes()) {
    int64_t count = l.elements(n->shape());
    l.slots[n.get()] = {take(count), count};
  }
  int buffers = optimizer == Optimizer::Adam ? 2 : 1;
  for (const Node *p : g.nodesOfKind(OpKind::Param))
    for (int i = 0; i < buffers; ++i) l.state[p].push_back(take(l.elements(p->shape())));
  return l;
}

} // namespace dlc
