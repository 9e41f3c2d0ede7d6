//===- bench/compile_cache.cpp - Cold and cached JIT compiles -------------===//
//
// For each model of bench/models: compileFile with an empty compile cache
// (cold: front end, passes, lowering, LLVM, and the store), then with the
// entry it left (cached: front end, passes, the load and the JIT link), in
// ROUNDS interleaved rounds. Prints one key=value line per model with the
// medians (bench/compile_time.sh runs it; docs/compile-time.md has a run).
//
//   compile_cache MODELS_DIR [models=tiny,small,mnist,wide,cnn] [rounds=5] [--phases]
//
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

/// Milliseconds of one compileFile; negative when it failed or the cache did not do what `cached` says.
double timedCompile(const std::string &path, const std::string &cacheDir, bool cached) {
  dlc::CompileOptions options;
  options.cacheDir = cacheDir;
  auto t0 = std::chrono::steady_clock::now();
  dlc::CompileResult r = dlc::compileFile(path, options);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (!r) std::fprintf(stderr, "%s", r.rendered.c_str());
  return r && r.fromCache == cached ? ms : -1;
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: compile_cache MODELS_DIR [models] [rounds]\n");
    return 2;
  }
  std::string dir = argv[1], wanted = argc > 2 ? argv[2] : "tiny,small,mnist,wide,cnn";
  int rounds = argc > 3 ? std::atoi(argv[3]) : 5;
  std::vector<std::string> models;
  std::stringstream list(wanted);
  for (std::string m; std::getline(list, m, ',');) models.push_back(m);
  auto cacheRoot = std::filesystem::temp_directory_path() / ("dlc-compile-cache-bench-" + std::to_string(getpid()));
  std::map<std::string, std::vector<double>> cold, cached;
  for (int round = 0; round < rounds; ++round)
    for (const std::string &m : models) {
      std::filesystem::remove_all(cacheRoot);
      std::string path = dir + "/" + m + ".net";
      double c = timedCompile(path, cacheRoot.string(), false), h = timedCompile(path, cacheRoot.string(), true);
      if (c < 0 || h < 0) {
        std::fprintf(stderr, "compile_cache: %s: the compile failed or the cache missed\n", m.c_str());
        return 1;
      }
      cold[m].push_back(c);
      cached[m].push_back(h);
    }
  if (argc > 4 && std::string(argv[4]) == "--phases") {
    llvm::TimePassesIsEnabled = true;
    for (const std::string &m : models)
      for (bool cachedRun : {false, true}) {
        if (!cachedRun) std::filesystem::remove_all(cacheRoot);
        if (timedCompile(dir + "/" + m + ".net", cacheRoot.string(), cachedRun) < 0) return 1;
        llvm::errs() << "== " << m << (cachedRun ? ", cached" : ", cold") << "\n";
        llvm::TimerGroup::printAll(llvm::errs());
      }
  }
  std::filesystem::remove_all(cacheRoot);
  for (const std::string &m : models)
    std::printf("peer=dlc model=%s rounds=%d cold_compile_ms=%.1f cached_compile_ms=%.1f cached_over_cold=%.3f\n",
                m.c_str(), rounds, median(cold[m]), median(cached[m]), median(cached[m]) / median(cold[m]));
  return 0;
}
