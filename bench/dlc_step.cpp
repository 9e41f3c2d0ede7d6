//===- bench/dlc_step.cpp - dlc's training step, timed like the peers -----===//
//
// For each model of bench/models: JIT-compile it (timing the compile), run 30
// warm-up train steps on one fixed synthetic batch, then time single steps
// (forward, backward, SGD-momentum update: one train_step call) until at
// least 200 steps and MIN_TIME seconds. Prints one key=value line per model
// with the same keys as ../shared/bench/peers (peer=, model=, step_ms=, ...).
//
//   dlc_step MODELS_DIR [models=tiny,small,mnist,wide,cnn] [min_time=2] [threads=1] [--rss] [--cpu=NAME]
//
// `dlc_step examples mnist_cnn,fashion_cnn` times the two example CNNs
// (pooling layers) the same way.
//
// --cpu=NAME compiles for that LLVM CPU instead of the host's (x86-64-v3: the
// AVX2 kernels on an AVX-512 host), to compare kernels on one machine.
//
//===----------------------------------------------------------------------===//
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include <sys/resource.h>
#include <unistd.h>
#include <time.h>

#include <dlc/dlc.hpp>

namespace {

struct BenchModel {
  const char *name, *peerName, *shape;
  double forwardMacs;    ///< multiply-adds of the GEMMs/convs of one forward pass, per sample
  double firstLayerMacs; ///< of which the first layer (its input gradient is not needed)
};

const BenchModel kModels[] = {
    {"tiny", "tiny", "2-16-1", 2 * 16 + 16, 2 * 16},
    {"small", "mlp_a", "784-128-10", 784 * 128 + 128 * 10, 784 * 128},
    {"mnist", "mlp_b", "784-256-256-10", 784 * 256 + 256 * 256 + 256 * 10, 784 * 256},
    {"wide", "mlp_c", "784-1024-1024-10", 784 * 1024 + 1024 * 1024 + 1024 * 10, 784 * 1024},
    {"cnn", "conv", "1x28x28-c8k3-10", 28 * 28 * 8 * 9 + 6272 * 10, 28 * 28 * 8 * 9},
    // examples/ (pass it as MODELS_DIR): two conv + 2x2 max-pool blocks, then dense
    {"mnist_cnn", "mnist_cnn", "1x28x28-c16k3-p2-c32k3-p2-128-10",
     28 * 28 * 16 * 9 + 14 * 14 * 32 * 16 * 9 + 1568 * 128 + 128 * 10, 28 * 28 * 16 * 9},
    {"fashion_cnn", "fashion_cnn", "1x28x28-c16k3-p2-c32k3-p2-128-10",
     28 * 28 * 16 * 9 + 14 * 14 * 32 * 16 * 9 + 1568 * 128 + 128 * 10, 28 * 28 * 16 * 9},
};

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[size_t(p * double(v.size() - 1))];
}

} // namespace

int main(int argc, char **argv) {
  dlc::CompileOptions options;
  options.cache = false; // compile_ms is a cold compile (bench/compile_time.sh times the cache)
  options.kernelCache = false;
  // compile_kernels_cached_ms: a compile of the model with the GEMM kernel
  // library in the cache (as after any earlier model on this host), in a
  // scratch cache directory of this process.
  std::string scratch = (std::filesystem::temp_directory_path() / ("dlc_step-" + std::to_string(getpid()))).string();
  dlc::CompileOptions warm = options;
  warm.kernelCache = true;
  warm.cacheDir = scratch;
  for (int i = 1; i < argc; ++i) // --cpu=NAME, anywhere: taken out of the positional arguments
    if (std::string(argv[i]).rfind("--cpu=", 0) == 0) {
      options.cpu = argv[i] + 6;
      for (int j = i--; j + 1 < argc; ++j) argv[j] = argv[j + 1];
      --argc;
    }
  if (argc < 2) {
    std::fprintf(stderr, "usage: dlc_step MODELS_DIR [models] [min_time] [threads] [--rss] [--cpu=NAME]\n"
                         "  --rss: instead of timing, 100 train steps of one model, then the process's peak RSS\n");
    return 2;
  }
  std::string dir = argv[1], wanted = argc > 2 ? argv[2] : "tiny,small,mnist,wide,cnn";
  double minTime = argc > 3 ? std::atof(argv[3]) : 2.0;
  int threads = argc > 4 ? std::atoi(argv[4]) : 1;
  bool rss = argc > 5 && std::string(argv[5]) == "--rss";
  for (const BenchModel &bm : kModels) {
    if (("," + wanted + ",").find("," + std::string(bm.name) + ",") == std::string::npos) continue;
    auto t0 = std::chrono::steady_clock::now();
    dlc::CompileResult r = dlc::compileFile(dir + "/" + bm.name + ".net", options);
    double compileMs = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (!r) {
      std::fprintf(stderr, "%s", r.rendered.c_str());
      return 1;
    }
    double kernelsCachedMs = -1;
    if (!rss && dlc::compileFile(dir + "/" + bm.name + ".net", warm)) { // stores the library, if not there yet
      auto w0 = std::chrono::steady_clock::now();
      dlc::CompileResult again = dlc::compileFile(dir + "/" + bm.name + ".net", warm);
      if (again && again.kernelsFromCache)
        kernelsCachedMs = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - w0).count();
    }
    dlc::Model &m = *r.model;
    const int64_t n = m.maxBatch();
    // One fixed synthetic batch (seeded), as the peers use.
    std::vector<std::vector<float>> inputs, floatLabels;
    std::vector<std::vector<int32_t>> classLabels;
    std::vector<const float *> in;
    std::vector<const void *> lab;
    uint64_t state = 0;
    auto next = [&] {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      return float(state >> 40) / float(1 << 24);
    };
    for (const dlc_tensor_info &t : m.tensors()) {
      int64_t count = 1;
      for (int d = 0; d < t.rank; ++d) count *= t.dims[d] < 0 ? n : t.dims[d];
      if (t.role == DLC_ROLE_INPUT) {
        inputs.emplace_back(size_t(count));
        for (float &v : inputs.back()) v = next();
        in.push_back(inputs.back().data());
      } else if (t.role == DLC_ROLE_LABEL && t.dtype == DLC_I32) {
        classLabels.emplace_back(size_t(count));
        for (size_t i = 0; i < classLabels.back().size(); ++i) classLabels.back()[i] = int32_t(i % 10);
        lab.push_back(classLabels.back().data());
      } else if (t.role == DLC_ROLE_LABEL) {
        floatLabels.emplace_back(size_t(count));
        for (float &v : floatLabels.back()) v = next() - 0.5f;
        lab.push_back(floatLabels.back().data());
      }
    }
    if (m.setHyper("threads", threads) != DLC_OK) {
      std::fprintf(stderr, "threads: %s\n", m.lastError());
      return 1;
    }
    float loss = 0;
    if (rss) { // peak memory of a 100-step training loop (compiler included)
      for (int i = 0; i < 100; ++i) m.trainStep(n, in, lab, &loss);
      struct rusage usage;
      getrusage(RUSAGE_SELF, &usage);
      std::printf("peer=dlc threads=%d model=%s steps=100 peak_rss_mb=%.1f arena_mb=%.1f loss_after=%.4f\n", threads,
                  bm.peerName, double(usage.ru_maxrss) / 1024, double(m.arenaBytes()) / (1 << 20), loss);
      return 0;
    }
    // 30 warm-up steps, or fewer (at least 3) for a model slower than 2 s of warm-up.
    auto warm = std::chrono::steady_clock::now();
    for (int i = 0; i < 30; ++i) {
      m.trainStep(n, in, lab, &loss);
      if (i >= 2 && std::chrono::duration<double>(std::chrono::steady_clock::now() - warm).count() > 2) break;
    }
    std::vector<double> times, cpuTimes; // wall and process CPU time (all threads) per step
    size_t oneThread = 0; // timed steps the runtime's thread governor ran on one thread (docs/abi.md)
    auto cpuMs = [] {
      timespec t;
      clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
      return 1e3 * double(t.tv_sec) + 1e-6 * double(t.tv_nsec);
    };
    auto begin = std::chrono::steady_clock::now();
    // At least 200 steps and min_time seconds, as the peers; a slow model stops
    // after 20 s with at least 5 steps, so the whole run stays bounded.
    auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count(); };
    while ((times.size() < 200 || elapsed() < minTime) && !(times.size() >= 5 && elapsed() > 20)) {
      // The CPU clock is a system call (about a microsecond on a VM, where the
      // wall clock is a vDSO read): read it outside the wall-timed window.
      double cpu0 = cpuMs();
      auto s = std::chrono::steady_clock::now();
      dlc_status status = m.trainStep(n, in, lab, &loss);
      auto e = std::chrono::steady_clock::now();
      cpuTimes.push_back(cpuMs() - cpu0);
      if (status != DLC_OK) {
        std::fprintf(stderr, "train_step: %s\n", m.lastError());
        return 1;
      }
      times.push_back(std::chrono::duration<double, std::milli>(e - s).count());
      oneThread += m.hyper("step_threads") == 1;
    }
    double median = percentile(times, 0.5);
    double flops = 2.0 * double(n) * (3 * bm.forwardMacs - bm.firstLayerMacs);
    std::printf("peer=dlc%s%s threads=%d model=%s shape=%s batch=%lld step_ms=%.4f step_p10_ms=%.4f step_p90_ms=%.4f "
                "step_n=%zu steps_on_1_thread=%zu step_cpu_ms=%.4f step_gflops=%.2f compile_ms=%.1f "
                "compile_kernels_cached_ms=%.1f loss_after=%.4f\n",
                options.cpu.empty() ? "" : " cpu=", options.cpu.c_str(), threads, bm.peerName, bm.shape, (long long)n, median, percentile(times, 0.1), percentile(times, 0.9),
                times.size(), oneThread, percentile(cpuTimes, 0.5), flops / (median * 1e6), compileMs, kernelsCachedMs, loss);
    std::fflush(stdout);
  }
  std::error_code ignored;
  std::filesystem::remove_all(scratch, ignored);
  return 0;
}
