//===- examples/science/fit_plane.cpp - Train the 2-16-16-1 net of the figures ===//
//
// Fits examples/plane_2_16_16_1.net (square loss) to
// F(v) = sin(1.5 v1) cos(1.5 v2) on 4,096 points of [-2, 2]^2 with the
// compiled train_step, starting from the initializers with the given seed
// (the network `dlc regions --seed S` draws), and saves a checkpoint that
// `dlc regions --checkpoint` reads.
//
//   fit_plane OUT.safetensors [SEED] [STEPS]
//
//===----------------------------------------------------------------------===//
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "dlc/dlc.hpp"

int main(int argc, char **argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: fit_plane OUT.safetensors [SEED] [STEPS]\n");
    return 1;
  }
  dlc::CompileOptions options;
  options.seed = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 0;
  const int steps = argc > 3 ? std::atoi(argv[3]) : 3000;
  dlc::CompileResult r = dlc::compileFile(DLC_EXAMPLES_DIR "/plane_2_16_16_1.net", options);
  if (!r) {
    std::fprintf(stderr, "%s", r.rendered.c_str());
    return 1;
  }
  dlc::Model &m = *r.model;
  const int count = 4096, batch = int(m.maxBatch());
  std::mt19937_64 rng(options.seed + 1);
  std::uniform_real_distribution<float> u(-2, 2);
  std::vector<float> v(static_cast<size_t>(2 * count)), t(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) {
    v[size_t(2 * i)] = u(rng), v[size_t(2 * i + 1)] = u(rng);
    t[size_t(i)] = float(std::sin(1.5 * v[size_t(2 * i)]) * std::cos(1.5 * v[size_t(2 * i + 1)]));
  }
  double recent = 0;
  for (int s = 0; s < steps; ++s) {
    int at = (s * batch) % count;
    const float *in[] = {v.data() + 2 * at};
    const void *lab[] = {t.data() + at};
    float loss = 0;
    if (m.trainStep(batch, in, lab, &loss) != DLC_OK) {
      std::fprintf(stderr, "fit_plane: %s\n", m.lastError());
      return 1;
    }
    recent = 0.98 * recent + 0.02 * loss;
  }
  std::printf("fit_plane: %d steps of batch %d, mean square error about %.4f\n", steps, batch, recent);
  if (m.save(argv[1]) != DLC_OK) {
    std::fprintf(stderr, "fit_plane: %s\n", m.lastError());
    return 1;
  }
  return 0;
}
