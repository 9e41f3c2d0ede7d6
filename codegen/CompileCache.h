//===- codegen/CompileCache.h - Object code kept between runs --------------===//
//
// The object code of a compiled model, stored on disk under a key that holds
// everything the code depends on: the graph IR after the pass pipeline, the
// batch capacity, the optimizer, the -O level, the target triple, CPU and
// features, and the version and build of dlc. `dlc train`, `dlc eval`, each
// K-fold fold, a sweep and a host's compileFile of an unchanged model load
// it instead of running LLVM again.
//
// An entry is one file, `<dir>/<sha256 of the key>.dlco`:
//
//   "DLCCACHE" | u32 format | u32 0 | u64 key bytes | key | u64 code bytes |
//   32-byte SHA-256 of the code | code
//
// where the code holds the model's object files (one per partition,
// codegen/ParallelCodegen.h): u64 count | (u64 bytes | object) per object.
//
// Writers write a temporary file in the same directory and rename it over
// the entry, so a concurrent reader sees the old entry, the new one or none,
// never a part. A reader checks the magic, the format, the whole key, the
// sizes and the checksum; an entry that fails any of them is removed and
// reported as a miss (the caller compiles again and stores a good one).
//
//===----------------------------------------------------------------------===//
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <llvm/Target/TargetMachine.h>

#include "codegen/Layout.h"
#include "ir/Graph.h"

namespace dlc {

/// Where the cache lives when no directory is given: $DLC_CACHE_DIR, else
/// $XDG_CACHE_HOME/dlc, else ~/.cache/dlc ("" when none can be found).
std::string defaultCacheDirectory();

/// The key of a model's object code: every input of lowering and code
/// generation, as text (the graph IR is most of it).
std::string compileCacheKey(const Graph &g, const ModelLayout &layout, const std::string &prefix,
                            const llvm::TargetMachine &tm, int optLevel);

/// The key of the GEMM kernel library's objects (codegen/ParallelCodegen.h):
/// dlc's build, the target and -O level, and the GEMM config; the library
/// is generated from these alone (codegen/Gemm.h: completeGemmLibrary).
std::string kernelLibraryCacheKey(const GemmConfig &gemm, const llvm::TargetMachine &tm, int optLevel);

/// A model's object files as one cache entry's code, and back (nullopt when
/// the sizes do not add up to the code's).
std::string packObjects(const std::vector<std::string> &objects);
std::optional<std::vector<std::string>> unpackObjects(llvm::StringRef code);

class CompileCache {
public:
  /// A cache in `directory` ("" for defaultCacheDirectory()); the directory
  /// is created on the first store.
  explicit CompileCache(std::string directory = "");

  const std::string &directory() const { return dir_; }
  /// The file that holds (or would hold) the entry of `key`.
  std::string entryPath(const std::string &key) const;

  /// The code stored under `key`; nullopt when there is none or it fails a
  /// check (then the bad file is removed).
  std::optional<std::string> load(const std::string &key) const;

  /// Stores `code` under `key` atomically; false with `error` (the cache is
  /// an optimization: a caller carries on without it).
  bool store(const std::string &key, const std::string &code, std::string &error) const;

private:
  std::string dir_;
};

} // namespace dlc
