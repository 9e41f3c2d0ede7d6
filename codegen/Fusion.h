//===- codegen/Fusion.h - Grouping ops into kernels ------------------------===//
//
// A kernel is one loop nest that writes one buffer. The plan decides, for
// the ops one entry point runs, which are computed inside another op's loop
// instead of through a buffer of their own:
//
//  - an elementwise op used once, by an elementwise op of the same shape,
//    is computed inline by its user (chains collapse into one loop);
//  - scalar constants are always inline;
//  - the elementwise ops that follow a matmul (bias, activation, the relu
//    mask of a backward product) become its epilogue, applied to each
//    accumulated element before the store, while their other operands
//    exist when the matmul runs.
//
// Each decision on an elementwise op (fused, or its own buffer and why not)
// and on a matmul's epilogue (where it ends and why) is recorded in the plan
// with its reason; `dlc --emit=kernels` prints the plan and the reasons.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <functional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "ir/Graph.h"

namespace dlc {

/// Levels of inline ops in one kernel at most (ir/Limits.h's kind of limit:
/// the kernel emitter recurses once per level); a deeper chain gets a buffer.
inline constexpr int kMaxInlineChain = 64;

struct Kernel {
  const Node *anchor;              ///< the op whose loop nest this is
  std::vector<const Node *> epilogue; ///< matmul epilogue ops, in order (the last one is stored)
  std::vector<const Node *> inlined;  ///< ops computed inside this kernel's loop
  const Node *output() const { return epilogue.empty() ? anchor : epilogue.back(); }
};

/// Why a value is fused or keeps its own buffer, or why a matmul's epilogue
/// ends where it does.
struct FusionDecision {
  std::string why;             ///< "{}" in it stands for `about`'s name
  const Node *about = nullptr; ///< the value the reason names, if any
  /// The reason with `about` named by `name`.
  std::string str(const std::function<std::string(const Node *)> &name) const;
};

struct KernelPlan {
  std::vector<Kernel> kernels;
  /// Ops computed without a buffer of their own (inline or in an epilogue).
  std::unordered_set<const Node *> fused;
  /// Inline ops: computed at their user's index (same shape, or a scalar constant).
  std::unordered_set<const Node *> inlineOps;
  /// Matmuls with an epilogue, and its ops.
  std::unordered_map<const Node *, std::vector<const Node *>> epilogues;
  /// The decision taken on each elementwise op and each matmul, with its reason.
  std::unordered_map<const Node *, FusionDecision> decisions;
};

/// The ops an entry point runs to compute `roots`, in program order.
std::vector<const Node *> entryNodes(const Graph &g, const std::vector<const Node *> &roots);

/// The results of the forward entry (outputs) and of the training entries
/// (loss and gradients).
std::pair<std::vector<const Node *>, std::vector<const Node *>> entryRoots(const Graph &g);

/// Plans the kernels of one entry point: `nodes` in program order; `keep`
/// are values that must have a buffer (the entry's results).
KernelPlan planKernels(const std::vector<const Node *> &nodes, const std::unordered_set<const Node *> &keep);

/// The plan as text (`dlc --emit=kernels`): each kernel, its epilogue and
/// inline ops, and the reason of every decision in parentheses.
std::string printKernelPlan(const Graph &g, const KernelPlan &plan, const std::string &entry);

} // namespace dlc
