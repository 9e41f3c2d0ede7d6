//===- codegen/Layout.h - Where every value lives in a model's arena ------===//
//
// A compiled model keeps all its state in one float arena: params, optimizer
// state, inputs, labels and every intermediate, each at a fixed offset sized
// for the batch capacity chosen at creation. A call runs on any batch n
// between 1 and that capacity.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "codegen/GemmConfig.h"
#include "ir/Diagnostics.h"
#include "ir/Graph.h"

namespace dlc {

enum class Optimizer { SGD, Adam };

/// The slots of train_step's `hyper` argument (runtime/Hyperparameters.def):
/// the settings (kLearningRate, kMomentum, ...), then the values the C glue
/// derives from them before each step (Adam's kCorrection1, kCorrection2).
enum HyperIndex : int {
#define DLC_HYPER(Id, ...) k##Id,
#include "runtime/Hyperparameters.def"
#define DLC_DERIVED_HYPER(Id, ...) k##Id,
#include "runtime/Hyperparameters.def"
  kHyperCount
};

struct ModelLayout {
  int64_t capacity = 1; ///< the largest batch a call may use
  Optimizer optimizer = Optimizer::SGD;
  /// Offset and element count (at capacity) of each materialized node's buffer.
  std::unordered_map<const Node *, std::pair<int64_t, int64_t>> slots;
  /// Optimizer state per param: SGD's z, or Adam's m and v.
  std::unordered_map<const Node *, std::vector<int64_t>> state;
  int64_t arenaSize = 0; ///< floats
  int64_t persistentSize = 0;        ///< leaves, optimizer state and results
  /// The 32 bits the runtime sets before each training call, from which the
  /// dropout masks are drawn (ir/DropoutMask.h); -1 without dropout.
  int64_t dropoutKeyOffset = -1;
  int64_t unsharedTemporarySize = 0; ///< what the temporaries would take with a buffer each
  /// Scratch at the end of the arena for matrix products: one slice per
  /// pool thread, each holding packed panels, then the im2col columns of one
  /// image, then a partial filter gradient. 0 when the model has no products.
  int64_t workspaceOffset = 0;
  int64_t workspaceSize = 0;
  int64_t workspacePerThread = 0; ///< floats per thread's slice
  int64_t columnsAt = 0;          ///< offset of the im2col columns in a slice
  int64_t partialAt = 0;          ///< offset of the partial filter gradient in a slice
  GemmConfig gemm;                ///< the products' micro-kernel and blocks (they size the slices)
  /// Reshapes that read their operand's buffer in place (no copy), in
  /// program order: (the reshape, the buffer's owner).
  std::vector<std::pair<const Node *, const Node *>> views;

  /// Elements of `shape` with N = capacity.
  int64_t elements(const Shape &shape) const;
};

/// Lays out the arena: a place of its own for every input, label, param,
/// optimizer state and result; temporaries share memory where their live
/// ranges (in kernel order, per entry point) do not overlap; values that
/// fusion computes inline get no buffer at all. `gemm` (gemmConfigFor the
/// target) sizes the products' workspace and is what lowering emits.
ModelLayout planLayout(const Graph &g, int64_t capacity, Optimizer optimizer,
                       const GemmConfig &gemm = portableGemmConfig());
/// Whether planLayout may run with this `gemm`: a capacity in 1..kMaxBatch
/// and an arena that fits kMaxArenaFloats (ir/Limits.h), bounded with
/// saturating arithmetic. Otherwise false, with an error at the largest value.
bool checkLayoutLimits(const Graph &g, int64_t capacity, DiagnosticEngine &diags,
                       const GemmConfig &gemm = portableGemmConfig());

} // namespace dlc
