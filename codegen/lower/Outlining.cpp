//===- codegen/lower/Outlining.cpp - Loop bodies for the thread pool ------===//
//
// A parallel loop becomes a function of its own,
//   void NAME.rowsK(float *arena, int64_t n, int64_t lo, int64_t hi, int64_t tid, const float *hyper),
// and, where the loop was, a call that has the pool (dlc_parallel_for in
// runtime/model_runtime.c) run it over [0, total) in pieces of `grain`. The
// outlined function binds the buffers and extents it uses anew
// (KernelEmitter::outline), so the body emits exactly as it would inline;
// `hyper` is the update entry's hyperparameters (null elsewhere).
//
//===----------------------------------------------------------------------===//
#include "codegen/lower/KernelEmitter.h"

namespace dlc {

void KernelEmitter::parallelRows(llvm::Value *total, const RowsBody &body, int64_t grain) {
  llvm::Value *hyper = hyperArgument();
  if (!hyper) hyper = llvm::ConstantPointerNull::get(b_.getPtrTy());
  llvm::Function *rows = outline(fn_->getName().str() + ".rows" + std::to_string(rowFunctions_++), {i64_, i64_, i64_, ptr_},
                                 [&] { body(fn_->getArg(2), fn_->getArg(3), fn_->getArg(4)); });
  auto pool = m_.getOrInsertFunction("dlc_parallel_for", b_.getVoidTy(), ptr_, ptr_, i64_, i64_, i64_, ptr_);
  b_.CreateCall(pool, {rows, fn_->getArg(0), batch_, total, c(grain), hyper});
}

llvm::Value *KernelEmitter::hyperArgument() const {
  if (fn_->arg_size() == 3 && fn_->getArg(2)->getType() == ptr_) return fn_->getArg(2); // an update entry or kernel
  if (fn_->arg_size() == 6) return fn_->getArg(5);                                     // a rows function
  return nullptr;
}

} // namespace dlc
