//===- passes/JacobianPlan.cpp - Cheapest bracketing of a Jacobian chain --===//
#include "passes/JacobianPlan.h"

#include <functional>
#include <limits>

namespace dlc {

const char *modeName(JacobianMode m) {
  switch (m) {
  case JacobianMode::Forward: return "forward";
  case JacobianMode::Reverse: return "reverse";
  case JacobianMode::Mixed: return "mixed";
  }
  return "?";
}

std::optional<JacobianMode> parseJacobianMode(std::string_view s) {
  for (JacobianMode m : {JacobianMode::Forward, JacobianMode::Reverse, JacobianMode::Mixed})
    if (s == modeName(m)) return m;
  return std::nullopt;
}

int64_t factorProductCost(int64_t rows, int64_t k, int64_t cols, bool leftDiagonal, bool rightDiagonal) {
  if (leftDiagonal && rightDiagonal) return rows; // diag times diag
  if (leftDiagonal || rightDiagonal) return rows * cols;
  return rows * k * cols;
}

namespace {

/// A product of factors i..j: its extent, whether it stays diagonal, its cost.
struct Span {
  int64_t rows, cols;
  bool diagonal;
  int64_t cost;
};

Span combine(const Span &l, const Span &r) {
  return {l.rows, r.cols, l.diagonal && r.diagonal,
          l.cost + r.cost + factorProductCost(l.rows, l.cols, r.cols, l.diagonal, r.diagonal)};
}

Span leaf(const JacobianFactor &f) { return {f.rows, f.cols, f.diagonal, 0}; }

/// Splits of a pure mode: forward (i)(i+1..j), reverse (i..j-1)(j).
ChainOrder pureOrder(size_t n, bool forward) {
  ChainOrder o;
  o.split.assign(n, std::vector<size_t>(n, 0));
  for (size_t i = 0; i < n; ++i)
    for (size_t j = i + 1; j < n; ++j) o.split[i][j] = forward ? i : j - 1;
  return o;
}

} // namespace

int64_t bracketingCost(const std::vector<JacobianFactor> &f, const ChainOrder &order) {
  std::function<Span(size_t, size_t)> go = [&](size_t i, size_t j) {
    if (i == j) return leaf(f[i]);
    size_t s = order.split[i][j];
    return combine(go(i, s), go(s + 1, j));
  };
  return f.empty() ? 0 : go(0, f.size() - 1).cost;
}

JacobianPlan planJacobian(const std::vector<JacobianFactor> &f, std::optional<JacobianMode> force) {
  size_t n = f.size();
  JacobianPlan plan;
  ChainOrder forward = pureOrder(n, true), reverse = pureOrder(n, false);
  forward.cost = plan.forwardCost = bracketingCost(f, forward);
  reverse.cost = plan.reverseCost = bracketingCost(f, reverse);

  ChainOrder best;
  best.split.assign(n, std::vector<size_t>(n, 0));
  std::vector<std::vector<Span>> span(n, std::vector<Span>(n));
  for (size_t i = 0; i < n; ++i) span[i][i] = leaf(f[i]);
  for (size_t len = 2; len <= n; ++len)
    for (size_t i = 0; i + len <= n; ++i) {
      size_t j = i + len - 1;
      span[i][j].cost = std::numeric_limits<int64_t>::max();
      for (size_t s = i; s < j; ++s) {
        Span c = combine(span[i][s], span[s + 1][j]);
        if (c.cost < span[i][j].cost) {
          span[i][j] = c;
          best.split[i][j] = s;
        }
      }
    }
  best.cost = n ? span[0][n - 1].cost : 0;

  if (force == JacobianMode::Forward || (!force && best.cost == forward.cost && forward.cost < reverse.cost)) {
    plan.mode = JacobianMode::Forward;
    plan.order = forward;
  } else if (force == JacobianMode::Reverse || (!force && best.cost == reverse.cost)) {
    plan.mode = JacobianMode::Reverse;
    plan.order = reverse;
  } else {
    plan.mode = JacobianMode::Mixed;
    plan.order = best;
  }
  return plan;
}

} // namespace dlc
