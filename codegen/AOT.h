//===- codegen/AOT.h - `dlc model.net -o model.so` --------------------------===//
//
// Writes a shared library and its C header for one model: the compiled entry
// points (an LLVM object), a generated descriptor table and typed wrappers,
// and the model-independent C glue of dlc/abi.h, linked by the system C
// compiler. The library needs only libc and libm at run time.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <string>

#include "ir/Diagnostics.h"
#include "ir/Graph.h"

namespace dlc {

struct AOTOptions {
  std::string outputPath;  ///< model.so; the header goes beside it as model.h
  int64_t maxBatch = 0;    ///< 0: the train block's batch, else 64
  int optLevel = 2;
  std::string triple;      ///< --target: "" for the host's
  std::string cpu;         ///< --cpu: "" for defaultLibraryCPU(triple), "native" for the host's
  std::string cc;          ///< the C compiler that links it; "" for cc, or TRIPLE-gcc for another machine
  unsigned compileThreads = 0; ///< threads for the code's partitions (codegen/ParallelCodegen.h); 0: one per core
};

/// The C compiler that links code for `triple`: `cc` if given, else cc for
/// this host, else TRIPLE-gcc.
std::string cCompilerName(const std::string &triple, const std::string &cc);

/// What a library's code was compiled for, as its header and glue record it.
struct LibraryTarget {
  std::string triple, cpu;
  uint64_t cpuFeatures = 0; ///< the mask over runtime/CpuFeatures.def that create checks
};

/// Builds the library from `g` (after the default pipeline). Reports failures
/// (including the C compiler's output) to `diags`; an existing file at the
/// output path is replaced only by a complete new one.
bool buildSharedLibrary(const Graph &g, const AOTOptions &opts, DiagnosticEngine &diags);

/// The C header of a model's typed API (also written by buildSharedLibrary).
std::string generateHeader(const Graph &g, int64_t capacity, const LibraryTarget &target);

} // namespace dlc
