//===- codegen/lower/Slices.cpp - Literals, slice, concat, dropout masks --===//
//
// A literal's elements are a private constant array of the module, copied
// into the literal's buffer by its kernel. slice reads its operand at the
// result's index shifted by `start` along the axis; concat is two loop nests,
// one per operand, each writing its part of the result.
//
//===----------------------------------------------------------------------===//
#include "codegen/lower/KernelEmitter.h"

#include "ir/DropoutMask.h"

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
  Dims xs = stridesOf(shape(x)), ys = stridesOf(shape(&n));
  llvm::Value *base = b_.CreateMul(c(n.attrs.getInt("start")), xs[axis]);
  loops(shape(&n), [&](const Index &idx) {
    store(&n, offset(idx, ys), load(x, b_.CreateAdd(base, offset(idx, xs))));
  });
}

/// y = [a, b] along the axis: a's part at offset 0, b's after a's extent.
void KernelEmitter::lowerConcat(const Node &n) {
  auto axis = size_t(n.attrs.getInt("axis"));
  Dims ys = stridesOf(shape(&n));
  llvm::Value *at = c(0);
  for (const Node *part : n.operands) {
    Dims ps = stridesOf(shape(part));
    loops(shape(part), [&](const Index &idx) {
      store(&n, b_.CreateAdd(at, offset(idx, ys)), valueAt(part, idx, ps));
    });
    at = b_.CreateAdd(at, b_.CreateMul(c(part->shape()[axis].value()), ys[axis]));
  }
}

/// 1 in forward; in a training entry 0 or 1 / (1 - p) per element, drawn as
/// ir/DropoutMask.h says from the key the runtime stored in the arena.
void KernelEmitter::lowerDropoutMask(const Node &n) {
  float p = float(n.attrs.getFloat("p"));
  if (!training_ || layout_.dropoutKeyOffset < 0) {
    elementwise(n, {}, [&](const std::vector<llvm::Value *> &) { return cf(1.0); });
    return;
  }
  llvm::Type *i32 = b_.getInt32Ty();
  llvm::Value *key = b_.CreateLoad(i32, b_.CreateGEP(f32_, fn_->getArg(0), c(layout_.dropoutKeyOffset)), "key");
  auto u32 = [&](uint32_t v) { return b_.getInt32(v); };
  llvm::Value *salted = b_.CreateXor(key, u32(uint32_t(n.attrs.getInt("salt")) * kDropoutSaltMul));
  llvm::Value *scale = cf(1.0f / (1.0f - p));
  loops({product(shape(&n))}, [&](const Index &i) {
    llvm::Value *x = b_.CreateAdd(b_.CreateMul(b_.CreateTrunc(i[0], i32), u32(kDropoutIndexMul)), salted);
    x = b_.CreateXor(x, b_.CreateLShr(x, 16));
    x = b_.CreateMul(x, u32(kDropoutMix1));
    x = b_.CreateXor(x, b_.CreateLShr(x, 15));
    x = b_.CreateMul(x, u32(kDropoutMix2));
    x = b_.CreateXor(x, b_.CreateLShr(x, 16));
    llvm::Value *u = b_.CreateFMul(b_.CreateUIToFP(b_.CreateLShr(x, 8), f32_), cf(1.0 / 16777216.0));
    store(&n, i[0], b_.CreateSelect(b_.CreateFCmpOGE(u, cf(p)), scale, cf(0.0)));
  });
}

} // namespace dlc
