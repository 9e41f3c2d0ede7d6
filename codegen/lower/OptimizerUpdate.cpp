//===- codegen/lower/OptimizerUpdate.cpp - train_step's fused updates -----===//
//
// After loss_and_grad, train_step updates every param in one loop over its
// elements, reading the hyperparameters at run time from `hyper`
// (HyperIndex, codegen/Layout.h) so that a host can schedule them:
//
//   SGD:  z = g + beta z;  p -= lr (nesterov ? g + beta z : z)
//   Adam: m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
//         p -= lr (c1 m / (sqrt(c2 v) + eps) + wd p)
//
// A param whose gradient is a product split over the thread pool updates
// in the same split (its rows or columns on the thread that wrote them:
// moving a gradient to another core's cache costs more than the update);
// another large param's loop runs on the pool by elements. Elementwise: the
// same values at any thread count.
//
//===----------------------------------------------------------------------===//
#include "codegen/lower/KernelEmitter.h"

namespace dlc {

namespace {
/// Params from this many elements up are updated on the thread pool, in
/// pieces of a multiple of kUpdateGrain elements (4 KiB). SGD takes about
/// 0.2 ns an element on Zen 5; waking a worker on a VM costs tens of
/// microseconds, so smaller params stay on the caller (from 32K elements,
/// cnn's 62,720-element weight made its 2-thread step 20% slower; from 128K,
/// mnist's 200,704-element one still gains: bench/README.md). A param whose
/// gradient product is split updates in that split at any size.
constexpr int64_t kUpdateParallelElements = 1 << 17;
constexpr int64_t kUpdateGrain = 1024;

/// The product that writes a param's gradient: the gradient itself, or the
/// one a penalty's term is added to (dL/dA = dY^T X + c A, one kernel with
/// the addition as its epilogue); null for any other gradient.
const Node *gradientProduct(const Node *grad) {
  if (grad->kind == OpKind::MatMul) return grad;
  if (grad->kind != OpKind::Add) return nullptr;
  for (const Node *o : grad->operands)
    if (o->kind == OpKind::MatMul && o->type == grad->type) return o;
  return nullptr;
}
} // namespace

void KernelEmitter::update(const Node *param, const Node *grad) {
  beginKernel(param->name);
  auto elements = [&](llvm::Value *lo, llvm::Value *hi, llvm::Value *) {
    if (layout_.optimizer == Optimizer::SGD) updateSGD(param, grad, lo, hi);
    else updateAdam(param, grad, lo, hi);
  };
  int64_t count = layout_.slots.at(param).second;
  const Node *product = gradientProduct(grad);
  PoolSplit split = product && param->type.rank() == 2 ? matmulSplit(*product) : PoolSplit{};
  int64_t rows = split.axis ? param->type.shape[0].value() : 0, cols = split.axis ? param->type.shape[1].value() : 0;
  if (split.axis == PoolSplit::Rows) {
    // Rows [lo, hi) of the param, each thread those of the gradient it wrote.
    parallelRows(c(rows),
                 [&](llvm::Value *lo, llvm::Value *hi, llvm::Value *) {
                   elements(b_.CreateMul(lo, c(cols)), b_.CreateMul(hi, c(cols)), nullptr);
                 },
                 split.grain);
  } else if (split.axis == PoolSplit::Columns) {
    // Columns [lo, hi) of every row.
    parallelRows(c(cols),
                 [&](llvm::Value *lo, llvm::Value *hi, llvm::Value *) {
                   loops({c(rows)}, [&](const Index &r) {
                     llvm::Value *row = b_.CreateMul(r[0], c(cols));
                     elements(b_.CreateAdd(row, lo), b_.CreateAdd(row, hi), nullptr);
                   });
                 },
                 split.grain);
  } else if (count >= kUpdateParallelElements) {
    parallelRows(c(count), elements, kUpdateGrain);
  } else {
    elements(c(0), c(count), nullptr);
  }
  endKernel();
}

/// Elements [lo, hi) of the param.
void KernelEmitter::updateSGD(const Node *param, const Node *grad, llvm::Value *lo, llvm::Value *hi) {
  auto h = [&](int i) { return b_.CreateLoad(f32_, b_.CreateGEP(f32_, hyperArgument(), c(i))); };
  auto at = [&](int64_t off) { return b_.CreateGEP(f32_, fn_->getArg(0), c(off)); };
  llvm::Value *p = at(layout_.slots.at(param).first), *g = at(layout_.slots.at(grad).first);
  llvm::Value *z = at(layout_.state.at(param)[0]);
  llvm::Value *lr = h(kLearningRate), *beta = h(kMomentum), *nesterov = b_.CreateFCmpONE(h(kNesterov), cf(0));
  range(lo, hi, [&](llvm::Value *e) {
    Index i{e};
    auto ld = [&](llvm::Value *base) { return b_.CreateLoad(f32_, b_.CreateGEP(f32_, base, i[0])); };
    llvm::Value *gi = ld(g);
    llvm::Value *zi = b_.CreateFAdd(gi, b_.CreateFMul(beta, ld(z)));
    b_.CreateStore(zi, b_.CreateGEP(f32_, z, i[0]));
    llvm::Value *dir = b_.CreateSelect(nesterov, b_.CreateFAdd(gi, b_.CreateFMul(beta, zi)), zi);
    b_.CreateStore(b_.CreateFSub(ld(p), b_.CreateFMul(lr, dir)), b_.CreateGEP(f32_, p, i[0]));
  });
}

void KernelEmitter::updateAdam(const Node *param, const Node *grad, llvm::Value *lo, llvm::Value *hi) {
  auto h = [&](int i) { return b_.CreateLoad(f32_, b_.CreateGEP(f32_, hyperArgument(), c(i))); };
  auto at = [&](int64_t off) { return b_.CreateGEP(f32_, fn_->getArg(0), c(off)); };
  llvm::Value *p = at(layout_.slots.at(param).first), *g = at(layout_.slots.at(grad).first);
  const auto &state = layout_.state.at(param);
  llvm::Value *lr = h(kLearningRate);
  llvm::Value *b1 = h(kBeta1), *b2 = h(kBeta2), *eps = h(kEpsilon), *c1 = h(kCorrection1), *c2 = h(kCorrection2),
              *wd = h(kWeightDecay);
  llvm::Value *mBuf = at(state[0]), *vBuf = at(state[1]);
  range(lo, hi, [&](llvm::Value *e) {
    Index i{e};
    auto ptr = [&](llvm::Value *base) { return b_.CreateGEP(f32_, base, i[0]); };
    llvm::Value *gi = b_.CreateLoad(f32_, ptr(g)), *pi = b_.CreateLoad(f32_, ptr(p));
    llvm::Value *mi = b_.CreateFAdd(b_.CreateFMul(b1, b_.CreateLoad(f32_, ptr(mBuf))), b_.CreateFMul(b_.CreateFSub(cf(1), b1), gi));
    llvm::Value *vi = b_.CreateFAdd(b_.CreateFMul(b2, b_.CreateLoad(f32_, ptr(vBuf))),
                                    b_.CreateFMul(b_.CreateFSub(cf(1), b2), b_.CreateFMul(gi, gi)));
    b_.CreateStore(mi, ptr(mBuf));
    b_.CreateStore(vi, ptr(vBuf));
    llvm::Value *denom = b_.CreateFAdd(math_.intrinsic(llvm::Intrinsic::sqrt, b_.CreateFMul(c2, vi)), eps);
    llvm::Value *step = b_.CreateFAdd(b_.CreateFDiv(b_.CreateFMul(c1, mi), denom), b_.CreateFMul(wd, pi));
    b_.CreateStore(b_.CreateFSub(pi, b_.CreateFMul(lr, step)), ptr(p));
  });
}

} // namespace dlc
