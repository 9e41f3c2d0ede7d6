//===- tests/unit/RegionsTest.cpp - Linear pieces against the math ---------===//
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <set>

#include <llvm/Support/FileSystem.h>

#include "TestUtil.h"
#include "analysis/Regions.h"
#include "dlc/dlc.hpp"

using namespace dlc;
using namespace dlc::test;

namespace {

struct Counted {
  std::unique_ptr<Graph> graph;
  std::optional<AffineNet> net;
  Plane plane;
  RegionCount count;
};

/// Compiles `text`, takes the params from the initializers (seed) and counts
/// on the plane of the first m input coordinates inside `box` (empty: the default).
Counted countOn(const std::string &text, uint64_t seed, int m, std::vector<double> box = {}) {
  Counted c;
  DiagnosticEngine diags;
  c.graph = compile(text, diags);
  INFO(renderDiagnostics(diags));
  REQUIRE(c.graph);
  std::string error;
  c.net = AffineNet::fromGraph(*c.graph, initialParams(*c.graph, seed), "", error);
  INFO(error);
  REQUIRE(c.net);
  int64_t d = c.net->inputSize();
  c.plane.origin.assign(size_t(d), 0.0);
  for (int k = 0; k < m; ++k) {
    c.plane.directions.emplace_back(size_t(d), 0.0);
    c.plane.directions.back()[size_t(k)] = 1;
  }
  if (box.empty()) box = defaultBox(*c.net, c.plane);
  auto count = countRegions(*c.net, c.plane, box, error);
  INFO(error);
  REQUIRE(count);
  c.count = std::move(*count);
  return c;
}

std::string oneLayer(int n) {
  return "model one {\n  input v : [2]\n  param A : [" + std::to_string(n) + ", 2] ~ normal(0, 1)\n  param b : [" +
         std::to_string(n) + "] ~ normal(0, 1)\n  param C : [1, " + std::to_string(n) +
         "] ~ normal(0, 1)\n  output F = C @ relu(A @ v + b)\n}\n";
}

std::string deep(std::vector<int> widths) {
  std::string s = "model deep {\n  input v : [2]\n";
  std::string x = "v";
  int in = 2;
  for (size_t l = 0; l < widths.size(); ++l) {
    std::string k = std::to_string(l + 1), w = std::to_string(widths[l]);
    s += "  param A" + k + " : [" + w + ", " + std::to_string(in) + "] ~ he\n  param b" + k + " : [" + w +
         "] ~ normal(0, 0.5)\n";
    x = "relu(A" + k + " @ " + x + " + b" + k + ")";
    in = widths[l];
  }
  s += "  param C : [1, " + std::to_string(in) + "] ~ glorot\n  output F = C @ " + x + "\n}\n";
  return s;
}

/// The number of regions the lines A_i t + b_i = 0 cut a box into, the
/// book way: 1 + (lines crossing it) + (crossings inside it).
int64_t arrangementRegions(const Tensor &A, const Tensor &b, const std::vector<double> &box) {
  int64_t n = int64_t(b.size()), lines = 0, crossings = 0;
  for (int64_t i = 0; i < n; ++i) {
    int pos = 0, neg = 0;
    for (double x : {box[0], box[1]})
      for (double y : {box[2], box[3]}) {
        double z = A[size_t(2 * i)] * x + A[size_t(2 * i + 1)] * y + b[size_t(i)];
        pos += z > 0, neg += z < 0;
      }
    lines += pos > 0 && neg > 0;
    for (int64_t j = i + 1; j < n; ++j) {
      double a = A[size_t(2 * i)], c = A[size_t(2 * i + 1)], d = A[size_t(2 * j)], e = A[size_t(2 * j + 1)];
      double det = a * e - c * d;
      double x = (-b[size_t(i)] * e + c * b[size_t(j)]) / det, y = (-a * b[size_t(j)] + d * b[size_t(i)]) / det;
      crossings += x > box[0] && x < box[1] && y > box[2] && y < box[3];
    }
  }
  return 1 + lines + crossings;
}

} // namespace

TEST_CASE("one hidden layer: 1 + L + I regions in any box, r(N, 2) in the default box", "[regions]") {
  for (int n : {3, 7, 12}) {
    for (uint64_t seed : {1, 2}) {
      std::vector<double> box{-0.7, 0.5, -0.3, 0.9};
      Counted c = countOn(oneLayer(n), seed, 2, box);
      ParamValues p = initialParams(*c.graph, seed);
      int64_t expected = arrangementRegions(p.at("A"), p.at("b"), box);
      INFO("N = " << n << ", seed " << seed);
      CHECK(int64_t(c.count.regions.size()) == expected);
      CHECK(1 + c.count.firstLayer.crossingBox + c.count.firstLayer.crossingsInside == expected);
      CHECK(int64_t(c.count.regions.size()) <= maxRegionsOneLayer(n, 2));
      CHECK(c.count.pieces == int64_t(c.count.regions.size())); // no output weight is 0
      Counted all = countOn(oneLayer(n), seed, 2);
      CHECK(int64_t(all.count.regions.size()) == maxRegionsOneLayer(n, 2)); // 1 + N + N (N - 1) / 2
      CHECK(all.count.firstLayer.crossingsInside == n * (n - 1) / 2);
    }
  }
  // Folds through one point (zero biases): 2N regions, and 1 + L + I still
  // holds when k folds through a point count k - 1 crossings.
  std::string concurrent = oneLayer(9);
  concurrent.replace(concurrent.find("param b : [9] ~ normal(0, 1)"), 28, "param b : [9] ~ zeros");
  Counted c = countOn(concurrent, 4, 2, {-1, 1, -1, 1});
  CHECK(c.count.regions.size() == 18);
  CHECK(c.count.firstLayer.crossingPoints == 1);
  CHECK(1 + c.count.firstLayer.crossingBox + c.count.firstLayer.crossingsInside == 18);
  CHECK(maxRegionsOneLayer(3, 2) == 7);
  CHECK(maxRegionsOneLayer(16, 2) == 137);
  CHECK(maxRegionsOneLayer(5, 1) == 6);
}

TEST_CASE("the tent map composed L times has 2^L pieces on the unit interval", "[regions]") {
  for (int L : {1, 2, 5, 10}) {
    std::string text = "model tent {\n  input x : [1]\n  fn t(u) = 2 * relu(u) - 4 * relu(u - 0.5)\n  output y = ";
    std::string call = "x";
    for (int i = 0; i < L; ++i) call = "t(" + call + ")";
    text += call + "\n}\n";
    Counted c = countOn(text, 0, 1, {0, 1});
    INFO("L = " << L);
    CHECK(int64_t(c.count.regions.size()) == (int64_t(1) << L));
    CHECK(c.count.pieces == (int64_t(1) << L));
    double length = 0;
    for (const Region &r : c.count.regions) {
      length += r.measure();
      CHECK(std::fabs(r.output.slope(0, 0)) == Approx(std::ldexp(1.0, L))); // slope +-2^L on each piece
    }
    CHECK(length == Approx(1.0).epsilon(1e-12));
  }
}

TEST_CASE("regions tile the box, and each region's affine map is the network there", "[regions]") {
  Counted c = countOn(readExample("plane_2_16_16_1.net"), 3, 2);
  Counted d = countOn(deep({6, 6, 6}), 5, 2, {-2, 2, -1.5, 2.5});
  for (Counted *k : {&c, &d}) {
    const RegionCount &rc = k->count;
    double area = 0;
    for (const Region &r : rc.regions) area += r.measure();
    CHECK(area == Approx((rc.box[1] - rc.box[0]) * (rc.box[3] - rc.box[2])).epsilon(1e-10));
    CHECK(rc.pieces <= int64_t(rc.regions.size()));
    CHECK(rc.regions.size() > 20);
    std::string error;
    for (const Region &r : rc.regions) {
      auto t = r.interiorPoint();
      std::vector<double> f = k->net->evaluate(k->plane.point(t.data()), error);
      REQUIRE(f.size() == 1);
      CHECK(r.output.at(0, t.data()) == Approx(f[0]).margin(1e-9));
    }
  }
}

TEST_CASE("a dense grid finds no activation pattern the exact count lacks", "[regions]") {
  Counted c = countOn(deep({8, 8}), 7, 2, {-1, 1, -1, 1});
  std::set<std::vector<bool>> exact;
  for (const Region &r : c.count.regions) exact.insert(r.pattern);
  CHECK(exact.size() == c.count.regions.size()); // one region per pattern
  std::set<std::vector<bool>> sampled;
  std::string error;
  const int n = 250;
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      double t[2] = {-1 + 2 * (i + 0.5) / n, -1 + 2 * (j + 0.5) / n};
      std::vector<double> z = c.net->preActivations(c.plane.point(t), error);
      std::vector<bool> pattern;
      for (double v : z) pattern.push_back(v > 0);
      sampled.insert(pattern);
    }
  INFO(sampled.size() << " patterns sampled, " << exact.size() << " exact");
  CHECK(sampled.size() <= exact.size());
  CHECK(sampled.size() * 10 >= exact.size() * 7); // the grid sees most regions
  for (const auto &p : sampled) CHECK(exact.count(p) == 1);
}

TEST_CASE("neighbours with one affine map merge into one piece", "[regions]") {
  // relu(x) - relu(-x) = x: two activation regions, one affine piece.
  Counted c = countOn("model id {\n  input x : [1]\n  output y = relu(x) - relu(-x)\n}\n", 0, 1, {-1, 1});
  CHECK(c.count.regions.size() == 2);
  CHECK(c.count.pieces == 1);
  // An output that ignores a unit: its fold splits regions but not pieces.
  Counted d = countOn("model ign {\n  input v : [2]\n  param A : [2, 2] ~ fill(1)\n"
                      "  output y = relu(v - 0.25) @ A - 0 * relu(-v)\n}\n", 0, 2, {-1, 1, -1, 1});
  CHECK(d.count.regions.size() == 9); // folds at v1 = 0.25, v1 = 0, v2 = 0.25, v2 = 0
  CHECK(d.count.pieces == 4);
}

TEST_CASE("the initial params are those a compiled model starts from, and checkpoints read back", "[regions][params]") {
  std::string text = "model p {\n  input v : [3]\n  label t : [2]\n  param A : [4, 3] ~ he\n  param b : [4] ~ normal(0.5, 2)\n"
                     "  param C : [2, 4] ~ glorot\n  param c : [2] ~ uniform(-1, 3)\n"
                     "  output y = C @ relu(A @ v + b) + c\n  loss square_loss(y, t)\n}\n";
  CompileOptions options;
  options.seed = 42;
  CompileResult r = compileString(text, options);
  INFO(r.rendered);
  REQUIRE(r);
  DiagnosticEngine diags;
  auto g = compile(text, diags);
  REQUIRE(g);
  ParamValues init = initialParams(*g, 42);
  for (const char *name : {"A", "b", "C", "c"}) {
    std::vector<float> compiled(init.at(name).size());
    REQUIRE(r.model->getParam(name, compiled) == DLC_OK);
    for (size_t i = 0; i < compiled.size(); ++i) CHECK(double(compiled[i]) == init.at(name)[i]);
  }
  // Changed params saved by the model read back exactly.
  std::vector<float> moved(init.at("A").size());
  for (size_t i = 0; i < moved.size(); ++i) moved[i] = float(i) * 0.25f - 1;
  REQUIRE(r.model->setParam("A", moved) == DLC_OK);
  llvm::SmallString<128> path;
  REQUIRE(!llvm::sys::fs::createTemporaryFile("dlc-regions", "safetensors", path));
  REQUIRE(r.model->save(path.str().str()) == DLC_OK);
  ParamValues read = init;
  std::string error;
  REQUIRE(readCheckpointParams(*g, path.str().str(), read, error));
  for (size_t i = 0; i < moved.size(); ++i) CHECK(read.at("A")[i] == double(moved[i]));
  CHECK(read.at("C").data == init.at("C").data);
  // A model with another param, and a file that is not a checkpoint, are errors.
  auto other = compile("model q {\n  input v : [3]\n  param Z : [3] ~ zeros\n  output y = Z * v\n}\n", diags);
  REQUIRE(other);
  CHECK_FALSE(readCheckpointParams(*other, path.str().str(), read, error));
  CHECK(error.find("has no param 'Z'") != std::string::npos);
  { std::ofstream(path.str().str()) << "not a checkpoint"; }
  CHECK_FALSE(readCheckpointParams(*g, path.str().str(), read, error));
  CHECK(error.find("not a safetensors checkpoint") != std::string::npos);
  llvm::sys::fs::remove(path);
}

TEST_CASE("a network that is not piecewise linear is refused with its location", "[regions][diag]") {
  DiagnosticEngine diags;
  auto g = compile("model t {\n  input v : [2]\n  param A : [3, 2] ~ he\n  param C : [1, 3] ~ he\n"
                   "  output y = C @ tanh(A @ v)\n}\n", diags);
  REQUIRE(g);
  std::string error;
  CHECK_FALSE(AffineNet::fromGraph(*g, initialParams(*g, 0), "", error));
  CHECK(error == "test.net:5:18: tanh is not piecewise linear in input 'v'; regions counts networks of "
                 "matrix products, sums, constant scalings and relu");
}
