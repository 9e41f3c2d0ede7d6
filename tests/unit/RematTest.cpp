//===- tests/unit/RematTest.cpp - --remat=memory: a smaller arena, the same step -===//
#include <catch2/catch.hpp>

#include <cmath>

#include "TestUtil.h"
#include "codegen/Explain.h"
#include "dlc/dlc.hpp"
#include "passes/Pass.h"

using namespace dlc;
using namespace dlc::test;

namespace {

std::unique_ptr<Graph> optimized(const std::string &example, bool remat, std::vector<std::string> &remarks) {
  DiagnosticEngine diags;
  auto g = compile(readExample(example), diags);
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
  for (const char *example : {"mnist_mlp.net", "fashion_cnn.net"}) {
    INFO(example);
    std::vector<std::string> plainRemarks, rematRemarks;
    auto plain = optimized(example, false, plainRemarks), remat = optimized(example, true, rematRemarks);
    size_t recomputed = 0;
    for (const auto &r : rematRemarks) recomputed += r.rfind("remat: ", 0) == 0;
    CHECK(recomputed >= 1);
    int64_t keptBefore = 0, keptAfter = 0;
    for (auto k : keptForwardValues(*plain, 64)) keptBefore += k.floats;
    for (auto k : keptForwardValues(*remat, 64)) keptAfter += k.floats;
    CHECK(keptAfter < keptBefore);
    // mnist_mlp's peak is the backward, where v1 no longer lives; fashion_cnn's
    // peak is its first pooling gradient, which reads the recomputed value anyway.
    int64_t before = planLayout(*plain, 64, Optimizer::Adam).arenaSize, after = planLayout(*remat, 64, Optimizer::Adam).arenaSize;
    if (std::string(example) == "mnist_mlp.net") CHECK(after < before);
    else CHECK(after <= before);
  }
}

TEST_CASE("remat changes no gradient", "[remat][codegen]") {
  CompileOptions plainOptions, rematOptions;
  plainOptions.maxBatch = rematOptions.maxBatch = 8;
  rematOptions.remat = "memory";
  CompileResult plain = compileString(readExample("mnist_mlp.net"), plainOptions);
  CompileResult remat = compileString(readExample("mnist_mlp.net"), rematOptions);
  REQUIRE(plain);
  REQUIRE(remat);
  CHECK(remat.model->arenaBytes() < plain.model->arenaBytes());
  std::vector<float> x(8 * 784);
  std::vector<int32_t> y(8);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(0.5 + 0.5 * std::sin(0.013 * double(i)));
  for (size_t i = 0; i < y.size(); ++i) y[i] = int32_t(i % 10);
  const float *in[] = {x.data()};
  const void *labels[] = {y.data()};
  float lossPlain = 0, lossRemat = 0;
  REQUIRE(plain.model->lossAndGrad(8, in, labels, &lossPlain) == DLC_OK);
  REQUIRE(remat.model->lossAndGrad(8, in, labels, &lossRemat) == DLC_OK);
  CHECK(lossRemat == lossPlain);
  for (auto [p, size] : {std::pair{"A1", 256 * 784}, std::pair{"b1", 256}, std::pair{"A2", 2560}, std::pair{"b2", 10}}) {
    std::vector<float> gp(static_cast<size_t>(size)), gr(static_cast<size_t>(size));
    REQUIRE(plain.model->getGrad(p, gp) == DLC_OK);
    REQUIRE(remat.model->getGrad(p, gr) == DLC_OK);
    INFO(p);
    CHECK(gp == gr);
  }
  CompileOptions bad;
  bad.remat = "speed";
  CHECK_FALSE(compileString(readExample("mnist_mlp.net"), bad));
}
