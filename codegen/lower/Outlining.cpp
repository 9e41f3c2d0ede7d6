//===- codegen/lower/Outlining.cpp - Loop bodies for the thread pool ------===//
//
// A parallel loop becomes a function of its own,
//   void NAME.rowsK(float *arena, int64_t n, int64_t lo, int64_t hi, int64_t tid),
// and, where the loop was, a call that has the pool (dlc_parallel_for in
// runtime/model_runtime.c) run it over [0, total) in pieces of `grain`. The
// outlined function binds the buffers and extents it uses anew
// (KernelEmitter::outline), so the body emits exactly as it would inline.
//
//===----------------------------------------------------------------------===//
#include "codegen/lower/KernelEmitter.h"

namespace dlc {

void KernelEmitter::parallelRows(llvm::Value *total, const RowsBody &body, int64_t grain) {
  llvm::Function *rows = outline(fn_->getName().str() + ".rows" + std::to_string(rowFunctions_++), {i64_, i64_, i64_},
                                 [&] { body(fn_->getArg(2), fn_->getArg(3), fn_->getArg(4)); });
  auto pool = m_.getOrInsertFunction("dlc_parallel_for", b_.getVoidTy(), ptr_, ptr_, i64_, i64_, i64_);
  b_.CreateCall(pool, {rows, fn_->getArg(0), batch_, total, c(grain)});
}

} // namespace dlc
