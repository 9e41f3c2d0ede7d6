//===- codegen/lower/Products.cpp - Matrix products and their epilogues ---===//
//
// y = op(a) op(b). Products worth it go to the packed GEMM (codegen/Gemm.h),
// with the epilogue applied to each finished tile while it is in cache.
// Small ones (and matrix-vector products) stay plain loop nests, in one of
// two orders chosen by where the operands are contiguous:
//  - dot order (i, j, then p innermost) when both run contiguously along p;
//  - row order (i, p, then j innermost) when op(b)'s rows are contiguous:
//    out[i, :] += a[i, p] b[p, :].
//
//===----------------------------------------------------------------------===//
#include "codegen/Gemm.h"
#include "codegen/lower/KernelEmitter.h"

namespace dlc {

/// Both operands viewed as matrices (a vector is a row on the left, a column
/// on the right), with the extents of the function being emitted.
struct KernelEmitter::MatMulShape {
  const Node *a, *b;
  bool ta, tb;                    ///< op(x) = x^T
  llvm::Value *ar, *ac, *br, *bc; ///< rows and columns as stored
  llvm::Value *m, *k, *n;         ///< op(a) is m x k, op(b) is k x n
};

KernelEmitter::MatMulShape KernelEmitter::matmulShape(const Node &n) {
  MatMulShape s{};
  s.a = n.operands[0], s.b = n.operands[1];
  s.ta = n.attrs.getBool("transpose_a"), s.tb = n.attrs.getBool("transpose_b");
  const auto &as = shape(s.a), &bs = shape(s.b);
  s.ar = as.size() == 2 ? as[0] : c(1), s.ac = as.size() == 2 ? as[1] : as[0];
  s.br = bs[0], s.bc = bs.size() == 2 ? bs[1] : c(1);
  s.m = s.ta ? s.ac : s.ar, s.k = s.ta ? s.ar : s.ac, s.n = s.tb ? s.br : s.bc;
  return s;
}

namespace {

/// The result index of element (i, j) of the product's matrix view.
KernelEmitter::Index outIndex(const Node &n, llvm::Value *i, llvm::Value *j) {
  if (n.type.rank() == 2) return {i, j};
  if (n.type.rank() == 1) return {n.operands[0]->type.rank() == 2 ? i : j};
  return {};
}

/// dW = dY^T X: op(A) is a transposed batch-major operand (its depth is the
/// batch) and the rows are not the batch.
bool isWeightGradient(const Node &n) {
  const Node *a = n.operands[0];
  return n.attrs.getBool("transpose_a") && n.type.rank() == 2 && n.type.shape[0].isKnown() && a->type.rank() == 2 &&
         a->type.shape[0].isSymbolic();
}

/// Rows of the dot kernel's tile (codegen/Gemm.h) for a product with these
/// transposes and extents (`cols` a constant), or 0: A and B^T contiguous
/// along the depth, few columns, a long depth.
int64_t dotTile(const GemmConfig &g, bool ta, bool tb, llvm::Value *cols, int64_t depth) {
  auto *n = llvm::dyn_cast<llvm::ConstantInt>(cols);
  return !ta && tb && n ? dotTileRows(g, n->getSExtValue(), depth) : 0;
}

/// Dot products up to this depth are unrolled in the loop-nest matmul.
constexpr int64_t kUnrolledDepth = 8;

} // namespace

/// Where the matmul's result goes: its epilogue's last op, else itself.
const Node *KernelEmitter::matmulTarget(const Node &n) {
  auto it = plan_->epilogues.find(&n);
  return it == plan_->epilogues.end() ? &n : it->second.back();
}

/// Applies the epilogue (bias, activation, a mask) to an accumulated element.
llvm::Value *KernelEmitter::applyEpilogue(const Node &n, llvm::Value *v, const Index &outIdx) {
  auto it = plan_->epilogues.find(&n);
  if (it == plan_->epilogues.end()) return v;
  const Node *prev = &n, *frame = &n; // frame: the shape the operands are read in
  std::vector<size_t> savedRuns = runLast_;
  size_t savedRank = collapsedRank_;
  for (const Node *e : it->second) {
    if (e->kind == OpKind::Reshape) {
      // [m, n] -> [m, d1, .., dk]: the product's (i, j) is the index of the
      // reshaped value with its last k dims merged into one run (offset()).
      runLast_ = {0, size_t(e->type.rank() - 1)}, collapsedRank_ = size_t(e->type.rank());
      prev = frame = e;
      continue;
    }
    std::vector<llvm::Value *> vals;
    for (const Node *o : e->operands) vals.push_back(o == prev ? v : valueAt(o, outIdx, broadcastStrides(o, shape(frame))));
    v = math_.elementwise(e->kind, vals, e->attrs);
    prev = e;
  }
  runLast_ = savedRuns, collapsedRank_ = savedRank;
  return v;
}

void KernelEmitter::lowerMatMul(const Node &n) {
  MatMulShape s = matmulShape(n);
  if (lowersToGemm(staticExtent(s.m), staticExtent(s.n), staticExtent(s.k))) lowerMatMulGemm(n);
  else lowerMatMulLoops(n);
}

void KernelEmitter::lowerMatMulGemm(const Node &n) {
  const Node *target = matmulTarget(n);
  // The kernel (the narrow one for at most a vector of columns, GemmConfig.h)
  // and the split over the pool.
  GemmConfig g = layout_.gemm;
  int64_t dotRows = 0; // the dot kernel's tile rows, 0: the packed GEMM
  PoolSplit split = matmulSplit(n, &g, &dotRows);
  // The block rows [r0, r1) x columns [c0, c1) of the product (null bounds:
  // all of them), on packing workspace `tid`.
  auto block = [&](llvm::Value *r0, llvm::Value *r1, llvm::Value *c0, llvm::Value *c1, llvm::Value *tid) {
    MatMulShape s = matmulShape(n); // this function's extents (an outlined one has its own)
    if (!r0) r0 = c(0), r1 = s.m;
    if (!c0) c0 = c(0), c1 = s.n;
    StridedMatrix A = s.ta ? StridedMatrix{buffer(s.a), c(1), s.ac} : StridedMatrix{buffer(s.a), s.ac, c(1)};
    A.base = b_.CreateGEP(f32_, A.base, b_.CreateMul(r0, A.rowStride));
    StridedMatrix B = s.tb ? StridedMatrix{buffer(s.b), c(1), s.bc} : StridedMatrix{buffer(s.b), s.bc, c(1)};
    B.base = b_.CreateGEP(f32_, B.base, b_.CreateMul(c0, B.colStride));
    GemmSpec spec{b_.CreateSub(r1, r0), b_.CreateSub(c1, c0), s.k, A, B, nullptr, s.n};
    spec.c = b_.CreateGEP(f32_, buffer(target), b_.CreateAdd(b_.CreateMul(r0, s.n), c0));
    spec.workspace = workspace(tid);
    TileCallback epilogue;
    if (target != &n)
      epilogue = [&](llvm::Value *row0, llvm::Value *rowCount, llvm::Value *col0, llvm::Value *cols) {
        loops({rowCount, cols}, [&](const Index &ij) {
          llvm::Value *i = b_.CreateAdd(r0, b_.CreateAdd(row0, ij[0])), *j = b_.CreateAdd(c0, b_.CreateAdd(col0, ij[1]));
          llvm::Value *off = b_.CreateAdd(b_.CreateMul(i, s.n), j);
          store(target, off, applyEpilogue(n, load(target, off), outIndex(n, i, j)));
        });
      };
    if (dotRows)
      emitDotProduct(b_, fn_, g, spec, llvm::cast<llvm::ConstantInt>(s.n)->getSExtValue(), epilogue);
    else
      emitGemm(b_, fn_, g, spec, epilogue);
  };
  MatMulShape s = matmulShape(n);
  if (split.axis == PoolSplit::Columns)
    parallelRows(s.n, [&](llvm::Value *lo, llvm::Value *hi, llvm::Value *tid) { block(nullptr, nullptr, lo, hi, tid); }, split.grain);
  else if (split.axis == PoolSplit::Rows)
    parallelRows(s.m, [&](llvm::Value *lo, llvm::Value *hi, llvm::Value *tid) { block(lo, hi, nullptr, nullptr, tid); }, split.grain);
  else
    block(nullptr, nullptr, nullptr, nullptr, nullptr);
}

/// The kernel and pool split lowerMatMulGemm gives the product `n`, or no
/// split when it lowers to loops.
PoolSplit KernelEmitter::matmulSplit(const Node &n, GemmConfig *kernel, int64_t *dotRows) {
  MatMulShape s = matmulShape(n);
  int64_t rows = staticExtent(s.m), cols = staticExtent(s.n), depth = staticExtent(s.k);
  if (!lowersToGemm(rows, cols, depth)) return {};
  std::optional<GemmConfig> narrow = narrowGemmConfig(layout_.gemm);
  const GemmConfig &g = narrow && cols <= layout_.gemm.vector && rows >= narrow->mr ? *narrow : layout_.gemm;
  if (kernel) *kernel = g;
  // The dot kernel packs nothing: its rows split at any size that pays for a wake-up.
  if (int64_t tile = dotTile(layout_.gemm, s.ta, s.tb, s.n, depth)) {
    if (dotRows) *dotRows = tile;
    if (rows * cols * depth >= kGemmParallelFlops && rows >= 4 * tile) return {PoolSplit::Rows, tile};
    return {};
  }
  return productSplit(rows, cols, depth, s.ta, isWeightGradient(n), g);
}

void KernelEmitter::lowerMatMulLoops(const Node &n) {
  MatMulShape s = matmulShape(n);
  const Node *a = s.a, *bm = s.b, *target = matmulTarget(n);
  llvm::Value *m = s.m, *k = s.k, *nn = s.n;
  // Element (i, p) of op(a) and (p, j) of op(b) as strides over (i, j, p).
  Dims aSt = s.ta ? Dims{c(1), c(0), s.ac} : Dims{s.ac, c(0), c(1)};
  Dims bSt = s.tb ? Dims{c(0), s.bc, c(1)} : Dims{c(0), c(1), s.bc};
  bool dotOrder = (!s.ta && (s.tb || shape(bm).size() == 1)) || s.tb;
  auto *shortDepth = llvm::dyn_cast<llvm::ConstantInt>(k);
  if (dotOrder && shortDepth && shortDepth->getSExtValue() <= kUnrolledDepth) {
    // A short dot product, unrolled: the j loop's body is straight-line
    // code (epilogue included), which the vectorizer takes across j.
    loops({m, nn}, [&](const Index &ij) {
      llvm::Value *v = nullptr;
      for (int64_t p = 0; p < shortDepth->getSExtValue(); ++p) {
        Index ijp{ij[0], ij[1], c(p)};
        llvm::Value *prod = b_.CreateFMul(load(a, offset(ijp, aSt)), load(bm, offset(ijp, bSt)));
        v = v ? b_.CreateFAdd(v, prod) : prod;
      }
      store(target, b_.CreateAdd(b_.CreateMul(ij[0], nn), ij[1]), applyEpilogue(n, v, outIndex(n, ij[0], ij[1])));
    });
    return;
  }
  if (dotOrder) {
    llvm::Value *acc = b_.CreateAlloca(f32_);
    loops({m, nn}, [&](const Index &ij) {
      b_.CreateStore(cf(0), acc);
      loops({k}, [&](const Index &p) {
        Index ijp{ij[0], ij[1], p[0]};
        llvm::Value *prod = b_.CreateFMul(load(a, offset(ijp, aSt)), load(bm, offset(ijp, bSt)));
        b_.CreateStore(b_.CreateFAdd(b_.CreateLoad(f32_, acc), prod), acc);
      });
      llvm::Value *v = applyEpilogue(n, b_.CreateLoad(f32_, acc), outIndex(n, ij[0], ij[1]));
      store(target, b_.CreateAdd(b_.CreateMul(ij[0], nn), ij[1]), v);
    });
    return;
  }
  loops({m}, [&](const Index &i) {
    llvm::Value *row = b_.CreateMul(i[0], nn);
    loops({nn}, [&](const Index &j) { store(target, b_.CreateAdd(row, j[0]), cf(0)); });
    loops({k}, [&](const Index &p) {
      llvm::Value *aip = load(a, offset({i[0], c(0), p[0]}, aSt));
      loops({nn}, [&](const Index &j) {
        llvm::Value *off = b_.CreateAdd(row, j[0]);
        llvm::Value *bpj = load(bm, offset({c(0), j[0], p[0]}, bSt));
        store(target, off, b_.CreateFAdd(load(target, off), b_.CreateFMul(aip, bpj)));
      });
    });
    if (target != &n)
      loops({nn}, [&](const Index &j) {
        llvm::Value *off = b_.CreateAdd(row, j[0]);
        store(target, off, applyEpilogue(n, load(target, off), outIndex(n, i[0], j[0])));
      });
  });
}

} // namespace dlc
