//===- codegen/lower/Slices.cpp - Literal tensors, slice and concat -------===//
//
// A literal's elements are a private constant array of the module, copied
// into the literal's buffer by its kernel. slice reads its operand at the
// result's index shifted by `start` along the axis; concat is two loop nests,
// one per operand, each writing its part of the result.
//
//===----------------------------------------------------------------------===//
#include "codegen/lower/KernelEmitter.h"

#include <llvm/IR/Constants.h>
#include <llvm/IR/GlobalVariable.h>

namespace dlc {

void KernelEmitter::lowerLiteral(const Node &n) {
  std::vector<float> values;
  for (double v : n.attrs.getFloats("values")) values.push_back(float(v));
  auto *data = llvm::ConstantDataArray::get(ctx_, values);
  auto *global = new llvm::GlobalVariable(m_, data->getType(), /*isConstant=*/true,
                                          llvm::GlobalValue::PrivateLinkage, data, "literal");
  global->setUnnamedAddr(llvm::GlobalValue::UnnamedAddr::Global);
  loops({c(int64_t(values.size()))}, [&](const Index &i) {
    store(&n, i[0], b_.CreateLoad(f32_, b_.CreateGEP(f32_, global, i[0])));
  });
}

/// y[.., i, ..] = x[.., start + i, ..]
void KernelEmitter::lowerSlice(const Node &n) {
  const Node *x = n.operands[0];
  auto axis = size_t(n.attrs.getInt("axis"));
  Dims xs = stridesOf(shapes_.at(x)), ys = stridesOf(shapes_.at(&n));
  llvm::Value *base = b_.CreateMul(c(n.attrs.getInt("start")), xs[axis]);
  loops(shapes_.at(&n), [&](const Index &idx) {
    store(&n, offset(idx, ys), load(x, b_.CreateAdd(base, offset(idx, xs))));
  });
}

/// y = [a, b] along the axis: a's part at offset 0, b's after a's extent.
void KernelEmitter::lowerConcat(const Node &n) {
  auto axis = size_t(n.attrs.getInt("axis"));
  Dims ys = stridesOf(shapes_.at(&n));
  llvm::Value *at = c(0);
  for (const Node *part : n.operands) {
    Dims ps = stridesOf(shapes_.at(part));
    loops(shapes_.at(part), [&](const Index &idx) {
      store(&n, b_.CreateAdd(at, offset(idx, ys)), valueAt(part, idx, ps));
    });
    at = b_.CreateAdd(at, b_.CreateMul(c(part->shape()[axis].value()), ys[axis]));
  }
}

} // namespace dlc
