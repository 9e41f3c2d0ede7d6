//===- codegen/lower/Outlining.cpp - Loop bodies for the thread pool ------===//
//
// A parallel loop becomes a function of its own,
//   void NAME.rowsK(float *arena, int64_t n, int64_t lo, int64_t hi, int64_t tid),
// and, where the loop was, a call that has the pool (dlc_parallel_for in
// runtime/model_runtime.c) run it over [0, total) in pieces of `grain`. The
// outlined function binds the entry's buffers and extents anew, so the body
// emits exactly as it would inline.
//
//===----------------------------------------------------------------------===//
#include "codegen/lower/KernelEmitter.h"

namespace dlc {

void KernelEmitter::parallelRows(llvm::Value *total, const RowsBody &body, int64_t grain) {
  llvm::Function *outer = fn_;
  llvm::IRBuilderBase::InsertPoint ip = b_.saveIP();
  auto savedBuffers = buffers_;
  auto savedShapes = shapes_;
  llvm::Value *savedBatch = batch_;
  auto *type = llvm::FunctionType::get(b_.getVoidTy(), {ptr_, i64_, i64_, i64_, i64_}, false);
  auto *rows = llvm::Function::Create(type, llvm::Function::InternalLinkage,
                                      outer->getName() + ".rows" + std::to_string(rowFunctions_++), m_);
  rows->addParamAttr(0, llvm::Attribute::NoAlias);
  fn_ = rows;
  batch_ = rows->getArg(1);
  b_.SetInsertPoint(llvm::BasicBlock::Create(ctx_, "entry", rows));
  bind();
  body(rows->getArg(2), rows->getArg(3), rows->getArg(4));
  b_.CreateRetVoid();
  fn_ = outer;
  batch_ = savedBatch;
  buffers_ = std::move(savedBuffers);
  shapes_ = std::move(savedShapes);
  b_.restoreIP(ip);
  auto pool = m_.getOrInsertFunction("dlc_parallel_for", b_.getVoidTy(), ptr_, ptr_, i64_, i64_, i64_);
  b_.CreateCall(pool, {rows, fn_->getArg(0), batch_, total, c(grain)});
}

} // namespace dlc
