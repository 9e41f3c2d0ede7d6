//===- codegen/Fusion.cpp -------------------------------------------------===//
//
// planKernels in four steps: matmul epilogues, inline ops, the kernels in
// program order, and which kernel computes each inline op. Every decision
// about an elementwise op (or a matmul's epilogue) is recorded with its
// reason as it is taken.
//
//===----------------------------------------------------------------------===//
#include "codegen/Fusion.h"

#include <functional>

#include <fmt/format.h>

#include "ir/Printer.h"

namespace dlc {

namespace {

bool isElementwise(const Node *n) { return n->info().is(Elementwise); }
/// A leaf its own kernel fills (the others are the caller's).
bool isConstant(const Node *n) {
  return n->kind == OpKind::Const || n->kind == OpKind::DimSize || n->kind == OpKind::Literal ||
         n->kind == OpKind::DropoutMask;
}
/// Literals and masks are read from their buffers even with one element.
bool isScalarConstant(const Node *n) {
  return (n->kind == OpKind::Const || n->kind == OpKind::DimSize) && n->type.isScalar();
}

/// The uses of an entry's values, and the decisions taken on them so far.
class FusionPlanner {
public:
  FusionPlanner(const std::vector<const Node *> &nodes, const std::unordered_set<const Node *> &keep)
      : nodes_(nodes), keep_(keep) {
    for (size_t i = 0; i < nodes.size(); ++i) {
      position_[nodes[i]] = i;
      for (const Node *o : nodes[i]->operands) users_[o].push_back(nodes[i]);
    }
  }

  KernelPlan plan() {
    planEpilogues();
    planInline();
    formKernels();
    attributeInline();
    return std::move(plan_);
  }

private:
  void decide(const Node *n, std::string why, const Node *about = nullptr) {
    plan_.decisions[n] = {std::move(why), about};
  }

  /// The op that uses `n` once, as one operand, when `n` is not a result.
  const Node *soleUser(const Node *n) {
    auto it = users_.find(n);
    if (keep_.count(n) || it == users_.end() || it->second.size() != 1) return nullptr;
    const Node *u = it->second[0];
    int uses = 0;
    for (const Node *o : u->operands) uses += o == n;
    return uses == 1 ? u : nullptr;
  }
  /// Why `n` has no sole user ("{}" stands for the decision's node).
  std::string whyNoSoleUser(const Node *n) {
    if (keep_.count(n)) return "{} is a result of this entry point";
    auto it = users_.find(n);
    if (it == users_.end()) return "{} has no user";
    return fmt::format("{{}} has {} uses", it->second.size());
  }

  /// An operand of epilogue op `user` is ready at matmul `mm` if it was
  /// computed before it, or can be computed inline from ready values (the
  /// relu mask of a backward product).
  bool ready(const Node *o, const Node *user, const Node *mm) {
    if (!position_.count(o) || position_[o] < position_[mm] || isScalarConstant(o)) return true;
    if (!isElementwise(o) || soleUser(o) != user || o->type.shape != user->type.shape) return false;
    for (const Node *x : o->operands)
      if (!ready(x, o, mm)) return false;
    return true;
  }

  /// The products whose result an epilogue can finish while it is in cache:
  /// a matmul's tile, a convolution's image (conv2d_bwd_filter sums over
  /// the batch: its result is complete only at the end).
  static bool hasEpilogue(OpKind k) { return k == OpKind::MatMul || k == OpKind::Conv2D || k == OpKind::Conv2DBwdData; }

  /// Every operand of `u` but `prev` has u's shape or is a scalar constant,
  /// and so has what the ones it may compute inline read.
  bool sameShapeOperands(const Node *u, const Node *prev) {
    for (const Node *o : u->operands) {
      if (o == prev || isScalarConstant(o)) continue;
      if (o->type.shape != u->type.shape) return false;
      if (isElementwise(o) && soleUser(o) == u && !sameShapeOperands(o, nullptr)) return false;
    }
    return true;
  }

  /// Epilogues: follow single-use elementwise users of the same type
  /// whose other operands already exist when the product runs.
  void planEpilogues() {
    for (const Node *n : nodes_) {
      if (!hasEpilogue(n->kind)) continue;
      std::vector<const Node *> chain;
      const Node *cur = n;
      std::string stop;
      const Node *stopAt = nullptr;
      bool reshaped = false; // past a reshape: the element order is the product's, the shape another
      while (true) {
        const Node *u = soleUser(cur);
        if (!u) {
          stop = whyNoSoleUser(cur), stopAt = cur;
          break;
        }
        // A matmul's epilogue continues through one reshape (a flatten's
        // gradient back to the image's shape) when the ops after it read
        // nothing else of another shape: each element is then where the
        // product's flat index says.
        if (u->kind == OpKind::Reshape && n->kind == OpKind::MatMul && n->type.rank() == 2 && u->type.rank() >= 2 &&
            u->type.shape[0] == n->type.shape[0] && !reshaped && !keep_.count(u) && soleUser(u) &&
            isElementwise(soleUser(u)) && soleUser(u)->type == u->type && sameShapeOperands(soleUser(u), u)) {
          chain.push_back(u);
          decide(u, "the sole use of {}, the same elements in the same order", cur);
          cur = u, reshaped = true;
          continue;
        }
        if (!isElementwise(u) || u->type != cur->type || (reshaped && !sameShapeOperands(u, cur))) {
          stop = isElementwise(u) ? "its next user {} has another type" : "its next user {} is not elementwise";
          stopAt = u;
          break;
        }
        bool allReady = true;
        for (const Node *o : u->operands)
          if (o != cur && !ready(o, u, n)) allReady = false;
        if (!allReady) {
          stop = "its next user {} needs a value computed after the matmul", stopAt = u;
          break;
        }
        chain.push_back(u);
        decide(u, "the sole use of {}, elementwise of the same type, its other operands ready", cur);
        cur = u;
      }
      decide(n, (chain.empty() ? "no epilogue: " : "epilogue ends: ") + stop, stopAt);
      if (chain.empty()) continue;
      plan_.epilogues[n] = chain;
      for (const Node *c : chain) plan_.fused.insert(c);
    }
  }

  /// Inline: scalar constants anywhere; single-use elementwise ops into an
  /// elementwise user (or an epilogue op) of the same shape, but no deeper
  /// than kMaxInlineChain levels: the kernel emitter recurses once per level,
  /// and a chain of 30,000 tanh from IR text would exhaust its stack.
  void planInline() {
    std::unordered_map<const Node *, int> depth; // inline ops below and including n
    auto inlineDepth = [&](const Node *n) {
      int d = 0;
      for (const Node *o : n->operands)
        if (auto it = depth.find(o); it != depth.end()) d = std::max(d, it->second);
      return d + 1;
    };
    for (const Node *n : nodes_) {
      if (plan_.fused.count(n)) continue;
      if (isScalarConstant(n) && !keep_.count(n)) {
        // Products and convolutions read their operands from buffers.
        const Node *reader = bufferReader(n);
        if (!reader) inlineOp(n, "a scalar constant, computed where it is used");
        else decide(n, "own buffer: its user {} reads it from memory", reader);
        continue;
      }
      if (isConstant(n)) {
        decide(n, keep_.count(n) ? "own buffer: {} is a result of this entry point" : "own buffer: a tensor constant", n);
        continue;
      }
      if (!isElementwise(n)) continue;
      const Node *u = soleUser(n);
      if (!u) decide(n, "own buffer: " + whyNoSoleUser(n), n);
      else if (!isElementwise(u)) decide(n, "own buffer: its user {} is not elementwise", u);
      else if (u->type.shape != n->type.shape) decide(n, "own buffer: its user {} has another shape", u);
      else if (int d = inlineDepth(n); d > kMaxInlineChain)
        decide(n, fmt::format("own buffer: {} inline levels below it already", kMaxInlineChain));
      else {
        inlineOp(n, "computed inside its sole user {}, elementwise of the same shape", u);
        depth[n] = d;
      }
    }
  }
  /// A user of `n` that is not elementwise (it needs `n` in a buffer), or null.
  const Node *bufferReader(const Node *n) {
    for (const Node *u : users_[n])
      if (!isElementwise(u)) return u;
    return nullptr;
  }
  void inlineOp(const Node *n, std::string why, const Node *about = nullptr) {
    plan_.inlineOps.insert(n);
    plan_.fused.insert(n);
    decide(n, std::move(why), about);
  }

  /// The kernels, in program order: every op that is not fused, but the
  /// leaves a caller fills (a constant that is not inline is filled by a kernel).
  void formKernels() {
    for (const Node *n : nodes_) {
      if (plan_.fused.count(n) || n->isSupplied() || (n->isLeaf() && !keep_.count(n) && !isConstant(n))) continue;
      Kernel k{n, {}, {}};
      if (auto it = plan_.epilogues.find(n); it != plan_.epilogues.end()) k.epilogue = it->second;
      kernelOf_[n] = plan_.kernels.size();
      for (const Node *e : k.epilogue) kernelOf_[e] = plan_.kernels.size();
      plan_.kernels.push_back(std::move(k));
    }
  }

  /// Attributes each inline op to the kernel of its (transitive) user.
  void attributeInline() {
    for (auto it = nodes_.rbegin(); it != nodes_.rend(); ++it) {
      const Node *n = *it;
      if (!plan_.inlineOps.count(n) || isScalarConstant(n)) continue;
      const Node *u = users_[n].front();
      if (auto k = kernelOf_.find(u); k != kernelOf_.end()) {
        kernelOf_[n] = k->second;
        plan_.kernels[k->second].inlined.push_back(n);
      }
    }
  }

  const std::vector<const Node *> &nodes_;
  const std::unordered_set<const Node *> &keep_;
  std::unordered_map<const Node *, std::vector<const Node *>> users_;
  std::unordered_map<const Node *, size_t> position_;
  std::unordered_map<const Node *, size_t> kernelOf_;
  KernelPlan plan_;
};

} // namespace

std::vector<const Node *> entryNodes(const Graph &g, const std::vector<const Node *> &roots) {
  std::unordered_set<const Node *> live(roots.begin(), roots.end());
  for (auto it = g.nodes().rbegin(); it != g.nodes().rend(); ++it)
    if (live.count(it->get()))
      for (const Node *o : (*it)->operands) live.insert(o);
  std::vector<const Node *> out;
  for (const auto &n : g.nodes())
    if (live.count(n.get())) out.push_back(n.get());
  return out;
}

std::pair<std::vector<const Node *>, std::vector<const Node *>> entryRoots(const Graph &g) {
  std::vector<const Node *> outputs, training;
  for (const auto &r : g.results) (r.role == Role::Output ? outputs : training).push_back(r.node);
  return {outputs, training};
}

KernelPlan planKernels(const std::vector<const Node *> &nodes, const std::unordered_set<const Node *> &keep) {
  return FusionPlanner(nodes, keep).plan();
}

std::string FusionDecision::str(const std::function<std::string(const Node *)> &name) const {
  return about ? fmt::format(fmt::runtime(why), name(about)) : why;
}

std::string printKernelPlan(const Graph &g, const KernelPlan &plan, const std::string &entry) {
  std::vector<std::string> names = printedNames(g);
  std::unordered_map<const Node *, std::string> name;
  for (size_t i = 0; i < g.size(); ++i) name[g.nodes()[i].get()] = names[i];
  auto nameOf = [&](const Node *n) { return name.at(n); };
  auto describe = [&](const Node *n) {
    std::string s = fmt::format("{} = {}", name.at(n), n->info().mnemonic);
    if (auto d = plan.decisions.find(n); d != plan.decisions.end()) s += " (" + d->second.str(nameOf) + ")";
    return s;
  };
  std::string out = fmt::format("{}: {} kernels\n", entry, plan.kernels.size());
  for (size_t i = 0; i < plan.kernels.size(); ++i) {
    const Kernel &k = plan.kernels[i];
    out += fmt::format("  kernel {}: {} = {} -> {} {}", i, name.at(k.anchor), k.anchor->info().mnemonic,
                       name.at(k.output()), k.output()->type.str());
    if (auto d = plan.decisions.find(k.anchor); d != plan.decisions.end()) out += " (" + d->second.str(nameOf) + ")";
    out += "\n";
    for (const Node *e : k.epilogue) out += fmt::format("    epilogue {}\n", describe(e));
    for (auto it = k.inlined.rbegin(); it != k.inlined.rend(); ++it) out += fmt::format("    inline {}\n", describe(*it));
  }
  return out;
}

} // namespace dlc
