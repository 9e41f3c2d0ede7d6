//===- codegen/lower/PoolRows.cpp - A row of pooling windows in vectors ---===//
//
// When a pooling has no padding at the left and right, the windows of one
// output row read, for each tap row, image columns j sw + kx: window j of a
// chunk of kLanes windows finds tap kx at lane j of a strided shuffle of one
// contiguous span of (kLanes - 1) sw + kw floats. The chunk is computed in
// vectors of kLanes floats (the last chunk of a row under a mask), so a row
// of 7 or 14 windows, which the loop vectorizer leaves scalar or gathers,
// costs a few vector instructions per tap.
//
// The same formulas as the window-at-a-time code (Pooling.cpp): the running
// maximum takes a greater tap, or a NaN while it is not one; the gradient of
// disjoint max windows goes to the first tap equal to the maximum (a flag
// per lane says one was taken); averages divide by the window's rows in the
// image times kw, or kh kw. Gradient ops take this path only for disjoint
// windows: each tap row is then one span store (zeros between windows).
//
//===----------------------------------------------------------------------===//
#include "codegen/lower/KernelEmitter.h"

#include <llvm/IR/Intrinsics.h>

#include "ir/PoolGeometry.h"

namespace dlc {

namespace {
/// Windows per chunk: 8 floats fill an AVX2 register (half an AVX-512 one).
constexpr int64_t kLanes = 8;
/// The largest kw and sw the spans are built for (a span of at most 64 floats).
constexpr int64_t kMaxSpanStep = 7;
} // namespace

/// One chunk of a row of windows.
struct KernelEmitter::PoolChunk {
  llvm::Value *plane;        ///< offset of the [H, W] plane in the image
  llvm::Value *out;          ///< offset of the chunk's first output element
  llvm::Value *rowStart;     ///< image row of tap row 0 (may be in the padding)
  llvm::Value *rowTaps[2];   ///< tap rows [first, last) inside the image
  llvm::Value *col;          ///< image column of the first window's first tap
  int64_t lanes;             ///< windows in the chunk: kLanes, or fewer at the row's end
  int64_t span, valid;       ///< floats of a tap row the vectors hold, and of them in the image row
};

bool KernelEmitter::poolRowsApply(const Node &n, const PoolGeometry &g) {
  if (g.padLeft || g.padRight || g.KW > kMaxSpanStep || g.strideW > kMaxSpanStep) return false;
  bool gradient = n.kind == OpKind::MaxPool2DBwd || n.kind == OpKind::AvgPool2DBwd;
  return !gradient || (g.strideH >= g.KH && g.strideW >= g.KW);
}

void KernelEmitter::lowerPoolRows(const Node &n, const PoolGeometry &g) {
  const Node *image = n.kind == OpKind::AvgPool2DBwd ? &n : n.operands[0];
  const Dims &xs = shape(image);
  llvm::Value *planes = product(Dims(xs.begin(), xs.end() - 2));
  bool clampRows = g.padTop || g.padBottom;
  loops({planes, c(g.OH)}, [&](const Index &i) {
    PoolChunk chunk{};
    chunk.plane = b_.CreateMul(i[0], c(g.H * g.W));
    chunk.rowStart = b_.CreateSub(b_.CreateMul(i[1], c(g.strideH)), c(g.padTop));
    chunk.rowTaps[0] = c(0), chunk.rowTaps[1] = c(g.KH);
    if (clampRows) {
      chunk.rowTaps[0] = b_.CreateBinaryIntrinsic(llvm::Intrinsic::smax, c(0), b_.CreateNeg(chunk.rowStart));
      chunk.rowTaps[1] = b_.CreateBinaryIntrinsic(llvm::Intrinsic::smin, c(g.KH), b_.CreateSub(c(g.H), chunk.rowStart));
    }
    llvm::Value *rowOut = b_.CreateMul(b_.CreateAdd(b_.CreateMul(i[0], c(g.OH)), i[1]), c(g.OW));
    auto at = [&](llvm::Value *first, int64_t lanes) {
      chunk.out = b_.CreateAdd(rowOut, first);
      chunk.col = b_.CreateMul(first, c(g.strideW));
      chunk.lanes = lanes;
      chunk.span = (kLanes - 1) * g.strideW + g.KW, chunk.valid = (lanes - 1) * g.strideW + g.KW;
      poolChunk(n, g, chunk);
    };
    forEachColumnChunk(g.OW, kLanes, at);
  });
}

/// The mask of the first `count` of `width` lanes.
static llvm::Value *firstLanes(llvm::IRBuilder<> &b, int64_t count, int64_t width) {
  std::vector<llvm::Constant *> bits;
  for (int64_t e = 0; e < width; ++e) bits.push_back(b.getInt1(e < count));
  return llvm::ConstantVector::get(bits);
}

llvm::Value *KernelEmitter::chunkLoad(const Node *n, llvm::Value *at, int64_t width, int64_t valid) {
  auto *type = llvm::FixedVectorType::get(f32_, unsigned(width));
  llvm::Value *ptr = b_.CreateGEP(f32_, buffer(n), at);
  if (valid == width) return tagged(b_.CreateAlignedLoad(type, ptr, llvm::Align(4)), n);
  llvm::Value *mask = firstLanes(b_, valid, width);
  return tagged(b_.CreateMaskedLoad(type, ptr, llvm::Align(4), mask, llvm::Constant::getNullValue(type)), n);
}

void KernelEmitter::chunkStore(const Node *n, llvm::Value *at, llvm::Value *v, int64_t valid) {
  auto width = int64_t(llvm::cast<llvm::FixedVectorType>(v->getType())->getNumElements());
  llvm::Value *ptr = b_.CreateGEP(f32_, buffer(n), at);
  if (valid == width) tagged(b_.CreateAlignedStore(v, ptr, llvm::Align(4)), n);
  else tagged(b_.CreateMaskedStore(v, ptr, llvm::Align(4), firstLanes(b_, valid, width)), n);
}

/// Lane j = span[j sw + kx]: tap kx of each window of the chunk.
static llvm::Value *tapLanes(llvm::IRBuilder<> &b, llvm::Value *span, int64_t kx, int64_t sw) {
  std::vector<int> mask;
  for (int64_t j = 0; j < kLanes; ++j) mask.push_back(int(j * sw + kx));
  return b.CreateShuffleVector(span, mask);
}

/// The span of one tap row from the chunk's per-tap lanes: span[j sw + kx] =
/// taps[kx] lane j, 0 between windows.
static llvm::Value *spanOf(llvm::IRBuilder<> &b, const std::vector<llvm::Value *> &taps, int64_t sw, int64_t span) {
  std::vector<llvm::Value *> parts = taps;
  auto *zero = llvm::Constant::getNullValue(taps[0]->getType());
  parts.push_back(zero);
  while (parts.size() & (parts.size() - 1)) parts.push_back(zero); // a power of two, concatenated pairwise
  while (parts.size() > 1) {
    std::vector<llvm::Value *> next;
    for (size_t p = 0; p < parts.size(); p += 2) {
      auto width = int(llvm::cast<llvm::FixedVectorType>(parts[p]->getType())->getNumElements());
      std::vector<int> both;
      for (int e = 0; e < 2 * width; ++e) both.push_back(e);
      next.push_back(b.CreateShuffleVector(parts[p], parts[p + 1], both));
    }
    parts = next;
  }
  std::vector<int> mask;
  auto kw = int64_t(taps.size());
  for (int64_t e = 0; e < span; ++e)
    mask.push_back(int(e % sw < kw ? (e % sw) * kLanes + e / sw : kw * kLanes));
  return b.CreateShuffleVector(parts[0], mask);
}

/// body(offset of the tap row's span in the image) for each tap row inside the image.
void KernelEmitter::forEachChunkRow(const PoolGeometry &g, const PoolChunk &chunk,
                                    const std::function<void(llvm::Value *)> &body) {
  range(chunk.rowTaps[0], chunk.rowTaps[1], [&](llvm::Value *ky) {
    llvm::Value *row = b_.CreateAdd(chunk.plane, b_.CreateMul(b_.CreateAdd(chunk.rowStart, ky), c(g.W)));
    body(b_.CreateAdd(row, chunk.col));
  });
}

void KernelEmitter::poolChunk(const Node &n, const PoolGeometry &g, const PoolChunk &chunk) {
  if (n.kind == OpKind::AvgPool2D || n.kind == OpKind::AvgPool2DBwd) averageChunk(n, g, chunk);
  else maxChunk(n, g, chunk);
}

// avgpool2d: the taps' sums / counts; avgpool2d_bwd: each tap row's span of g / count.
void KernelEmitter::averageChunk(const Node &n, const PoolGeometry &g, const PoolChunk &chunk) {
  auto *vec = llvm::FixedVectorType::get(f32_, kLanes);
  llvm::Value *rows = g.countIncludePad ? c(g.KH) : b_.CreateSub(chunk.rowTaps[1], chunk.rowTaps[0]);
  llvm::Value *count = b_.CreateVectorSplat(kLanes, b_.CreateSIToFP(b_.CreateMul(rows, c(g.KW)), f32_));
  if (n.kind == OpKind::AvgPool2DBwd) {
    llvm::Value *share = b_.CreateFDiv(chunkLoad(n.operands[0], chunk.out, kLanes, chunk.lanes), count);
    std::vector<llvm::Value *> taps(size_t(g.KW), share);
    llvm::Value *span = spanOf(b_, taps, g.strideW, chunk.span);
    forEachChunkRow(g, chunk, [&](llvm::Value *at) { chunkStore(&n, at, span, chunk.valid); });
    return;
  }
  llvm::Value *sum = windowVariable(vec);
  b_.CreateStore(llvm::Constant::getNullValue(vec), sum);
  forEachChunkRow(g, chunk, [&](llvm::Value *at) {
    llvm::Value *row = chunkLoad(n.operands[0], at, chunk.span, chunk.valid), *s = b_.CreateLoad(vec, sum);
    for (int64_t kx = 0; kx < g.KW; ++kx) s = b_.CreateFAdd(s, tapLanes(b_, row, kx, g.strideW));
    b_.CreateStore(s, sum);
  });
  chunkStore(&n, chunk.out, b_.CreateFDiv(b_.CreateLoad(vec, sum), count), chunk.lanes);
}

// The running maximum of each window (and, for gather, h where it was
// taken); maxpool2d_bwd of disjoint windows then stores g at the first tap
// equal to the maximum, 0 at the others.
void KernelEmitter::maxChunk(const Node &n, const PoolGeometry &g, const PoolChunk &chunk) {
  const Node *x = n.operands[0];
  auto *vec = llvm::FixedVectorType::get(f32_, kLanes);
  auto taps = [&](const Node *of, llvm::Value *at) { return chunkLoad(of, at, chunk.span, chunk.valid); };
  bool gather = n.kind == OpKind::MaxPool2DGather;
  llvm::Value *best = windowVariable(vec), *picked = windowVariable(vec);
  llvm::Value *firstImageRow = b_.CreateAdd(chunk.rowStart, chunk.rowTaps[0]);
  llvm::Value *firstRow = b_.CreateAdd(b_.CreateAdd(chunk.plane, b_.CreateMul(firstImageRow, c(g.W))), chunk.col);
  b_.CreateStore(tapLanes(b_, taps(x, firstRow), 0, g.strideW), best);
  if (gather) b_.CreateStore(tapLanes(b_, taps(n.operands[1], firstRow), 0, g.strideW), picked);
  forEachChunkRow(g, chunk, [&](llvm::Value *at) {
    llvm::Value *row = taps(x, at), *hRow = gather ? taps(n.operands[1], at) : nullptr;
    llvm::Value *cur = b_.CreateLoad(vec, best), *h = gather ? b_.CreateLoad(vec, picked) : nullptr;
    for (int64_t kx = 0; kx < g.KW; ++kx) {
      llvm::Value *v = tapLanes(b_, row, kx, g.strideW);
      llvm::Value *nan = b_.CreateAnd(b_.CreateFCmpUNO(v, v), b_.CreateFCmpORD(cur, cur));
      llvm::Value *take = b_.CreateOr(b_.CreateFCmpOGT(v, cur), nan);
      cur = b_.CreateSelect(take, v, cur);
      if (gather) h = b_.CreateSelect(take, tapLanes(b_, hRow, kx, g.strideW), h);
    }
    b_.CreateStore(cur, best);
    if (gather) b_.CreateStore(h, picked);
  });
  llvm::Value *max = b_.CreateLoad(vec, best);
  if (n.kind == OpKind::MaxPool2D) return chunkStore(&n, chunk.out, max, chunk.lanes);
  if (gather) return chunkStore(&n, chunk.out, b_.CreateLoad(vec, picked), chunk.lanes);
  auto *flags = llvm::FixedVectorType::get(b_.getInt1Ty(), kLanes);
  llvm::Value *taken = windowVariable(flags), *grad = chunkLoad(n.operands[1], chunk.out, kLanes, chunk.lanes);
  llvm::Value *maxIsNan = b_.CreateFCmpUNO(max, max), *zero = llvm::Constant::getNullValue(vec);
  b_.CreateStore(llvm::Constant::getNullValue(flags), taken);
  forEachChunkRow(g, chunk, [&](llvm::Value *at) {
    llvm::Value *row = taps(x, at), *before = b_.CreateLoad(flags, taken);
    std::vector<llvm::Value *> grads;
    for (int64_t kx = 0; kx < g.KW; ++kx) {
      llvm::Value *v = tapLanes(b_, row, kx, g.strideW);
      llvm::Value *match = b_.CreateOr(b_.CreateFCmpOEQ(v, max), b_.CreateAnd(b_.CreateFCmpUNO(v, v), maxIsNan));
      grads.push_back(b_.CreateSelect(b_.CreateAnd(match, b_.CreateNot(before)), grad, zero));
      before = b_.CreateOr(before, match);
    }
    b_.CreateStore(before, taken);
    chunkStore(&n, at, spanOf(b_, grads, g.strideW, chunk.span), chunk.valid);
  });
}

} // namespace dlc
