//===- ir/ScalarOps.cpp - One function per elementwise row ----------------===//
//
// F64 has a member named after each elementwise row of Ops.def; the switches
// below are generated from the table, so a new row without its function here
// does not compile.
//
//===----------------------------------------------------------------------===//
#include "ir/ScalarOps.h"

#include <cmath>

namespace dlc {

namespace {

struct F64 {
  static double Neg(double x, const Attrs &) { return -x; }
  static double Exp(double x, const Attrs &) { return std::exp(x); }
  static double Log(double x, const Attrs &) { return std::log(x); }
  static double Sqrt(double x, const Attrs &) { return std::sqrt(x); }
  static double Abs(double x, const Attrs &) { return std::fabs(x); }
  static double Sign(double x, const Attrs &) { return double((x > 0) - (x < 0)); }
  static double Tanh(double x, const Attrs &) { return std::tanh(x); }
  static double Sigmoid(double x, const Attrs &) { return 1 / (1 + std::exp(-x)); }
  static double Relu(double x, const Attrs &) { return x > 0 ? x : 0; }
  static double Pow(double x, const Attrs &a) { return std::pow(x, a.getFloat("exponent")); }

  static double Add(double x, double y) { return x + y; }
  static double Sub(double x, double y) { return x - y; }
  static double Mul(double x, double y) { return x * y; }
  static double Div(double x, double y) { return x / y; }
  static double Max(double x, double y) { return x > y ? x : y; } // y when either is NaN, as the lowering
  static double Gt(double x, double y) { return x > y ? 1 : 0; }
  static double Eq(double x, double y) { return x == y ? 1 : 0; }
};

} // namespace

double evalUnary(OpKind kind, double x, const Attrs &attrs) {
  switch (kind) {
#define OP(Enum, Mnemonic, Arity, Shape, Flags)
#define UNARY_OP(Enum, Mnemonic, Flags) \
  case OpKind::Enum: return F64::Enum(x, attrs);
#define BINARY_OP(Enum, Mnemonic, Flags)
#include "ir/Ops.def"
  default: return NAN;
  }
}

double evalBinary(OpKind kind, double x, double y) {
  switch (kind) {
#define OP(Enum, Mnemonic, Arity, Shape, Flags)
#define UNARY_OP(Enum, Mnemonic, Flags)
#define BINARY_OP(Enum, Mnemonic, Flags) \
  case OpKind::Enum: return F64::Enum(x, y);
#include "ir/Ops.def"
  default: return NAN;
  }
}

double evalElementwise(OpKind kind, std::span<const double> operands, const Attrs &attrs) {
  if (operands.size() == 1) return evalUnary(kind, operands[0], attrs);
  if (operands.size() == 2) return evalBinary(kind, operands[0], operands[1]);
  return NAN;
}

} // namespace dlc
