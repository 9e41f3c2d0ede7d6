//===- frontend/TensorSyntax.h - Tensor literals and indexing of .net -----===//
//
// `[[1, 2], [3, 4]]` in an expression is a tensor literal (a `literal` op of
// shape [2, 2]); `x[1:3]`, `x[0]`, `x[:, 2]` select along the leading
// per-sample axes (`slice` ops, then a reshape that drops the indexed axes).
// Both check their shapes and bounds and report at the offending element.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "frontend/AST.h"
#include "ir/Builder.h"

namespace dlc {

/// The literal tensor written by a (nested) list; null after an error.
Node *lowerTensorLiteral(IRBuilder &b, const Expr &list);
/// A literal of `shape` from a list: nested like the shape, or flat with
/// the shape's element count (`const W : [2, 2] = [1, 2, 3, 4]`).
Node *lowerShapedConstant(IRBuilder &b, const Expr &list, const Shape &shape, const SourceLoc &shapeLoc);
/// x[items] for the Index expression `e` whose base `x` is lowered already.
Node *lowerIndex(IRBuilder &b, Node *x, const Expr &e);

} // namespace dlc
