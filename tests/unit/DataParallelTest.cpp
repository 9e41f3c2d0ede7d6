//===- tests/unit/DataParallelTest.cpp - The ABI's split step and shards ---===//
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

#include "train/DataParallel.h"
#include "dlc/dlc.hpp"
#include "TestUtil.h"

using namespace dlc;

namespace {

/// A classifier batch: inputs from a fixed generator, labels i % 10.
struct Batch {
  std::vector<float> x;
  std::vector<int32_t> y;
  int64_t width = 1;
  Batch(Model &m, int64_t n) {
    for (const dlc_tensor_info &t : m.tensors())
      if (t.role == DLC_ROLE_INPUT)
        for (int d = 1; d < t.rank; ++d) width *= t.dims[d];
    x.resize(size_t(n * width));
    uint64_t s = 7;
    for (float &v : x) v = float((s = s * 6364136223846793005ull + 1) >> 40) / float(1 << 24);
    for (int64_t i = 0; i < n; ++i) y.push_back(int32_t(i % 10));
  }
};

std::vector<float> params(Model &m) {
  std::vector<float> all;
  for (const dlc_tensor_info &t : m.tensors()) {
    if (t.role != DLC_ROLE_PARAM) continue;
    int64_t count = 1;
    for (int d = 0; d < t.rank; ++d) count *= t.dims[d];
    std::vector<float> p(static_cast<size_t>(count));
    REQUIRE(m.getParam(t.name, p) == DLC_OK);
    all.insert(all.end(), p.begin(), p.end());
  }
  return all;
}

std::unique_ptr<Model> compileExample(const char *name, const char *optimizer = "") {
  CompileOptions o;
  o.maxBatch = 24;
  o.optimizer = optimizer;
  CompileResult r = compileString(test::readExample(name), o);
  REQUIRE(r);
  return std::move(r.model);
}

} // namespace

TEST_CASE("Shards of a batch differ by at most one row and cover it in order", "[parallel]") {
  for (int64_t total : {0, 1, 5, 30, 64, 97})
    for (int ranks : {1, 2, 3, 4, 7}) {
      int64_t next = 0, smallest = total, largest = 0;
      for (int r = 0; r < ranks; ++r) {
        auto [first, rows] = shardRows(total, r, ranks);
        CHECK(first == next);
        next = first + rows;
        smallest = std::min(smallest, rows), largest = std::max(largest, rows);
      }
      CHECK(next == total);
      CHECK(largest - smallest <= 1);
    }
  CHECK(shardWeight(8, 30) == float(8.0 / 30.0));
  CHECK(shardWeight(0, 30) == 0.0f);
}

TEST_CASE("The gradient buffer holds every param's gradient, and train_step is loss_and_grad + apply_update",
          "[parallel][abi]") {
  for (const char *optimizer : {"momentum", "adam"}) {
    INFO(optimizer);
    auto a = compileExample("mnist_mlp.net", optimizer), b = compileExample("mnist_mlp.net", optimizer);
    Batch batch(*a, 24);
    const float *in[] = {batch.x.data()};
    const void *lab[] = {batch.y.data()};
    REQUIRE(a->lossAndGrad(24, in, lab) == DLC_OK);
    std::span<float> grads = a->gradients();
    REQUIRE(!grads.empty());
    // The buffer is the gradients in table order, each padded to 16 floats with zeros.
    size_t at = 0;
    for (const dlc_tensor_info &t : a->tensors()) {
      if (t.role != DLC_ROLE_PARAM) continue;
      size_t count = 1;
      for (int d = 0; d < t.rank; ++d) count *= size_t(t.dims[d]);
      std::vector<float> g(count);
      REQUIRE(a->getGrad(t.name, g) == DLC_OK);
      CHECK(std::memcmp(g.data(), grads.data() + at, count * sizeof(float)) == 0);
      for (size_t i = count; i % 16; ++i) CHECK(grads[at + i] == 0.0f);
      at += (count + 15) / 16 * 16;
    }
    CHECK(at == grads.size());
    // The state is the params (padded like the gradients), then the optimizer state, zero before a step.
    std::vector<float> p = params(*a);
    std::span<float> state = a->trainingState();
    REQUIRE(state.size() == grads.size() * (std::strcmp(optimizer, "adam") == 0 ? 3 : 2));
    size_t from = 0, padded = 0;
    for (const dlc_tensor_info &t : a->tensors()) {
      if (t.role != DLC_ROLE_PARAM) continue;
      size_t count = 1;
      for (int d = 0; d < t.rank; ++d) count *= size_t(t.dims[d]);
      CHECK(std::memcmp(p.data() + from, state.data() + padded, count * sizeof(float)) == 0);
      from += count, padded += (count + 15) / 16 * 16;
    }
    CHECK(std::all_of(state.begin() + long(grads.size()), state.end(), [](float v) { return v == 0.0f; }));
    // Two steps each way: the same bits.
    for (int s = 0; s < 2; ++s) {
      if (s > 0) REQUIRE(a->lossAndGrad(24, in, lab) == DLC_OK);
      REQUIRE(a->applyUpdate() == DLC_OK);
      REQUIRE(b->trainStep(24, in, lab) == DLC_OK);
    }
    CHECK(a->step() == 2);
    std::vector<float> pa = params(*a), pb = params(*b);
    CHECK(std::memcmp(pa.data(), pb.data(), pa.size() * sizeof(float)) == 0);
    std::span<float> sa = a->trainingState(), sb = b->trainingState();
    CHECK(std::memcmp(sa.data(), sb.data(), sa.size_bytes()) == 0);
  }
}

TEST_CASE("apply_update reads the gradient buffer as the host left it", "[parallel][abi]") {
  auto m = compileExample("mnist_mlp.net", "sgd");
  Batch batch(*m, 24);
  const float *in[] = {batch.x.data()};
  const void *lab[] = {batch.y.data()};
  std::vector<float> before = params(*m);
  REQUIRE(m->lossAndGrad(24, in, lab) == DLC_OK);
  std::span<float> grads = m->gradients();
  std::fill(grads.begin(), grads.end(), 0.0f); // plain SGD on a zero gradient: nothing moves
  REQUIRE(m->applyUpdate() == DLC_OK);
  CHECK(params(*m) == before);
  std::fill(grads.begin(), grads.end(), 1.0f); // every param moves by -lr
  REQUIRE(m->applyUpdate() == DLC_OK);
  std::vector<float> after = params(*m);
  double lr = m->hyper("lr");
  for (size_t i = 0; i < after.size(); i += 997) CHECK(after[i] == Approx(before[i] - lr).margin(1e-6));
  CHECK(m->step() == 2);
  CHECK(m->setStep(-1) == DLC_ERR_VALUE);
  REQUIRE(m->setStep(7) == DLC_OK);
  CHECK(m->step() == 7);
}

TEST_CASE("Simulated ranks equal the global batch within rounding, and one simulated rank is the plain step",
          "[parallel]") {
  auto whole = compileExample("mnist_mlp.net"), one = compileExample("mnist_mlp.net"),
       four = compileExample("mnist_mlp.net");
  Batch batch(*whole, 23); // shards of 6, 6, 6 and 5 rows
  DataParallel plain, single, simulated;
  single.simulatedRanks = 1;
  simulated.simulatedRanks = 4;
  std::string error;
  for (int s = 0; s < 5; ++s) {
    double l0 = 0, l1 = 0, l4 = 0;
    int64_t r0 = 0, r1 = 0, r4 = 0;
    REQUIRE(plain.step(*whole, 23, batch.x.data(), batch.y.data(), batch.width, sizeof(int32_t), l0, r0, error));
    REQUIRE(single.step(*one, 23, batch.x.data(), batch.y.data(), batch.width, sizeof(int32_t), l1, r1, error));
    REQUIRE(simulated.step(*four, 23, batch.x.data(), batch.y.data(), batch.width, sizeof(int32_t), l4, r4, error));
    CHECK((r0 == 23 && r1 == 23 && r4 == 23));
    CHECK(l1 == l0);
    CHECK(l4 == Approx(l0).epsilon(1e-4));
  }
  std::vector<float> p0 = params(*whole), p1 = params(*one), p4 = params(*four);
  CHECK(std::memcmp(p0.data(), p1.data(), p0.size() * sizeof(float)) == 0);
  double largest = 0, worst = 0;
  for (size_t i = 0; i < p0.size(); ++i) {
    largest = std::max(largest, double(std::fabs(p0[i])));
    worst = std::max(worst, double(std::fabs(p0[i] - p4[i])));
  }
  CHECK(worst <= 1e-5 * largest);
  CHECK(worst > 0); // a different summation order: not the same bits
}
