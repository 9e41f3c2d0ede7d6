//===- tests/unit/GemmTest.cpp - The packed GEMM against a naive product ---===//
//
// A two-layer linear model, y = W2 (W1 x), with loss mean_b sum_j y^2, runs
// all three product shapes the GEMM sees: X W^T (forward), dY W (backward
// through a layer), both with op(A) = A (packed through 8 x 8 transposes by
// the two-vector kernels, rows and depths on both sides of a multiple of 8,
// read in place by the narrow ones) and dY^T X (weight gradients,
// op(A) = A^T, packed). The
// extents straddle the micro-tiles (AVX2 6 x 16, AVX-512 14 x 32, and the
// narrow 12 x 8 and 28 x 16 of products with at most a vector of columns:
// the 9-, 10- and 15-column ones) and the
// depth, row and column blocks, and the batch is below the capacity (the
// last two cases: weight gradients of 10 and 12 rows, which read B in place,
// over one and two depth blocks); the
// first layers of 8 to 12 units over a depth from 256 (600, 257, 300,
// 2048: whole vectors and a masked tail) take the dot kernel on AVX-512,
// with tiles of 2 or 3 rows and single rows after them (batch 29, 15), the
// last one split over the pool by rows (on AVX2 the narrow kernel); the
// gradients are checked against a naive double-precision computation, at 1
// and 2 threads (bit-identical: the last case's products are split over
// the pool by columns, by columns with A^T packed, and by rows), with each
// kernel: the JIT compiled for x86-64-v3 (AVX2), and for x86-64-v4
// (AVX-512) where this CPU has it.
//
//===----------------------------------------------------------------------===//
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "dlc/dlc.hpp"

using namespace dlc;

TEST_CASE("the GEMM's products match a naive product across tile and block edges", "[codegen][gemm]") {
  struct Case {
    int64_t k, h, n, batch, capacity;
  };
  std::vector<std::string> cpus = {""}; // the host's
#if defined(__x86_64__)
  cpus.push_back("x86-64-v3");
  if (__builtin_cpu_supports("avx512f")) cpus.push_back("x86-64-v4");
#endif
  for (const std::string &cpu : cpus)
    for (Case t : {Case{300, 17, 530, 151, 160}, Case{7, 149, 9, 13, 64}, Case{520, 40, 16, 64, 64},
                 Case{45, 33, 47, 29, 32}, Case{200, 15, 95, 43, 48}, Case{520, 200, 300, 97, 100},
                 Case{600, 10, 10, 64, 64}, Case{100, 12, 5, 250, 256}, Case{257, 8, 9, 29, 32},
                 Case{300, 12, 5, 15, 16}, Case{2048, 10, 9, 128, 128}}) {
      INFO(fmt::format("cpu '{}' K {} H {} N {} batch {}", cpu, t.k, t.h, t.n, t.batch));
      std::string net = fmt::format("model g {{\n  input x : [{}]\n  param W1 : [{}, {}] ~ normal(0, 0.1)\n"
                                    "  param W2 : [{}, {}] ~ normal(0, 0.1)\n  v = W2 @ (W1 @ x)\n  output o = v\n"
                                    "  loss sum(v * v)\n}}\n",
                                    t.k, t.h, t.k, t.n, t.h);
      CompileOptions o;
      o.maxBatch = t.capacity;
      o.cpu = cpu;
      CompileResult r = compileString(net, o);
      INFO(r.rendered);
      REQUIRE(r);
      Model &m = *r.model;
      std::vector<float> x(size_t(t.batch * t.k)), w1(size_t(t.h * t.k)), w2(size_t(t.n * t.h));
      for (size_t i = 0; i < x.size(); ++i) x[i] = float(std::sin(0.37 * double(i) + 0.1));
      REQUIRE(m.getParam("W1", w1) == DLC_OK);
      REQUIRE(m.getParam("W2", w2) == DLC_OK);
      // Naive: h = X W1^T, v = h W2^T, dV = 2 v / batch, dW2 = dV^T h, dH = dV W2, dW1 = dH^T X.
      std::vector<double> h(size_t(t.batch * t.h)), v(size_t(t.batch * t.n)), dh(size_t(t.batch * t.h));
      std::vector<double> dw1(w1.size()), dw2(w2.size());
      for (int64_t b = 0; b < t.batch; ++b)
        for (int64_t i = 0; i < t.h; ++i)
          for (int64_t p = 0; p < t.k; ++p) h[size_t(b * t.h + i)] += double(x[size_t(b * t.k + p)]) * w1[size_t(i * t.k + p)];
      for (int64_t b = 0; b < t.batch; ++b)
        for (int64_t j = 0; j < t.n; ++j)
          for (int64_t i = 0; i < t.h; ++i) v[size_t(b * t.n + j)] += h[size_t(b * t.h + i)] * w2[size_t(j * t.h + i)];
      for (double &e : v) e *= 2.0 / double(t.batch); // now dV
      for (int64_t b = 0; b < t.batch; ++b)
        for (int64_t j = 0; j < t.n; ++j)
          for (int64_t i = 0; i < t.h; ++i) {
            dw2[size_t(j * t.h + i)] += v[size_t(b * t.n + j)] * h[size_t(b * t.h + i)];
            dh[size_t(b * t.h + i)] += v[size_t(b * t.n + j)] * w2[size_t(j * t.h + i)];
          }
      for (int64_t b = 0; b < t.batch; ++b)
        for (int64_t i = 0; i < t.h; ++i)
          for (int64_t p = 0; p < t.k; ++p) dw1[size_t(i * t.k + p)] += dh[size_t(b * t.h + i)] * x[size_t(b * t.k + p)];
      std::vector<float> oneThread[2]; // W1's and W2's gradients at 1 thread
      for (int threads : {1, 2}) {
        INFO("threads " << threads);
        REQUIRE(m.setHyper("threads", threads) == DLC_OK);
        const float *in[] = {x.data()};
        float loss = 0;
        REQUIRE(m.lossAndGrad(t.batch, in, {}, &loss) == DLC_OK);
        for (auto [name, want] : {std::pair{"W1", &dw1}, std::pair{"W2", &dw2}}) {
          std::vector<float> got(want->size());
          REQUIRE(m.getGrad(name, got) == DLC_OK);
          double scale = 0;
          for (double e : *want) scale = std::max(scale, std::fabs(e));
          int bad = 0;
          for (size_t e = 0; e < got.size(); ++e)
            if (std::fabs(got[e] - (*want)[e]) > 1e-4 * scale) ++bad;
          INFO(name << " scale " << scale);
          CHECK(bad == 0);
          std::vector<float> &first = oneThread[want == &dw1 ? 0 : 1];
          if (threads == 1) first = got;
          else CHECK(got == first); // the same tiles and depth blocks at any thread count
        }
      }
      REQUIRE(m.setHyper("threads", 1) == DLC_OK);
    }
}
