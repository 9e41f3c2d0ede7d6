//===- passes/MatrixChain.h - Cheapest bracketing of a matrix product -----===//
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dlc {

/// The shape of one factor of a chain: rows x cols (a row vector is 1 x k,
/// a column vector k x 1).
struct ChainFactor {
  int64_t rows, cols;
};

/// The cheapest way to multiply a chain, by dynamic programming.
struct ChainOrder {
  int64_t cost = 0; ///< scalar multiplies
  /// split[i][j]: the product of factors i..j is (i..split)(split+1..j).
  std::vector<std::vector<size_t>> split;

  /// The bracketing with the given factor names, e.g. "A3 (A2 (A1 v))".
  std::string bracketing(const std::vector<std::string> &names) const;
};

/// Multiplies needed for a p x q times q x r product.
inline int64_t productCost(int64_t p, int64_t q, int64_t r) { return p * q * r; }

ChainOrder solveChainOrder(const std::vector<ChainFactor> &factors);

/// Cost of multiplying left to right, ((F1 F2) F3) ... Fn.
int64_t leftToRightCost(const std::vector<ChainFactor> &factors);

} // namespace dlc
