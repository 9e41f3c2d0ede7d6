//===- ir/ScalarOps.h - What each elementwise op computes, in double ------===//
//
// The scalar semantics of every elementwise row of the op table, written
// once: the interpreter evaluates tensors with them and constant folding
// (the builder and the simplify pass) folds constants with them. The float
// lowering (codegen/lower/ScalarMath.h) is the same list emitted as LLVM IR;
// tests/unit/OpTableTest.cpp holds the two to each other.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <span>

#include "ir/Attributes.h"
#include "ir/Op.h"

namespace dlc {

/// op(x) for a one-operand elementwise op (`attrs` are the node's, e.g. pow's
/// exponent); NaN for any other kind.
double evalUnary(OpKind kind, double x, const Attrs &attrs);
/// op(x, y) for a two-operand elementwise op; NaN for any other kind.
double evalBinary(OpKind kind, double x, double y);
/// Either of the above by the op's arity (`operands` holds one or two values).
double evalElementwise(OpKind kind, std::span<const double> operands, const Attrs &attrs);

} // namespace dlc
