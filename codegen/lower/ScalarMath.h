//===- codegen/lower/ScalarMath.h - Float math as inline LLVM IR ----------===//
//
// The float version of ir/ScalarOps.h: every elementwise row of the op table
// emitted as LLVM IR on one element (or one vector lane: the code is
// straight-line, so loops over it vectorize). e^x and tanh are polynomials,
// not libm calls, for that reason.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <llvm/ADT/ArrayRef.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>

#include "ir/Attributes.h"
#include "ir/Op.h"

namespace dlc {

class ScalarMath {
public:
  explicit ScalarMath(llvm::IRBuilder<> &b) : b(b) {}

  /// Elementwise row `kind` on one or two f32 values (`attrs` are the node's).
  /// Null for a kind that is not elementwise.
  llvm::Value *elementwise(OpKind kind, llvm::ArrayRef<llvm::Value *> operands, const Attrs &attrs);

  llvm::Value *constant(double v) { return llvm::ConstantFP::get(b.getFloatTy(), v); }
  /// A call of a one- or two-operand f32 intrinsic (sqrt, fabs, copysign, ...).
  llvm::Value *intrinsic(llvm::Intrinsic::ID id, llvm::Value *x);
  llvm::Value *intrinsic(llvm::Intrinsic::ID id, llvm::Value *x, llvm::Value *y);
  /// e^x in about 2 ulp: 0 below the float range, +inf above, NaN stays.
  llvm::Value *exp(llvm::Value *x);
  /// tanh x, through exp(-2|x|), with a Taylor polynomial near 0.
  llvm::Value *tanh(llvm::Value *x);

  llvm::IRBuilder<> &b;
};

} // namespace dlc
