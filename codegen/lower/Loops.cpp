//===- codegen/lower/Loops.cpp --------------------------------------------===//
#include "codegen/lower/Loops.h"

#include <string>

namespace dlc {

void forRange(llvm::IRBuilder<> &b, llvm::Value *begin, llvm::Value *end, const LoopOptions &options,
              const std::function<void(llvm::Value *)> &body) {
  llvm::Function *fn = b.GetInsertBlock()->getParent();
  llvm::LLVMContext &ctx = fn->getContext();
  llvm::BasicBlock *pre = b.GetInsertBlock();
  auto *loop = llvm::BasicBlock::Create(ctx, options.name, fn);
  auto *exit = llvm::BasicBlock::Create(ctx, std::string(options.name) + ".exit", fn);
  b.CreateCondBr(b.CreateICmpSLT(begin, end), loop, exit);
  b.SetInsertPoint(loop);
  llvm::PHINode *i = b.CreatePHI(b.getInt64Ty(), 2, "i");
  i->addIncoming(begin, pre);
  body(i);
  llvm::Value *next = b.CreateAdd(i, b.getInt64(options.step), "", true, true);
  i->addIncoming(next, b.GetInsertBlock());
  llvm::BranchInst *latch = b.CreateCondBr(b.CreateICmpSLT(next, end), loop, exit);
  if (options.scalar) {
    llvm::Metadata *off[] = {llvm::MDString::get(ctx, "llvm.loop.vectorize.enable"),
                             llvm::ConstantAsMetadata::get(b.getFalse())};
    llvm::MDNode *self = llvm::MDNode::getDistinct(ctx, {nullptr, llvm::MDNode::get(ctx, off)});
    self->replaceOperandWith(0, self);
    latch->setMetadata(llvm::LLVMContext::MD_loop, self);
  }
  b.SetInsertPoint(exit);
}

void forEachIndex(llvm::IRBuilder<> &b, llvm::ArrayRef<llvm::Value *> bounds,
                  const std::function<void(const std::vector<llvm::Value *> &)> &body) {
  std::vector<llvm::Value *> index;
  std::function<void(size_t)> level = [&](size_t d) {
    if (d == bounds.size()) return body(index);
    forRange(b, b.getInt64(0), bounds[d], [&](llvm::Value *i) {
      index.push_back(i);
      level(d + 1);
      index.pop_back();
    });
  };
  level(0);
}

} // namespace dlc
