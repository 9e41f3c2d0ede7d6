//===- passes/JacobianPlan.h - Forward, reverse or mixed: a Jacobian's order -===//
//
// The Jacobian of a composition is a product of factors, J = F_1 F_2 ... F_n
// (F_1 next to the output): dense matrices (the weights) and diagonal ones
// (an elementwise op's derivative, e.g. D = diag(relu'(z))). Forward mode
// multiplies from the input side, F_1 (F_2 (... F_n)); reverse mode from the
// output side, ((F_1 F_2) ...) F_n; any other bracketing is mixed. The plan
// is the cheapest bracketing by dynamic programming, where a product with a
// diagonal factor costs rows x cols multiplies (a scaling), not rows x k x cols.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "passes/MatrixChain.h"

namespace dlc {

struct JacobianFactor {
  int64_t rows, cols;
  bool diagonal = false; ///< rows == cols, stored as its diagonal
};

enum class JacobianMode { Forward, Reverse, Mixed };
const char *modeName(JacobianMode m);
std::optional<JacobianMode> parseJacobianMode(std::string_view s);

struct JacobianPlan {
  JacobianMode mode = JacobianMode::Reverse;
  ChainOrder order;        ///< the chosen bracketing and its cost in multiplies
  int64_t forwardCost = 0; ///< F_1 (F_2 (... F_n))
  int64_t reverseCost = 0; ///< ((F_1 F_2) ...) F_n
};

/// Multiplies of (rows x k) times (k x cols) where either side may be diagonal.
int64_t factorProductCost(int64_t rows, int64_t k, int64_t cols, bool leftDiagonal, bool rightDiagonal);

/// The cheapest plan, or the pure mode `force` asks for. A pure mode that
/// ties with the cheapest bracketing is chosen over a mixed one (reverse first).
JacobianPlan planJacobian(const std::vector<JacobianFactor> &factors, std::optional<JacobianMode> force = {});

/// The cost of a bracketing given as ChainOrder splits.
int64_t bracketingCost(const std::vector<JacobianFactor> &factors, const ChainOrder &order);

} // namespace dlc
