//===- tests/unit/PoolingTest.cpp - maxpool2d and avgpool2d, by hand ------===//
//
// Values worked out by hand: which pixel of a window with ties or a NaN
// receives max pooling's gradient (the first maximum, the first NaN, never
// the padding), the divisors of average pooling with and without
// count_include_pad, the extents of strided and padded windows; the
// compiled model (the JIT) and the double-precision interpreter must both
// give them. The finite-difference checks of the ops are in GradCheckTest
// and JVPCheckTest (OpCases.h), the JIT against the interpreter on every
// row's samples in OpTableTest.
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

/// A model of one [1, 4, 4] param `s` (the image) and a scalar input, whose
/// loss is sum(pooled); `pool` is the pooling of `s + x` (x is 0).
std::string poolModel(const std::string &pool, const std::string &shape = "[1, 4, 4]") {
  return fmt::format("model pool {{\n  input x : []\n  param s : {} ~ zeros\n  y = {}\n  output y\n  loss sum(y)\n}}\n",
                     shape, pool);
}

struct PoolRun {
  std::vector<float> output, grad;
};

/// Runs the model at batch 1 with s = `image`: the JIT's output and dL/ds.
PoolRun runCompiled(const std::string &source, const std::vector<float> &image, size_t outputs) {
  CompileOptions options;
  options.maxBatch = 1;
  CompileResult r = compileString(source, options);
  INFO(r.rendered);
  REQUIRE(r);
  REQUIRE(r.model->setParam("s", image) == DLC_OK);
  float x = 0, loss = 0;
  PoolRun run{std::vector<float>(outputs), std::vector<float>(image.size())};
  const float *inputs[] = {&x};
  float *outs[] = {run.output.data()};
  REQUIRE(r.model->forward(1, inputs, outs) == DLC_OK);
  REQUIRE(r.model->lossAndGrad(1, inputs, {}, &loss) == DLC_OK);
  REQUIRE(r.model->getGrad("s", run.grad) == DLC_OK);
  return run;
}

/// The same through the interpreter (batch, autodiff, simplify), in double.
PoolRun runInterpreted(const std::string &source, const std::vector<float> &image) {
  DiagnosticEngine diags;
  auto g = compile(source, diags);
  REQUIRE(g);
  PassContext ctx(diags);
  REQUIRE(runPipeline(g, {"batch", "autodiff", "simplify"}, ctx));
  Interpreter it(*g);
  it.bindSymbol("N", 1);
  Tensor s(it.resolve(g->findByName("s")->shape()));
  std::copy(image.begin(), image.end(), s.data.begin());
  REQUIRE(it.set("s", s));
  REQUIRE(it.set("x", Tensor({1}, 0.0)));
  std::string err;
  REQUIRE(it.run(err));
  PoolRun run;
  for (double v : it.value("y").data) run.output.push_back(float(v));
  for (const auto &r : g->results)
    if (r.role == Role::Grad && r.of->name == "s")
      for (double v : it.value(r.node).data) run.grad.push_back(float(v));
  return run;
}

/// Both runs give `output` and `grad` (NaN matches NaN).
void checkBoth(const std::string &pool, const std::vector<float> &image, const std::vector<float> &output,
               const std::vector<float> &grad) {
  std::string source = poolModel(pool);
  INFO(source);
  for (const PoolRun &run : {runCompiled(source, image, output.size()), runInterpreted(source, image)}) {
    REQUIRE(run.output.size() == output.size());
    for (size_t i = 0; i < output.size(); ++i) {
      INFO("output " << i << ": " << run.output[i] << ", expected " << output[i]);
      CHECK((std::isnan(output[i]) ? std::isnan(run.output[i]) : run.output[i] == Approx(output[i]).epsilon(1e-6)));
    }
    REQUIRE(run.grad.size() == grad.size());
    for (size_t i = 0; i < grad.size(); ++i) {
      INFO("dL/ds " << i << ": " << run.grad[i] << ", expected " << grad[i]);
      CHECK(run.grad[i] == Approx(grad[i]).margin(1e-6));
    }
  }
}

} // namespace

TEST_CASE("max pooling sends the gradient to each window's first maximum", "[pool][grad]") {
  // 2x2 windows with ties: all equal (the first), two 2s (the first in
  // row-major order), 3 on a diagonal, all 5.
  checkBoth("maxpool2d(s + x, 2)",
            {1, 1, 0, 2, //
             1, 1, 2, 2, //
             3, 0, 5, 5, //
             0, 3, 5, 5},
            {1, 2, 3, 5},
            {1, 0, 0, 1, //
             0, 0, 0, 0, //
             1, 0, 1, 0, //
             0, 0, 0, 0});
}

TEST_CASE("padded, overlapping max pooling: the padding never wins, shared maxima add up", "[pool][grad]") {
  // 3x3 windows, stride 2, pad 1 on 4x4 (PyTorch's MaxPool2d(3, 2, 1)): 2x2
  // windows over rows and columns [-1, 1] and [1, 3]. All pixels -1, less
  // than the zeros a padded image would hold: each window's first pixel in
  // the image wins, never the padding.
  checkBoth("maxpool2d(s + x, 3, stride = 2, pad = 1)", std::vector<float>(16, -1.0f), {-1, -1, -1, -1},
            {1, 1, 0, 0, //
             1, 1, 0, 0, //
             0, 0, 0, 0, //
             0, 0, 0, 0});
  // One maximum at (1, 1) lies in all four windows: it receives all four.
  std::vector<float> peak(16, 0.0f), fourAtPeak(16, 0.0f);
  peak[5] = 2, fourAtPeak[5] = 4;
  checkBoth("maxpool2d(s + x, 3, stride = 2, pad = 1)", peak, {2, 2, 2, 2}, fourAtPeak);
}

TEST_CASE("a NaN in a window is its maximum and takes its gradient", "[pool][grad]") {
  float nan = std::nanf("");
  checkBoth("maxpool2d(s + x, 2)",
            {1, nan, 0, 0, //
             9, nan, 0, 0, //
             0, 0, 0, 0,   //
             0, 0, 0, 1},
            {nan, 0, 0, 1},
            {0, 1, 1, 0, //
             0, 0, 0, 0, //
             1, 0, 0, 0, //
             0, 0, 0, 1});
}

TEST_CASE("average pooling divides by the window's pixels, or by kh kw with count_include_pad", "[pool]") {
  // 2x2 windows, stride 1, pad 1 on 3x3 ones: 4x4 outputs; corner windows
  // hold 1 pixel, edge windows 2, inner ones 4.
  std::vector<float> ones(9, 1.0f);
  std::string shape = "[1, 3, 3]";
  for (bool counted : {false, true}) {
    std::string pool = fmt::format("avgpool2d(s + x, 2, stride = 1, pad = 1{})", counted ? ", count_include_pad = 1" : "");
    std::string source = poolModel(pool, shape);
    INFO(source);
    std::vector<float> want(16, 1.0f), grad(9, 0.0f);
    if (counted)
      for (int64_t oy = 0; oy < 4; ++oy)
        for (int64_t ox = 0; ox < 4; ++ox)
          want[size_t(oy * 4 + ox)] = float((oy == 0 || oy == 3 ? 1 : 2) * (ox == 0 || ox == 3 ? 1 : 2)) / 4.0f;
    // dL/ds: each pixel lies in 4 windows; each window spreads 1 over its divisor.
    for (int64_t y = 0; y < 3; ++y)
      for (int64_t x = 0; x < 3; ++x)
        for (int64_t oy = y; oy <= y + 1; ++oy)
          for (int64_t ox = x; ox <= x + 1; ++ox) {
            int64_t pixels = (oy == 0 || oy == 3 ? 1 : 2) * (ox == 0 || ox == 3 ? 1 : 2);
            grad[size_t(y * 3 + x)] += 1.0f / float(counted ? 4 : pixels);
          }
    for (const PoolRun &run : {runCompiled(source, ones, 16), runInterpreted(source, ones)}) {
      for (size_t i = 0; i < 16; ++i) CHECK(run.output[i] == Approx(want[i]).epsilon(1e-6));
      for (size_t i = 0; i < 9; ++i) CHECK(run.grad[i] == Approx(grad[i]).epsilon(1e-6));
    }
  }
}

TEST_CASE("pooling in the language: windows, strides and pads as numbers or lists", "[pool][frontend]") {
  auto g = compileBody(R"(input x : [3, 7, 9]
a = maxpool2d(x, 2)
b = maxpool2d(x, 3, stride = 2, pad = 1)
c = avgpool2d(x, [3, 2], stride = [1, 3], pad = [1, 0], count_include_pad = 1)
d = avgpool2d(x, 2, pad = [1, 0, 0, 1])
param k : [] ~ zeros
loss k * (sum(a) + sum(b) + sum(c) + sum(d)))");
  // floor((7 - 2) / 2) + 1 = 3 rows, 4 columns: the last row and column are dropped.
  CHECK(g->findByName("a")->type.str() == "f32[3, 3, 4]");
  CHECK(g->findByName("a")->attrs.getInts("stride") == std::vector<int64_t>{2, 2});
  CHECK(g->findByName("b")->type.str() == "f32[3, 4, 5]");
  CHECK(g->findByName("b")->attrs.getInts("pad") == std::vector<int64_t>{1, 1, 1, 1});
  const Node *c = g->findByName("c");
  CHECK(c->kind == OpKind::AvgPool2D);
  CHECK(c->attrs.getInts("kernel") == std::vector<int64_t>{3, 2});
  CHECK(c->attrs.getInts("pad") == std::vector<int64_t>{1, 0, 1, 0});
  CHECK(c->attrs.getBool("count_include_pad"));
  CHECK(c->type.str() == "f32[3, 7, 3]");
  CHECK(g->findByName("d")->attrs.getInts("pad") == std::vector<int64_t>{1, 0, 0, 1});
  CHECK(g->findByName("d")->type.str() == "f32[3, 4, 5]");
  CHECK_FALSE(g->findByName("d")->attrs.has("count_include_pad"));
}

TEST_CASE("pooling arguments out of range are errors at the argument", "[pool][frontend][diag]") {
  const std::string x = "input x : [1, 6, 6]\nparam k : [] ~ zeros\n";
  CHECK(errorOf(x + "loss k * sum(maxpool2d(x, 0))") == "3:27: the pool window must be 1 or more, got 0");
  CHECK(errorOf(x + "loss k * sum(maxpool2d(x, 2.5))") ==
        "3:27: the pool window must be an integer constant or a list of 2 integers");
  CHECK(errorOf(x + "loss k * sum(maxpool2d(x, 2, stride = 0))") == "3:39: 'stride' must be 1 or more, got 0");
  CHECK(errorOf(x + "loss k * sum(maxpool2d(x, 2, pad = [1, 1, 1]))") ==
        "3:36: 'pad' must be an integer constant or a list of 2 or 4 integers");
  CHECK(errorOf(x + "loss k * sum(maxpool2d(x, 2, pad = 2))") == "3:36: 'pad' 2 must be smaller than the 2x2 window");
  CHECK(errorOf(x + "loss k * sum(maxpool2d(x, 2, count_include_pad = 1))") ==
        "3:30: 'maxpool2d' has no argument 'count_include_pad' (it takes stride, pad)");
  CHECK(errorOf(x + "loss k * sum(avgpool2d(x, 2, count_include_pad = 2))") ==
        "3:50: 'count_include_pad' must be 0 or 1");
  CHECK(errorOf(x + "loss k * sum(maxpool2d(x, 7))") ==
        "3:14: 'maxpool2d': the 7x7 window does not fit image [1, 6, 6] with pad [0, 0, 0, 0]");
  CHECK(errorOf("input x : [6, 6]\nparam k : [] ~ zeros\nloss k * sum(avgpool2d(x, 2))") ==
        "3:24: avgpool2d needs a [C, H, W] image, got [6, 6]");
}
