//===- ir/ModeShapes.cpp - Result types of select_mode and batch_mean -----===//
//
// select_mode(train, infer) has the type of both operands (they must agree:
// one value, computed two ways). batch_mean(x) {axes, ddof} removes `axes`
// like reduce_sum; the batch it also averages over is implicit (the batch
// pass makes it explicit), so the result has no batch dim of its own.
//
//===----------------------------------------------------------------------===//
#include <fmt/format.h>

#include "ir/ShapeRules.h"

namespace dlc {

TypeOrError inferSelectMode(OpKind, const std::vector<TensorType> &ops, const Attrs &) {
  if (ops[0] != ops[1])
    return TypeOrError::fail(
        fmt::format("'select_mode' needs operands of one type, got {} and {}", ops[0].str(), ops[1].str()));
  return {ops[0], {}};
}

TypeOrError inferBatchMean(OpKind kind, const std::vector<TensorType> &ops, const Attrs &attrs) {
  int64_t ddof = attrs.getInt("ddof", 0);
  if (ddof < 0 || ddof > 1) return TypeOrError::fail(fmt::format("'batch_mean' takes ddof 0 or 1, got {}", ddof));
  for (const Dim &d : ops[0].shape)
    if (d.isSymbolic())
      return TypeOrError::fail(fmt::format("'batch_mean' takes a per-sample value, got {}", ops[0].str()));
  return inferReduce(kind, ops, attrs);
}

} // namespace dlc
