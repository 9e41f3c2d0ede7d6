//===- passes/MatrixChain.h - Cheapest bracketing of a matrix product -----===//
#pragma once

#include <cstdint>
#include <utility>
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

/// Costs saturate here instead of overflowing (extents reach 2^31).
inline constexpr int64_t kMaxChainCost = INT64_MAX / 4;
/// a + b, saturating at kMaxChainCost.
inline int64_t addCost(int64_t a, int64_t b) { return a >= kMaxChainCost - b ? kMaxChainCost : a + b; }
/// Multiplies needed for a p x q times q x r product (saturating).
inline int64_t productCost(int64_t p, int64_t q, int64_t r) {
  int64_t pq, pqr;
  if (__builtin_mul_overflow(p, q, &pq) || __builtin_mul_overflow(pq, r, &pqr) || pqr > kMaxChainCost) return kMaxChainCost;
  return pqr;
}

/// The exact order (O(n^3) time, O(n^2) memory): for chains of up to
/// kMaxExactChain factors (ir/Limits.h).
ChainOrder solveChainOrder(const std::vector<ChainFactor> &factors);
/// A fast order for longer chains (O(n log n)): repeatedly multiply the
/// adjacent pair that costs least. Not optimal (only fast); the pass keeps
/// the order as written when that is cheaper.
struct GreedyChainOrder {
  int64_t cost = 0;
  /// In order: (i, j) multiplies the partial product that starts at factor i
  /// by the one that starts at factor j (its right neighbour).
  std::vector<std::pair<size_t, size_t>> merges;
};
GreedyChainOrder greedyChainOrder(const std::vector<ChainFactor> &factors);

/// Cost of multiplying left to right, ((F1 F2) F3) ... Fn.
int64_t leftToRightCost(const std::vector<ChainFactor> &factors);

} // namespace dlc
