//===- tests/unit/TargetTest.cpp - Libraries run only where they can ------===//
//
// The CPU a library is compiled for (--cpu, --target), the features its glue
// checks at create, and the refusal of a CPU that lacks one of them.
//
//===----------------------------------------------------------------------===//
#include <catch2/catch.hpp>

#include <cstdlib>
#include <dlfcn.h>
#include <fstream>
#include <sstream>

#include <llvm/Support/FileSystem.h>

#include "TestUtil.h"
#include "codegen/AOT.h"
#include "codegen/Target.h"
#include "dlc/abi.h"
#include "passes/Pass.h"
#include "runtime/model_runtime.h"

using namespace dlc;
using namespace dlc::test;

namespace {

uint64_t featureBit(const std::string &name) {
  uint64_t bit = 1;
#define DLC_CPU_FEATURE(Id, llvmName, leaf, subleaf, reg, bit_, xcr0) \
  if (name == llvmName) return bit;                                   \
  bit <<= 1;
#include "runtime/CpuFeatures.def"
  FAIL("no feature " << name);
  return 0;
}

uint64_t featuresOf(const std::string &cpu) {
  std::string error;
  auto tm = createTargetMachine({"x86_64-linux-gnu", cpu}, error);
  INFO(error);
  REQUIRE(tm);
  return requiredCpuFeatures(*tm);
}

/// Builds linear_chain's library for `cpu` into its own directory and loads it.
const dlc_api *buildFor(const std::string &cpu, const std::string &dir, std::string *header = nullptr) {
  DiagnosticEngine diags;
  auto g = compile(readExample("linear_chain.net"), diags);
  REQUIRE(g);
  PassContext ctx(diags);
  REQUIRE(runPipeline(g, defaultPipeline(), ctx));
  AOTOptions opts;
  opts.outputPath = dir + "/" + (cpu.empty() ? "default" : cpu) + "/linear_chain.so";
  opts.cpu = cpu;
  REQUIRE(!llvm::sys::fs::create_directories(dir + "/" + (cpu.empty() ? "default" : cpu)));
  INFO(renderDiagnostics(diags));
  REQUIRE(buildSharedLibrary(*g, opts, diags));
  if (header) {
    std::ifstream in(opts.outputPath.substr(0, opts.outputPath.size() - 3) + ".h");
    std::stringstream text;
    text << in.rdbuf();
    *header = text.str();
  }
  void *lib = dlopen(opts.outputPath.c_str(), RTLD_NOW | RTLD_LOCAL);
  INFO((lib ? "" : dlerror()));
  REQUIRE(lib);
  auto get = reinterpret_cast<const dlc_api *(*)()>(dlsym(lib, "dlc_get_api"));
  REQUIRE(get);
  return get();
}

} // namespace

TEST_CASE("the glue's cpuid agrees with libgcc's on this host", "[target]") {
  __builtin_cpu_init();
  uint64_t have = dlc_cpu_features();
  CHECK(bool(have & featureBit("sse4.2")) == bool(__builtin_cpu_supports("sse4.2")));
  CHECK(bool(have & featureBit("popcnt")) == bool(__builtin_cpu_supports("popcnt")));
  CHECK(bool(have & featureBit("avx")) == bool(__builtin_cpu_supports("avx")));
  CHECK(bool(have & featureBit("avx2")) == bool(__builtin_cpu_supports("avx2")));
  CHECK(bool(have & featureBit("fma")) == bool(__builtin_cpu_supports("fma")));
  CHECK(bool(have & featureBit("bmi2")) == bool(__builtin_cpu_supports("bmi2")));
  CHECK(bool(have & featureBit("avx512f")) == bool(__builtin_cpu_supports("avx512f")));
  CHECK(bool(have & featureBit("avx512bw")) == bool(__builtin_cpu_supports("avx512bw")));
  CHECK(bool(have & featureBit("avx512vl")) == bool(__builtin_cpu_supports("avx512vl")));
  CHECK(bool(have & featureBit("avx512fp16")) == bool(__builtin_cpu_supports("avx512fp16")));
  // Code for the host's own CPU needs nothing the host lacks.
  std::string error;
  auto tm = hostTargetMachine(error);
  REQUIRE(tm);
  CHECK((requiredCpuFeatures(*tm) & ~have) == 0);
}

TEST_CASE("a CPU name brings its features: x86-64-v3 has AVX2 and FMA, v4 adds AVX-512", "[target]") {
  uint64_t v2 = featuresOf("x86-64-v2"), v3 = featuresOf("x86-64-v3"), v4 = featuresOf("x86-64-v4");
  CHECK((v2 & featureBit("sse4.2")));
  CHECK_FALSE((v2 & featureBit("avx")));
  CHECK((v3 & featureBit("avx2")));
  CHECK((v3 & featureBit("fma")));
  CHECK_FALSE((v3 & featureBit("avx512f")));
  CHECK((v4 & featureBit("avx512f")));
  CHECK((v4 & featureBit("avx512vl")));
  CHECK((v2 & ~v3) == 0);
  CHECK((v3 & ~v4) == 0);
  CHECK(cpuFeatureNames(featureBit("avx2") | featureBit("fma")) == "fma, avx2");
  CHECK(defaultLibraryCPU("x86_64-linux-gnu") == "x86-64-v3");
  CHECK(defaultLibraryCPU("aarch64-linux-gnu") == "generic");
  std::string error;
  CHECK_FALSE(createTargetMachine({"x86_64-linux-gnu", "no-such-cpu"}, error));
  CHECK(error == "unknown CPU 'no-such-cpu' for x86_64-unknown-linux-gnu (`llc -march=x86_64 -mcpu=help` lists them)");
  CHECK_FALSE(createTargetMachine({"aarch64-linux-gnu", "native"}, error));
  CHECK(error.find("--cpu=native is the CPU of this host") == 0);
}

TEST_CASE("a library refuses at create a CPU without the features it was compiled for", "[target][aot]") {
  llvm::SmallString<128> dir;
  REQUIRE(!llvm::sys::fs::createUniqueDirectory("dlc-target-test", dir));
  std::string header;
  const dlc_api *api = buildFor("", dir.str().str(), &header);
  CHECK(header.find("#define DLC_MODEL_LINEAR_CHAIN_TARGET_CPU \"x86-64-v3\"") != std::string::npos);
  CHECK(header.find("Compiled for x86_64") != std::string::npos);
  dlc_model *m = nullptr;
  REQUIRE(api->create(1, &m) == DLC_OK); // the default library runs here
  api->destroy(m);

  // The same library on a CPU without FMA (pretended): refused, with the reason.
  setenv("DLC_CPU_HIDE", "fma,avx512f", 1);
  m = nullptr;
  CHECK(api->create(1, &m) == DLC_ERR_CPU);
  CHECK(m == nullptr);
  CHECK(std::string(api->last_error(nullptr)) ==
        "create: this library was compiled for CPU 'x86-64-v3' (x86_64-pc-linux-gnu) and needs fma, which this CPU "
        "lacks; rebuild it with --cpu=native or an older --cpu");
  unsetenv("DLC_CPU_HIDE");

  // A CPU with AVX512-FP16 (Sapphire Rapids): refused unless this host has it.
  __builtin_cpu_init();
  const dlc_api *spr = buildFor("sapphirerapids", dir.str().str());
  m = nullptr;
  dlc_status status = spr->create(1, &m);
  if (__builtin_cpu_supports("avx512fp16")) {
    CHECK(status == DLC_OK);
  } else {
    CHECK(status == DLC_ERR_CPU);
    CHECK(std::string(spr->last_error(nullptr)).find("avx512fp16") != std::string::npos);
  }
  if (m) spr->destroy(m);
  llvm::sys::fs::remove_directories(dir);
}

TEST_CASE("the GEMM's kernel follows the target's features, its blocks the caches", "[codegen][gemm][target]") {
  std::string error;
  auto forCpu = [&](const std::string &cpu) {
    auto tm = createTargetMachine({"x86_64-linux-gnu", cpu}, error);
    INFO(error);
    REQUIRE(tm);
    return tm;
  };
  // A library for another CPU never gets the build host's kernel or caches.
  GemmConfig v3 = gemmConfigFor(*forCpu("x86-64-v3"), false), portable = portableGemmConfig();
  CHECK(v3.describe() == portable.describe());
  CHECK(v3.vector == 8);
  CHECK(gemmConfigFor(*forCpu("znver3"), true).vector == 8); // even when it runs here
  GemmConfig v4 = gemmConfigFor(*forCpu("x86-64-v4"), false);
  CHECK(v4.vector == 16);
  CHECK(v4.nr % v4.vector == 0);
  CHECK(2 * v4.mr * v4.nr / v4.vector <= 2 * 28); // the tile fits the 32 registers with the panel row
  // Derived blocks: the AVX2 kernel's B panel takes at most half of L1, the
  // AVX-512 kernel's 1/16 of L2 (it streams from there), A's block half of
  // L2, whole tiles; unknown sizes keep the portable blocks.
  for (int64_t vector : {8, 16})
    for (CacheSizes caches : {CacheSizes{32 << 10, 512 << 10, 32 << 20}, CacheSizes{48 << 10, 1 << 20, 32 << 20},
                              CacheSizes{64 << 10, 2 << 20, 0}}) {
      GemmConfig g = deriveGemmConfig(vector, caches);
      INFO(g.describe());
      CHECK(g.kc * g.nr * 4 <= (vector == 16 ? caches.l2 / 16 : caches.l1d / 2));
      CHECK(g.mc * g.kc * 4 <= caches.l2 / 2);
      CHECK(g.mc % g.mr == 0);
      CHECK(g.nc % g.nr == 0);
      CHECK(g.kc % 8 == 0);
    }
  // Zen 4 (32 KiB L1d, 1 MiB L2): the blocks measured best there (bench/README.md).
  CHECK(deriveGemmConfig(16, {32 << 10, 1 << 20, 32 << 20}).describe() == "avx512 14x32, kc 512 mc 252 nc 512");
  CHECK(deriveGemmConfig(8, {32 << 10, 1 << 20, 32 << 20}).describe() == "avx2 6x16, kc 256 mc 510 nc 1024");
  GemmConfig unknown = deriveGemmConfig(8, {});
  CHECK(unknown.describe() == portable.describe());
  CacheSizes host = hostCacheSizes();
  CHECK(host.l1d >= 0);
  CHECK(deriveGemmConfig(16, host).describe() == deriveGemmConfig(16, hostCacheSizes()).describe()); // deterministic
}

TEST_CASE("DLC_GEMM_BLOCKS's triple replaces the blocks, whole tiles, or is refused", "[codegen][gemm][target]") {
  GemmConfig base = deriveGemmConfig(16, {32 << 10, 1 << 20, 32 << 20});
  auto tuned = withBlocks(base, "384,300,1000");
  REQUIRE(tuned);
  CHECK(tuned->describe() == "avx512 14x32, kc 384 mc 294 nc 992"); // MC and NC rounded down to tiles
  CHECK(tuned->mr == base.mr);
  CHECK(tuned->nr == base.nr);
  for (const char *bad : {"", "384", "384,300", "384,300,1000,4", "384,300,1000x", "a,b,c", "12,300,1000",
                          "100,300,1000", "384,13,1000", "384,300,31", "384,9000,1000", "-384,300,1000",
                          "4096,8192,8192", "99999999999999999999,300,1000"}) {
    INFO(bad);
    CHECK_FALSE(withBlocks(base, bad));
  }
}
