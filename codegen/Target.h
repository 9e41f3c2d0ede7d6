//===- codegen/Target.h - The host target, optimization, object files -----===//
#pragma once

#include <memory>
#include <string>

#include <llvm/IR/Module.h>
#include <llvm/Target/TargetMachine.h>

#include "codegen/GemmConfig.h"

namespace dlc {

/// What code is compiled for: an LLVM triple ("" for the host's) and an LLVM
/// CPU name ("native" for the host's CPU with every feature it has).
struct TargetSpec {
  std::string triple;
  std::string cpu = "native";
};

/// The CPU a library is built for when --cpu is not given: x86-64-v3 (AVX2,
/// FMA: Haswell, Zen 1 and every later x86 CPU) on x86-64, LLVM's "generic"
/// elsewhere. A deployed library must not assume the build machine's CPU.
std::string defaultLibraryCPU(const std::string &triple);

/// Whether code for `triple` runs on this host (same arch, OS and ABI).
bool isHostTriple(const std::string &triple);

/// A target machine for `spec`, with position-independent code so objects
/// can go into shared libraries; null with `error` for an unknown triple or
/// CPU, or "native" for another triple.
std::unique_ptr<llvm::TargetMachine> createTargetMachine(const TargetSpec &spec, std::string &error);

/// A target machine for this host's CPU and features (the JIT's).
std::unique_ptr<llvm::TargetMachine> hostTargetMachine(std::string &error);

/// The features of runtime/CpuFeatures.def that code for `tm` may use, as the
/// mask the library's glue checks at create (0 off x86).
uint64_t requiredCpuFeatures(const llvm::TargetMachine &tm);

/// "avx, avx2, fma": the LLVM names of the features in such a mask.
std::string cpuFeatureNames(uint64_t mask);

/// This host's data cache sizes: from /sys/devices/system/cpu/cpu0/cache,
/// else cpuid (leaf 4, AMD's 0x8000001D, then AMD's 0x80000005/6, which is
/// all a VM may show); 0 where neither says.
CacheSizes hostCacheSizes();

/// The GEMM kernel and blocks for code compiled by `tm`: the AVX-512 kernel
/// when its features include avx512f, else the AVX2 one; blocks from this
/// host's caches when `runsHere` (the JIT, --cpu=native), else the portable
/// ones. Never the build host's features for another target.
GemmConfig gemmConfigFor(const llvm::TargetMachine &tm, bool runsHere);

/// Stamps the module with the target's layout and triple and every function
/// with the host CPU and features, then optimizes: nothing at -O0, the lean
/// loop pipeline kLoopPipeline at -O1 and -O2, LLVM's default<O3> at -O3.
/// The pass pipeline of -O1/-O2, in `opt -passes=` syntax.
extern const char *const kLoopPipeline;

void optimizeModule(llvm::Module &m, llvm::TargetMachine &tm, int level);

/// Writes the module as a relocatable object file.
bool emitObjectFile(llvm::Module &m, llvm::TargetMachine &tm, const std::string &path, std::string &error);

/// The same object file, in memory (what the JIT links and the compile cache keeps).
bool emitObjectCode(llvm::Module &m, llvm::TargetMachine &tm, std::string &code, std::string &error);

} // namespace dlc
