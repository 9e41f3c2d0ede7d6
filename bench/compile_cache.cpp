//===- bench/compile_cache.cpp - Cold and cached JIT compiles -------------===//
//
// For each model of bench/models: compileFile with an empty compile cache
// (cold: front end, passes, lowering, LLVM, the store, the model's creation),
// then with the entry it left (cached: front end, passes, the load, the JIT
// link, the model's creation), in ROUNDS interleaved rounds; with several
// --threads counts, the cold compile once at each count in every round
// (CompileOptions::compileThreads; the cached one at the first count).
// Prints one key=value line per model and thread count with the medians and
// minimums (bench/compile_time.sh runs it; docs/compile-time.md has a run).
//
//   compile_cache MODELS_DIR [models=tiny,small,mnist,wide,cnn] [rounds=5] [--threads=0] [--phases]
//
// --threads=1,2: the thread counts (0: one per core, the default).
// --phases: then one more cold and cached compile of each model with dlc's
// phase timers on (-time-passes), printed to stderr.
//
//===----------------------------------------------------------------------===//
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <sys/resource.h>
#include <unistd.h>

#include <dlc/dlc.hpp>
#include <llvm/Pass.h>
#include <llvm/Support/Timer.h>
#include <llvm/Support/raw_ostream.h>

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
double minimum(const std::vector<double> &v) { return *std::min_element(v.begin(), v.end()); }

/// The process's CPU time so far (every thread's, user and system), in ms.
double cpuMilliseconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto ms = [](const timeval &t) { return t.tv_sec * 1e3 + t.tv_usec / 1e3; };
  return ms(u.ru_utime) + ms(u.ru_stime);
}

/// Milliseconds of one compileFile, wall and CPU; negative when it failed or
/// the cache did not do what `cached` says.
double timedCompile(const std::string &path, const std::string &cacheDir, bool cached, unsigned threads,
                    double *cpu = nullptr) {
  dlc::CompileOptions options;
  options.cacheDir = cacheDir;
  options.compileThreads = threads;
  double cpu0 = cpuMilliseconds();
  auto t0 = std::chrono::steady_clock::now();
  dlc::CompileResult r = dlc::compileFile(path, options);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (cpu) *cpu = cpuMilliseconds() - cpu0;
  if (!r) std::fprintf(stderr, "%s", r.rendered.c_str());
  return r && r.fromCache == cached ? ms : -1;
}

std::vector<std::string> split(const std::string &list) {
  std::vector<std::string> out;
  std::stringstream in(list);
  for (std::string item; std::getline(in, item, ',');) out.push_back(item);
  return out;
}

} // namespace

int main(int argc, char **argv) {
  std::vector<std::string> positional;
  std::vector<unsigned> threadCounts{0};
  bool phases = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--phases") phases = true;
    else if (arg.rfind("--threads=", 0) == 0) {
      threadCounts.clear();
      for (const std::string &t : split(arg.substr(10))) threadCounts.push_back(unsigned(std::stoul(t)));
    } else positional.push_back(arg);
  }
  if (positional.empty() || threadCounts.empty()) {
    std::fprintf(stderr, "usage: compile_cache MODELS_DIR [models] [rounds] [--threads=N,M] [--phases]\n");
    return 2;
  }
  std::string dir = positional[0];
  std::vector<std::string> models = split(positional.size() > 1 ? positional[1] : "tiny,small,mnist,wide,cnn");
  int rounds = positional.size() > 2 ? std::atoi(positional[2].c_str()) : 5;
  auto cacheRoot = std::filesystem::temp_directory_path() / ("dlc-compile-cache-bench-" + std::to_string(getpid()));
  std::map<std::pair<std::string, unsigned>, std::vector<double>> cold, coldCpu;
  std::map<std::string, std::vector<double>> cached;
  for (int round = 0; round < rounds; ++round)
    for (const std::string &m : models)
      for (unsigned threads : threadCounts) {
        std::filesystem::remove_all(cacheRoot);
        std::string path = dir + "/" + m + ".net";
        double cpu = 0, c = timedCompile(path, cacheRoot.string(), false, threads, &cpu);
        double h = threads == threadCounts[0] ? timedCompile(path, cacheRoot.string(), true, threads) : 0;
        if (c < 0 || h < 0) {
          std::fprintf(stderr, "compile_cache: %s: the compile failed or the cache missed\n", m.c_str());
          return 1;
        }
        cold[{m, threads}].push_back(c);
        coldCpu[{m, threads}].push_back(cpu);
        if (threads == threadCounts[0]) cached[m].push_back(h);
      }
  if (phases) {
    llvm::TimePassesIsEnabled = true;
    for (const std::string &m : models)
      for (bool cachedRun : {false, true}) {
        if (!cachedRun) std::filesystem::remove_all(cacheRoot);
        llvm::TimerGroup::clearAll(); // each run's own times
        if (timedCompile(dir + "/" + m + ".net", cacheRoot.string(), cachedRun, threadCounts[0]) < 0) return 1;
        llvm::errs() << "== " << m << (cachedRun ? ", cached" : ", cold") << "\n";
        llvm::TimerGroup::printAll(llvm::errs());
      }
  }
  std::filesystem::remove_all(cacheRoot);
  for (const std::string &m : models)
    for (unsigned threads : threadCounts) {
      const std::vector<double> &c = cold[{m, threads}];
      std::printf("peer=dlc model=%s rounds=%d compile_threads=%u cold_compile_ms=%.1f cold_min_ms=%.1f cold_cpu_ms=%.1f",
                  m.c_str(), rounds, threads, median(c), minimum(c), median(coldCpu[{m, threads}]));
      if (threads == threadCounts[0])
        std::printf(" cached_compile_ms=%.1f cached_min_ms=%.1f cached_over_cold=%.3f", median(cached[m]),
                    minimum(cached[m]), median(cached[m]) / median(c));
      std::printf("\n");
    }
  return 0;
}
