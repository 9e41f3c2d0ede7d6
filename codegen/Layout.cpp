//===- codegen/Layout.cpp - The arena, planned from liveness --------------===//
//
// Persistent buffers come first: params, their optimizer state, the model's
// state (batch norm's running statistics) and the params' gradients (each
// group contiguous), then inputs, labels and the other results (outputs, the
// loss, the states' new values), each with a place of its own.
// Then the temporaries: values some entry point materializes (fusion leaves
// the others without a buffer). Each gets an interval per entry point, from
// the kernel that writes it to the last kernel that reads it; temporaries
// whose intervals overlap in some entry point may not share memory, the
// others do. Offsets are assigned first-fit, largest first.
//
//===----------------------------------------------------------------------===//
#include "codegen/Layout.h"

#include <algorithm>
#include <cassert>
#include <map>
#include <unordered_set>

#include "codegen/Fusion.h"
#include "codegen/Gemm.h"
#include "ir/ConvGeometry.h"

namespace dlc {

int64_t ModelLayout::elements(const Shape &shape) const {
  int64_t n = 1;
  for (const Dim &d : shape) n *= d.isKnown() ? d.value() : capacity;
  return n;
}

namespace {

int64_t aligned(int64_t count) { return (std::max<int64_t>(count, 1) + 15) / 16 * 16; } // 64 bytes

struct Temporary {
  const Node *node;
  int64_t size;
  std::map<int, std::pair<size_t, size_t>> live; ///< entry -> [first kernel, last kernel]
};

bool conflict(const Temporary &a, const Temporary &b) {
  for (const auto &[entry, x] : a.live) {
    auto it = b.live.find(entry);
    if (it != b.live.end() && x.first <= it->second.second && it->second.first <= x.second) return true;
  }
  return false;
}

} // namespace

ModelLayout planLayout(const Graph &g, int64_t capacity, Optimizer optimizer, const GemmConfig &gemm) {
  ModelLayout l;
  l.capacity = capacity;
  l.optimizer = optimizer;
  auto take = [&](int64_t count) {
    int64_t at = l.arenaSize;
    l.arenaSize += aligned(count);
    return at;
  };
  std::unordered_set<const Node *> persistent;
  for (const auto &n : g.nodes())
    if (n->isSupplied()) persistent.insert(n.get());
  for (const auto &r : g.results) persistent.insert(r.node);
  auto place = [&](const Node *n) {
    if (l.slots.count(n)) return;
    int64_t count = l.elements(n->shape());
    l.slots[n] = {take(count), count};
  };
  // Params, their optimizer state, the model's state, then the params'
  // gradients, each group contiguous in table order: the ABI hands out the
  // first three as what a data-parallel job broadcasts, the third alone as
  // what it averages after a step, and the last as the gradients it averages.
  std::vector<Node *> params = g.nodesOfKind(OpKind::Param);
  for (const Node *p : params) place(p);
  int buffers = optimizer == Optimizer::Adam ? 2 : 1;
  for (const Node *p : params)
    for (int i = 0; i < buffers; ++i) l.state[p].push_back(take(l.elements(p->shape())));
  for (const Node *s : g.nodesOfKind(OpKind::State)) place(s);
  for (const Node *p : params)
    for (const auto &r : g.results)
      if (r.role == Role::Grad && r.of == p) place(r.node);
  for (const auto &n : g.nodes()) // the rest in program order, for a stable layout
    if (persistent.count(n.get())) place(n.get());
  if (!g.nodesOfKind(OpKind::DropoutMask).empty()) l.dropoutKeyOffset = take(1);
  l.persistentSize = l.arenaSize;

  auto [outputs, training] = entryRoots(g);
  std::vector<std::vector<const Node *>> entries = {outputs};
  if (g.result(Role::Loss)) entries.push_back(training);
  std::vector<KernelPlan> plans;
  std::vector<std::unordered_set<const Node *>> writes; // what each entry's kernels store (an epilogue's last op included)
  for (const auto &roots : entries) {
    plans.push_back(planKernels(entryNodes(g, roots), {roots.begin(), roots.end()}));
    writes.emplace_back();
    for (const Kernel &kernel : plans.back().kernels) writes.back().insert(kernel.output());
  }
  // Views: a reshape that is not a result reads its operand's buffer as it
  // is (the same floats in the same order), wherever every entry point
  // stores that operand (or it has a place of its own). It shares the
  // operand's slot, and the operand lives as long as any view of it.
  std::unordered_map<const Node *, const Node *> viewOf;
  auto root = [&](const Node *n) {
    for (auto it = viewOf.find(n); it != viewOf.end(); it = viewOf.find(n)) n = it->second;
    return n;
  };
  for (const auto &n : g.nodes()) {
    if (n->kind != OpKind::Reshape || persistent.count(n.get())) continue;
    const Node *of = root(n->operands[0]);
    bool used = false, stored = true;
    for (size_t e = 0; e < plans.size(); ++e)
      if (writes[e].count(n.get())) {
        used = true;
        stored = stored && (persistent.count(of) || writes[e].count(of));
      }
    if (used && stored) viewOf[n.get()] = of;
  }

  // Live intervals of the temporaries of each entry point.
  std::unordered_map<const Node *, Temporary> temps;
  for (int e = 0; e < int(entries.size()); ++e) {
    const KernelPlan &plan = plans[size_t(e)];
    const std::unordered_set<const Node *> &written = writes[size_t(e)];
    for (size_t k = 0; k < plan.kernels.size(); ++k) {
      const Kernel &kernel = plan.kernels[k];
      auto touch = [&](const Node *n) {
        if (!written.count(n)) return; // a constant's kernel writes it
        n = root(n);
        if (persistent.count(n)) return;
        Temporary &t = temps[n];
        t.node = n;
        t.size = aligned(l.elements(n->shape()));
        auto [it, fresh] = t.live.try_emplace(e, k, k);
        it->second.first = std::min(it->second.first, k);
        it->second.second = std::max(it->second.second, k);
      };
      touch(kernel.output());
      std::vector<const Node *> computed = {kernel.anchor};
      computed.insert(computed.end(), kernel.epilogue.begin(), kernel.epilogue.end());
      computed.insert(computed.end(), kernel.inlined.begin(), kernel.inlined.end());
      for (const Node *c : computed)
        for (const Node *o : c->operands) touch(o);
    }
  }
  std::vector<Temporary *> order;
  for (auto &[n, t] : temps) order.push_back(&t);
  std::sort(order.begin(), order.end(), [&](const Temporary *a, const Temporary *b) {
    if (a->size != b->size) return a->size > b->size;
    return std::find_if(g.nodes().begin(), g.nodes().end(), [&](auto &n) { return n.get() == a->node; }) <
           std::find_if(g.nodes().begin(), g.nodes().end(), [&](auto &n) { return n.get() == b->node; });
  });
  std::vector<std::pair<const Temporary *, int64_t>> placed; // offset relative to the temporary region
  int64_t region = 0;
  for (const Temporary *t : order) {
    l.unsharedTemporarySize += t->size;
    std::vector<std::pair<int64_t, int64_t>> busy;
    for (auto &[other, at] : placed)
      if (conflict(*t, *other)) busy.push_back({at, at + other->size});
    std::sort(busy.begin(), busy.end());
    int64_t at = 0;
    for (auto [begin, end] : busy) {
      if (at + t->size <= begin) break;
      at = std::max(at, end);
    }
    placed.push_back({t, at});
    region = std::max(region, at + t->size);
    l.slots[t->node] = {l.persistentSize + at, l.elements(t->node->shape())};
  }
  l.arenaSize = l.persistentSize + region;
  for (const auto &n : g.nodes())
    if (auto it = viewOf.find(n.get()); it != viewOf.end()) {
      l.slots[n.get()] = {l.slots.at(root(it->second)).first, l.elements(n->shape())};
      l.views.push_back({n.get(), root(it->second)});
    }

  int64_t columns = 0, partial = 0;
  bool products = false;
  for (const auto &n : g.nodes()) {
    if (n->kind == OpKind::MatMul) products = true;
    if (n->kind == OpKind::Conv2D || n->kind == OpKind::Conv2DBwdData || n->kind == OpKind::Conv2DBwdFilter) {
      products = true;
      ConvGeometry cg = convGeometry(*n);
      columns = std::max(columns, cg.taps() * cg.pixels());
      partial = std::max(partial, cg.O * cg.taps());
    }
  }
  if (products) {
    l.gemm = gemm;
    l.columnsAt = gemm.workspace();
    l.partialAt = l.columnsAt + aligned(columns);
    l.workspacePerThread = l.partialAt + aligned(partial);
    l.workspaceOffset = l.arenaSize;
    l.workspaceSize = kGemmMaxThreads * l.workspacePerThread;
    l.arenaSize += l.workspaceSize;
  }
  return l;
}

} // namespace dlc
