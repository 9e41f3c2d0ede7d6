//===- tests/unit/ChainOrderTest.cpp - The chain DP is exact ---------------===//
#include <catch2/catch.hpp>

#include <functional>
#include <limits>
#include <random>

#include "TestUtil.h"
#include "ir/Interpreter.h"
#include "passes/MatrixChain.h"
#include "passes/Pass.h"

using namespace dlc;
using namespace dlc::test;

namespace {
/// The cheapest cost over every bracketing, by exhaustive recursion.
int64_t bruteForce(const std::vector<ChainFactor> &f, size_t i, size_t j) {
  if (i == j) return 0;
  int64_t best = std::numeric_limits<int64_t>::max();
  for (size_t s = i; s < j; ++s)
    best = std::min(best, bruteForce(f, i, s) + bruteForce(f, s + 1, j) + f[i].rows * f[s].cols * f[j].cols);
  return best;
}
/// Cost of the bracketing the DP reports, recomputed from its split table.
int64_t costOfSplits(const ChainOrder &o, const std::vector<ChainFactor> &f, size_t i, size_t j) {
  if (i == j) return 0;
  size_t s = o.split[i][j];
  return costOfSplits(o, f, i, s) + costOfSplits(o, f, s + 1, j) + f[i].rows * f[s].cols * f[j].cols;
}
} // namespace

TEST_CASE("the chain DP equals brute force on random chains of up to 8 factors", "[chain]") {
  std::mt19937 rng(2026);
  std::uniform_int_distribution<int64_t> dim(1, 40);
  for (int trial = 0; trial < 300; ++trial) {
    size_t n = 2 + size_t(trial % 7); // 2..8 factors
    std::vector<int64_t> d(n + 1);
    for (auto &x : d) x = dim(rng);
    std::vector<ChainFactor> f;
    for (size_t i = 0; i < n; ++i) f.push_back({d[i], d[i + 1]});
    ChainOrder o = solveChainOrder(f);
    CHECK(o.cost == bruteForce(f, 0, n - 1));
    CHECK(costOfSplits(o, f, 0, n - 1) == o.cost);
    CHECK(o.cost <= leftToRightCost(f));
  }
}

TEST_CASE("the seed's counts: backward order beats forward order along a chain", "[chain]") {
  const int64_t N = 50;
  // (M1 M2) w = N^3 + N^2, M1 (M2 w) = 2 N^2
  std::vector<ChainFactor> two{{N, N}, {N, N}, {N, 1}};
  CHECK(leftToRightCost(two) == N * N * N + N * N);
  CHECK(solveChainOrder(two).cost == 2 * N * N);
  CHECK(solveChainOrder(two).bracketing({"M1", "M2", "w"}) == "M1 (M2 w)");
  // ((M1 M2) M3 ... ML) w = (L - 1) N^3 + N^2, backward = L N^2
  for (int64_t L = 2; L <= 7; ++L) {
    std::vector<ChainFactor> f(size_t(L), ChainFactor{N, N});
    f.push_back({N, 1});
    CHECK(leftToRightCost(f) == (L - 1) * N * N * N + N * N);
    CHECK(solveChainOrder(f).cost == L * N * N);
  }
}

TEST_CASE("the chain pass re-associates linear_chain.net and keeps its values", "[chain]") {
  DiagnosticEngine diags;
  auto g = compile(readExample("linear_chain.net"), diags);
  REQUIRE(g);
  auto reference = cloneGraph(*g);
  PassContext ctx(diags);
  ctx.nominalBatch = 1;
  REQUIRE(runPipeline(g, {"batch", "chain"}, ctx));
  REQUIRE(runPipeline(reference, {"batch"}, ctx));
  REQUIRE(ctx.remarks.size() == 1);
  // n x n matrices, n = 64: as written 2 n^3 + n^2, reordered 3 n^2.
  const int64_t n = 64;
  CHECK(ctx.remarks[0] == fmt::format("chain %u: ((v A1^T) A2^T) A3^T = {} multiplies (as written: {}; N = 1)",
                                      3 * n * n, 2 * n * n * n + n * n));
  // No matrix-matrix product of params is left: every matmul involves v's batch.
  for (Node *m : g->nodesOfKind(OpKind::MatMul)) CHECK(m->shape()[0].isSymbolic());
  // The values are unchanged.
  Interpreter a(*g), b(*reference);
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> u(-1, 1);
  for (Interpreter *it : {&a, &b}) {
    it->bindSymbol("N", 2);
    std::mt19937 r2(5);
    for (const char *p : {"A1", "A2", "A3"}) {
      Tensor t({n, n});
      for (auto &v : t.data) v = u(r2);
      it->set(p, t);
    }
    Tensor v({2, n}), t({2, n});
    for (auto &x : v.data) x = u(r2);
    it->set("v", v);
    it->set("t", t);
    std::string err;
    REQUIRE(it->run(err));
  }
  const Tensor &x = a.value("u"), &y = b.value("u");
  for (size_t i = 0; i < x.size(); ++i) CHECK(x[i] == Approx(y[i]).epsilon(1e-9));
}

TEST_CASE("every maximal chain is ordered whatever uses it: a bias add, the loss, two users", "[chain]") {
  // W [10, 16], U [16, 128], A [128, 128], v [128]: batched, v A^T U^T W^T.
  const std::string decls = "  input v : [128]\n  param W : [10, 16] ~ he\n  param U : [16, 128] ~ he\n"
                            "  param A : [128, 128] ~ he\n  param c : [10] ~ zeros\n";
  const std::vector<std::pair<const char *, std::string>> shapes = {
      {"a bias add", "  w = W @ U @ A @ v + c\n  output w\n"},
      {"the loss", "  loss sum(W @ U @ A @ v)\n"},
      {"two users", "  h = W @ U @ A @ v\n  output o = h + c\n  loss sum(h * h)\n"},
  };
  for (const auto &[what, body] : shapes)
    for (int64_t batch : {1, 64}) {
      INFO(what << " at N = " << batch);
      DiagnosticEngine diags;
      auto g = compile("model m {\n" + decls + body + "}\n", diags);
      INFO(renderDiagnostics(diags));
      REQUIRE(g);
      PassContext ctx(diags);
      ctx.nominalBatch = batch;
      REQUIRE(runPipeline(g, {"batch", "chain"}, ctx));
      REQUIRE(ctx.remarks.size() == 1);
      const std::string &r = ctx.remarks[0];
      INFO(r);
      // N = 1: right to left, 18,592 instead of 185,600; N = 64: as written is optimal.
      if (batch == 1) CHECK(r.find("((v A^T) U^T) W^T = 18592 multiplies (as written: 185600; N = 1)") != std::string::npos);
      else CHECK(r.find("= 266240 multiplies (as written: 266240; N = 64)") != std::string::npos);
      bool reordered = ctx.stat("chain", "reordered") == 1;
      CHECK(reordered == (batch == 1));
    }
}

TEST_CASE("the chain report spells unnamed factors as expressions, never as bare numbers", "[chain]") {
  DiagnosticEngine diags;
  auto g = compile("model m {\n  param A : [8, 8] ~ he\n  param B : [8, 8] ~ he\n  param C : [8, 8] ~ he\n"
                   "  output y = A @ relu(B @ C) @ A @ B\n}\n", diags);
  REQUIRE(g);
  PassContext ctx(diags);
  ctx.nominalBatch = 1;
  REQUIRE(runPipeline(g, {"chain"}, ctx));
  REQUIRE(ctx.remarks.size() == 1);
  INFO(ctx.remarks[0]);
  CHECK(ctx.remarks[0].find("relu(matmul(B, C))") != std::string::npos);
}
