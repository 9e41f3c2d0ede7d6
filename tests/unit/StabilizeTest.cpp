//===- tests/unit/StabilizeTest.cpp - Stable log-exp forms at the extremes -===//
//
// Each rewrite of passes/Stabilize.cpp, differentiated and evaluated in
// double precision at arguments of +-1000 (where exp overflows even in
// double): values and gradients are finite and exact. The JIT, in f32,
// gives d/dx log(1 + exp(x)) = 1 at x = 100.
//
//===----------------------------------------------------------------------===//
#include <catch2/catch.hpp>

#include <cmath>

#include "TestUtil.h"
#include "dlc/dlc.hpp"
#include "ir/Interpreter.h"
#include "passes/Pass.h"

using namespace dlc;
using namespace dlc::test;

namespace {

struct Evaluated {
  double loss;
  std::vector<double> grad;
  std::vector<std::string> remarks;
};

/// loss = `expr` of param p, stabilized and differentiated, at p = `at`.
Evaluated evaluateAt(const std::string &expr, const std::vector<double> &at) {
  std::string text = fmt::format("model s {{\n  input x : [{}]\n  param p : [{}] ~ zeros\n  loss {}\n}}\n", at.size(),
                                 at.size(), expr);
  DiagnosticEngine diags;
  auto g = compile(text, diags);
  INFO(text << renderDiagnostics(diags));
  REQUIRE(g);
  PassContext ctx(diags);
  REQUIRE(runPipeline(g, {"stabilize", "autodiff", "simplify"}, ctx));
  INFO(printGraph(*g));
  Interpreter it(*g);
  Tensor p({int64_t(at.size())});
  p.data = at;
  REQUIRE(it.set("p", p));
  REQUIRE(it.set("x", Tensor({int64_t(at.size())}, 1.0)));
  std::string err;
  REQUIRE(it.run(err));
  Evaluated e{it.value(g->result(Role::Loss))[0], it.value(g->resultsWith(Role::Grad)[0]).data, ctx.remarks};
  return e;
}

double sigmoid(double x) { return 1 / (1 + std::exp(-x)); }

} // namespace

TEST_CASE("log(1 + exp(x)) is rewritten: its gradient is sigmoid(x), 1 at x = 1000", "[stabilize]") {
  std::vector<double> x{1000, -1000, 0, 3};
  Evaluated e = evaluateAt("sum(log(1 + exp(p)))", x);
  REQUIRE(e.remarks.size() == 1);
  CHECK(e.remarks[0].find("log(1 + exp(x))") != std::string::npos);
  CHECK(e.loss == Approx(1000 + 0 + std::log(2.0) + std::log1p(std::exp(3.0))).epsilon(1e-14));
  for (size_t i = 0; i < x.size(); ++i) CHECK(e.grad[i] == Approx(sigmoid(x[i])).margin(1e-15));
  CHECK(e.grad[0] == 1.0);
}

TEST_CASE("log(sum(exp(x))) is rewritten: finite at 1000, its gradient the softmax", "[stabilize]") {
  std::vector<double> x{1000, 999, -1000};
  Evaluated e = evaluateAt("log(sum(exp(p)))", x);
  REQUIRE(e.remarks.size() == 1);
  CHECK(e.remarks[0].find("log(sum(exp(x)))") != std::string::npos);
  double z = 1 + std::exp(-1.0);
  CHECK(e.loss == Approx(1000 + std::log(z)).epsilon(1e-14));
  CHECK(e.grad[0] == Approx(1 / z).epsilon(1e-14));
  CHECK(e.grad[1] == Approx(std::exp(-1.0) / z).epsilon(1e-14));
  CHECK(e.grad[2] == Approx(0).margin(1e-300));
}

TEST_CASE("log(sigmoid(x)) is rewritten: finite at -1000, its gradient 1 - sigmoid(x)", "[stabilize]") {
  std::vector<double> x{-1000, 1000, 0};
  Evaluated e = evaluateAt("sum(log(sigmoid(p)))", x);
  REQUIRE(e.remarks.size() == 1);
  CHECK(e.remarks[0].find("log(sigmoid(x))") != std::string::npos);
  CHECK(e.loss == Approx(-1000 - std::log(2.0)).epsilon(1e-14));
  for (size_t i = 0; i < x.size(); ++i) CHECK(e.grad[i] == Approx(1 - sigmoid(x[i])).margin(1e-15));
}

TEST_CASE("the JIT's f32 gradient of log(1 + exp(x)) at x = 100 is 1, not NaN", "[stabilize][codegen]") {
  CompileResult r = compileString("model s {\n  input x : [3]\n  param p : [3] ~ fill(100)\n"
                                  "  loss sum(log(1 + exp(p * x)))\n}\n");
  INFO(r.rendered);
  REQUIRE(r);
  std::vector<float> x{1, 1, 1}, grad(3);
  const float *in[] = {x.data()};
  float loss = 0;
  REQUIRE(r.model->lossAndGrad(1, in, {}, &loss) == DLC_OK);
  REQUIRE(r.model->getGrad("p", grad) == DLC_OK);
  CHECK(loss == Approx(300));
  for (float g : grad) CHECK(g == 1.0f);
}
