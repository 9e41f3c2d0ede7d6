//===- codegen/ParallelCodegen.h - A module's object code, on every core --===//
//
// LLVM's optimizer (at -O1/-O2) and its back end work one function at a
// time, and the kernels are grouped into functions of bounded size
// (codegen/lower/KernelEmitter.cpp), so a model's module splits into
// partitions that compile independently: each function is defined in one
// partition and declared in the others that call it (internal functions
// become hidden: visible to the other partitions, not outside the model's
// library or JIT). Each partition is moved into an LLVMContext of its own
// (as bitcode: a context is never shared between threads), then optimized
// and compiled to an object file of its own on a pool of threads. The JIT
// and a model library link all the objects; --emit=obj combines them into
// one relocatable object.
//
// The partitions are a function of the module alone, never of the number
// of threads, so the objects are the same bytes on 1 thread or 16, and the
// compile cache's key needs no thread count.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <string>
#include <vector>

#include <llvm/IR/Module.h>
#include <llvm/Target/TargetMachine.h>

#include "codegen/GemmConfig.h"

namespace dlc {

class CompileCache;

/// The partition count grows with the module by powers of two, about this
/// many LLVM instructions (before optimization) to a partition, up to
/// kMaxPartitions: each partition costs the back end a fixed amount, and a
/// power of two splits evenly over 2, 4 or 8 cores.
constexpr unsigned kPartitionInstructions = 2000;
constexpr unsigned kMaxPartitions = 16;
/// The GEMM's kernel library (codegen/Gemm.h) goes into partitions of its
/// own, after the model's: this many (it is about half of a small model's
/// code, and the first compile of it runs on two cores).
constexpr unsigned kLibraryPartitions = 2;

/// The threads a compile uses when asked for 0: one per core this process
/// may run on.
unsigned defaultCompileThreads();

/// Which partition each function with a body goes to, in the module's
/// order (the largest functions first into the least loaded partition; the
/// GEMM kernel library's functions into the last kLibraryPartitions).
std::vector<unsigned> partitionFunctions(const llvm::Module &m, unsigned &partitions);

/// Optimizes `m` at -O`optLevel` for `tm` and compiles it, partition by
/// partition on up to `threads` threads (0: defaultCompileThreads()), into
/// one object file per partition. `m` is consumed (its internal functions
/// are made hidden). With -time-passes the partitions compile one at a time
/// (LLVM's timers are not thread-safe). False with `error` on failure.
///
/// The GEMM's kernel library (codegen/Gemm.h) is in the last
/// kLibraryPartitions partitions, with nothing of the model in them. With
/// `library` (the JIT's kernel cache, for a module that calls the GEMM):
/// when it holds the library's objects (an earlier compile on this host
/// stored them), `m`'s library functions are compiled as declarations and
/// those objects are added to `objects`; otherwise the whole library of
/// `gemm` is added to `m` (completeGemmLibrary) and its partitions' objects
/// are stored under the key.
struct KernelLibraryCache {
  const CompileCache *cache = nullptr;
  std::string key;                  ///< kernelLibraryCacheKey of `gemm`
  GemmConfig gemm;                  ///< the module's config
  std::vector<std::string> objects; ///< from the cache (a hit), else empty
};
bool compileModule(llvm::Module &m, const llvm::TargetMachine &tm, int optLevel, unsigned threads,
                   std::vector<std::string> &objects, std::string &error, const KernelLibraryCache *library = nullptr);

/// Writes the objects of compileModule to `path` as one relocatable object:
/// one is written as it is, several are combined by the C compiler `cc` (a
/// relocatable link, `cc -r`). False with `error` on failure.
bool writeObjectFile(const std::vector<std::string> &objects, const std::string &path, const std::string &cc,
                     std::string &error);

} // namespace dlc
