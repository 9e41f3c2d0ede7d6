//===- codegen/lower/Loops.h - The one loop builder of the code generator -===//
//
// Every loop dlc emits (kernels, the GEMM's blocks, packing, im2col) comes
// from here: a counted loop in rotated form, guarded so that it runs zero
// times when begin >= end, with its induction variable an i64 phi. With
// constant bounds the guard folds away as it is built.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include <llvm/ADT/ArrayRef.h>
#include <llvm/IR/IRBuilder.h>

namespace dlc {

struct LoopOptions {
  int64_t step = 1;
  const char *name = "loop"; ///< names the loop's blocks
  /// Keep the vectorizer off this loop (llvm.loop.vectorize.enable = false).
  bool scalar = false;
};

/// Emits `for (i = begin; i < end; i += step) body(i)` at the builder's
/// insertion point; the builder is left after the loop.
void forRange(llvm::IRBuilder<> &b, llvm::Value *begin, llvm::Value *end, const LoopOptions &options,
              const std::function<void(llvm::Value *)> &body);
inline void forRange(llvm::IRBuilder<> &b, llvm::Value *begin, llvm::Value *end,
                     const std::function<void(llvm::Value *)> &body) {
  forRange(b, begin, end, LoopOptions{}, body);
}

/// Nested loops from 0 over each extent of `bounds`, outermost first;
/// body receives the indices, one per extent.
void forEachIndex(llvm::IRBuilder<> &b, llvm::ArrayRef<llvm::Value *> bounds,
                  const std::function<void(const std::vector<llvm::Value *> &)> &body);

} // namespace dlc
