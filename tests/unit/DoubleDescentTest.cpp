//===- tests/unit/DoubleDescentTest.cpp - one_hot targets and label noise --===//
#include <catch2/catch.hpp>

#include <cmath>
#include <sstream>

#include "train/Dataset.h"
#include "train/Trainer.h"
#include "TestUtil.h"
#include "ir/Interpreter.h"

using namespace dlc;
using namespace dlc::test;

namespace {

const char *kSquareOneHot = R"(model sq {
  input x : [4]
  label y : class(3)
  param W : [3, 4] ~ glorot
  w = W @ x
  output p = w
  loss square_loss(w, one_hot(y))
}
train sq { optimizer sgd(lr = 0.05, momentum = 0.9) }
)";

/// Three classes of 4-vectors: class k is bright in coordinate k, with noise.
Dataset threeClasses(int count) {
  Dataset d{count, 4, {}, {}};
  for (int i = 0; i < count; ++i) {
    int k = i % 3;
    for (int j = 0; j < 4; ++j) d.x.push_back((j == k ? 1.0f : 0.1f) + 0.05f * float((i * 7 + j * 3) % 5));
    d.labels.push_back(k);
  }
  return d;
}

} // namespace

TEST_CASE("square_loss(w, one_hot(y)) is the squared distance to the class's unit vector", "[frontend][onehot]") {
  DiagnosticEngine diags;
  auto g = compile(kSquareOneHot, diags);
  INFO(renderDiagnostics(diags));
  REQUIRE(g);
  Interpreter it(*g);
  Tensor W({3, 4}), x({4}), y(std::vector<int64_t>{});
  for (size_t i = 0; i < W.size(); ++i) W[i] = 0.1 * double(i) - 0.4;
  x.data = {1, -2, 0.5, 3};
  y[0] = 2;
  it.set("W", W);
  it.set("x", x);
  it.set("y", y);
  std::string error;
  REQUIRE(it.run(error));
  double expected = 0;
  for (int k = 0; k < 3; ++k) {
    double wk = 0;
    for (int j = 0; j < 4; ++j) wk += W[size_t(4 * k + j)] * x[size_t(j)];
    expected += (wk - (k == 2 ? 1 : 0)) * (wk - (k == 2 ? 1 : 0));
  }
  CHECK(it.value(g->result(Role::Loss)).data[0] == Approx(expected).epsilon(1e-12));

  // The compiled model agrees and trains a classifier with it.
  CompileOptions options;
  options.maxBatch = 8;
  CompileResult r = compileString(kSquareOneHot, options);
  INFO(r.rendered);
  REQUIRE(r);
  std::vector<float> Wf(W.data.begin(), W.data.end()), xf(x.data.begin(), x.data.end());
  int32_t label = 2;
  REQUIRE(r.model->setParam("W", Wf) == DLC_OK);
  const float *in[] = {xf.data()};
  const void *lab[] = {&label};
  float loss = 0;
  REQUIRE(r.model->lossAndGrad(1, in, lab, &loss) == DLC_OK);
  CHECK(double(loss) == Approx(expected).epsilon(1e-5));
  Dataset train = threeClasses(60), test = threeClasses(30);
  TrainOptions to;
  to.epochs = 20;
  to.progress = false;
  std::ostringstream log;
  TrainSummary summary;
  REQUIRE(trainModel(*r.model, train, test, to, log, summary, error));
  INFO(log.str());
  CHECK(summary.test.accuracy == 1.0);
}

TEST_CASE("one_hot takes a class label and says so otherwise", "[frontend][onehot][diag]") {
  DiagnosticEngine diags;
  auto g = compile("model m {\n  input x : [3]\n  param W : [3, 3] ~ he\n  loss square_loss(W @ x, one_hot(x))\n}\n", diags);
  CHECK_FALSE(g);
  CHECK(firstError(diags) == "4:35: one_hot needs a class label (declared `label y : class(K)`), got [3]");
  DiagnosticEngine d2;
  auto h = compile("model m {\n  label y : class(3)\n  param w : [3] ~ zeros\n  loss sum(w * y)\n}\n", d2);
  CHECK_FALSE(h);
  CHECK(firstError(d2) == "4:16: class label 'y' is an index, not a number; use it in cross_entropy(logits, y) or one_hot(y)");
}

TEST_CASE("label noise replaces a seeded share of the labels by other classes", "[data][noise]") {
  Dataset clean = threeClasses(1000);
  Dataset a = clean, b = clean, c = clean;
  CHECK(addLabelNoise(a, 0.2, 7) == 200);
  CHECK(addLabelNoise(b, 0.2, 7) == 200);
  CHECK(addLabelNoise(c, 0.2, 8) == 200);
  int changed = 0;
  std::vector<int> perClass(3, 0);
  for (size_t i = 0; i < clean.labels.size(); ++i) {
    changed += a.labels[i] != clean.labels[i];
    CHECK(a.labels[i] >= 0);
    CHECK(a.labels[i] < 3);
    if (a.labels[i] != clean.labels[i]) ++perClass[size_t(a.labels[i])];
  }
  CHECK(changed == 200); // each chosen label becomes another class
  for (int n : perClass) CHECK(n > 40); // spread over the classes
  CHECK(a.labels == b.labels);          // the seed decides
  CHECK(a.labels != c.labels);
  CHECK(a.x == clean.x);
  Dataset none = clean;
  CHECK(addLabelNoise(none, 0, 7) == 0);
  CHECK(none.labels == clean.labels);
  keepFirst(none, 10);
  CHECK(none.count == 10);
  CHECK(none.x.size() == 40);
  CHECK(none.labels.size() == 10);
}
