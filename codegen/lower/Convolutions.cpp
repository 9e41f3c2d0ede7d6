//===- codegen/lower/Convolutions.cpp - conv2d and its adjoints -----------===//
//
// Convolutions as matrix products on the im2col matrix of one image (those
// with few filters are computed directly instead, ConvRows.cpp),
// cols[(c, kh, kw), (oh, ow)] = x[c, oh*sh + kh - ph, ow*sw + kw - pw] (0 in the padding):
//   conv2d:        y[b]  = K[O, taps] cols(x[b])
//   bwd data:      dx[b] = col2im(K^T dy[b])
//   bwd filter:    dK   += dy[b] cols(x[b])^T, over the batch
//
// The batch is cut into kGemmMaxThreads fixed chunks of images, whatever the
// thread count; the chunks run on the pool (large convolutions) or in turn,
// each on its thread's workspace, and the filter gradient of chunk q goes to
// partial sum q. The partials are added in chunk order at the end, so any
// thread count gives the same bits.
//
//===----------------------------------------------------------------------===//
#include "codegen/Gemm.h"
#include "codegen/lower/KernelEmitter.h"

namespace dlc {

namespace {
/// Convolutions from this many multiply-adds up split their images over the pool.
constexpr int64_t kConvParallelFlops = 1 << 20;
} // namespace

/// The buffers one image's step works on.
struct KernelEmitter::ConvImage {
  llvm::Value *x;         ///< the image (conv2d_bwd_data: the image gradient)
  llvm::Value *y;         ///< the output (backward ops: its gradient)
  llvm::Value *kernel;    ///< the filter (conv2d_bwd_filter: unused, see partial)
  llvm::Value *cols;      ///< this thread's im2col matrix
  llvm::Value *partial;   ///< this chunk's partial filter gradient
  llvm::Value *workspace; ///< this thread's packing workspace
};

void KernelEmitter::lowerConv(const Node &n) {
  ConvGeometry g = convGeometry(n);
  bool filter = n.kind == OpKind::Conv2DBwdFilter;
  if (filter) zeroFilterPartials(g);
  int64_t work = layout_.capacity * g.O * g.pixels() * g.taps();
  if (g.batched && work >= kConvParallelFlops)
    parallelRows(c(kGemmMaxThreads), [&](llvm::Value *lo, llvm::Value *hi, llvm::Value *tid) { convChunks(n, g, lo, hi, tid); },
                 /*grain=*/1);
  else
    convChunks(n, g, c(0), c(kGemmMaxThreads), c(0));
  if (filter) sumFilterPartials(n, g);
}

/// Chunks [lo, hi) of the batch on thread `tid`: each image of each chunk.
void KernelEmitter::convChunks(const Node &n, const ConvGeometry &g, llvm::Value *lo, llvm::Value *hi, llvm::Value *tid) {
  const Node *kernel = n.kind == OpKind::Conv2DBwdFilter ? &n : n.operands[1];
  const Node *image = n.kind == OpKind::Conv2DBwdData ? &n : n.operands[0];
  const Node *output = n.kind == OpKind::Conv2D ? &n : n.operands[n.kind == OpKind::Conv2DBwdData ? 0 : 1];
  // conv2d and conv2d_bwd_data write their result where the epilogue's last
  // op lives, and apply the epilogue to each image once it is complete.
  const Node *target = matmulTarget(n);
  if (n.kind == OpKind::Conv2D) output = target;
  if (n.kind == OpKind::Conv2DBwdData) image = target;
  llvm::Value *cols = workspace(tid, layout_.columnsAt);
  llvm::Value *kBuf = buffer(kernel), *xBuf = buffer(image);
  llvm::Value *images = g.batched ? shape(image)[0] : c(1); // this function's batch
  int64_t imageSize = g.C * g.H * g.W, outSize = g.O * g.pixels();
  bool direct = convRowsApply(n, g);
  range(lo, hi, [&](llvm::Value *q) {
    llvm::Value *partial = workspace(q, layout_.partialAt);
    llvm::Value *first = b_.CreateSDiv(b_.CreateMul(q, images), c(kGemmMaxThreads));
    llvm::Value *last = b_.CreateSDiv(b_.CreateMul(b_.CreateAdd(q, c(1)), images), c(kGemmMaxThreads));
    if (direct && n.kind == OpKind::Conv2DBwdFilter) return convRowsFilter(n, g, first, last, partial);
    range(first, last, [&](llvm::Value *bi) {
      ConvImage im{};
      im.x = b_.CreateGEP(f32_, xBuf, b_.CreateMul(bi, c(imageSize)));
      im.y = b_.CreateGEP(f32_, buffer(output), b_.CreateMul(bi, c(outSize)));
      im.kernel = kBuf, im.cols = cols, im.partial = partial;
      im.workspace = workspace(tid);
      if (direct) convRowsForward(n, g, bi);
      else if (n.kind == OpKind::Conv2D) convForwardImage(g, im);
      else if (n.kind == OpKind::Conv2DBwdData) convBwdDataImage(g, im);
      else convBwdFilterImage(g, im);
      if (target != &n) convEpilogue(n, g, target, bi);
    });
  });
}

/// y = K cols(x)
void KernelEmitter::convForwardImage(const ConvGeometry &g, const ConvImage &im) {
  im2col(g, im.cols, im.x);
  GemmSpec spec{};
  spec.m = c(g.O), spec.n = c(g.pixels()), spec.k = c(g.taps());
  spec.a = {im.kernel, c(g.taps()), c(1)}, spec.b = {im.cols, c(g.pixels()), c(1)};
  spec.c = im.y, spec.ldc = c(g.pixels());
  spec.workspace = im.workspace;
  emitGemm(b_, fn_, layout_.gemm, spec, nullptr);
}

/// cols = K^T dy, then dx = col2im(cols): each column element added back to
/// the pixel it was read from.
void KernelEmitter::convBwdDataImage(const ConvGeometry &g, const ConvImage &im) {
  GemmSpec spec{};
  spec.m = c(g.taps()), spec.n = c(g.pixels()), spec.k = c(g.O);
  spec.a = {im.kernel, c(1), c(g.taps())}, spec.b = {im.y, c(g.pixels()), c(1)};
  spec.c = im.cols, spec.ldc = c(g.pixels());
  spec.workspace = im.workspace;
  emitGemm(b_, fn_, layout_.gemm, spec, nullptr);
  loops({c(g.C * g.H * g.W)}, [&](const Index &i) { b_.CreateStore(cf(0), b_.CreateGEP(f32_, im.x, i[0])); });
  forEachIm2colRow(g, im.cols, im.x, [&](llvm::Value *colRow, llvm::Value *xRow, llvm::Value *lo, llvm::Value *hi) {
    range(lo, hi, [&](llvm::Value *j) {
      llvm::Value *at = b_.CreateGEP(f32_, xRow, b_.CreateMul(j, c(g.strideW)));
      b_.CreateStore(b_.CreateFAdd(b_.CreateLoad(f32_, at), b_.CreateLoad(f32_, b_.CreateGEP(f32_, colRow, j))), at);
    });
  });
}

/// partial += dy cols(x)^T
void KernelEmitter::convBwdFilterImage(const ConvGeometry &g, const ConvImage &im) {
  im2col(g, im.cols, im.x);
  GemmSpec spec{};
  spec.m = c(g.O), spec.n = c(g.taps()), spec.k = c(g.pixels());
  spec.a = {im.y, c(g.pixels()), c(1)}, spec.b = {im.cols, c(1), c(g.pixels())};
  spec.c = im.partial, spec.ldc = c(g.taps()), spec.accumulate = true;
  spec.workspace = im.workspace;
  emitGemm(b_, fn_, layout_.gemm, spec, nullptr);
}

/// The epilogue (a bias, an activation, a mask) on image `bi` of the
/// result, in place in its last op's buffer, its loops merged where every
/// access walks dims as one (elementwise, KernelEmitter.cpp): relu(conv + c)
/// is one loop over each channel's pixels, a mask one loop over the image.
void KernelEmitter::convEpilogue(const Node &n, const ConvGeometry &g, const Node *target, llvm::Value *bi) {
  const Dims &full = shape(target);
  Dims extents = full;
  if (g.batched) extents[0] = c(1);
  Dims st = stridesOf(full);
  std::vector<Dims> reads{st};
  const Node *prev = &n;
  for (const Node *e : plan_->epilogues.at(&n)) {
    for (const Node *o : e->operands)
      if (o != prev) collectReadStrides(o, broadcastStrides(o, full), reads);
    prev = e;
  }
  Dims bounds;
  std::vector<size_t> last = mergedRuns(extents, reads, bounds);
  if (last.size() < extents.size()) runLast_ = last, collapsedRank_ = extents.size();
  // The image's first element in the first run's index (the batch dim and those merged with it).
  int64_t firstRun = 1;
  for (size_t d = 1; d <= last[0]; ++d) firstRun *= staticExtent(extents[d]);
  loops(last.size() < extents.size() ? bounds : extents, [&](const Index &i) {
    Index at = i;
    if (g.batched) at[0] = b_.CreateAdd(at[0], b_.CreateMul(bi, c(firstRun)));
    llvm::Value *off = offset(at, st);
    store(target, off, applyEpilogue(n, load(target, off), at));
  });
  runLast_.clear();
}

/// Every thread's partial filter gradient starts at zero, whether its chunk
/// has images or not.
void KernelEmitter::zeroFilterPartials(const ConvGeometry &g) {
  for (int64_t t = 0; t < kGemmMaxThreads; ++t) {
    llvm::Value *partial = workspace(c(t), layout_.partialAt);
    loops({c(g.O * g.taps())}, [&](const Index &i) { b_.CreateStore(cf(0), b_.CreateGEP(f32_, partial, i[0])); });
  }
}

/// dK = the partial sums, added in chunk order.
void KernelEmitter::sumFilterPartials(const Node &n, const ConvGeometry &g) {
  llvm::Value *kBuf = buffer(&n);
  int64_t size = g.O * g.taps();
  loops({c(size)}, [&](const Index &i) { b_.CreateStore(cf(0), b_.CreateGEP(f32_, kBuf, i[0])); });
  for (int64_t t = 0; t < kGemmMaxThreads; ++t) {
    llvm::Value *partial = workspace(c(t), layout_.partialAt);
    loops({c(size)}, [&](const Index &i) {
      llvm::Value *at = b_.CreateGEP(f32_, kBuf, i[0]);
      b_.CreateStore(b_.CreateFAdd(b_.CreateLoad(f32_, at), b_.CreateLoad(f32_, b_.CreateGEP(f32_, partial, i[0]))), at);
    });
  }
}

/// Visits every row (c, kh, kw, oh) of the im2col matrix of one image. The
/// output columns whose input pixel lies inside the image form one range
/// [lo, hi) (computed, not tested per pixel), so the copy loops run
/// branch-free and vectorize; the padding outside it is zero. xRow is the
/// image row shifted so that column ow of the range reads xRow[ow * sw].
void KernelEmitter::forEachIm2colRow(const ConvGeometry &g, llvm::Value *cols, llvm::Value *xImage, const Im2colRow &f) {
  loops({c(g.C), c(g.KH), c(g.KW), c(g.OH)}, [&](const Index &i) {
    llvm::Value *tap = offset({i[0], i[1], i[2]}, {c(g.KH * g.KW), c(g.KW), c(1)});
    llvm::Value *colRow = b_.CreateGEP(f32_, cols, b_.CreateAdd(b_.CreateMul(tap, c(g.pixels())), b_.CreateMul(i[3], c(g.OW))));
    llvm::Value *iy = b_.CreateAdd(b_.CreateMul(i[3], c(g.strideH)), b_.CreateSub(i[1], c(g.padH)));
    llvm::Value *rowInside = b_.CreateAnd(b_.CreateICmpSGE(iy, c(0)), b_.CreateICmpSLT(iy, c(g.H)));
    auto [lo, hi] = outputsInside(i[2], g.strideW, g.padW, g.W, g.OW);
    hi = b_.CreateSelect(rowInside, hi, c(0));
    lo = b_.CreateSelect(b_.CreateICmpSLT(lo, hi), lo, hi);
    llvm::Value *xRow = b_.CreateGEP(
        f32_, xImage,
        b_.CreateAdd(b_.CreateMul(b_.CreateAdd(b_.CreateMul(i[0], c(g.H)), b_.CreateSelect(rowInside, iy, c(0))), c(g.W)),
                     b_.CreateSub(i[2], c(g.padW))));
    f(colRow, xRow, lo, hi);
  });
}

/// The outputs [first, last) of a convolution axis whose input index
/// o stride + tap - pad lies inside [0, extent), within [0, outputs):
/// computed, not tested per output, so the loops over them run branch-free.
std::pair<llvm::Value *, llvm::Value *> KernelEmitter::outputsInside(llvm::Value *tap, int64_t stride, int64_t pad,
                                                                     int64_t extent, int64_t outputs) {
  llvm::Value *first = b_.CreateSub(c(pad), tap); // o stride >= pad - tap
  llvm::Value *lo = b_.CreateSelect(b_.CreateICmpSGT(first, c(0)), b_.CreateSDiv(b_.CreateAdd(first, c(stride - 1)), c(stride)), c(0));
  llvm::Value *last = b_.CreateSub(c(extent - 1 + pad), tap); // o stride <= extent - 1 + pad - tap
  llvm::Value *hi = b_.CreateSelect(b_.CreateICmpSGE(last, c(0)), b_.CreateAdd(b_.CreateSDiv(last, c(stride)), c(1)), c(0));
  return {lo, b_.CreateSelect(b_.CreateICmpSLT(hi, c(outputs)), hi, c(outputs))};
}

/// cols = im2col(x): zeros, the in-bounds range, zeros.
void KernelEmitter::im2col(const ConvGeometry &g, llvm::Value *cols, llvm::Value *xImage) {
  forEachIm2colRow(g, cols, xImage, [&](llvm::Value *colRow, llvm::Value *xRow, llvm::Value *lo, llvm::Value *hi) {
    auto zero = [&](llvm::Value *j) { b_.CreateStore(cf(0), b_.CreateGEP(f32_, colRow, j)); };
    range(c(0), lo, zero);
    range(lo, hi, [&](llvm::Value *j) {
      llvm::Value *from = b_.CreateGEP(f32_, xRow, b_.CreateMul(j, c(g.strideW)));
      b_.CreateStore(b_.CreateLoad(f32_, from), b_.CreateGEP(f32_, colRow, j));
    });
    range(hi, c(g.OW), zero);
  });
}

} // namespace dlc
