//===- codegen/GemmConfig.h - The GEMM's micro-kernel and blocking --------===//
//
// Which micro-kernel the packed GEMM (codegen/Gemm.h) uses and how it blocks
// its loops, chosen once per compiled module from the target it is compiled
// for (codegen/Target.h: gemmConfigFor):
//
//   AVX2 (8-float vectors, 16 registers): 6 x 16 tiles in 12 registers; the
//     kernel of every x86-64-v3 library and of any CPU without AVX-512;
//   AVX-512 (16-float vectors, 32 registers): 14 x 32 tiles in 28 registers,
//     when the target has avx512f (the JIT on an AVX-512 host, a library
//     built with --cpu=native there or for such a CPU).
//
// The blocks (depth kc, rows mc, columns nc) follow from the cache sizes
// (or DLC_GEMM_BLOCKS):
// the host's when the code runs where it is compiled (the JIT, --cpu=native),
// else the constants of `portable` below. The packing workspace (one per
// pool thread, codegen/Layout.h) is sized from them.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace dlc {

struct GemmConfig {
  int64_t vector = 8; ///< floats per vector register: 8 (AVX2, and off x86) or 16 (AVX-512)
  int64_t mr = 6;     ///< rows of a micro-tile
  int64_t nr = 16;    ///< columns of a micro-tile, a multiple of `vector`
  int64_t kc = 256;   ///< depth block: a packed B panel is kc x nr floats (16 KiB here), kept in L1
  int64_t mc = 144;   ///< row block: its rows of A (mc x kc) stay in L2; a multiple of mr
  int64_t nc = 512;   ///< column block: kc x nc floats of packed B, a multiple of nr

  /// Floats of packing workspace one product needs per thread: B's block,
  /// then A's (when A is packed).
  int64_t workspace() const { return kc * nc + mc * kc; }
  /// "avx512 14x32, kc 512 mc 252 nc 512": the compile cache's key and warnings.
  std::string describe() const;
};

/// Cache sizes in bytes (0: unknown).
struct CacheSizes {
  int64_t l1d = 0, l2 = 0, l3 = 0;
};

/// The AVX2 kernel with the blocking it was tuned with (Zen 4: 32 KiB L1,
/// 1 MiB L2): what a library for x86-64-v3 or another machine uses.
GemmConfig portableGemmConfig();

/// The kernel for products of at most one vector of columns (a classifier's
/// 10 outputs): one vector per row of the tile, twice the rows (28 x 16 in
/// 28 AVX-512 registers, 12 x 8 in AVX2's), so that a 10-column product
/// uses 10 of 16 lanes instead of 10 of 32. The same depth and column
/// blocks, a row block within `cfg`'s (the workspace is sized for `cfg`);
/// nothing when that block would be empty.
std::optional<GemmConfig> narrowGemmConfig(const GemmConfig &cfg);

/// The kernel for a vector width (8 or 16 floats) with blocks derived from
/// `caches` (unknown sizes keep the portable blocks). Deterministic.
GemmConfig deriveGemmConfig(int64_t vector, const CacheSizes &caches);

/// `cfg` with the blocks of `spec`, "KC,MC,NC" (DLC_GEMM_BLOCKS, to measure
/// other blockings on a host): KC a multiple of 8 in 16..4096, MC and NC
/// rounded down to whole tiles, at most 8192 each and 64 MiB of packing
/// space; nothing when `spec` is not such a triple.
std::optional<GemmConfig> withBlocks(const GemmConfig &cfg, const std::string &spec);

} // namespace dlc
