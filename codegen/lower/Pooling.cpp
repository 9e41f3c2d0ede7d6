//===- codegen/lower/Pooling.cpp - Max and average pooling, and adjoints --===//
//
// One loop nest over the output windows (planes, rows, columns) for every
// pooling op; inside, a loop over the window's taps that lie in the image:
//
//   maxpool2d:        y[o] = x[argmax_o]        maxpool2d_gather: y[o] = h[argmax_o]
//   maxpool2d_bwd:    dx = 0, then dx[argmax_o] += g[o]
//   avgpool2d:        y[o] = sum of the taps / count_o
//   avgpool2d_bwd:    dx = 0, then dx[tap] += g[o] / count_o for each tap of o
//
// (windows that do not overlap store each tap once instead of adding, and
// need no zeros first when they tile the image).
// argmax_o is the window's first NaN, else its first maximum in row-major
// order, as the interpreter picks it. Along an axis without padding every
// window lies in the image and its taps are the constants [0, k), so the
// small tap loops unroll; along a padded axis they are clamped per window.
// A pooling without padding at the sides goes a row of windows at a time,
// in vectors, instead (PoolRows.cpp).
//
//===----------------------------------------------------------------------===//
#include "codegen/lower/KernelEmitter.h"

#include <cmath>

#include <llvm/IR/Intrinsics.h>

#include "ir/PoolGeometry.h"

namespace dlc {

/// One output window: its plane's first pixel in the image, its output
/// element, and its taps in the image (rows first).
struct KernelEmitter::PoolWindow {
  llvm::Value *plane; ///< offset of the window's [H, W] plane in the image
  llvm::Value *out;   ///< offset of its output element
  llvm::Value *rowStart, *colStart; ///< image row and column of tap (0, 0) (may be in the padding)
  llvm::Value *rowTaps[2], *colTaps[2]; ///< taps [first, last) inside the image, per axis
};

namespace {

/// Is this axis padded (then windows may reach outside the image)?
bool padded(int64_t padBegin, int64_t padEnd) { return padBegin > 0 || padEnd > 0; }

} // namespace

void KernelEmitter::forEachPoolWindow(const PoolGeometry &g, const Node *image,
                                      const std::function<void(const PoolWindow &)> &body) {
  const Dims &xs = shape(image);
  llvm::Value *planes = product(Dims(xs.begin(), xs.end() - 2));
  // Taps [first, last) of window o along one axis: [0, k) clamped to the image.
  auto taps = [&](llvm::Value *start, int64_t k, int64_t extent, bool clamp, llvm::Value *out[2]) {
    out[0] = c(0), out[1] = c(k);
    if (!clamp) return;
    out[0] = b_.CreateBinaryIntrinsic(llvm::Intrinsic::smax, c(0), b_.CreateNeg(start));
    out[1] = b_.CreateBinaryIntrinsic(llvm::Intrinsic::smin, c(k), b_.CreateSub(c(extent), start));
  };
  loops({planes, c(g.OH), c(g.OW)}, [&](const Index &i) {
    PoolWindow w{};
    w.plane = b_.CreateMul(i[0], c(g.H * g.W));
    w.out = offset(i, {c(g.OH * g.OW), c(g.OW), c(1)});
    w.rowStart = b_.CreateSub(b_.CreateMul(i[1], c(g.strideH)), c(g.padTop));
    w.colStart = b_.CreateSub(b_.CreateMul(i[2], c(g.strideW)), c(g.padLeft));
    taps(w.rowStart, g.KH, g.H, padded(g.padTop, g.padBottom), w.rowTaps);
    taps(w.colStart, g.KW, g.W, padded(g.padLeft, g.padRight), w.colTaps);
    body(w);
  });
}

/// Windows of at most this many taps, along unpadded axes, are written out
/// tap by tap (straight-line code, no loop per window).
constexpr int64_t kUnrolledTaps = 16;

/// Along an axis without padding the taps are [0, k) for every window.
bool constantTaps(const KernelEmitter::Index &taps) {
  return llvm::isa<llvm::ConstantInt>(taps[0]) && llvm::isa<llvm::ConstantInt>(taps[1]);
}

/// body(offset in the image) for each tap of the window inside the image,
/// in row-major order.
void KernelEmitter::forEachPoolTap(const PoolGeometry &g, const PoolWindow &w,
                                   const std::function<void(llvm::Value *)> &body) {
  auto at = [&](llvm::Value *ky, llvm::Value *kx) {
    llvm::Value *row = b_.CreateAdd(w.plane, b_.CreateMul(b_.CreateAdd(w.rowStart, ky), c(g.W)));
    return b_.CreateAdd(row, b_.CreateAdd(w.colStart, kx));
  };
  if (constantTaps({w.rowTaps[0], w.rowTaps[1]}) && constantTaps({w.colTaps[0], w.colTaps[1]}) &&
      g.KH * g.KW <= kUnrolledTaps) {
    for (int64_t ky = 0; ky < g.KH; ++ky)
      for (int64_t kx = 0; kx < g.KW; ++kx) body(at(c(ky), c(kx)));
    return;
  }
  range(w.rowTaps[0], w.rowTaps[1], [&](llvm::Value *ky) {
    range(w.colTaps[0], w.colTaps[1], [&](llvm::Value *kx) { body(at(ky, kx)); });
  });
}

/// The window's divisor as a float: its taps in the image, or kh kw.
llvm::Value *KernelEmitter::poolCount(const PoolGeometry &g, const PoolWindow &w) {
  if (g.countIncludePad) return cf(double(g.KH * g.KW));
  llvm::Value *rows = b_.CreateSub(w.rowTaps[1], w.rowTaps[0]), *cols = b_.CreateSub(w.colTaps[1], w.colTaps[0]);
  return b_.CreateSIToFP(b_.CreateMul(rows, cols), f32_);
}

void KernelEmitter::lowerPool(const Node &n) {
  PoolGeometry g = poolGeometry(n);
  bool gradient = n.kind == OpKind::MaxPool2DBwd || n.kind == OpKind::AvgPool2DBwd;
  // Windows that do not overlap write each of their taps once (no sum), and
  // when they tile the image, every pixel: the gradient needs no zeros first.
  bool disjoint = g.strideH >= g.KH && g.strideW >= g.KW;
  bool tiles = disjoint && g.strideH == g.KH && g.strideW == g.KW && g.OH * g.KH == g.H && g.OW * g.KW == g.W &&
               g.padTop + g.padLeft + g.padBottom + g.padRight == 0;
  if (gradient && !tiles) loops({product(shape(&n))}, [&](const Index &i) { store(&n, i[0], cf(0)); });
  if (poolRowsApply(n, g)) return lowerPoolRows(n, g);
  const Node *image = n.kind == OpKind::AvgPool2DBwd ? &n : n.operands[0];
  forEachPoolWindow(g, image, [&](const PoolWindow &w) {
    if (n.kind == OpKind::AvgPool2D || n.kind == OpKind::AvgPool2DBwd) averageWindow(n, g, w, disjoint);
    else maxWindow(n, g, w, disjoint);
  });
}

/// A value of the function kept in a register across the window's taps
/// (an entry-block alloca, which becomes one).
llvm::Value *KernelEmitter::windowVariable(llvm::Type *type) {
  llvm::IRBuilder<> entry(&fn_->getEntryBlock(), fn_->getEntryBlock().getFirstInsertionPt());
  return entry.CreateAlloca(type);
}

// avgpool2d: y[o] = the taps' sum / count; avgpool2d_bwd: each tap += g[o] / count.
void KernelEmitter::averageWindow(const Node &n, const PoolGeometry &g, const PoolWindow &w, bool disjoint) {
  if (n.kind == OpKind::AvgPool2DBwd) {
    llvm::Value *share = b_.CreateFDiv(load(n.operands[0], w.out), poolCount(g, w));
    forEachPoolTap(g, w, [&](llvm::Value *tap) {
      store(&n, tap, disjoint ? share : b_.CreateFAdd(load(&n, tap), share));
    });
    return;
  }
  llvm::Value *sum = windowVariable(f32_);
  b_.CreateStore(cf(0), sum);
  forEachPoolTap(g, w, [&](llvm::Value *tap) {
    b_.CreateStore(b_.CreateFAdd(b_.CreateLoad(f32_, sum), load(n.operands[0], tap)), sum);
  });
  store(&n, w.out, b_.CreateFDiv(b_.CreateLoad(f32_, sum), poolCount(g, w)));
}

// The window's maximum (and, where needed, its argmax): the first tap
// inside the image, then each later one that is greater, or a NaN while the
// best is not one. maxpool2d stores it; maxpool2d_gather reads h there;
// maxpool2d_bwd adds g there, or (disjoint windows) stores g at the first
// tap equal to the maximum and 0 at the others, without an index, so that
// the row of windows vectorizes.
void KernelEmitter::maxWindow(const Node &n, const PoolGeometry &g, const PoolWindow &w, bool disjoint) {
  const Node *x = n.operands[0];
  bool indexed = n.kind == OpKind::MaxPool2DGather || (n.kind == OpKind::MaxPool2DBwd && !disjoint);
  llvm::Value *best = windowVariable(f32_), *at = indexed ? windowVariable(i64_) : nullptr;
  llvm::Value *first = b_.CreateAdd(w.plane, b_.CreateAdd(b_.CreateMul(b_.CreateAdd(w.rowStart, w.rowTaps[0]), c(g.W)),
                                                          b_.CreateAdd(w.colStart, w.colTaps[0])));
  b_.CreateStore(load(x, first), best);
  if (at) b_.CreateStore(first, at);
  forEachPoolTap(g, w, [&](llvm::Value *tap) {
    llvm::Value *v = load(x, tap), *cur = b_.CreateLoad(f32_, best);
    llvm::Value *nan = b_.CreateAnd(b_.CreateFCmpUNO(v, v), b_.CreateFCmpORD(cur, cur));
    llvm::Value *take = b_.CreateOr(b_.CreateFCmpOGT(v, cur), nan);
    b_.CreateStore(b_.CreateSelect(take, v, cur), best);
    if (at) b_.CreateStore(b_.CreateSelect(take, tap, b_.CreateLoad(i64_, at)), at);
  });
  llvm::Value *max = b_.CreateLoad(f32_, best);
  if (n.kind == OpKind::MaxPool2D) return store(&n, w.out, max);
  if (n.kind == OpKind::MaxPool2DGather) return store(&n, w.out, load(n.operands[1], b_.CreateLoad(i64_, at)));
  llvm::Value *grad = load(n.operands[1], w.out);
  if (at) {
    llvm::Value *argmax = b_.CreateLoad(i64_, at);
    return store(&n, argmax, b_.CreateFAdd(load(&n, argmax), grad));
  }
  llvm::Value *taken = windowVariable(b_.getInt1Ty()), *maxIsNan = b_.CreateFCmpUNO(max, max);
  b_.CreateStore(b_.getFalse(), taken);
  forEachPoolTap(g, w, [&](llvm::Value *tap) {
    llvm::Value *v = load(x, tap), *before = b_.CreateLoad(b_.getInt1Ty(), taken);
    llvm::Value *match = b_.CreateOr(b_.CreateFCmpOEQ(v, max), b_.CreateAnd(b_.CreateFCmpUNO(v, v), maxIsNan));
    store(&n, tap, b_.CreateSelect(b_.CreateAnd(match, b_.CreateNot(before)), grad, cf(0)));
    b_.CreateStore(b_.CreateOr(before, match), taken);
  });
}

} // namespace dlc
