//===- tests/unit/ParamInitTest.cpp - Initial params from a seed ----------===//
//
// runtime/param_init.c against an independent reference: splitmix64 and
// Box-Muller written out here with libm in long double. Normals are within
// a float rounding of it, uniforms exact; the sample moments and the share
// within one standard deviation are a normal's; draws are counter-based (a
// param's values depend on its first draw, not on what came before);
// constant initializers draw nothing.
//
//===----------------------------------------------------------------------===//
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <vector>

#include "runtime/model_runtime.h"

namespace {

uint64_t splitmix64(uint64_t seed, uint64_t j) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * (j + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

dlc_rt_tensor record(dlc_init_kind kind, int64_t count, double a = 0, double b = 0, int64_t fanIn = 1,
                     int64_t fanOut = 1) {
  dlc_rt_tensor t{};
  t.init = kind;
  t.count = count;
  t.init_a = a, t.init_b = b;
  t.fan_in = fanIn, t.fan_out = fanOut;
  return t;
}

std::vector<float> draw(const dlc_rt_tensor &t, uint64_t seed, uint64_t first, uint64_t *draws = nullptr) {
  std::vector<float> p(size_t(t.count), -1.0f);
  uint64_t used = dlc_rt_init_param(&t, p.data(), seed, first);
  if (draws) *draws = used;
  return p;
}

/// Distance between two floats in units in the last place.
int64_t ulps(float a, float b) {
  auto key = [](float f) {
    int32_t i;
    std::memcpy(&i, &f, sizeof i);
    return i < 0 ? int64_t(INT32_MIN) - i : int64_t(i);
  };
  return std::llabs(key(a) - key(b));
}

} // namespace

TEST_CASE("param init: normals are Box-Muller pairs of the splitmix64 draws, to a float rounding", "[init]") {
  const int64_t count = 200001; // odd: the last draw gives one value
  uint64_t draws = 0;
  std::vector<float> p = draw(record(DLC_INIT_Normal, count, 0.5, 2.0), 7, 0, &draws);
  CHECK(draws == uint64_t(count + 1) / 2);
  int64_t worst = 0, rounded = 0;
  for (int64_t i = 0; i < count; ++i) {
    uint64_t bits = splitmix64(7, uint64_t(i / 2));
    long double u = ((bits >> 32) + 1) / 4294967296.0L, t = 2 * 3.14159265358979323846264L * uint32_t(bits) / 4294967296.0L;
    long double r = std::sqrt(-2 * std::log(u)), z = i % 2 ? r * std::sin(t) : r * std::cos(t);
    float want = float(0.5L + 2.0L * z);
    worst = std::max(worst, ulps(p[size_t(i)], want));
    rounded += p[size_t(i)] != want;
  }
  CHECK(worst <= 1);                // the rest of the arithmetic is far below a float's precision
  CHECK(rounded < count / 1000);    // and a value off by one is a rounding tie's neighbour
}

TEST_CASE("param init: uniforms are the draws' halves, exactly", "[init]") {
  std::vector<float> p = draw(record(DLC_INIT_Uniform, 1000, -3.0, 5.0), 11, 40);
  for (size_t i = 0; i < p.size(); ++i) {
    uint64_t bits = splitmix64(11, 40 + i / 2), half = i % 2 ? uint32_t(bits) : bits >> 32;
    CHECK(p[i] == float(-3.0 + 8.0 * (double(half) * (1.0 / 4294967296.0))));
  }
  float r = float(std::sqrt(6.0 / (30 + 50)));
  for (float v : draw(record(DLC_INIT_Glorot, 999, 0, 0, 30, 50), 3, 0)) CHECK((v >= -r && v <= r));
}

TEST_CASE("param init: he's values have a normal's moments and spread", "[init]") {
  const int64_t count = 400000, fanIn = 50;
  std::vector<float> p = draw(record(DLC_INIT_He, count, 0, 0, fanIn), 123, 0);
  double sigma = std::sqrt(2.0 / fanIn), m1 = 0, m2 = 0, m4 = 0, within = 0;
  for (float v : p) {
    double z = v / sigma;
    m1 += z, m2 += z * z, m4 += z * z * z * z;
    within += std::fabs(z) < 1;
  }
  m1 /= count, m2 /= count, m4 /= count, within /= count;
  CHECK(std::fabs(m1) < 4 / std::sqrt(double(count)));
  CHECK(std::fabs(m2 - 1) < 0.01);
  CHECK(std::fabs(m4 - 3) < 0.06);
  CHECK(std::fabs(within - 0.682689) < 0.004); // P(|z| < 1); its deviation here is 0.0007
}

TEST_CASE("param init: a param's values follow from its first draw alone", "[init]") {
  std::vector<float> whole = draw(record(DLC_INIT_He, 1000, 0, 0, 8), 5, 0);
  std::vector<float> tail = draw(record(DLC_INIT_He, 500, 0, 0, 8), 5, 250);
  CHECK(std::vector<float>(whole.begin() + 500, whole.end()) == tail);
  std::vector<float> seven = draw(record(DLC_INIT_He, 7, 0, 0, 8), 5, 0);
  CHECK(std::vector<float>(whole.begin(), whole.begin() + 7) == seven);
  CHECK(draw(record(DLC_INIT_He, 1000, 0, 0, 8), 6, 0) != whole); // another seed
}

TEST_CASE("param init: constants draw nothing", "[init]") {
  uint64_t draws = 1;
  CHECK(draw(record(DLC_INIT_Zeros, 5), 1, 0, &draws) == std::vector<float>(5, 0.0f));
  CHECK(draws == 0);
  CHECK(draw(record(DLC_INIT_Ones, 5), 1, 0, &draws) == std::vector<float>(5, 1.0f));
  CHECK(draws == 0);
  CHECK(draw(record(DLC_INIT_Fill, 3, 0.25), 1, 9, &draws) == std::vector<float>(3, 0.25f));
  CHECK(draws == 0);
}
