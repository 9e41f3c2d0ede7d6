//===- tests/unit/RematTest.cpp - --remat=memory: a smaller arena, the same step -===//
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include "TestUtil.h"
#include "codegen/Explain.h"
#include "dlc/dlc.hpp"
#include "passes/Pass.h"

using namespace dlc;
using namespace dlc::test;

namespace {

// The backward reads s = x * x (for dL/dA1) and q = h * h (for dL/dA2); both
// are cheap elementwise ops of values it keeps anyway: the input x, and h,
// which tanh's gradient reads. (A relu net has nothing left to recompute:
// relu's gradient reads its output, so the pre-activation dies in the forward.)
const char *kSquares = R"(model squares {
  input x : [256]
  label y : class(10)
  param A1 : [128, 256] ~ he
  param b1 : [128] ~ zeros
  param A2 : [10, 128] ~ glorot
  param b2 : [10] ~ zeros
  s = x * x
  h = tanh(A1 @ s + b1)
  q = h * h
  w = A2 @ q + b2
  loss cross_entropy(w, y)
}
)";

std::unique_ptr<Graph> optimized(const std::string &source, bool remat, std::vector<std::string> &remarks) {
  DiagnosticEngine diags;
  auto g = compile(source, diags);
  REQUIRE(g);
  PassContext ctx(diags);
  auto pipeline = defaultPipeline();
  if (remat) pipeline.push_back("remat");
  REQUIRE(runPipeline(g, pipeline, ctx));
  remarks = ctx.remarks;
  return g;
}

} // namespace

TEST_CASE("remat recomputes what the backward reads from values it keeps anyway", "[remat]") {
  std::vector<std::string> plainRemarks, rematRemarks;
  auto plain = optimized(kSquares, false, plainRemarks), remat = optimized(kSquares, true, rematRemarks);
  std::vector<std::string> recomputed;
  for (const auto &r : rematRemarks)
    if (r.rfind("remat: ", 0) == 0) recomputed.push_back(r.substr(7, r.find(' ', 7) - 7));
  std::sort(recomputed.begin(), recomputed.end());
  CHECK(recomputed == std::vector<std::string>{"%q", "%s"});
  int64_t keptBefore = 0, keptAfter = 0;
  for (auto k : keptForwardValues(*plain, 64)) keptBefore += k.floats;
  for (auto k : keptForwardValues(*remat, 64)) keptAfter += k.floats;
  CHECK(keptAfter == keptBefore - 64 * (256 + 128));
  int64_t before = planLayout(*plain, 64, Optimizer::Adam).arenaSize, after = planLayout(*remat, 64, Optimizer::Adam).arenaSize;
  CHECK(after < before);
  // A relu net: the pre-activation is dead after the forward, nothing to recompute.
  auto mlp = optimized(readExample("mnist_mlp.net"), true, rematRemarks);
  std::vector<std::string> mlpRemat;
  for (const auto &r : rematRemarks)
    if (r.rfind("remat: ", 0) == 0) mlpRemat.push_back(r);
  REQUIRE(mlpRemat.size() == 1);
  CHECK(mlpRemat[0].rfind("remat: nothing to recompute", 0) == 0);
}

TEST_CASE("remat changes no gradient", "[remat][codegen]") {
  CompileOptions plainOptions, rematOptions;
  plainOptions.maxBatch = rematOptions.maxBatch = 8;
  rematOptions.remat = "memory";
  CompileResult plain = compileString(kSquares, plainOptions);
  CompileResult remat = compileString(kSquares, rematOptions);
  REQUIRE(plain);
  REQUIRE(remat);
  CHECK(remat.model->arenaBytes() < plain.model->arenaBytes());
  std::vector<float> x(8 * 256);
  std::vector<int32_t> y(8);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(0.5 + 0.5 * std::sin(0.013 * double(i)));
  for (size_t i = 0; i < y.size(); ++i) y[i] = int32_t(i % 10);
  const float *in[] = {x.data()};
  const void *labels[] = {y.data()};
  float lossPlain = 0, lossRemat = 0;
  REQUIRE(plain.model->lossAndGrad(8, in, labels, &lossPlain) == DLC_OK);
  REQUIRE(remat.model->lossAndGrad(8, in, labels, &lossRemat) == DLC_OK);
  CHECK(lossRemat == lossPlain);
  for (auto [p, size] : {std::pair{"A1", 128 * 256}, std::pair{"b1", 128}, std::pair{"A2", 1280}, std::pair{"b2", 10}}) {
    std::vector<float> gp(static_cast<size_t>(size)), gr(static_cast<size_t>(size));
    REQUIRE(plain.model->getGrad(p, gp) == DLC_OK);
    REQUIRE(remat.model->getGrad(p, gr) == DLC_OK);
    INFO(p);
    CHECK(gp == gr);
  }
  CompileOptions bad;
  bad.remat = "speed";
  CHECK_FALSE(compileString(kSquares, bad));
}
