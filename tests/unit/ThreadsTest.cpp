//===- tests/unit/ThreadsTest.cpp - The thread pool and allocation-free steps ===//
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "dlc/dlc.hpp"
#include "runtime/model_runtime.h"
#include "TestUtil.h"

using namespace dlc;

// A counting allocator: this binary's malloc family counts calls while
// `counting` is set and forwards to glibc. (Not under AddressSanitizer, whose
// runtime owns malloc.)
// GCC says __SANITIZE_ADDRESS__, clang __has_feature(address_sanitizer).
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DLC_UNDER_ASAN 1
#endif
#endif
#if !defined(__SANITIZE_ADDRESS__) && !defined(DLC_UNDER_ASAN)
#define DLC_COUNTING_ALLOCATOR 1
namespace {
std::atomic<bool> counting{false};
std::atomic<long> allocations{0};
} // namespace
extern "C" {
void *__libc_malloc(size_t);
void *__libc_calloc(size_t, size_t);
void *__libc_realloc(void *, size_t);
void *__libc_memalign(size_t, size_t);
void *malloc(size_t n) {
  if (counting.load(std::memory_order_relaxed)) ++allocations;
  return __libc_malloc(n);
}
void *calloc(size_t a, size_t b) {
  if (counting.load(std::memory_order_relaxed)) ++allocations;
  return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n) {
  if (counting.load(std::memory_order_relaxed)) ++allocations;
  return __libc_realloc(p, n);
}
int posix_memalign(void **out, size_t align, size_t n) {
  if (counting.load(std::memory_order_relaxed)) ++allocations;
  *out = __libc_memalign(align, n);
  return *out ? 0 : 12; // ENOMEM
}
void *aligned_alloc(size_t align, size_t n) {
  if (counting.load(std::memory_order_relaxed)) ++allocations;
  return __libc_memalign(align, n);
}
}
#endif

namespace {

/// A fixed batch for a compiled classifier: inputs in [0, 1), labels i % classes.
struct Batch {
  std::vector<std::vector<float>> x;
  std::vector<std::vector<int32_t>> y;
  std::vector<const float *> in;
  std::vector<const void *> lab;
  Batch(Model &m, int64_t n) {
    uint64_t s = 1;
    for (const dlc_tensor_info &t : m.tensors()) {
      int64_t count = n;
      for (int d = 1; d < t.rank; ++d) count *= t.dims[d];
      if (t.role == DLC_ROLE_INPUT) {
        x.emplace_back(size_t(count));
        for (float &v : x.back()) v = float((s = s * 6364136223846793005ull + 1) >> 40) / float(1 << 24);
      } else if (t.role == DLC_ROLE_LABEL) {
        y.emplace_back(size_t(count));
        for (size_t i = 0; i < y.back().size(); ++i) y.back()[i] = int32_t(i % 10);
      }
    }
    for (auto &v : x) in.push_back(v.data());
    for (auto &v : y) lab.push_back(v.data());
  }
};

std::vector<float> param(Model &m, const char *name) {
  for (const dlc_tensor_info &t : m.tensors())
    if (std::strcmp(t.name, name) == 0) {
      int64_t count = 1;
      for (int d = 0; d < t.rank; ++d) count *= t.dims[d];
      std::vector<float> v(static_cast<size_t>(count), 0.0f);
      REQUIRE(m.getParam(name, v) == DLC_OK);
      return v;
    }
  FAIL("no param " << name);
  return {};
}

} // namespace

TEST_CASE("two and three threads train bit-identically to one (products split on tile boundaries)", "[codegen][threads]") {
  for (const char *example : {"mnist_mlp.net", "fashion_cnn.net"}) {
    INFO(example);
    std::vector<std::vector<float>> result[3];
    for (int threads : {1, 2, 3}) { // 3: more threads than this machine's cores, shares claimed unevenly
      CompileOptions o;
      o.maxBatch = 100; // not a multiple of the 6-row tiles
      o.seed = 5;
      CompileResult r = compileString(test::readExample(example), o);
      INFO(r.rendered);
      REQUIRE(r);
      REQUIRE(r.model->setHyper("threads", threads) == DLC_OK);
      CHECK(r.model->hyper("threads") == threads);
      Batch b(*r.model, 100);
      float loss = 0;
      for (int step = 0; step < 3; ++step) REQUIRE(r.model->trainStep(100, b.in, b.lab, &loss) == DLC_OK);
      for (const dlc_tensor_info &t : r.model->tensors())
        if (t.role == DLC_ROLE_PARAM) result[threads - 1].push_back(param(*r.model, t.name));
    }
    for (int t : {1, 2}) {
      REQUIRE(result[0].size() == result[t].size());
      for (size_t i = 0; i < result[0].size(); ++i) CHECK(result[0][i] == result[t][i]);
    }
  }
  CompileResult r = compileString(test::readExample("mnist_mlp.net"));
  REQUIRE(r);
  CHECK(r.model->setHyper("threads", 0) == DLC_ERR_VALUE);
  CHECK(r.model->setHyper("threads", 1.5) == DLC_ERR_VALUE);
  CHECK(std::string(r.model->lastError()) == "set_hyper: threads = 1.5 is not allowed (1..4)");
  REQUIRE(r.model->setHyper("threads", 1) == DLC_OK);
}

TEST_CASE("a train step allocates nothing: the arena and the pool are set up at creation", "[codegen][threads][memory]") {
#ifndef DLC_COUNTING_ALLOCATOR
  SUCCEED("the counting allocator is off under AddressSanitizer");
#else
  for (const char *example : {"mnist_mlp.net", "mnist_cnn.net"}) {
    INFO(example);
    CompileResult r = compileString(test::readExample(example));
    REQUIRE(r);
    REQUIRE(r.model->setHyper("threads", 2) == DLC_OK);
    int64_t n = r.model->maxBatch();
    Batch b(*r.model, n);
    std::vector<float> out(size_t(n * 10));
    std::vector<float *> outs{out.data()};
    float loss = 0;
    REQUIRE(r.model->trainStep(n, b.in, b.lab, &loss) == DLC_OK);
    allocations = 0;
    counting = true;
    for (int step = 0; step < 20; ++step) r.model->trainStep(n, b.in, b.lab, &loss);
    r.model->lossAndGrad(n, b.in, b.lab, &loss);
    r.model->forward(n, b.in, outs);
    counting = false;
    CHECK(allocations == 0);
    // The counter works: a vector allocates.
    counting = true;
    std::vector<int> probe(1000);
    counting = false;
    CHECK(allocations == 1);
    REQUIRE(r.model->setHyper("threads", 1) == DLC_OK);
  }
#endif
}

TEST_CASE("kernels flush subnormal floats to zero on every thread and restore the caller's mode", "[codegen][threads]") {
  // y = W x with every entry 1e-20: each product, 1e-40, is subnormal and
  // flushed to 0, so y is 0 (the 1024 products' sum, 1.02e-37, would be a
  // normal float). At 2 threads the product is split over the pool.
  CompileOptions options;
  options.maxBatch = 64;
  CompileResult r = compileString("model sub {\n  input x : [1024]\n  param W : [512, 1024] ~ zeros\n  output y = W @ x\n}\n",
                                  options);
  INFO(r.rendered);
  REQUIRE(r);
  std::vector<float> w(512 * 1024, 1e-20f), x(64 * 1024, 1e-20f), y(64 * 512, -1.0f);
  REQUIRE(r.model->setParam("W", w) == DLC_OK);
  const float *in[] = {x.data()};
  float *out[] = {y.data()};
  for (int threads : {1, 2}) {
    INFO("threads " << threads);
    REQUIRE(r.model->setHyper("threads", threads) == DLC_OK);
#if defined(__x86_64__)
    unsigned before = __builtin_ia32_stmxcsr();
#endif
    REQUIRE(r.model->forward(64, in, out) == DLC_OK);
#if defined(__x86_64__)
    CHECK(__builtin_ia32_stmxcsr() == before); // FTZ and DAZ are off again for the caller
    CHECK((before & 0x8040u) == 0);
    volatile float tiny = 1e-20f;
    CHECK(tiny * tiny > 0.0f); // the caller's arithmetic keeps its subnormals
#endif
    CHECK(*std::max_element(y.begin(), y.end()) == 0.0f);
    CHECK(*std::min_element(y.begin(), y.end()) == 0.0f);
  }
  REQUIRE(r.model->setHyper("threads", 1) == DLC_OK);
}

namespace {

/// Runs `calls` calls through the governor, each taking `oneThread` or
/// `twoThreads` seconds by the count it chose; returns the counts chosen.
std::vector<int> governed(dlc_governor &g, int calls, double oneThread, double twoThreads, int64_t batch = 64) {
  std::vector<int> chosen;
  for (int i = 0; i < calls; ++i) {
    int t = dlc_governor_threads(&g, batch, 2);
    chosen.push_back(t);
    dlc_governor_record(&g, t == 1 ? oneThread : twoThreads);
  }
  return chosen;
}

} // namespace

TEST_CASE("the thread governor keeps the faster count, explores again each cycle and when the machine changes",
          "[threads][governor]") {
  const std::vector<int> explore = {2, 2, 2, 1, 1, 1};
  dlc_governor g{};
  SECTION("one thread faster: after exploring, a cycle of 64 calls on one") {
    std::vector<int> c = governed(g, 6 + 64 + 6, 1e-3, 3e-3);
    CHECK(std::vector<int>(c.begin(), c.begin() + 6) == explore);
    CHECK(std::count(c.begin() + 6, c.begin() + 70, 1) == 64);
    CHECK(std::vector<int>(c.begin() + 70, c.end()) == explore); // the cycle's end: explore again
    // The same choice again: the next cycle is twice as long.
    std::vector<int> d = governed(g, 128 + 1, 1e-3, 3e-3);
    CHECK(std::count(d.begin(), d.begin() + 128, 1) == 128);
    CHECK(d.back() == 2);
  }
  SECTION("two threads faster: the cycle runs on two") {
    std::vector<int> c = governed(g, 6 + 64, 3e-3, 1e-3);
    CHECK(std::count(c.begin() + 6, c.end(), 2) == 64);
  }
  SECTION("the first call at each count (moving the data, waking the workers) is not timed") {
    for (int i = 0; i < 6; ++i) {
      int t = dlc_governor_threads(&g, 64, 2);
      dlc_governor_record(&g, i % 3 == 0 ? (t == 2 ? 1.0 : 1e-6) : (t == 2 ? 1e-3 : 2e-3));
    }
    CHECK(dlc_governor_threads(&g, 64, 2) == 2);
  }
  SECTION("eight calls in a row at 1.5x the explored time: explore again at once") {
    governed(g, 6 + 10, 3e-3, 1e-3);               // two threads chosen, 1 ms
    std::vector<int> c = governed(g, 8 + 6, 1e-3, 2e-3); // two threads now take 2 ms
    CHECK(std::count(c.begin(), c.begin() + 8, 2) == 8);
    CHECK(std::vector<int>(c.begin() + 8, c.end()) == explore);
    CHECK(dlc_governor_threads(&g, 64, 2) == 1); // and one thread is the faster now
  }
  SECTION("a new batch size or thread count starts over; one thread is not governed") {
    governed(g, 6 + 3, 1e-3, 3e-3);
    CHECK(dlc_governor_threads(&g, 65, 2) == 2); // exploring again
    dlc_governor_record(&g, 1e-3);
    CHECK(dlc_governor_threads(&g, 65, 2) == 2);
    dlc_governor_record(&g, 1e-3);
    CHECK(dlc_governor_threads(&g, 65, 2) == 2);
    dlc_governor_record(&g, 1e-3);
    CHECK(dlc_governor_threads(&g, 65, 2) == 1);
    dlc_governor_record(&g, 1e-3);
    CHECK(dlc_governor_threads(&g, 65, 1) == 1);
    dlc_governor_record(&g, 5.0); // not timed
    CHECK(dlc_governor_threads(&g, 65, 3) == 3);
  }
  SECTION("an entry with no work to split keeps the pool's count, untimed, until its batch changes") {
    CHECK(dlc_governor_threads(&g, 64, 2) == 2);
    g.serial = 1; // what the runtime sets after such a call
    for (int i = 0; i < 10; ++i) {
      CHECK(dlc_governor_threads(&g, 64, 2) == 2);
      CHECK(g.last == 0);
      dlc_governor_record(&g, i < 5 ? 1.0 : 1e-6); // ignored
    }
    CHECK(g.phase == 0);
    std::vector<int> c = governed(g, 6, 1e-3, 3e-3, 65); // a new batch: explored again
    CHECK(c == explore);
  }
}

TEST_CASE("a model with no work for the pool is not timed: its steps stay on the pool's count", "[codegen][threads][governor]") {
  // 2-16-10 at batch 8: no product reaches the pool (the governor would
  // otherwise explore one thread on its 4th to 6th steps).
  CompileResult r = compileString("model t {\n  input x : [2]\n  label y : class(10)\n  param W : [16, 2] ~ he\n"
                                  "  param V : [10, 16] ~ he\n  v = V @ relu(W @ x)\n  output v\n"
                                  "  loss cross_entropy(v, y)\n}\n"
                                  "train t {\n  optimizer sgd(lr = 0.1)\n  batch 8\n}\n");
  INFO(r.rendered);
  REQUIRE(r);
  REQUIRE(r.model->setHyper("threads", 2) == DLC_OK);
  Batch b(*r.model, 8);
  float loss = 0;
  for (int step = 0; step < 12; ++step) {
    REQUIRE(r.model->trainStep(8, b.in, b.lab, &loss) == DLC_OK);
    CHECK(r.model->hyper("step_threads") == 2);
  }
  // The MLP of the governed test above does split work: it explores one thread.
  CompileOptions o;
  o.maxBatch = 100;
  CompileResult mlp = compileString(test::readExample("mnist_mlp.net"), o);
  REQUIRE(mlp);
  REQUIRE(mlp.model->setHyper("threads", 2) == DLC_OK);
  Batch mb(*mlp.model, 100);
  int oneThread = 0;
  for (int step = 0; step < 6; ++step) {
    REQUIRE(mlp.model->trainStep(100, mb.in, mb.lab, &loss) == DLC_OK);
    oneThread += mlp.model->hyper("step_threads") == 1;
  }
  CHECK(oneThread == 3);
  REQUIRE(mlp.model->setHyper("threads", 1) == DLC_OK); // the pool is the process's
}

TEST_CASE("a governed 2-thread run uses both counts and trains bit-identically to one thread", "[codegen][threads][governor]") {
  std::vector<std::vector<float>> result[2];
  int used[3] = {0, 0, 0};
  for (int threads : {1, 2}) {
    CompileOptions o;
    o.maxBatch = 100;
    o.seed = 7;
    CompileResult r = compileString(test::readExample("mnist_mlp.net"), o);
    INFO(r.rendered);
    REQUIRE(r);
    REQUIRE(r.model->setHyper("threads", threads) == DLC_OK);
    CHECK(r.model->hyper("adaptive_threads") == 1);
    CHECK(r.model->hyper("step_threads") == 0);
    Batch b(*r.model, 100);
    float loss = 0;
    for (int step = 0; step < 24; ++step) {
      REQUIRE(r.model->trainStep(100, b.in, b.lab, &loss) == DLC_OK);
      int t = int(r.model->hyper("step_threads"));
      REQUIRE((t == 1 || t == 2));
      if (threads == 2) ++used[t];
      else CHECK(t == 1);
    }
    for (const dlc_tensor_info &t : r.model->tensors())
      if (t.role == DLC_ROLE_PARAM) result[threads - 1].push_back(param(*r.model, t.name));
    if (threads == 2) {
      REQUIRE(r.model->setHyper("adaptive_threads", 0) == DLC_OK);
      REQUIRE(r.model->trainStep(100, b.in, b.lab, &loss) == DLC_OK);
      CHECK(r.model->hyper("step_threads") == 2);
      CHECK(r.model->setHyper("adaptive_threads", 2) == DLC_ERR_VALUE);
      CHECK(r.model->setHyper("step_threads", 1) == DLC_ERR_NAME);
      CHECK(std::string(r.model->lastError()) == "set_hyper: step_threads is read-only (the threads the last step ran on)");
    }
  }
  CHECK(used[1] >= 3); // the exploration's one-thread steps
  CHECK(used[2] >= 3);
  REQUIRE(result[0].size() == result[1].size());
  for (size_t i = 0; i < result[0].size(); ++i) CHECK(result[0][i] == result[1][i]);
}
