//===- codegen/lower/ConvRows.cpp - Few-channel convolutions in vectors ---===//
//
// A convolution with few output channels (a CNN's first layer: one input
// channel, 8 or 16 filters of 3 x 3) is a product too thin for the packed
// GEMM: K[O, taps] cols(x) has O rows and sums only taps deep, so each
// micro-tile loads and stores C about as often as it multiplies, after
// im2col wrote KH KW copies of the image. Such convolutions (stride 1 along
// rows, at most kMaxDirectChannels filters) are computed directly instead, a
// chunk of `vector` output columns of one output row at a time:
//
//   conv2d:            acc[o] += K[o, c, kh, kw] * x[c, oh sh + kh - ph, ow + kw - pw]
//                      for each tap row inside the image: one load of the image
//                      row per kw, one FMA per filter (its weight broadcast);
//   conv2d_bwd_filter: acc[o][kw] += dy[o, oh, ow] * x[c, oh sh + kh - ph, ow + kw - pw]
//                      for one (c, kh) at a time, per lane, over the images of
//                      one chunk of the batch; the lanes are added pairwise at
//                      the end into the chunk's partial sum.
//
// Image columns outside the image are masked off the loads (they read 0);
// lanes past the end of an output row are masked off the stores, and off
// dy's loads in the filter gradient. The filters are taken in groups whose
// accumulators fit the target's vector registers. Every sum runs in an order
// fixed by the geometry and the batch chunks (Convolutions.cpp), so any
// thread count gives the same bits.
//
//===----------------------------------------------------------------------===//
#include "codegen/Gemm.h"
#include "codegen/lower/KernelEmitter.h"

#include <llvm/IR/Intrinsics.h>

namespace dlc {

namespace {
/// Convolutions with more filters than this go through im2col and the GEMM.
constexpr int64_t kMaxDirectChannels = 16;
/// The widest filter the direct loops unroll.
constexpr int64_t kMaxDirectWidth = 7;

/// Filters [first, first + count): as few equal groups as keep `perFilter`
/// accumulators of each group within `budget` registers.
std::vector<std::pair<int64_t, int64_t>> filterGroups(int64_t filters, int64_t perFilter, int64_t budget) {
  int64_t most = std::max<int64_t>(1, budget / perFilter);
  int64_t groups = (filters + most - 1) / most, size = (filters + groups - 1) / groups;
  std::vector<std::pair<int64_t, int64_t>> out;
  for (int64_t first = 0; first < filters; first += size) out.push_back({first, std::min(size, filters - first)});
  return out;
}
} // namespace

bool KernelEmitter::convRowsApply(const Node &n, const ConvGeometry &g) const {
  if (n.kind != OpKind::Conv2D && n.kind != OpKind::Conv2DBwdFilter) return false;
  return g.strideW == 1 && g.KW <= kMaxDirectWidth && g.O <= kMaxDirectChannels;
}

int64_t KernelEmitter::vectorRegisters() const { return layout_.gemm.vector == 16 ? 32 : 16; }

/// Lane j is set where image column `col` + j lies inside [0, W).
llvm::Value *KernelEmitter::columnMask(llvm::Value *col, int64_t width, int64_t imageWidth) {
  std::vector<llvm::Constant *> iota;
  for (int64_t j = 0; j < width; ++j) iota.push_back(b_.getInt32(uint32_t(j)));
  llvm::Value *cols = b_.CreateAdd(llvm::ConstantVector::get(iota),
                                   b_.CreateVectorSplat(unsigned(width), b_.CreateTrunc(col, b_.getInt32Ty())));
  llvm::Value *inside = b_.CreateICmpSGE(cols, llvm::Constant::getNullValue(cols->getType()));
  return b_.CreateAnd(inside, b_.CreateICmpSLT(cols, b_.CreateVectorSplat(unsigned(width), b_.getInt32(uint32_t(imageWidth)))));
}

/// The floats of `n` at `at` .. `at` + width under `mask` (0 where it is clear).
llvm::Value *KernelEmitter::maskedLoad(const Node *n, llvm::Value *at, llvm::Value *mask) {
  auto width = llvm::cast<llvm::FixedVectorType>(mask->getType())->getNumElements();
  auto *type = llvm::FixedVectorType::get(f32_, width);
  llvm::Value *ptr = b_.CreateGEP(f32_, buffer(n), at);
  return tagged(b_.CreateMaskedLoad(type, ptr, llvm::Align(4), mask, llvm::Constant::getNullValue(type)), n);
}

/// `chunk(first column, lanes)` for each chunk of `vector` columns of an
/// output row of `width`: a loop over the full chunks, then the partial last.
void KernelEmitter::forEachColumnChunk(int64_t width, int64_t vector, const ColumnChunk &chunk) {
  range(c(0), c(width / vector), [&](llvm::Value *q) { chunk(b_.CreateMul(q, c(vector)), vector); });
  if (width % vector) chunk(c(width / vector * vector), width % vector);
}

/// The tap rows [first, last) of output row `oh` that lie inside the image
/// (its first image row is oh sh - ph).
std::pair<llvm::Value *, llvm::Value *> KernelEmitter::tapRowsInside(const ConvGeometry &g, llvm::Value *oh) {
  llvm::Value *row0 = b_.CreateSub(b_.CreateMul(oh, c(g.strideH)), c(g.padH));
  llvm::Value *first = b_.CreateBinaryIntrinsic(llvm::Intrinsic::smax, c(0), b_.CreateNeg(row0));
  llvm::Value *last = b_.CreateBinaryIntrinsic(llvm::Intrinsic::smin, c(g.KH), b_.CreateSub(c(g.H), row0));
  return {first, b_.CreateBinaryIntrinsic(llvm::Intrinsic::smax, first, last)};
}

/// y[b] = conv2d(x[b], K) for image `bi`, into the epilogue's buffer (Convolutions.cpp).
void KernelEmitter::convRowsForward(const Node &n, const ConvGeometry &g, llvm::Value *bi) {
  const Node *x = n.operands[0], *kernel = n.operands[1], *target = matmulTarget(n);
  int64_t width = layout_.gemm.vector;
  auto *vec = llvm::FixedVectorType::get(f32_, unsigned(width));
  llvm::Value *xImage = b_.CreateMul(bi, c(g.C * g.H * g.W)), *yImage = b_.CreateMul(bi, c(g.O * g.pixels()));
  auto groups = filterGroups(g.O, 1, vectorRegisters() - 4);
  std::vector<llvm::Value *> acc;
  for (int64_t o = 0; o < groups[0].second; ++o) acc.push_back(windowVariable(vec));
  range(c(0), c(g.OH), [&](llvm::Value *oh) {
    auto [khFirst, khLast] = tapRowsInside(g, oh);
    llvm::Value *row0 = b_.CreateSub(b_.CreateMul(oh, c(g.strideH)), c(g.padH));
    llvm::Value *yRow = b_.CreateAdd(yImage, b_.CreateMul(oh, c(g.OW)));
    auto chunk = [&](llvm::Value *ow0, int64_t lanes) {
      std::vector<llvm::Value *> masks;
      for (int64_t kw = 0; kw < g.KW; ++kw) masks.push_back(columnMask(b_.CreateAdd(ow0, c(kw - g.padW)), width, g.W));
      for (auto [first, count] : groups) {
        for (int64_t o = 0; o < count; ++o) b_.CreateStore(llvm::Constant::getNullValue(vec), acc[size_t(o)]);
        range(c(0), c(g.C), [&](llvm::Value *ci) {
          range(khFirst, khLast, [&](llvm::Value *kh) {
            llvm::Value *rowAt = b_.CreateMul(b_.CreateAdd(b_.CreateMul(ci, c(g.H)), b_.CreateAdd(row0, kh)), c(g.W));
            rowAt = b_.CreateAdd(b_.CreateAdd(xImage, rowAt), ow0);
            llvm::Value *tapAt = b_.CreateMul(b_.CreateAdd(b_.CreateMul(ci, c(g.KH)), kh), c(g.KW));
            std::vector<llvm::Value *> sums;
            for (int64_t o = 0; o < count; ++o) sums.push_back(b_.CreateLoad(vec, acc[size_t(o)]));
            for (int64_t kw = 0; kw < g.KW; ++kw) {
              llvm::Value *xv = maskedLoad(x, b_.CreateAdd(rowAt, c(kw - g.padW)), masks[size_t(kw)]);
              for (int64_t o = 0; o < count; ++o) {
                llvm::Value *w = load(kernel, b_.CreateAdd(tapAt, c((first + o) * g.taps() + kw)));
                llvm::Value *ws = b_.CreateVectorSplat(unsigned(width), w);
                sums[size_t(o)] = b_.CreateIntrinsic(llvm::Intrinsic::fma, {vec}, {ws, xv, sums[size_t(o)]});
              }
            }
            for (int64_t o = 0; o < count; ++o) b_.CreateStore(sums[size_t(o)], acc[size_t(o)]);
          });
        });
        for (int64_t o = 0; o < count; ++o) {
          llvm::Value *at = b_.CreateAdd(b_.CreateAdd(yRow, c((first + o) * g.pixels())), ow0);
          chunkStore(target, at, b_.CreateLoad(vec, acc[size_t(o)]), lanes);
        }
      }
    };
    forEachColumnChunk(g.OW, width, chunk);
  });
}

/// The lanes of `v` added pairwise (halves, then quarters, ...): a fixed order.
llvm::Value *KernelEmitter::laneSum(llvm::Value *v) {
  auto width = int(llvm::cast<llvm::FixedVectorType>(v->getType())->getNumElements());
  for (int half = width / 2; half >= 1; half /= 2) {
    std::vector<int> lo, hi;
    for (int j = 0; j < half; ++j) lo.push_back(j), hi.push_back(j + half);
    v = b_.CreateFAdd(b_.CreateShuffleVector(v, lo), b_.CreateShuffleVector(v, hi));
  }
  return b_.CreateExtractElement(v, uint64_t(0));
}

/// partial += dK over images [first, last) of the batch.
void KernelEmitter::convRowsFilter(const Node &n, const ConvGeometry &g, llvm::Value *firstImage, llvm::Value *lastImage,
                                   llvm::Value *partial) {
  const Node *x = n.operands[0], *dy = n.operands[1];
  int64_t width = layout_.gemm.vector;
  auto *vec = llvm::FixedVectorType::get(f32_, unsigned(width));
  // Each filter of a group holds KW accumulators and, live beside them, its
  // dy: the back end's scheduler loads every filter's dy ahead of the FMAs.
  // Budgeting only the accumulators (8 filters x 3 taps = 24 of AVX-512's 32
  // registers, plus 8 dy and 3 image vectors) spilled every accumulator in
  // the inner loop. More groups cost only the image's loads again: dy is
  // read once either way.
  auto groups = filterGroups(g.O, g.KW + 1, vectorRegisters() - g.KW);
  std::vector<llvm::Value *> acc; // acc[o * KW + kw]
  for (int64_t a = 0; a < groups[0].second * g.KW; ++a) acc.push_back(windowVariable(vec));
  for (auto [first, count] : groups) {
    loops({c(g.C), c(g.KH)}, [&](const Index &tap) {
      llvm::Value *ci = tap[0], *kh = tap[1];
      for (int64_t a = 0; a < count * g.KW; ++a) b_.CreateStore(llvm::Constant::getNullValue(vec), acc[size_t(a)]);
      // Output rows whose tap row oh sh - ph + kh lies inside the image.
      auto [ohFirst, ohLast] = outputsInside(kh, g.strideH, g.padH, g.H, g.OH);
      range(firstImage, lastImage, [&](llvm::Value *bi) {
        llvm::Value *xImage = b_.CreateMul(bi, c(g.C * g.H * g.W)), *yImage = b_.CreateMul(bi, c(g.O * g.pixels()));
        range(ohFirst, ohLast, [&](llvm::Value *oh) {
          llvm::Value *row = b_.CreateAdd(b_.CreateMul(ci, c(g.H)), b_.CreateAdd(b_.CreateMul(oh, c(g.strideH)), b_.CreateSub(kh, c(g.padH))));
          llvm::Value *rowAt = b_.CreateAdd(xImage, b_.CreateMul(row, c(g.W)));
          llvm::Value *dyRow = b_.CreateAdd(yImage, b_.CreateMul(oh, c(g.OW)));
          auto chunk = [&](llvm::Value *ow0, int64_t lanes) {
            std::vector<llvm::Value *> xv;
            for (int64_t kw = 0; kw < g.KW; ++kw) {
              llvm::Value *col = b_.CreateAdd(ow0, c(kw - g.padW));
              xv.push_back(maskedLoad(x, b_.CreateAdd(rowAt, col), columnMask(col, width, g.W)));
            }
            std::vector<llvm::Value *> sums;
            for (int64_t a = 0; a < count * g.KW; ++a) sums.push_back(b_.CreateLoad(vec, acc[size_t(a)]));
            for (int64_t o = 0; o < count; ++o) {
              llvm::Value *d = chunkLoad(dy, b_.CreateAdd(b_.CreateAdd(dyRow, c((first + o) * g.pixels())), ow0), width, lanes);
              for (int64_t kw = 0; kw < g.KW; ++kw) {
                size_t a = size_t(o * g.KW + kw);
                sums[a] = b_.CreateIntrinsic(llvm::Intrinsic::fma, {vec}, {d, xv[size_t(kw)], sums[a]});
              }
            }
            for (int64_t a = 0; a < count * g.KW; ++a) b_.CreateStore(sums[size_t(a)], acc[size_t(a)]);
          };
          forEachColumnChunk(g.OW, width, chunk);
        });
      });
      llvm::Value *tapAt = b_.CreateMul(b_.CreateAdd(b_.CreateMul(ci, c(g.KH)), kh), c(g.KW));
      for (int64_t o = 0; o < count; ++o)
        for (int64_t kw = 0; kw < g.KW; ++kw) {
          llvm::Value *at = b_.CreateGEP(f32_, partial, b_.CreateAdd(tapAt, c((first + o) * g.taps() + kw)));
          llvm::Value *sum = laneSum(b_.CreateLoad(vec, acc[size_t(o * g.KW + kw)]));
          b_.CreateStore(b_.CreateFAdd(b_.CreateLoad(f32_, at), sum), at);
        }
    });
  }
}

} // namespace dlc
