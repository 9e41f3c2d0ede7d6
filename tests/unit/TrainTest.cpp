//===- tests/unit/TrainTest.cpp - Data loading and the training loop ------===//
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <numeric>
#include <random>

#include <llvm/Support/FileSystem.h>

#include "train/Dataset.h"
#include "train/Trainer.h"
#include "TestUtil.h"

using namespace dlc;

namespace {

std::string writeIDX(const std::string &path, std::vector<uint32_t> dims, const std::vector<uint8_t> &data,
                     uint8_t type = 0x08) {
  std::ofstream f(path, std::ios::binary);
  uint8_t magic[4] = {0, 0, type, uint8_t(dims.size())};
  f.write(reinterpret_cast<const char *>(magic), 4);
  for (uint32_t d : dims) {
    uint8_t be[4] = {uint8_t(d >> 24), uint8_t(d >> 16), uint8_t(d >> 8), uint8_t(d)};
    f.write(reinterpret_cast<const char *>(be), 4);
  }
  f.write(reinterpret_cast<const char *>(data.data()), std::streamsize(data.size()));
  return path;
}

/// Two classes of 4x4 images: bright left half or bright right half, with noise.
void writeToySet(const std::string &dir, const std::string &prefix, int count) {
  std::vector<uint8_t> images, labels;
  for (int i = 0; i < count; ++i) {
    int label = i % 2;
    for (int p = 0; p < 16; ++p) {
      bool left = p % 4 < 2;
      int base = (left == (label == 0)) ? 200 : 30;
      images.push_back(uint8_t(base + (i * 7 + p * 13) % 40));
    }
    labels.push_back(uint8_t(label));
  }
  writeIDX(dir + "/" + prefix + "-images-idx3-ubyte", {uint32_t(count), 4, 4}, images);
  writeIDX(dir + "/" + prefix + "-labels-idx1-ubyte", {uint32_t(count)}, labels);
}

} // namespace

TEST_CASE("IDX files load, and each kind of bad file is a clear error", "[data]") {
  llvm::SmallString<128> d;
  REQUIRE(!llvm::sys::fs::createUniqueDirectory("dlc-data-test", d));
  std::string dir = d.str().str();
  writeToySet(dir, "train", 6);
  std::string err;
  auto ok = loadIDX(dir + "/train-images-idx3-ubyte", dir + "/train-labels-idx1-ubyte", err);
  REQUIRE(ok);
  CHECK(ok->count == 6);
  CHECK(ok->sampleSize == 16);
  CHECK(ok->labels == std::vector<int32_t>{0, 1, 0, 1, 0, 1});
  CHECK(ok->x[0] == Approx(200 / 255.0));

  CHECK_FALSE(loadIDX(dir + "/nothere", dir + "/train-labels-idx1-ubyte", err));
  CHECK(err == dir + "/nothere: no such file");
  writeIDX(dir + "/float.idx", {2, 4, 4}, std::vector<uint8_t>(128), 0x0D);
  CHECK_FALSE(loadIDX(dir + "/float.idx", dir + "/train-labels-idx1-ubyte", err));
  CHECK(err == dir + "/float.idx: not an IDX file of unsigned bytes (wrong magic number)");
  writeIDX(dir + "/short.idx", {6, 4, 4}, std::vector<uint8_t>(50));
  CHECK_FALSE(loadIDX(dir + "/short.idx", dir + "/train-labels-idx1-ubyte", err));
  CHECK(err == dir + "/short.idx: expected 96 bytes of data, found 50");
  writeIDX(dir + "/five.idx", {5}, std::vector<uint8_t>(5));
  CHECK_FALSE(loadIDX(dir + "/train-images-idx3-ubyte", dir + "/five.idx", err));
  CHECK(err == dir + "/train-images-idx3-ubyte holds 6 images but " + dir + "/five.idx holds 5 labels");
  llvm::sys::fs::remove_directories(dir);
}

TEST_CASE("training a classifier on a toy problem reaches full accuracy, and mismatched models are refused", "[data][train]") {
  llvm::SmallString<128> d;
  REQUIRE(!llvm::sys::fs::createUniqueDirectory("dlc-train-test", d));
  std::string dir = d.str().str();
  writeToySet(dir, "train", 200);
  writeToySet(dir, "t10k", 50);
  Dataset train, test;
  std::string err;
  REQUIRE(loadNamedDataset(dir, "", train, test, err));
  CompileOptions options;
  options.maxBatch = 16;
  CompileResult r = compileString(R"(model toy {
  input x : [16]
  label y : class(2)
  param A : [8, 16] ~ he
  param b : [8] ~ zeros
  param C : [2, 8] ~ zeros  # untrained, every logit ties: accuracy is the share of class 0
  w = C @ relu(A @ x + b)
  output p = softmax(w)
  loss cross_entropy(w, y)
}
train toy { optimizer sgd(lr = 0.1, momentum = 0.9) }
)", options);
  INFO(r.rendered);
  REQUIRE(r);
  double before = classificationAccuracy(*r.model, test, err);
  TrainOptions to;
  to.epochs = 3;
  to.progress = false;
  std::ostringstream log;
  TrainSummary summary;
  REQUIRE(trainModel(*r.model, train, test, to, log, summary, err));
  INFO(log.str());
  CHECK(summary.test.accuracy == 1.0);
  CHECK(before < 1.0);
  CHECK(log.str().find("epoch 3/3  train loss ") != std::string::npos);
  CHECK(log.str().find("test accuracy: 100.00%") != std::string::npos);

  // A model whose input does not fit the data is refused with the sizes.
  CompileResult wrong = compileString("model w {\n  input x : [10]\n  label y : class(2)\n  param A : [2, 10] ~ he\n"
                                      "  output p = A @ x\n  loss cross_entropy(A @ x, y)\n}\n", options);
  REQUIRE(wrong);
  CHECK_FALSE(trainModel(*wrong.model, train, test, to, log, summary, err));
  CHECK(err == "model input 'x' takes 10 values per sample, but the data's samples have 16");
  llvm::sys::fs::remove_directories(dir);
}

TEST_CASE("a resumed run ends bit-identical to an uninterrupted one, and early stopping stops", "[data][train]") {
  llvm::SmallString<128> d;
  REQUIRE(!llvm::sys::fs::createUniqueDirectory("dlc-resume-test", d));
  std::string dir = d.str().str();
  writeToySet(dir, "train", 100);
  writeToySet(dir, "t10k", 20);
  Dataset train, test;
  std::string err;
  REQUIRE(loadNamedDataset(dir, "", train, test, err));
  const char *source = R"(model toy {
  input x : [16]
  label y : class(2)
  param A : [8, 16] ~ he
  param C : [2, 8] ~ glorot
  w = C @ tanh(A @ x)
  output p = softmax(w)
  loss cross_entropy(w, y)
}
train toy { optimizer adam(lr = 0.01) }
)";
  CompileOptions options;
  options.maxBatch = 16;
  options.seed = 5;
  auto params = [](Model &m) {
    std::vector<float> a(128), c(16);
    REQUIRE(m.getParam("A", a) == DLC_OK);
    REQUIRE(m.getParam("C", c) == DLC_OK);
    a.insert(a.end(), c.begin(), c.end());
    return a;
  };
  TrainOptions to;
  to.progress = false;
  to.seed = 9;
  to.valSplit = 0.2;
  std::ostringstream log;
  TrainSummary summary;
  // Straight through: 3 epochs.
  CompileResult straight = compileString(source, options);
  REQUIRE(straight);
  to.epochs = 3;
  REQUIRE(trainModel(*straight.model, train, test, to, log, summary, err));
  // Interrupted after 2 epochs, then resumed from the checkpoint by a fresh model.
  CompileResult first = compileString(source, options);
  REQUIRE(first);
  to.epochs = 2;
  to.checkpoint = dir + "/ck.safetensors";
  REQUIRE(trainModel(*first.model, train, test, to, log, summary, err));
  options.seed = 77; // different initial params: everything must come from the checkpoint
  CompileResult resumed = compileString(source, options);
  REQUIRE(resumed);
  REQUIRE(resumed.model->load(to.checkpoint) == DLC_OK);
  to.epochs = 3;
  to.resumed = true;
  to.checkpoint.clear();
  REQUIRE(trainModel(*resumed.model, train, test, to, log, summary, err));
  CHECK(log.str().find("resuming after epoch 2") != std::string::npos);
  CHECK(params(*resumed.model) == params(*straight.model));

  // With a zero learning rate the validation loss never improves.
  CompileResult frozen = compileString(source, options);
  REQUIRE(frozen);
  TrainOptions stop;
  stop.progress = false;
  stop.epochs = 10;
  stop.valSplit = 0.2;
  stop.earlyStop = 2;
  stop.lr = 0;
  std::ostringstream stopLog;
  REQUIRE(trainModel(*frozen.model, train, test, stop, stopLog, summary, err));
  INFO(stopLog.str());
  CHECK(stopLog.str().find("epoch 3/10") != std::string::npos);
  CHECK(stopLog.str().find("epoch 4/10") == std::string::npos);
  CHECK(stopLog.str().find("early stop: no better validation loss for 2 epochs") != std::string::npos);
  llvm::sys::fs::remove_directories(dir);
}

TEST_CASE("the quadratic: exact line search and optimal momentum converge at the slides' rates", "[train][quadratic]") {
  // f(x, y) = x^2 + b y^2 with b = 0.01, from (b, 1), gradients from dlc-compiled code.
  const double b = 0.01;
  CompileResult r = compileFile(std::string(DLC_EXAMPLES_DIR) + "/quadratic.net");
  INFO(r.rendered);
  REQUIRE(r);
  Model &m = *r.model;
  auto f = [&](float &gx, float &gy) {
    float loss = 0;
    REQUIRE(m.lossAndGrad(1, {}, {}, &loss) == DLC_OK);
    REQUIRE(m.getGrad("x", std::span<float>(&gx, 1)) == DLC_OK);
    REQUIRE(m.getGrad("y", std::span<float>(&gy, 1)) == DLC_OK);
    return double(loss);
  };
  auto set = [&](double x, double y) {
    float fx = float(x), fy = float(y);
    REQUIRE(m.setParam("x", std::span<const float>(&fx, 1)) == DLC_OK);
    REQUIRE(m.setParam("y", std::span<const float>(&fy, 1)) == DLC_OK);
  };
  // Steepest descent with exact line search: s = g.g / g.Hg, with Hg measured
  // from two gradients (exact for a quadratic): Hg = g(p) - g(p - g).
  double x = b, y = 1;
  set(x, y);
  float gx, gy;
  double fPrev = f(gx, gy);
  for (int step = 0; step < 5; ++step) {
    set(x, y);
    f(gx, gy);
    set(x - gx, y - gy);
    float hx, hy;
    f(hx, hy);
    double Hgx = gx - hx, Hgy = gy - hy;
    double s = (double(gx) * gx + double(gy) * gy) / (gx * Hgx + gy * Hgy);
    x -= s * gx, y -= s * gy;
    set(x, y);
    double fNow = f(gx, gy);
    CHECK(fNow / fPrev == Approx(std::pow((1 - b) / (1 + b), 2)).epsilon(1e-3)); // 0.9608 per step
    fPrev = fNow;
  }
  // Heavy ball with the optimal s and beta, run by the compiled train_step:
  // f falls by about ((1 - sqrt b) / (1 + sqrt b))^2 = 0.67 per step.
  double s = 2 / std::pow(1 + std::sqrt(b), 2), beta = std::pow((1 - std::sqrt(b)) / (1 + std::sqrt(b)), 2);
  CompileResult fresh = compileFile(std::string(DLC_EXAMPLES_DIR) + "/quadratic.net");
  REQUIRE(fresh);
  Model &hb = *fresh.model;
  REQUIRE(hb.setHyper("lr", s) == DLC_OK);
  REQUIRE(hb.setHyper("momentum", beta) == DLC_OK);
  std::vector<double> losses;
  for (int step = 0; step < 100; ++step) {
    float loss = 0;
    REQUIRE(hb.trainStep(1, {}, {}, &loss) == DLC_OK);
    losses.push_back(loss);
  }
  // At the optimal beta the iteration's eigenvalues coincide (critical damping),
  // so the error goes like k r^k with r = sqrt(beta), and f like k^2 beta^k: the
  // average rate over steps k1..k2 is beta (k2 / k1)^(2 / (k2 - k1)).
  const double k1 = 40, k2 = 99;
  double rate = std::pow(losses[size_t(k2)] / losses[size_t(k1)], 1.0 / (k2 - k1));
  double predicted = beta * std::pow(k2 / k1, 2.0 / (k2 - k1));
  INFO("heavy-ball rate " << rate << ", predicted " << predicted << " (beta " << beta << ")");
  CHECK(rate == Approx(predicted).epsilon(0.03));
  CHECK(rate < 0.72); // about 0.67, far better than steepest descent's 0.96
}

TEST_CASE("learning-rate schedules: step, cosine, warm-up", "[train][schedule]") {
  TrainOptions o;
  o.epochs = 10;
  CHECK(scheduledLearningRate(o, 0.1, 57, 10) == 0.1);
  o.schedule = "step";
  o.every = 3;
  o.gamma = 0.5;
  CHECK(scheduledLearningRate(o, 0.1, 29, 10) == Approx(0.1));        // epoch 2
  CHECK(scheduledLearningRate(o, 0.1, 30, 10) == Approx(0.05));       // epoch 3
  CHECK(scheduledLearningRate(o, 0.1, 65, 10) == Approx(0.025));      // epoch 6
  o.schedule = "cosine";
  o.minLr = 0.01;
  CHECK(scheduledLearningRate(o, 0.1, 0, 10) == Approx(0.1));
  CHECK(scheduledLearningRate(o, 0.1, 50, 10) == Approx(0.055));      // half way
  CHECK(scheduledLearningRate(o, 0.1, 100, 10) == Approx(0.01));
  o.warmup = 4;
  CHECK(scheduledLearningRate(o, 0.1, 0, 10) == Approx(0.025));       // 1/4 of the cosine value
  CHECK(scheduledLearningRate(o, 0.1, 3, 10) == Approx(0.01 + 0.09 * 0.5 * (1 + std::cos(M_PI * 3 / 100)))); // 4/4 warm
}

namespace {

std::string writeText(const std::string &path, const std::string &text) {
  std::ofstream(path) << text;
  return path;
}

} // namespace

TEST_CASE("CSV files load (header, blank lines, CRLF), and each kind of bad file is a clear error", "[data][csv]") {
  llvm::SmallString<128> d;
  REQUIRE(!llvm::sys::fs::createUniqueDirectory("dlc-csv-test", d));
  std::string dir = d.str().str(), err;
  auto ok = loadCSV(writeText(dir + "/ok.csv", "a, b,label\r\n1.5,-2,0\r\n\r\n3,4e1 , 2\r\n"), err);
  INFO(err);
  REQUIRE(ok);
  CHECK(ok->count == 2);
  CHECK(ok->sampleSize == 2);
  CHECK(ok->x == std::vector<float>{1.5f, -2.0f, 3.0f, 40.0f});
  CHECK(ok->labels == std::vector<int32_t>{0, 2});

  auto bad = [&](const std::string &text) {
    CHECK_FALSE(loadCSV(writeText(dir + "/bad.csv", text), err));
    return err;
  };
  CHECK(bad("1,2,0\n1,x,1\n") == dir + "/bad.csv:2:3: 'x' is not a number");
  CHECK(bad("1,2,0\n1,,1\n") == dir + "/bad.csv:2:3: '' is not a number");
  CHECK(bad("1,2,0\n1,2,3,1\n") == dir + "/bad.csv:2:1: expected 3 columns, found 4");
  CHECK(bad("1,2,0.5\n") == dir + "/bad.csv:1:5: the label (last column) must be a class index, an integer >= 0");
  CHECK(bad("1,2,-1\n") == dir + "/bad.csv:1:5: the label (last column) must be a class index, an integer >= 0");
  CHECK(bad("7\n") == dir + "/bad.csv:1:1: a row needs at least one feature and a label");
  CHECK(bad("x,y,label\n\n") == dir + "/bad.csv: no samples");
  CHECK_FALSE(loadCSV(dir + "/none.csv", err));
  CHECK(err == dir + "/none.csv: no such file");

  // NAME.test.csv beside NAME.csv is the test set; it must have as many features.
  Dataset train, test;
  writeText(dir + "/set.csv", "0,0,0\n1,1,1\n");
  REQUIRE(loadNamedDataset(dir + "/set.csv", "", train, test, err));
  CHECK((train.count == 2 && test.count == 0));
  writeText(dir + "/set.test.csv", "0,0,0,1\n");
  CHECK_FALSE(loadNamedDataset(dir + "/set.csv", "", train, test, err));
  CHECK(err == dir + "/set.test.csv: 3 features per row, but " + dir + "/set.csv has 2");
  llvm::sys::fs::remove_directories(dir);
}

TEST_CASE("standardize uses the training statistics, and K folds partition the data", "[data][csv]") {
  Dataset train{4, 2, {1, 5, 3, 5, 5, 5, 7, 5}, {0, 1, 0, 1}};
  Dataset test{1, 2, {4, 9}, {0}};
  standardize(train, test);
  double sd = std::sqrt(5.0); // of 1, 3, 5, 7
  CHECK(train.x[0] == Approx((1 - 4) / sd));
  CHECK(train.x[6] == Approx((7 - 4) / sd));
  CHECK(train.x[1] == 0.0f); // a constant feature
  CHECK(test.x[0] == Approx(0.0));
  CHECK(test.x[1] == 0.0f);

  Dataset all{10, 1, {}, {}};
  for (int i = 0; i < 10; ++i) all.x.push_back(float(i)), all.labels.push_back(i % 3);
  std::vector<int> seen(10, 0);
  for (int64_t fold = 0; fold < 3; ++fold) {
    Dataset tr, val;
    kFoldSplit(all, 3, fold, 7, tr, val);
    CHECK(tr.count + val.count == 10);
    CHECK((val.count == 3 || val.count == 4));
    for (int64_t i = 0; i < val.count; ++i) {
      ++seen[size_t(val.x[size_t(i)])];
      CHECK(val.labels[size_t(i)] == int(val.x[size_t(i)]) % 3); // rows stay whole
    }
  }
  CHECK(seen == std::vector<int>(10, 1)); // every sample validated exactly once
}

TEST_CASE("the optimizer can be chosen at compile time, overriding the train block", "[train][optimizer]") {
  const char *net = "model m {\n  input x : [2]\n  label y : class(2)\n  param A : [2, 2] ~ he\n  w = A @ x\n"
                    "  output p = softmax(w)\n  loss cross_entropy(w, y)\n}\ntrain m { optimizer adam(lr = 3e-4) }\n";
  CompileOptions o;
  CompileResult adam = compileString(net, o);
  REQUIRE(adam);
  CHECK(adam.model->hyper("lr") == Approx(3e-4));
  o.optimizer = "nesterov";
  CompileResult nesterov = compileString(net, o);
  REQUIRE(nesterov);
  CHECK(nesterov.model->hyper("momentum") == Approx(0.9));
  CHECK(nesterov.model->hyper("nesterov") == 1.0);
  CHECK(nesterov.model->hyper("lr") == Approx(0.01)); // adam's rate is not carried over to SGD
  o.optimizer = "rmsprop";
  CompileResult unknown = compileString(net, o);
  CHECK_FALSE(unknown);
  CHECK(unknown.rendered.find("unknown optimizer 'rmsprop' (sgd, momentum, nesterov or adam)") != std::string::npos);
}

TEST_CASE("the training curves plot to a PNG with gnuplot", "[train][plot]") {
  llvm::SmallString<128> d;
  REQUIRE(!llvm::sys::fs::createUniqueDirectory("dlc-plot-test", d));
  std::string dir = d.str().str(), err;
  std::vector<EpochRecord> history(3);
  for (int i = 0; i < 3; ++i) history[size_t(i)] = {i + 1, 1.0 / (i + 1), 1.2 / (i + 1), 0.8 + 0.05 * i, 0.79 + 0.05 * i, 0.1};
  REQUIRE(plotHistory(history, "toy", dir + "/curves.png", err));
  std::ifstream png(dir + "/curves.png", std::ios::binary);
  char magic[8] = {};
  png.read(magic, 8);
  CHECK(std::string(magic + 1, 3) == "PNG");
  CHECK_FALSE(llvm::sys::fs::exists(dir + "/curves.png.tmp.dat")); // the temporary files are gone
  CHECK_FALSE(plotHistory({}, "toy", dir + "/none.png", err));
  CHECK(err == "no epochs to plot");
  llvm::sys::fs::remove_directories(dir);
}

namespace {

/// Two Gaussian blobs in 2-D with labels -1 and +1 (seeded).
Dataset signBlobs(int count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0.0f, 0.8f);
  Dataset d;
  d.sampleSize = 2;
  d.targetSize = 1;
  for (int i = 0; i < count; ++i) {
    float t = rng() % 2 ? 1.0f : -1.0f;
    d.x.push_back(1.0f * t + noise(rng));
    d.x.push_back(-0.5f * t + noise(rng));
    d.targets.push_back(t);
    ++d.count;
  }
  return d;
}

/// The same SVM as examples/hinge.net, trained by a hand-written loop:
/// minibatch SGD with heavy-ball momentum on the mean hinge loss plus
/// 1e-3 |w|^2, from zero weights; returns its test accuracy.
double handWrittenSVM(const Dataset &train, const Dataset &test, int epochs, int batch, double lr) {
  double w[2] = {0, 0}, c = 0, vw[2] = {0, 0}, vc = 0;
  std::vector<int> order(size_t(train.count));
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(7);
  for (int e = 0; e < epochs; ++e) {
    std::shuffle(order.begin(), order.end(), rng);
    for (int64_t at = 0; at < train.count; at += batch) {
      int64_t n = std::min<int64_t>(batch, train.count - at);
      double gw[2] = {2e-3 * w[0], 2e-3 * w[1]}, gc = 0;
      for (int64_t i = at; i < at + n; ++i) {
        const float *x = &train.x[size_t(order[size_t(i)] * 2)];
        double t = train.targets[size_t(order[size_t(i)])];
        if (1 - t * (w[0] * x[0] + w[1] * x[1] + c) > 0) {
          gw[0] -= t * x[0] / double(n), gw[1] -= t * x[1] / double(n), gc -= t / double(n);
        }
      }
      for (int j = 0; j < 2; ++j) vw[j] = 0.9 * vw[j] + gw[j], w[j] -= lr * vw[j];
      vc = 0.9 * vc + gc, c -= lr * vc;
    }
  }
  int correct = 0;
  for (int64_t i = 0; i < test.count; ++i)
    correct += (w[0] * test.x[size_t(2 * i)] + w[1] * test.x[size_t(2 * i + 1)] + c > 0) == (test.targets[size_t(i)] > 0);
  return double(correct) / double(test.count);
}

} // namespace

TEST_CASE("a hinge classifier on -1/+1 targets reaches the accuracy of a hand-written SVM loop", "[train]") {
  Dataset train = signBlobs(1000, 1), test = signBlobs(500, 2);
  CompileResult r = compileString(test::readExample("hinge.net"));
  INFO(r.rendered);
  REQUIRE(r);
  TrainOptions to;
  to.epochs = 20;
  to.progress = false;
  to.task = "sign";
  std::ostringstream log;
  TrainSummary summary;
  std::string err;
  REQUIRE(trainModel(*r.model, train, test, to, log, summary, err));
  double reference = handWrittenSVM(train, test, 20, 16, 0.1);
  INFO(log.str() << "hand-written loop: " << reference);
  CHECK(reference > 0.85);
  CHECK(std::abs(summary.test.accuracy - reference) <= 0.015);
  CHECK(log.str().find("test accuracy: ") != std::string::npos);

  // 0 is not a hinge target; the trainer says which sample has it.
  train.targets[3] = 0;
  CHECK_FALSE(trainModel(*r.model, train, test, to, log, summary, err));
  CHECK(err == "sample 4 has target 0, but hinge (task sign) takes -1 or +1");
}

TEST_CASE("a regression's metrics: mean squared error and R^2 against the targets' spread", "[train]") {
  // y = 2 x on 4 samples, predicted by a model whose output is 2 x + 1:
  // every error is 1, so mse = 1 and R^2 = 1 - 4 / sum((y - mean)^2) = 1 - 4/20.
  CompileResult r = compileString(R"(model lin {
  input x : [1]
  label t : [1]
  param a : [1, 1] ~ zeros
  param c : [1] ~ zeros
  output p = a @ x + c
  loss square_loss(p, t)
})");
  INFO(r.rendered);
  REQUIRE(r);
  REQUIRE(r.model->setParam("a", std::vector<float>{2}) == DLC_OK);
  REQUIRE(r.model->setParam("c", std::vector<float>{1}) == DLC_OK);
  Dataset d;
  d.sampleSize = 1, d.targetSize = 1, d.count = 4;
  d.x = {0, 1, 2, 3};
  d.targets = {0, 2, 4, 6};
  Metrics m;
  std::string err;
  REQUIRE(evaluate(*r.model, d, "", 0, m, err));
  CHECK(m.mse == Approx(1.0));
  CHECK(m.r2 == Approx(0.8));
  CHECK(std::isnan(m.accuracy));
  // Class-label data for a float label is refused.
  Dataset classes{4, 1, {0, 1, 2, 3}, {0, 1, 0, 1}, 0, {}};
  CHECK_FALSE(evaluate(*r.model, classes, "", 0, m, err));
  CHECK(err == "the model's label 't' takes 1 float targets per sample, but the data has class labels");
}
