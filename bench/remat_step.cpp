//===- bench/remat_step.cpp - What --remat=memory saves and what it costs --===//
//
// Compiles one model twice, as is and with remat = "memory", and prints for
// each the arena size and the median time of one train step on a fixed
// synthetic batch (interleaved rounds, so load on the machine hits both).
//
//   remat_step MODEL.net [rounds=20]
//
//===----------------------------------------------------------------------===//
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <dlc/dlc.hpp>

namespace {

struct Run {
  std::unique_ptr<dlc::Model> model;
  std::vector<std::vector<float>> inputs;
  std::vector<std::vector<int32_t>> labels;
  std::vector<const float *> in;
  std::vector<const void *> lab;
  std::vector<double> ms;
};

bool prepare(Run &r, const std::string &path, const std::string &remat) {
  dlc::CompileOptions o;
  o.remat = remat;
  dlc::CompileResult c = dlc::compileFile(path, o);
  if (!c) {
    std::fprintf(stderr, "%s", c.rendered.c_str());
    return false;
  }
  r.model = std::move(c.model);
  int64_t n = r.model->maxBatch();
  uint32_t state = 1;
  for (const dlc_tensor_info &t : r.model->tensors()) {
    int64_t count = 1;
    for (int d = 0; d < t.rank; ++d) count *= t.dims[d] < 0 ? n : t.dims[d];
    if (t.role == DLC_ROLE_INPUT) {
      r.inputs.emplace_back(size_t(count));
      for (float &v : r.inputs.back()) v = float((state = state * 1664525u + 1013904223u) >> 8) / float(1 << 24);
      r.in.push_back(r.inputs.back().data());
    } else if (t.role == DLC_ROLE_LABEL) {
      r.labels.emplace_back(size_t(count));
      for (size_t i = 0; i < r.labels.back().size(); ++i) r.labels.back()[i] = int32_t(i % 10);
      r.lab.push_back(r.labels.back().data());
    }
  }
  return true;
}

double step(Run &r) {
  float loss = 0;
  auto t0 = std::chrono::steady_clock::now();
  r.model->trainStep(r.model->maxBatch(), r.in, r.lab, &loss);
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: remat_step MODEL.net [rounds=20]\n");
    return 1;
  }
  int rounds = argc > 2 ? std::atoi(argv[2]) : 20;
  Run plain, remat;
  if (!prepare(plain, argv[1], "") || !prepare(remat, argv[1], "memory")) return 1;
  for (int i = 0; i < 3; ++i) step(plain), step(remat);
  for (int i = 0; i < rounds; ++i) {
    for (int k = 0; k < 5; ++k) plain.ms.push_back(step(plain));
    for (int k = 0; k < 5; ++k) remat.ms.push_back(step(remat));
  }
  double a = double(plain.model->arenaBytes()) / (1 << 20), b = double(remat.model->arenaBytes()) / (1 << 20);
  double ta = median(plain.ms), tb = median(remat.ms);
  std::printf("model=%s batch=%lld\n", argv[1], (long long)plain.model->maxBatch());
  std::printf("remat=none   arena_mb=%.2f step_ms=%.3f\n", a, ta);
  std::printf("remat=memory arena_mb=%.2f step_ms=%.3f\n", b, tb);
  std::printf("saved_mb=%.2f (%.1f%%) time_cost=%+.1f%%\n", a - b, 100 * (a - b) / a, 100 * (tb - ta) / ta);
  return 0;
}
