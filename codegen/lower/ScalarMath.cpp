//===- codegen/lower/ScalarMath.cpp ---------------------------------------===//
//
// F32 has a member named after each elementwise row of Ops.def, the float
// counterpart of ir/ScalarOps.cpp's F64; the switch in elementwise() is
// generated from the table, so a new row without its lowering here does not
// compile.
//
//===----------------------------------------------------------------------===//
#include "codegen/lower/ScalarMath.h"

#include <cmath>

namespace dlc {

namespace {

using V = llvm::Value *;

struct F32 {
  static V Neg(ScalarMath &m, V x, const Attrs &) { return m.b.CreateFNeg(x); }
  static V Exp(ScalarMath &m, V x, const Attrs &) { return m.exp(x); }
  static V Log(ScalarMath &m, V x, const Attrs &) { return m.intrinsic(llvm::Intrinsic::log, x); }
  static V Sqrt(ScalarMath &m, V x, const Attrs &) { return m.intrinsic(llvm::Intrinsic::sqrt, x); }
  static V Abs(ScalarMath &m, V x, const Attrs &) { return m.intrinsic(llvm::Intrinsic::fabs, x); }
  static V Sign(ScalarMath &m, V x, const Attrs &) { // (x > 0) - (x < 0)
    llvm::Type *f32 = m.b.getFloatTy();
    return m.b.CreateFSub(m.b.CreateUIToFP(m.b.CreateFCmpOGT(x, m.constant(0)), f32),
                          m.b.CreateUIToFP(m.b.CreateFCmpOLT(x, m.constant(0)), f32));
  }
  static V Tanh(ScalarMath &m, V x, const Attrs &) { return m.tanh(x); }
  static V Sigmoid(ScalarMath &m, V x, const Attrs &) { // 1 / (1 + e^-x)
    return m.b.CreateFDiv(m.constant(1), m.b.CreateFAdd(m.constant(1), m.exp(m.b.CreateFNeg(x))));
  }
  static V Relu(ScalarMath &m, V x, const Attrs &) {
    return m.b.CreateSelect(m.b.CreateFCmpOGT(x, m.constant(0)), x, m.constant(0));
  }
  static V Pow(ScalarMath &m, V x, const Attrs &a) {
    double p = a.getFloat("exponent");
    if (p == 2) return m.b.CreateFMul(x, x);
    return m.intrinsic(llvm::Intrinsic::pow, x, m.constant(p));
  }

  static V Add(ScalarMath &m, V x, V y) { return m.b.CreateFAdd(x, y); }
  static V Sub(ScalarMath &m, V x, V y) { return m.b.CreateFSub(x, y); }
  static V Mul(ScalarMath &m, V x, V y) { return m.b.CreateFMul(x, y); }
  static V Div(ScalarMath &m, V x, V y) { return m.b.CreateFDiv(x, y); }
  static V Max(ScalarMath &m, V x, V y) { return m.b.CreateSelect(m.b.CreateFCmpOGT(x, y), x, y); }
  static V Gt(ScalarMath &m, V x, V y) { return m.b.CreateUIToFP(m.b.CreateFCmpOGT(x, y), m.b.getFloatTy()); }
  static V Eq(ScalarMath &m, V x, V y) { return m.b.CreateUIToFP(m.b.CreateFCmpOEQ(x, y), m.b.getFloatTy()); }
};

} // namespace

llvm::Value *ScalarMath::elementwise(OpKind kind, llvm::ArrayRef<llvm::Value *> v, const Attrs &attrs) {
  switch (kind) {
#define OP(Enum, Mnemonic, Arity, Shape, Flags)
#define UNARY_OP(Enum, Mnemonic, Flags) \
  case OpKind::Enum: return F32::Enum(*this, v[0], attrs);
#define BINARY_OP(Enum, Mnemonic, Flags) \
  case OpKind::Enum: return F32::Enum(*this, v[0], v[1]);
#include "ir/Ops.def"
  default: return nullptr;
  }
}

llvm::Value *ScalarMath::intrinsic(llvm::Intrinsic::ID id, llvm::Value *x) {
  llvm::Module *m = b.GetInsertBlock()->getModule();
  return b.CreateCall(llvm::Intrinsic::getDeclaration(m, id, {b.getFloatTy()}), {x});
}

llvm::Value *ScalarMath::intrinsic(llvm::Intrinsic::ID id, llvm::Value *x, llvm::Value *y) {
  llvm::Module *m = b.GetInsertBlock()->getModule();
  return b.CreateCall(llvm::Intrinsic::getDeclaration(m, id, {b.getFloatTy()}), {x, y});
}

// x = k ln2 + r with |r| <= ln2/2 (ln2 split in two for precision), e^r by
// Cephes' degree-7 polynomial, 2^k built in the exponent bits.
llvm::Value *ScalarMath::exp(llvm::Value *x) {
  auto select = [&](llvm::Value *c, llvm::Value *t, llvm::Value *f) { return b.CreateSelect(c, t, f); };
  llvm::Value *big = b.CreateFCmpOGT(x, constant(88.3762626647949)), *tiny = b.CreateFCmpOLT(x, constant(-87.3365447505531));
  llvm::Value *xc = select(big, constant(88.3762626647949), select(tiny, constant(-87.3365447505531), x));
  llvm::Value *k = intrinsic(llvm::Intrinsic::floor, b.CreateFAdd(b.CreateFMul(xc, constant(1.44269504088896341)), constant(0.5)));
  llvm::Value *r = b.CreateFSub(xc, b.CreateFMul(k, constant(0.693359375)));
  r = b.CreateFAdd(r, b.CreateFMul(k, constant(2.12194440e-4)));
  llvm::Value *p = constant(1.9875691500e-4);
  for (double coef : {1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1})
    p = b.CreateFAdd(b.CreateFMul(p, r), constant(coef));
  p = b.CreateFAdd(b.CreateFAdd(b.CreateFMul(p, b.CreateFMul(r, r)), r), constant(1));
  llvm::Value *bits = b.CreateShl(b.CreateAdd(b.CreateFPToSI(k, b.getInt32Ty()), b.getInt32(127)), 23);
  llvm::Value *e = b.CreateFMul(p, b.CreateBitCast(bits, b.getFloatTy()));
  return select(tiny, constant(0), select(big, constant(INFINITY), e));
}

// tanh x = sign(x) (1 - t) / (1 + t) with t = e^(-2|x|); below |x| = 1/16,
// where 1 - t would cancel, its odd Taylor polynomial (error < 1e-12).
llvm::Value *ScalarMath::tanh(llvm::Value *x) {
  llvm::Value *ax = intrinsic(llvm::Intrinsic::fabs, x);
  llvm::Value *t = exp(b.CreateFMul(ax, constant(-2)));
  llvm::Value *big = b.CreateFDiv(b.CreateFSub(constant(1), t), b.CreateFAdd(constant(1), t));
  big = intrinsic(llvm::Intrinsic::copysign, big, x);
  llvm::Value *x2 = b.CreateFMul(x, x);
  llvm::Value *poly = b.CreateFAdd(constant(2.0 / 15), b.CreateFMul(x2, constant(-17.0 / 315)));
  poly = b.CreateFAdd(constant(-1.0 / 3), b.CreateFMul(x2, poly));
  llvm::Value *small = b.CreateFAdd(x, b.CreateFMul(x, b.CreateFMul(x2, poly)));
  return b.CreateSelect(b.CreateFCmpOLT(ax, constant(0.0625)), small, big);
}

} // namespace dlc
