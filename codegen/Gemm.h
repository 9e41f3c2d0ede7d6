//===- codegen/Gemm.h - Packed, register-blocked matrix products ----------===//
//
// Every matrix product of a compiled model (matmul, and convolution through
// im2col) is emitted as the same blocked loop nest, in the BLIS manner:
//
//   for jc in N by NC:                   columns of C
//     for pc in K by KC:                 depth
//       pack op(B)[pc:+kc, jc:+nc] into panels of NR columns (zero padded;
//         with at most two row tiles, full panels of a row-contiguous B
//         are read in place)
//       for ic in M by MC:               rows of C; that block of op(A) stays in L2
//         (pack op(A)[ic:+mc, pc:+kc] when it is A^T)
//       for jp over the panels:          one kc x NR panel stays in L1
//         for ir in the block by MR:     rows of op(A)
//           micro-kernel: an MR x NR tile of C in vector registers (6 x 16
//                         in 12 AVX registers, or 14 x 32 in 28 AVX-512
//                         ones), kc rank-1 updates by FMA; stored (or
//                         added) with a lane mask at the right edge
//           after the last depth block: the caller's epilogue on the tile
//
// op(A) = A is not packed: the kernel broadcasts one element per row and
// step, reading each row of A contiguously. A^T is packed (a step along its
// depth would jump a whole row of A: a new cache line and page). The micro-kernels (MR
// rows, and the powers of two below MR for the last rows: 13 = 8 + 4 + 1) are
// shared functions of the module. Extents may be
// run-time values (the batch n); the packing buffer is a workspace at the
// end of the arena.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <cstdint>
#include <functional>

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Module.h>

#include "codegen/GemmConfig.h"

namespace dlc {

/// Products below this many multiply-adds stay plain loop nests: packing
/// and tile calls would cost more than they save.
inline constexpr int64_t kGemmMinFlops = 8192;
inline constexpr int64_t kGemmMinColumns = 8; ///< and those with fewer columns (matrix-vector products)
/// Whether a rows x cols x depth product runs as a GEMM (else as loops).
inline bool lowersToGemm(int64_t rows, int64_t cols, int64_t depth) {
  return cols >= kGemmMinColumns && rows * cols * depth >= kGemmMinFlops;
}
/// Products with at most this many MR-row tiles read a row-contiguous op(B)
/// in place instead of packing it (each packed element would serve only
/// these tiles).
inline constexpr int64_t kGemmInPlaceRowTiles = 2;
/// Products from this many multiply-adds up run on the thread pool
/// (runtime/model_runtime.h, dlc_parallel_for), split by columns: each
/// thread packs only its panels of op(B). Those with at least this many
/// NR-column panels split so, unless op(A) = A^T has more rows than op(B)
/// has columns (each thread packs all of A^T when split by columns).
/// (From 1 << 20, cnn's 10-row weight gradient went to the pool and its
/// 2-thread step lost 20% on Zen 5 in session 7: a worker's wake-up on a VM
/// costs tens of us. After session 8's direct convolutions the dense
/// layer's 4-MFLOP products are most of cnn's step, and from 1 << 21 they
/// take the pool: cnn's 2-thread step 0.82 -> 0.75 ms on the Intel Xeon,
/// no other benchmark model moved.)
inline constexpr int64_t kGemmParallelFlops = 1 << 21;
inline constexpr int64_t kGemmParallelPanels = 4;
/// The others, from this many multiply-adds and rows up, split by rows.
/// Every thread then packs all of op(B), which costs about as much as 16
/// rows of product: with fewer rows per thread the second thread does not
/// pay (bench: the small model, 32 rows, ran 0.19 ms at 1 thread and 0.24 ms
/// split in two).
inline constexpr int64_t kGemmParallelRowFlops = 1 << 22;
inline constexpr int64_t kGemmParallelRows = 64;
/// Threads the pool may run (DLC_MAX_THREADS): each gets a packing workspace.
inline constexpr int64_t kGemmMaxThreads = 4;

/// How a product runs on the thread pool: on the caller alone, or split on
/// tile boundaries by rows (`grain` = MR) or by columns (`grain` = NR).
struct PoolSplit {
  enum Axis { None, Rows, Columns } axis = None;
  int64_t grain = 0;
};
/// The split of a rows x cols x depth product with kernel `g`. A weight
/// gradient (dW = dY^T X: its rows are a param's rows, its depth the batch)
/// splits by rows when it has two tiles of them, so that each thread's rows
/// of the gradient are the rows its share of the param's update reads
/// (KernelEmitter::update, codegen/lower/OptimizerUpdate.cpp): moving a gradient
/// written on one core to the other costs more than the product on a VM.
PoolSplit productSplit(int64_t rows, int64_t cols, int64_t depth, bool transposedA, bool weightGradient,
                       const GemmConfig &g);

/// A strided matrix: element (r, c) at base[r * rowStride + c * colStride].
struct StridedMatrix {
  llvm::Value *base, *rowStride, *colStride;
};

/// C (m x n, row-major with row stride ldc) = (or +=) A (m x k) B (k x n).
struct GemmSpec {
  llvm::Value *m, *n, *k;
  StridedMatrix a, b;
  llvm::Value *c, *ldc;
  bool accumulate = false;        ///< C += A B instead of C = A B
  llvm::Value *workspace = nullptr; ///< GemmConfig::workspace() floats
};

/// Called once per finished tile of C: rows [row0, row0 + rows), columns
/// [col0, col0 + cols), all i64 values.
using TileCallback = std::function<void(llvm::Value *row0, llvm::Value *rows, llvm::Value *col0, llvm::Value *cols)>;

/// Emits the product at the builder's insertion point in `fn`, with the
/// micro-kernel and blocks of `config` (one config per module).
void emitGemm(llvm::IRBuilder<> &b, llvm::Function *fn, const GemmConfig &config, const GemmSpec &spec,
              const TileCallback &onTile);

/// The dot kernel: C = A B^T where A's rows and B's rows run contiguously
/// along a long depth and C has few columns (a classifier's 10 outputs over
/// a 6272-wide layer). The packed GEMM's narrow kernel (one vector of
/// columns per row, broadcasting A) uses cols / vector of its lanes there:
/// 10 of 16. The dot kernel keeps a tile of R rows x cols dot products in
/// R * cols vector accumulators, full vectors along the depth (one masked
/// step at its end), then sums each accumulator's lanes once per tile.
/// Nothing is packed; the functions are per column count and not part of
/// the kernel library (dlc.dot.*).
inline constexpr int64_t kDotMaxColumns = 12; ///< from 13 columns an AVX-512 narrow tile uses 13/16 of its lanes
inline constexpr int64_t kDotMinDepth = 256;  ///< below it the lane sums cost more than the lanes save
/// Rows of the dot kernel's tile for a product with `cols` columns and
/// `depth` (static extents), or 0 when the product does not use it (also
/// when a tile would have one row: AVX2, not measured there).
int64_t dotTileRows(const GemmConfig &config, int64_t cols, int64_t depth);
/// Emits C (+)= A op(B) with the dot kernel: op(B) = B^T, A with column
/// stride 1 and B with row stride 1 in `spec` (its n the constant `cols`);
/// `onTile` is called for every finished tile of rows.
void emitDotProduct(llvm::IRBuilder<> &b, llvm::Function *fn, const GemmConfig &config, const GemmSpec &spec,
                    int64_t cols, const TileCallback &onTile);

/// When `m` uses the GEMM (holds a "dlc.gemm." function), adds every
/// micro-kernel and packing function of `cfg` and of its narrow config that
/// it lacks, and moves all of them, by name, to the end of the module: the
/// kernel library is then the same functions in the same order for every
/// model compiled with `cfg`, and its object code is compiled once per host
/// and kept in the compile cache (codegen/ParallelCodegen.h).
void completeGemmLibrary(llvm::Module &m, const GemmConfig &cfg);
/// Whether `f` belongs to the GEMM's kernel library.
bool isGemmLibraryFunction(const llvm::Function &f);

} // namespace dlc
