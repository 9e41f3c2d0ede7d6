//===- frontend/BatchNorm.cpp - batch_norm: statistics, state and modes ---===//
//
// batch_norm(x, momentum = 0.1, eps = 1e-5) normalizes per feature of a
// vector [F] or per channel of an image [C, H, W]; its statistics run over
// the batch (and H and W). It is the language's one layer with model state
// and a mode (docs/modes-and-state.md):
//
//   train (loss_and_grad, train_step):  (x - mu) / sqrt(var + eps), mu and
//       var the batch's (batch_mean; var biased), and after the loss the
//       running statistics move toward the batch's:
//         running_mean <- (1 - momentum) running_mean + momentum mu
//         running_var  <- (1 - momentum) running_var  + momentum var_unbiased
//   infer (forward):  (x - running_mean) / sqrt(running_var + eps)
//
// as PyTorch's BatchNorm1d/2d do. The two are one select_mode; the running
// statistics are `state` leaves (zeros and ones at create) named
// bnK.running_mean and bnK.running_var, K counting batch norms in source
// order. A learnable scale and shift are the user's own params, as for
// layer_norm: `batch_norm(x) * g + b` (g, b of shape [F], or [C, 1, 1]).
//
//===----------------------------------------------------------------------===//
#include "frontend/Builtins.h"

#include <fmt/format.h>

namespace dlc {

namespace {

/// A keyword argument that must be a constant passing `valid`; `dflt` when absent.
std::optional<double> constantKeyword(IRBuilder &b, const BuiltinCall &c, const char *key, double dflt,
                                      bool (*valid)(double), const char *what) {
  auto it = c.keywords.find(key);
  if (it == c.keywords.end()) return dflt;
  auto v = IRBuilder::constantValue(it->second);
  if (!v || !valid(*v)) {
    b.diags.error(c.keywordExprs.at(key)->loc, "batch_norm's '{}' must be {}", key, what);
    return std::nullopt;
  }
  return v;
}

} // namespace

Node *lowerBatchNorm(IRBuilder &b, const BuiltinCall &c) {
  Node *x = c.args[0];
  auto momentum = constantKeyword(b, c, "momentum", 0.1, [](double v) { return v >= 0 && v <= 1; },
                                  "a constant in [0, 1] (the weight of each batch in the running statistics)");
  auto eps = constantKeyword(b, c, "eps", 1e-5, [](double v) { return v > 0; }, "a positive constant");
  if (!x || !momentum || !eps) return nullptr;
  int64_t rank = x->type.rank();
  if ((rank != 1 && rank != 3) || !isKnown(x->shape())) {
    b.diags.error(c.argExprs[0]->loc,
                  "batch_norm normalizes a vector [F] (per feature) or an image [C, H, W] (per channel), got {}",
                  shapeStr(x->shape()));
    return nullptr;
  }
  const SourceLoc &loc = c.expr.loc;
  Dim channels = x->shape()[0];
  Attrs over = axesAttr("axes", rank == 3 ? std::vector<int64_t>{1, 2} : std::vector<int64_t>{});
  // A per-channel [C] statistic against x: [C, 1, 1] for an image.
  auto spread = [&](Node *s) {
    return rank == 3 ? b.op(OpKind::Reshape, {s}, loc, axesAttr("shape", {channels.value(), 1, 1})) : s;
  };
  auto normalize = [&](Node *centered, Node *var) {
    Node *scale = b.op(OpKind::Sqrt, {b.op(OpKind::Add, {var, b.scalar(*eps, loc)}, loc)}, loc);
    return b.op(OpKind::Div, {centered, spread(scale)}, loc);
  };
  Attrs square;
  square.set("exponent", 2.0);

  Node *mean = b.op(OpKind::BatchMean, {x}, loc, over);
  Node *centered = b.op(OpKind::Sub, {x, spread(mean)}, loc);
  Node *deviation = b.op(OpKind::Pow, {centered}, loc, square);
  Node *var = b.op(OpKind::BatchMean, {deviation}, loc, over);
  Attrs unbiased = over;
  unbiased.set("ddof", int64_t(1));
  Node *sampleVar = b.op(OpKind::BatchMean, {deviation}, loc, unbiased);

  std::string layer = fmt::format("bn{}", b.graph.nodesOfKind(OpKind::State).size() / 2 + 1);
  auto state = [&](const char *what, const char *init) {
    Attrs a;
    a.set("init", std::string(init));
    return b.graph.add(OpKind::State, {}, std::move(a), {DType::F32, {channels}}, layer + "." + what, loc);
  };
  Node *runningMean = state("running_mean", "zeros"), *runningVar = state("running_var", "ones");
  Node *inferred = normalize(b.op(OpKind::Sub, {x, spread(runningMean)}, loc), runningVar);
  Node *y = b.op(OpKind::SelectMode, {normalize(centered, var), inferred}, loc);

  auto toward = [&](Node *running, Node *batch) {
    Node *kept = b.op(OpKind::Mul, {running, b.scalar(1 - *momentum, loc)}, loc);
    return b.op(OpKind::Add, {kept, b.op(OpKind::Mul, {batch, b.scalar(*momentum, loc)}, loc)}, loc);
  };
  Node *newMean = toward(runningMean, mean), *newVar = toward(runningVar, sampleVar);
  if (!y || !newMean || !newVar) return nullptr;
  b.graph.addResult(Role::Update, newMean, loc, runningMean);
  b.graph.addResult(Role::Update, newVar, loc, runningVar);
  return y;
}

} // namespace dlc
