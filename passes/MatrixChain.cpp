//===- passes/MatrixChain.cpp - Re-associate matrix-product chains --------===//
//
// A chain is a tree of matmuls whose inner products are used once; its leaves
// (with transposes folded in: (A B)^T = B^T A^T) are the factors. The chain
// is re-associated by the classic O(n^3) dynamic program on the factors'
// shapes, using the nominal batch size for the symbolic N; chains longer
// than kMaxExactChain factors (ir/Limits.h) by a greedy heuristic instead, so
// that an order search never hangs. The choice and its cost against the tree
// as written are recorded as a remark, which names the heuristic when used.
//
//===----------------------------------------------------------------------===//
#include "passes/MatrixChain.h"

#include <functional>
#include <limits>
#include <queue>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "ir/Builder.h"
#include "ir/GraphUtils.h"
#include "ir/Limits.h"
#include "ir/Printer.h"
#include "passes/DeadCode.h"
#include "passes/Pass.h"

namespace dlc {

ChainOrder solveChainOrder(const std::vector<ChainFactor> &f) {
  size_t n = f.size();
  ChainOrder order;
  order.split.assign(n, std::vector<size_t>(n, 0));
  std::vector<std::vector<int64_t>> cost(n, std::vector<int64_t>(n, 0));
  for (size_t len = 2; len <= n; ++len)
    for (size_t i = 0; i + len <= n; ++i) {
      size_t j = i + len - 1;
      cost[i][j] = std::numeric_limits<int64_t>::max();
      for (size_t s = i; s < j; ++s) {
        int64_t c = addCost(addCost(cost[i][s], cost[s + 1][j]), productCost(f[i].rows, f[s].cols, f[j].cols));
        if (c < cost[i][j]) {
          cost[i][j] = c;
          order.split[i][j] = s;
        }
      }
    }
  order.cost = n ? cost[0][n - 1] : 0;
  return order;
}

int64_t leftToRightCost(const std::vector<ChainFactor> &f) {
  int64_t c = 0;
  for (size_t i = 1; i < f.size(); ++i) c = addCost(c, productCost(f[0].rows, f[i - 1].cols, f[i].cols));
  return c;
}

GreedyChainOrder greedyChainOrder(const std::vector<ChainFactor> &f) {
  size_t n = f.size();
  GreedyChainOrder order;
  // Partial products as a linked list of segments, each named by its first
  // factor; a heap of adjacent pairs, stale entries skipped by version.
  std::vector<ChainFactor> seg(f);
  std::vector<size_t> next(n), prev(n), version(n, 0);
  std::vector<bool> alive(n, true);
  for (size_t i = 0; i < n; ++i) next[i] = i + 1, prev[i] = i ? i - 1 : SIZE_MAX;
  struct Pair { int64_t cost; size_t left, leftVersion, right, rightVersion; };
  auto later = [](const Pair &a, const Pair &b) { return a.cost != b.cost ? a.cost > b.cost : a.left > b.left; };
  std::priority_queue<Pair, std::vector<Pair>, decltype(later)> heap(later);
  auto push = [&](size_t i) {
    if (i == SIZE_MAX || next[i] >= n) return;
    size_t j = next[i];
    heap.push({productCost(seg[i].rows, seg[i].cols, seg[j].cols), i, version[i], j, version[j]});
  };
  for (size_t i = 0; i + 1 < n; ++i) push(i);
  while (!heap.empty()) {
    Pair p = heap.top();
    heap.pop();
    if (!alive[p.left] || !alive[p.right] || version[p.left] != p.leftVersion || version[p.right] != p.rightVersion ||
        next[p.left] != p.right)
      continue;
    order.cost = addCost(order.cost, p.cost);
    order.merges.push_back({p.left, p.right});
    seg[p.left].cols = seg[p.right].cols;
    ++version[p.left];
    alive[p.right] = false;
    next[p.left] = next[p.right];
    if (next[p.left] < n) prev[next[p.left]] = p.left;
    push(prev[p.left]);
    push(p.left);
  }
  return order;
}

std::string ChainOrder::bracketing(const std::vector<std::string> &names) const {
  std::function<std::string(size_t, size_t, bool)> go = [&](size_t i, size_t j, bool top) -> std::string {
    if (i == j) return names[i];
    size_t s = split[i][j];
    std::string inner = go(i, s, false) + " " + go(s + 1, j, false);
    return top ? inner : "(" + inner + ")";
  };
  return names.empty() ? "" : go(0, names.size() - 1, true);
}

namespace {

struct Factor {
  const Node *node;
  bool transposed;
};

class ChainRewriter {
public:
  explicit ChainRewriter(const Graph &g) : uses_(useCounts(g)) {
    for (const auto &r : g.results) isResult_.insert({r.node, true});
    for (const auto &n : g.nodes())
      if (n->kind == OpKind::MatMul)
        for (const Node *o : n->operands) usedByProduct_.insert(o);
    auto names = printedNames(g);
    for (size_t i = 0; i < g.size(); ++i) printed_[g.nodes()[i].get()] = names[i];
  }

  /// Is `n` an inner product of a chain (folded into its user, a product)?
  /// A product used once by anything else (a bias add, the loss) is a root.
  bool isInterior(const Node *n) const {
    auto it = uses_.find(n);
    return n->kind == OpKind::MatMul && it != uses_.end() && it->second == 1 && !isResult_.count(n) &&
           usedByProduct_.count(n);
  }

  /// The factors of the chain rooted at `n`, left to right, and the matmuls
  /// it folds (`interior`, the root included). Iterative: chains from IR
  /// text can be 100,000 products long.
  void collect(const Node *n, std::vector<Factor> &out, std::vector<const Node *> &interior) const {
    std::vector<std::pair<const Node *, bool>> stack{{n, false}}; // right-most on top
    bool root = true;
    while (!stack.empty()) {
      auto [m, transposed] = stack.back();
      stack.pop_back();
      bool expand = m->kind == OpKind::MatMul && (root || isInterior(m)) && (!transposed || m->type.rank() == 2);
      root = false;
      if (!expand) {
        out.push_back({m, transposed});
        continue;
      }
      interior.push_back(m);
      const Node *a = m->operands[0], *b = m->operands[1];
      bool ta = m->attrs.getBool("transpose_a"), tb = m->attrs.getBool("transpose_b");
      if (!transposed) {
        stack.push_back({b, tb});
        stack.push_back({a, ta});
      } else { // (A B)^T = B^T A^T
        stack.push_back({a, !ta});
        stack.push_back({b, !tb});
      }
    }
  }

  int64_t extent(const Dim &d) const { return d.isKnown() ? d.value() : batch; }

  ChainFactor shapeOf(const Factor &f, bool first) const {
    const Shape &s = f.node->shape();
    if (s.size() == 1) return first ? ChainFactor{1, extent(s[0])} : ChainFactor{extent(s[0]), 1};
    int64_t r = extent(s[0]), c = extent(s[1]);
    return f.transposed ? ChainFactor{c, r} : ChainFactor{r, c};
  }

  /// Cost of the tree as written: the sum over the products it folds.
  int64_t writtenCost(const std::vector<const Node *> &interior) const {
    int64_t total = 0;
    for (const Node *n : interior) {
      const Node *a = n->operands[0];
      bool ta = n->attrs.getBool("transpose_a");
      const Shape &as = a->shape();
      int64_t m = as.size() == 2 ? extent(ta ? as[1] : as[0]) : 1;
      int64_t k = as.size() == 2 ? extent(ta ? as[0] : as[1]) : extent(as[0]);
      int64_t cols = 1;
      if (n->type.rank() == 2) cols = extent(n->shape()[1]);
      else if (n->type.rank() == 1 && as.size() == 1) cols = extent(n->shape()[0]);
      total = addCost(total, productCost(m, k, cols));
    }
    return total;
  }

  std::string factorName(const Factor &f) const {
    std::string s = spelled(f.node, 2);
    return f.transposed ? s + "^T" : s;
  }

  /// A value by its source name, else spelled as its expression (`relu(v1)`,
  /// `transpose(dL/dw)`), `...` below `depth` levels.
  std::string spelled(const Node *n, int depth) const {
    if (!n->name.empty()) return n->name;
    if (n->kind == OpKind::Const) return fmt::format("{}", n->attrs.getFloat("value"));
    if (depth == 0) return "...";
    std::string args;
    for (const Node *o : n->operands) args += (args.empty() ? "" : ", ") + spelled(o, depth - 1);
    return fmt::format("{}({})", n->info().mnemonic, args);
  }

  int64_t batch = 64; ///< the extent assumed for the symbolic N
  std::unordered_map<const Node *, int> uses_;
  std::unordered_map<const Node *, bool> isResult_;
  std::unordered_set<const Node *> usedByProduct_;
  std::unordered_map<const Node *, std::string> printed_;
};

/// Emits the product of factors i..j in the chosen order; returns the node
/// and whether the parent must treat it as transposed.
std::pair<Node *, bool> emit(IRBuilder &b, const std::vector<Factor> &f, const std::vector<Node *> &mapped,
                             const ChainOrder &order, size_t i, size_t j, const SourceLoc &loc) {
  if (i == j) return {mapped[i], f[i].transposed};
  size_t s = order.split[i][j];
  auto [l, lt] = emit(b, f, mapped, order, i, s, loc);
  auto [r, rt] = emit(b, f, mapped, order, s + 1, j, loc);
  Attrs a;
  if (lt) a.set("transpose_a", true);
  if (rt) a.set("transpose_b", true);
  return {b.op(OpKind::MatMul, {l, r}, loc, a), false};
}

/// Emits the product in a greedy order: each merge multiplies two adjacent
/// partial products (no recursion: the chain may be very long).
Node *emitGreedy(IRBuilder &b, const std::vector<Factor> &f, const std::vector<Node *> &mapped,
                 const GreedyChainOrder &order, const SourceLoc &loc) {
  std::vector<Node *> part(mapped);
  std::vector<bool> transposed;
  for (const Factor &x : f) transposed.push_back(x.transposed);
  for (auto [i, j] : order.merges) {
    Attrs a;
    if (transposed[i]) a.set("transpose_a", true);
    if (transposed[j]) a.set("transpose_b", true);
    part[i] = b.op(OpKind::MatMul, {part[i], part[j]}, loc, a);
    transposed[i] = false;
    if (!part[i]) return nullptr;
  }
  return part.empty() ? nullptr : part[0];
}

/// The remark on a chain's order: the exact bracketing, or the greedy
/// heuristic past kMaxExactChain factors.
std::string chainRemark(const std::string &what, const ChainOrder *exact, const GreedyChainOrder &greedy,
                        const std::vector<std::string> &names, int64_t written, int64_t batch) {
  if (exact)
    return fmt::format("chain {}: {} = {} multiplies (as written: {}; N = {})", what, exact->bracketing(names),
                       exact->cost, written, batch);
  return fmt::format("chain {}: {} factors, more than {}: ordered by the greedy heuristic (cheapest adjacent product "
                     "first, not necessarily optimal) = {} multiplies (as written: {}; N = {})",
                     what, names.size(), kMaxExactChain, greedy.cost, written, batch);
}

/// The replacement of `n` in the rebuilt graph: `n` itself (copied) unless
/// it is the root of a chain of three or more factors that a different order
/// makes cheaper. Null after an error.
Node *reorderChain(const ChainRewriter &chains, PassContext &ctx, IRBuilder &b, const Node &n, std::vector<Node *> ops,
                   const NodeMap &map, bool &changed) {
  std::vector<Factor> factors;
  std::vector<const Node *> interior;
  if (n.kind == OpKind::MatMul && !chains.isInterior(&n)) chains.collect(&n, factors, interior);
  if (factors.size() < 3) return copyNode(b.graph, n, std::move(ops));
  std::vector<ChainFactor> dims;
  std::vector<std::string> names;
  std::vector<Node *> mapped;
  for (size_t i = 0; i < factors.size(); ++i) {
    dims.push_back(chains.shapeOf(factors[i], i == 0));
    names.push_back(chains.factorName(factors[i]));
    mapped.push_back(map.at(factors[i].node));
  }
  bool exact = factors.size() <= kMaxExactChain;
  ChainOrder order = exact ? solveChainOrder(dims) : ChainOrder{};
  GreedyChainOrder greedy = exact ? GreedyChainOrder{} : greedyChainOrder(dims);
  int64_t cost = exact ? order.cost : greedy.cost;
  int64_t written = chains.writtenCost(interior);
  std::string what = n.name.empty() ? "a product" : "%" + n.name;
  ctx.remarks.push_back(chainRemark(what, exact ? &order : nullptr, greedy, names, written, chains.batch));
  if (cost >= written) return copyNode(b.graph, n, std::move(ops));
  Node *root = exact ? emit(b, factors, mapped, order, 0, factors.size() - 1, n.loc).first
                     : emitGreedy(b, factors, mapped, greedy, n.loc);
  if (!root || root->type != n.type) {
    ctx.diags.error(n.loc, "chain: re-associated product has type {} instead of {}",
                            root ? root->type.str() : "?", n.type.str());
    return nullptr;
  }
  root->name = n.name;
  root->note = fmt::format("chain order{}: {} multiplies instead of {}", exact ? "" : " (greedy)", cost, written);
  ctx.addStat("chain", "reordered");
  changed = true;
  return root;
}

} // namespace

PassResult runChainOrder(std::unique_ptr<Graph> &g, PassContext &ctx) {
  ChainRewriter chains(*g);
  chains.batch = ctx.nominalBatch > 0 ? ctx.nominalBatch : g->train.getInt("batch", 64);
  auto out = emptyGraphLike(*g);
  IRBuilder b(*out, ctx.diags);
  NodeMap map; // filled as the rebuild goes: chain factors precede their root
  bool changed = false;
  std::optional<NodeMap> rebuilt = rebuildGraph(*g, [&](const Node &n, std::vector<Node *> ops) {
    Node *r = reorderChain(chains, ctx, b, n, std::move(ops), map, changed);
    if (r) map[&n] = r;
    return r;
  });
  if (!rebuilt) return PassResult::Failed;
  copyResults(*g, *out, map);
  // Inner products of a reordered chain are now dead (as are any dead values of the input).
  size_t removed = eliminateDeadNodes(*out);
  g = std::move(out);
  return changed || removed ? PassResult::Changed : PassResult::Unchanged;
}

} // namespace dlc
