//===- codegen/lower/Reductions.cpp - Sums, maxima and softmax ------------===//
#include "codegen/lower/KernelEmitter.h"

#include <cmath>

namespace dlc {

/// reduce_sum and reduce_max; batch_mean (in a graph without a batch dim,
/// whose batch is one sample) is the sum scaled by 1 / max(count - ddof, 1).
void KernelEmitter::lowerReduce(const Node &n) {
  const Node *x = n.operands[0];
  double scale = 1;
  if (n.kind == OpKind::BatchMean) {
    double count = double(numElements(x->shape()).value_or(1)) / double(numElements(n.shape()).value_or(1));
    scale = 1.0 / std::max(count - double(n.attrs.getInt("ddof", 0)), 1.0);
  }
  const auto &xs = shape(x);
  std::vector<bool> reduced(xs.size(), false);
  for (int64_t ax : n.attrs.getInts("axes")) reduced[size_t(ax)] = true;
  Dims outer, inner, outerSt, innerSt;
  auto st = stridesOf(xs);
  for (size_t d = 0; d < xs.size(); ++d) {
    (reduced[d] ? inner : outer).push_back(xs[d]);
    (reduced[d] ? innerSt : outerSt).push_back(st[d]);
  }
  bool isMax = n.kind == OpKind::ReduceMax;
  auto combine = [&](llvm::Value *cur, llvm::Value *v) {
    return isMax ? b_.CreateSelect(b_.CreateFCmpOGT(v, cur), v, cur) : b_.CreateFAdd(cur, v);
  };
  auto ost = stridesOf(shape(&n));
  if (xs.empty()) { // a scalar: nothing to reduce
    llvm::Value *v = load(x, c(0));
    store(&n, c(0), scale == 1 ? v : b_.CreateFMul(v, cf(scale)));
    return;
  }
  if (!reduced.back()) {
    // The last axis is kept (a bias gradient: the sum over the batch rows):
    // walk x in memory order and accumulate into the result, whose inner
    // loop is then contiguous in both, instead of striding down columns.
    Dims toOut(xs.size(), c(0));
    for (size_t d = 0, o = 0; d < xs.size(); ++d)
      if (!reduced[d]) toOut[d] = ost[o++];
    loops({product(shape(&n))}, [&](const Index &i) { store(&n, i[0], cf(isMax ? -INFINITY : 0.0)); });
    loops(xs, [&](const Index &i) {
      llvm::Value *at = offset(i, toOut), *v = load(x, offset(i, st)), *cur = load(&n, at);
      store(&n, at, combine(cur, v));
    });
    if (scale != 1)
      loops({product(shape(&n))}, [&](const Index &i) { store(&n, i[0], b_.CreateFMul(load(&n, i[0]), cf(scale))); });
    return;
  }
  // Reduced dims that x walks as one (a bias gradient's [n, 28, 28]) are one
  // loop: 784-element inner loops instead of 28-element ones.
  Dims runs, runSt;
  for (size_t d : mergedRuns(inner, {innerSt}, runs)) runSt.push_back(innerSt[d]);
  inner = runs, innerSt = runSt;
  llvm::Value *acc = b_.CreateAlloca(f32_);
  loops(outer, [&](const Index &o) {
    llvm::Value *base = offset(o, outerSt);
    b_.CreateStore(cf(isMax ? -INFINITY : 0.0), acc);
    loops(inner, [&](const Index &i) {
      llvm::Value *v = load(x, b_.CreateAdd(base, offset(i, innerSt)));
      b_.CreateStore(combine(b_.CreateLoad(f32_, acc), v), acc);
    });
    llvm::Value *total = b_.CreateLoad(f32_, acc);
    store(&n, offset(o, ost), scale == 1 ? total : b_.CreateFMul(total, cf(scale)));
  });
}

/// Per row along the axis: the maximum, the sum of e^(x - max), then
/// e^(x - max) / sum (softmax) or x - max - log(sum) (log_softmax).
void KernelEmitter::lowerSoftmax(const Node &n) {
  const Node *x = n.operands[0];
  const auto &xs = shape(x);
  size_t axis = size_t(n.attrs.getInt("axis"));
  auto st = stridesOf(xs);
  Dims outer, outerSt;
  for (size_t d = 0; d < xs.size(); ++d)
    if (d != axis) outer.push_back(xs[d]), outerSt.push_back(st[d]);
  llvm::Value *mx = b_.CreateAlloca(f32_), *sum = b_.CreateAlloca(f32_);
  bool isLog = n.kind == OpKind::LogSoftmax;
  loops(outer, [&](const Index &o) {
    llvm::Value *base = offset(o, outerSt);
    auto at = [&](const Index &j) { return b_.CreateAdd(base, b_.CreateMul(j[0], st[axis])); };
    b_.CreateStore(cf(-INFINITY), mx);
    b_.CreateStore(cf(0), sum);
    loops({xs[axis]}, [&](const Index &j) {
      llvm::Value *v = load(x, at(j)), *m = b_.CreateLoad(f32_, mx);
      b_.CreateStore(b_.CreateSelect(b_.CreateFCmpOGT(v, m), v, m), mx);
    });
    loops({xs[axis]}, [&](const Index &j) {
      llvm::Value *e = math_.exp(b_.CreateFSub(load(x, at(j)), b_.CreateLoad(f32_, mx)));
      b_.CreateStore(b_.CreateFAdd(b_.CreateLoad(f32_, sum), e), sum);
    });
    llvm::Value *logSum = math_.intrinsic(llvm::Intrinsic::log, b_.CreateLoad(f32_, sum));
    loops({xs[axis]}, [&](const Index &j) {
      llvm::Value *shifted = b_.CreateFSub(load(x, at(j)), b_.CreateLoad(f32_, mx));
      llvm::Value *r = isLog ? b_.CreateFSub(shifted, logSum) : b_.CreateFDiv(math_.exp(shifted), b_.CreateLoad(f32_, sum));
      store(&n, at(j), r);
    });
  });
}

} // namespace dlc
