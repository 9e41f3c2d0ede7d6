//===- codegen/Gemm.cpp ---------------------------------------------------===//
#include "codegen/Gemm.h"

#include "codegen/lower/Loops.h"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <string>

#include <fmt/format.h>

#include <llvm/IR/Intrinsics.h>

namespace dlc {

namespace {

llvm::Value *minimum(llvm::IRBuilder<> &b, llvm::Value *x, llvm::Value *y) {
  return b.CreateSelect(b.CreateICmpSLT(x, y), x, y);
}

/// Whether the kernels of `cfg` read A packed, as tiles [p][0:MR] (the
/// two-vector kernels: every product with more than one vector of columns),
/// or in place at run-time strides (the narrow kernels: their products have
/// one panel, so a packed A would be read once).
bool readsPackedA(const GemmConfig &cfg) { return cfg.nr > cfg.vector; }

/// Whether a stride is the constant 1.
bool isUnit(llvm::Value *stride) {
  auto *c = llvm::dyn_cast<llvm::ConstantInt>(stride);
  return c && c->isOne();
}

/// void dlc.gemm.ukrMR(i64 kc, ptr a, i64 aRowStride, i64 aColStride,
///                     ptr panel, i64 panelStride, ptr c, i64 ldc, i64 nr, i1 add)
///
/// c[r, 0:nr] (+)= sum_p a[r, p] panel[p * panelStride + 0:NR] for r < MR:
/// the tile lives in MR * NR / vector registers for the whole depth loop.
/// The panel is a packed one (stride NR) or NR columns of B read in place
/// (its row stride). A packed A (readsPackedA) has the constant strides 1 and
/// the config's MR, so each step's MR broadcasts are one pointer plus
/// immediate offsets; the stride arguments are then ignored. (With run-time
/// strides, 14 row offsets spill to the stack: wide's kernel ran at 70% of
/// the FMA peak on Zen 4.) (The AVX-512 kernels are named dlc.gemm.avx512.ukrMR.)
llvm::Function *microKernel(llvm::Module &m, const GemmConfig &cfg, int64_t mr) {
  std::string name = std::string(cfg.vector == 16 ? "dlc.gemm.avx512.ukr" : "dlc.gemm.ukr") + std::to_string(mr) +
                     (cfg.nr == 2 * cfg.vector ? "" : "x" + std::to_string(cfg.nr));
  if (llvm::Function *f = m.getFunction(name)) return f;
  llvm::LLVMContext &ctx = m.getContext();
  llvm::IRBuilder<> b(ctx);
  llvm::Type *i64 = b.getInt64Ty(), *ptr = b.getPtrTy(), *f32 = b.getFloatTy();
  const int64_t width = cfg.vector, parts = cfg.nr / cfg.vector; // vectors per row of the tile
  auto *vec = llvm::FixedVectorType::get(f32, unsigned(width));
  auto *type = llvm::FunctionType::get(b.getVoidTy(), {i64, ptr, i64, i64, ptr, i64, ptr, i64, i64, b.getInt1Ty()}, false);
  auto *fn = llvm::Function::Create(type, llvm::Function::InternalLinkage, name, m);
  fn->addFnAttr(llvm::Attribute::NoInline); // one copy per module keeps compile time down
  fn->addFnAttr(llvm::Attribute::NoUnwind);
  // Keeps 512-bit vectors whole where the CPU's tuning prefers 256 bits.
  fn->addFnAttr("min-legal-vector-width", std::to_string(32 * width));
  llvm::Value *kc = fn->getArg(0), *a = fn->getArg(1), *aRs = fn->getArg(2), *aCs = fn->getArg(3);
  llvm::Value *panel = fn->getArg(4), *panelStride = fn->getArg(5), *c = fn->getArg(6), *ldc = fn->getArg(7),
              *nr = fn->getArg(8), *add = fn->getArg(9);
  for (unsigned i : {1u, 4u, 6u}) fn->addParamAttr(i, llvm::Attribute::NoAlias); // A, the panel and C are distinct buffers

  auto *entry = llvm::BasicBlock::Create(ctx, "entry", fn);
  auto *loop = llvm::BasicBlock::Create(ctx, "depth", fn);
  auto *exit = llvm::BasicBlock::Create(ctx, "store", fn);
  b.SetInsertPoint(entry);
  if (readsPackedA(cfg)) {
    aRs = b.getInt64(1);
    aCs = b.getInt64(cfg.mr);
  }
  std::vector<llvm::Value *> rowOffset; // r * aRs, loop-invariant
  for (int64_t r = 0; r < mr; ++r) rowOffset.push_back(b.CreateMul(aRs, b.getInt64(r)));
  b.CreateBr(loop);

  b.SetInsertPoint(loop);
  llvm::PHINode *p = b.CreatePHI(i64, 2, "p");
  llvm::PHINode *aPtr = b.CreatePHI(ptr, 2, "ap"); // a + p * aCs: pointers step, no index arithmetic
  llvm::PHINode *bPtr = b.CreatePHI(ptr, 2, "bp");
  std::vector<llvm::PHINode *> acc;
  for (int64_t i = 0; i < parts * mr; ++i) acc.push_back(b.CreatePHI(vec, 2, "acc"));
  p->addIncoming(b.getInt64(0), entry);
  aPtr->addIncoming(a, entry);
  bPtr->addIncoming(panel, entry);
  for (llvm::PHINode *x : acc) x->addIncoming(llvm::Constant::getNullValue(vec), entry);
  std::vector<llvm::Value *> panelRow;
  for (int64_t h = 0; h < parts; ++h)
    panelRow.push_back(b.CreateAlignedLoad(vec, b.CreateGEP(f32, bPtr, b.getInt64(h * width)), llvm::Align(4)));
  std::vector<llvm::Value *> next(acc.size());
  for (int64_t r = 0; r < mr; ++r) {
    llvm::Value *ar = b.CreateVectorSplat(unsigned(width), b.CreateLoad(f32, b.CreateGEP(f32, aPtr, rowOffset[size_t(r)])));
    for (int64_t h = 0; h < parts; ++h) {
      size_t i = size_t(parts * r + h);
      next[i] = b.CreateIntrinsic(llvm::Intrinsic::fma, {vec}, {ar, panelRow[size_t(h)], acc[i]});
    }
  }
  llvm::Value *pNext = b.CreateAdd(p, b.getInt64(1), "", true, true);
  p->addIncoming(pNext, loop);
  aPtr->addIncoming(b.CreateGEP(f32, aPtr, aCs), loop);
  bPtr->addIncoming(b.CreateGEP(f32, bPtr, panelStride), loop);
  for (size_t i = 0; i < acc.size(); ++i) acc[i]->addIncoming(next[i], loop);
  b.CreateCondBr(b.CreateICmpSLT(pNext, kc), loop, exit);

  // Store the tile: lanes j < nr, adding what C holds when `add`.
  b.SetInsertPoint(exit);
  llvm::Value *lanes = b.CreateVectorSplat(unsigned(width), b.CreateTrunc(nr, b.getInt32Ty()));
  llvm::Value *addMask = b.CreateVectorSplat(unsigned(width), add);
  for (int64_t h = 0; h < parts; ++h) {
    std::vector<llvm::Constant *> iota;
    for (int64_t j = 0; j < width; ++j) iota.push_back(b.getInt32(uint32_t(h * width + j)));
    llvm::Value *mask = b.CreateICmpSLT(llvm::ConstantVector::get(iota), lanes);
    llvm::Value *loadMask = b.CreateAnd(mask, addMask);
    for (int64_t r = 0; r < mr; ++r) {
      llvm::Value *at = b.CreateGEP(f32, c, b.CreateAdd(b.CreateMul(ldc, b.getInt64(r)), b.getInt64(h * width)));
      llvm::Value *old = b.CreateMaskedLoad(vec, at, llvm::Align(4), loadMask, llvm::Constant::getNullValue(vec));
      b.CreateMaskedStore(b.CreateFAdd(next[size_t(parts * r + h)], old), at, llvm::Align(4), mask);
    }
  }
  b.CreateRetVoid();
  return fn;
}

llvm::FixedVectorType *vec8(llvm::IRBuilder<> &b) { return llvm::FixedVectorType::get(b.getFloatTy(), 8); }

/// The 8 x 8 transpose of eight 8-float rows: unpack pairs, then 2 x 2
/// blocks, then 128-bit halves (as shufflevectors; the back end picks the
/// unpck/shuf/perm2f128 instructions).
std::vector<llvm::Value *> transpose8x8(llvm::IRBuilder<> &b, const std::vector<llvm::Value *> &r) {
  auto shuffle = [&](llvm::Value *x, llvm::Value *y, std::initializer_list<int> mask) {
    return b.CreateShuffleVector(x, y, llvm::ArrayRef<int>(mask));
  };
  std::vector<llvm::Value *> t(8), u(8), o(8);
  for (int i = 0; i < 8; i += 2) {
    t[size_t(i)] = shuffle(r[size_t(i)], r[size_t(i + 1)], {0, 8, 1, 9, 4, 12, 5, 13});
    t[size_t(i + 1)] = shuffle(r[size_t(i)], r[size_t(i + 1)], {2, 10, 3, 11, 6, 14, 7, 15});
  }
  for (int i = 0; i < 8; i += 4)
    for (int h = 0; h < 2; ++h) {
      u[size_t(i + 2 * h)] = shuffle(t[size_t(i + h)], t[size_t(i + h + 2)], {0, 1, 8, 9, 4, 5, 12, 13});
      u[size_t(i + 2 * h + 1)] = shuffle(t[size_t(i + h)], t[size_t(i + h + 2)], {2, 3, 10, 11, 6, 7, 14, 15});
    }
  for (int i = 0; i < 4; ++i) {
    o[size_t(i)] = shuffle(u[size_t(i)], u[size_t(i + 4)], {0, 1, 2, 3, 8, 9, 10, 11});
    o[size_t(i + 4)] = shuffle(u[size_t(i)], u[size_t(i + 4)], {4, 5, 6, 7, 12, 13, 14, 15});
  }
  return o;
}

/// How a packing function reads its source.
enum class PackKind {
  Rows,        ///< B, contiguous along its columns (cs = 1)
  Columns,     ///< B^T, contiguous along the depth (rs = 1): 8 x 8 register transposes
  Strided,     ///< anything else, one element at a time
  TransposedA, ///< A^T, contiguous along its rows (rs = 1): tiles of MR rows
  RowsA,       ///< A, contiguous along the depth (cs = 1): 8 x 8 register transposes
  StridedA,    ///< A otherwise, one element at a time
};             // (the A kinds last: packFunction tests kind >= TransposedA)

/// void dlc.gemm.pack*(i64 kc, i64 width, ptr src, i64 rs, i64 cs, ptr dst)
///
/// B kinds: dst[p][0:NR] = src[p * rs + j * cs] for j < width, zeros after.
/// A kinds: `width` rows, as tiles dst[tile][p][0:MR] of src[r * rs + p * cs].
/// (A module has one GemmConfig, so one NR and MR.)
/// One function per kind and module (not one copy per product): the
/// products' code stays small, which keeps compile time down. (One
/// function for the six kinds: they share the set-up, the B kinds the
/// zeroed panel, the A kinds the tile loop and its element-wise tail.)
llvm::Function *packFunction(llvm::Module &m, const GemmConfig &cfg, PackKind kind) {
  static const char *const names[] = {"dlc.gemm.packB.rows", "dlc.gemm.packB.cols", "dlc.gemm.packB.strided",
                                      "dlc.gemm.packA", "dlc.gemm.packA.rows", "dlc.gemm.packA.strided"};
  std::string name = names[int(kind)];
  bool packsA = kind >= PackKind::TransposedA;
  if (cfg.nr != 2 * cfg.vector) name += (packsA ? ".m" + std::to_string(cfg.mr) : ".n" + std::to_string(cfg.nr));
  if (llvm::Function *f = m.getFunction(name)) return f;
  llvm::LLVMContext &ctx = m.getContext();
  llvm::IRBuilder<> b(ctx);
  llvm::FastMathFlags fmf;
  b.setFastMathFlags(fmf);
  llvm::Type *i64 = b.getInt64Ty(), *ptr = b.getPtrTy(), *f32 = b.getFloatTy();
  auto *type = llvm::FunctionType::get(b.getVoidTy(), {i64, i64, ptr, i64, i64, ptr}, false);
  auto *fn = llvm::Function::Create(type, llvm::Function::InternalLinkage, name, m);
  fn->addFnAttr(llvm::Attribute::NoInline);
  fn->addFnAttr(llvm::Attribute::NoUnwind);
  fn->addParamAttr(2, llvm::Attribute::NoAlias);
  fn->addParamAttr(5, llvm::Attribute::NoAlias);
  llvm::Value *kc = fn->getArg(0), *width = fn->getArg(1), *src = fn->getArg(2), *rs = fn->getArg(3),
              *cs = fn->getArg(4), *dst = fn->getArg(5);
  b.SetInsertPoint(llvm::BasicBlock::Create(ctx, "entry", fn));
  auto k64 = [&](int64_t v) { return b.getInt64(v); };
  auto at = [&](llvm::Value *base, llvm::Value *offset) { return b.CreateGEP(f32, base, offset); };
  // Copies count contiguous floats: one vector of `full` when count is that
  // (a whole tile's row of A^T, a whole panel's row of B), else a loop.
  // (The loop alone was 4% of wide's step for A^T and 3% for B on Zen 4.)
  auto copyRun = [&](llvm::Value *from, llvm::Value *to, llvm::Value *count, int64_t full) {
    auto *whole = llvm::BasicBlock::Create(ctx, "copy.whole", fn), *part = llvm::BasicBlock::Create(ctx, "copy.part", fn);
    auto *done = llvm::BasicBlock::Create(ctx, "copy.done", fn);
    b.CreateCondBr(b.CreateICmpEQ(count, k64(full)), whole, part);
    b.SetInsertPoint(whole);
    auto *run = llvm::FixedVectorType::get(f32, unsigned(full));
    b.CreateAlignedStore(b.CreateAlignedLoad(run, from, llvm::Align(4)), to, llvm::Align(4));
    b.CreateBr(done);
    b.SetInsertPoint(part);
    forRange(b, k64(0), count, {.name = "gemm"}, [&](llvm::Value *j) { b.CreateStore(b.CreateLoad(f32, at(from, j)), at(to, j)); });
    b.CreateBr(done);
    b.SetInsertPoint(done);
  };
  if (packsA) {
    forRange(b, k64(0), width, {.step = cfg.mr, .name = "gemm"}, [&](llvm::Value *ir) {
      llvm::Value *tile = at(dst, b.CreateMul(ir, kc));
      llvm::Value *rows = minimum(b, k64(cfg.mr), b.CreateSub(width, ir));
      llvm::Value *first = at(src, b.CreateMul(ir, rs)); // the tile's row 0
      // RowsA: blocks of 8 steps as 8 x 8 register transposes: groups of 8
      // rows (the last one overlapping the one before when MR is not a
      // multiple of 8), or a whole tile of fewer rows (AVX2's 6) padded with
      // zeros, each step's lanes stored as 4 + 2 (a masked store is
      // microcoded on AMD: 8 of them per block made the pack 19% of cnn's
      // step on Zen 4). What remains (a tile with fewer rows than that, the
      // last kc mod 8 steps) goes one element at a time.
      llvm::Value *scalarFrom = k64(0);
      if (kind == PackKind::RowsA) {
        const int64_t group = std::min<int64_t>(cfg.mr, 8);
        llvm::Value *blocks = b.CreateAnd(kc, k64(~int64_t(7)));
        llvm::Value *vectorized = group == 8 ? b.CreateICmpSGE(rows, k64(8)) : b.CreateICmpEQ(rows, k64(cfg.mr));
        scalarFrom = b.CreateSelect(vectorized, blocks, k64(0));
        auto storeLanes = [&](llvm::Value *v, llvm::Value *to) { // lanes 0..group-1 of v
          if (group == 8) {
            b.CreateAlignedStore(v, to, llvm::Align(4));
            return;
          }
          for (int64_t lane = 0, piece = 4; piece >= 1; piece /= 2) {
            if (!(group & piece)) continue;
            llvm::Value *at = b.CreateGEP(f32, to, k64(lane));
            if (piece == 1) b.CreateStore(b.CreateExtractElement(v, uint64_t(lane)), at);
            else {
              std::vector<int> pick;
              for (int64_t j = 0; j < piece; ++j) pick.push_back(int(lane + j));
              b.CreateAlignedStore(b.CreateShuffleVector(v, pick), at, llvm::Align(4));
            }
            lane += piece;
          }
        };
        forRange(b, k64(0), b.CreateSelect(vectorized, rows, k64(0)), {.step = 8, .name = "gemm"}, [&](llvm::Value *g) {
          llvm::Value *r0 = group == 8 ? minimum(b, g, b.CreateSub(rows, k64(8))) : k64(0);
          forRange(b, k64(0), blocks, {.step = 8, .name = "gemm"}, [&](llvm::Value *p8) {
            std::vector<llvm::Value *> lines(8, llvm::Constant::getNullValue(vec8(b)));
            for (int64_t r = 0; r < group; ++r)
              lines[size_t(r)] = b.CreateAlignedLoad(vec8(b), at(first, b.CreateAdd(b.CreateMul(b.CreateAdd(r0, k64(r)), rs), p8)),
                                                     llvm::Align(4));
            std::vector<llvm::Value *> steps = transpose8x8(b, lines);
            for (int64_t q = 0; q < 8; ++q) {
              storeLanes(steps[size_t(q)], at(tile, b.CreateAdd(b.CreateMul(b.CreateAdd(p8, k64(q)), k64(cfg.mr)), r0)));
            }
          });
        });
      }
      forRange(b, scalarFrom, kc, {.name = "gemm"}, [&](llvm::Value *p) {
        llvm::Value *from = at(first, b.CreateMul(p, cs));
        llvm::Value *to = at(tile, b.CreateMul(p, k64(cfg.mr)));
        if (kind == PackKind::TransposedA) copyRun(from, to, rows, cfg.mr);
        else
          forRange(b, k64(0), rows, {.name = "gemm"}, [&](llvm::Value *r) {
            b.CreateStore(b.CreateLoad(f32, at(from, b.CreateMul(r, rs))), at(to, r));
          });
      });
    });
    b.CreateRetVoid();
    return fn;
  }
  // A partial panel is zeroed first (one memset), then its columns copied.
  auto *zero = llvm::BasicBlock::Create(ctx, "zero", fn), *copying = llvm::BasicBlock::Create(ctx, "copy", fn);
  b.CreateCondBr(b.CreateICmpSLT(width, k64(cfg.nr)), zero, copying);
  b.SetInsertPoint(zero);
  b.CreateMemSet(dst, b.getInt8(0), b.CreateMul(kc, k64(cfg.nr * 4)), llvm::MaybeAlign(4));
  b.CreateBr(copying);
  b.SetInsertPoint(copying);
  auto copy = [&](llvm::Value *p, llvm::Value *j) {
    llvm::Value *from = kind == PackKind::Columns ? b.CreateAdd(p, b.CreateMul(j, cs))
                                                  : b.CreateAdd(b.CreateMul(p, rs), b.CreateMul(j, cs));
    b.CreateStore(b.CreateLoad(f32, at(src, from)), at(dst, b.CreateAdd(b.CreateMul(p, k64(cfg.nr)), j)));
  };
  if (kind == PackKind::Rows) {
    forRange(b, k64(0), kc, {.name = "gemm"}, [&](llvm::Value *p) {
      copyRun(at(src, b.CreateMul(p, rs)), at(dst, b.CreateMul(p, k64(cfg.nr))), width, cfg.nr);
    });
  } else {
    // Along p, one column at a time (vectorized, the writes would become
    // scatters); for B^T each group of 8 columns (all of a full panel, the
    // first 8 of a 10-column one) first goes through 8 x 8 register
    // transposes (8 row loads in, 8 panel rows out), up to kc rounded down to 8.
    llvm::Value *grouped = k64(0), *blocks = k64(0);
    if (kind == PackKind::Columns) {
      grouped = b.CreateAnd(width, k64(~int64_t(7)));
      blocks = b.CreateAnd(kc, k64(~int64_t(7)));
      forRange(b, k64(0), grouped, {.step = 8, .name = "gemm"}, [&](llvm::Value *jh) {
        forRange(b, k64(0), blocks, {.step = 8, .name = "gemm"}, [&](llvm::Value *p8) {
          std::vector<llvm::Value *> rows;
          for (int64_t r = 0; r < 8; ++r)
            rows.push_back(b.CreateAlignedLoad(vec8(b), at(src, b.CreateAdd(p8, b.CreateMul(b.CreateAdd(jh, k64(r)), cs))),
                                               llvm::Align(4)));
          std::vector<llvm::Value *> cols = transpose8x8(b, rows);
          for (int64_t q = 0; q < 8; ++q)
            b.CreateAlignedStore(cols[size_t(q)], at(dst, b.CreateAdd(b.CreateMul(b.CreateAdd(p8, k64(q)), k64(cfg.nr)), jh)),
                                 llvm::Align(4));
        });
      });
    }
    forRange(b, k64(0), width, {.name = "gemm"}, [&](llvm::Value *j) {
      llvm::Value *from = b.CreateSelect(b.CreateICmpSLT(j, grouped), blocks, k64(0)); // the transposes' rows done
      forRange(b, from, kc, {.name = "gemm", .scalar = true}, [&](llvm::Value *p) { copy(p, j); });
    });
  }
  b.CreateRetVoid();
  return fn;
}

/// Emits `if (cond) body()`.
void ifThen(llvm::IRBuilder<> &b, llvm::Function *fn, llvm::Value *cond, const std::function<void()> &body) {
  auto *then = llvm::BasicBlock::Create(fn->getContext(), "then", fn);
  auto *after = llvm::BasicBlock::Create(fn->getContext(), "endif", fn);
  b.CreateCondBr(cond, then, after);
  b.SetInsertPoint(then);
  body();
  b.CreateBr(after);
  b.SetInsertPoint(after);
}

/// Calls the micro-kernels for `mr` rows (1..MR): a full tile directly, the
/// last rows of C as a sum of powers of two below MR (13 = 8 + 4 + 1), so
/// that a module holds log2(MR) + 1 edge kernels instead of MR - 1 (the
/// AVX-512 kernels are large: compile time).
void callMicroKernel(llvm::IRBuilder<> &b, llvm::Function *fn, const GemmConfig &cfg, llvm::Value *mr,
                     llvm::ArrayRef<llvm::Value *> args) {
  llvm::Module &m = *fn->getParent();
  llvm::LLVMContext &ctx = m.getContext();
  auto *full = llvm::BasicBlock::Create(ctx, "gemm.full", fn);
  auto *edge = llvm::BasicBlock::Create(ctx, "gemm.edge", fn);
  auto *done = llvm::BasicBlock::Create(ctx, "gemm.tile", fn);
  b.CreateCondBr(b.CreateICmpEQ(mr, b.getInt64(cfg.mr)), full, edge);
  b.SetInsertPoint(full);
  b.CreateCall(microKernel(m, cfg, cfg.mr), args);
  b.CreateBr(done);
  b.SetInsertPoint(edge);
  int64_t part = 1;
  while (2 * part < cfg.mr) part *= 2;
  llvm::Value *first = b.getInt64(0); // rows already called
  llvm::Value *a = args[1], *aRs = args[2], *c = args[6], *ldc = args[7];
  for (; part >= 1; part /= 2) {
    llvm::Value *rows = b.CreateAnd(mr, b.getInt64(part));
    ifThen(b, fn, b.CreateICmpNE(rows, b.getInt64(0)), [&] {
      std::vector<llvm::Value *> at(args.begin(), args.end());
      at[1] = b.CreateGEP(b.getFloatTy(), a, b.CreateMul(first, aRs));
      at[6] = b.CreateGEP(b.getFloatTy(), c, b.CreateMul(first, ldc));
      b.CreateCall(microKernel(m, cfg, part), at);
    });
    first = b.CreateAdd(first, rows);
  }
  b.CreateBr(done);
  b.SetInsertPoint(done);
}

/// The sums of the lanes of each of `parts` (at most `width` vectors of
/// `width` floats): one vector whose lane j is the sum of parts[j] (lanes
/// from parts.size() on are poison). A tree of shuffles and adds: each level
/// pairs the vectors and halves the run of lanes each partial sum spans, so
/// 16 vectors take 15 adds instead of 16 horizontal reductions.
llvm::Value *laneSums(llvm::IRBuilder<> &b, std::vector<llvm::Value *> parts, int64_t width) {
  auto *vec = llvm::FixedVectorType::get(b.getFloatTy(), unsigned(width));
  std::vector<std::vector<int>> owner; // owner[v][lane]: the input whose partial sum that lane holds (-1: padding)
  for (size_t i = 0; i < parts.size(); ++i) owner.emplace_back(size_t(width), int(i));
  while (int64_t(parts.size()) < width) {
    parts.push_back(llvm::ConstantFP::get(vec, -0.0)); // x + -0.0 folds to x
    owner.emplace_back(size_t(width), -1);
  }
  for (int64_t span = width; span > 1; span /= 2) { // each vector: runs of `span` lanes, one partial sum each
    std::vector<llvm::Value *> next;
    std::vector<std::vector<int>> nextOwner;
    for (size_t v = 0; v < parts.size(); v += 2) {
      std::vector<int> low, high, own;
      for (int src = 0; src < 2; ++src)
        for (int64_t run = 0; run < width / span; ++run)
          for (int64_t l = 0; l < span / 2; ++l) {
            int lane = int(run * span + l);
            low.push_back(src * int(width) + lane);
            high.push_back(src * int(width) + lane + int(span / 2));
            own.push_back(owner[v + size_t(src)][size_t(lane)]);
          }
      next.push_back(b.CreateFAdd(b.CreateShuffleVector(parts[v], parts[v + 1], low),
                                  b.CreateShuffleVector(parts[v], parts[v + 1], high)));
      nextOwner.push_back(std::move(own));
    }
    parts = std::move(next), owner = std::move(nextOwner);
  }
  std::vector<int> order(size_t(width), -1);
  for (int64_t lane = 0; lane < width; ++lane)
    if (int j = owner[0][size_t(lane)]; j >= 0) order[size_t(j)] = int(lane);
  return b.CreateShuffleVector(parts[0], order);
}

/// void dlc.dot.rR.nN(i64 k, ptr a, i64 lda, ptr b, i64 ldb, ptr c, i64 ldc, i1 add)
///
/// c[r, j] (+)= sum_p a[r * lda + p] b[j * ldb + p] for r < R, j < N: R x N
/// vector accumulators over the depth (whole vectors, then one masked step
/// for the last k mod vector), each summed across its lanes at the end
/// (laneSums) and stored with a lane mask. (The AVX-512 ones end in .avx512.)
llvm::Function *dotKernel(llvm::Module &m, const GemmConfig &cfg, int64_t rows, int64_t cols) {
  std::string name = fmt::format("dlc.dot.r{}.n{}{}", rows, cols, cfg.vector == 16 ? ".avx512" : "");
  if (llvm::Function *f = m.getFunction(name)) return f;
  llvm::LLVMContext &ctx = m.getContext();
  llvm::IRBuilder<> b(ctx);
  llvm::Type *i64 = b.getInt64Ty(), *ptr = b.getPtrTy(), *f32 = b.getFloatTy();
  const int64_t width = cfg.vector;
  auto *vec = llvm::FixedVectorType::get(f32, unsigned(width));
  auto *type = llvm::FunctionType::get(b.getVoidTy(), {i64, ptr, i64, ptr, i64, ptr, i64, b.getInt1Ty()}, false);
  auto *fn = llvm::Function::Create(type, llvm::Function::InternalLinkage, name, m);
  fn->addFnAttr(llvm::Attribute::NoInline);
  fn->addFnAttr(llvm::Attribute::NoUnwind);
  fn->addFnAttr("min-legal-vector-width", std::to_string(32 * width));
  for (unsigned i : {1u, 3u, 5u}) fn->addParamAttr(i, llvm::Attribute::NoAlias);
  llvm::Value *k = fn->getArg(0), *a = fn->getArg(1), *lda = fn->getArg(2), *bm = fn->getArg(3), *ldb = fn->getArg(4),
              *c = fn->getArg(5), *ldc = fn->getArg(6), *add = fn->getArg(7);
  auto k64 = [&](int64_t v) { return b.getInt64(v); };
  auto *entry = llvm::BasicBlock::Create(ctx, "entry", fn);
  auto *loop = llvm::BasicBlock::Create(ctx, "depth", fn);
  auto *tail = llvm::BasicBlock::Create(ctx, "tail", fn);
  b.SetInsertPoint(entry);
  std::vector<llvm::Value *> aRow, bRow; // loop-invariant row starts
  for (int64_t r = 0; r < rows; ++r) aRow.push_back(b.CreateGEP(f32, a, b.CreateMul(lda, k64(r))));
  for (int64_t j = 0; j < cols; ++j) bRow.push_back(b.CreateGEP(f32, bm, b.CreateMul(ldb, k64(j))));
  llvm::Value *whole = b.CreateAnd(k, k64(-width));
  b.CreateCondBr(b.CreateICmpSGT(whole, k64(0)), loop, tail);

  // Each step: R vectors of A's rows, then one vector of each B row, used R times.
  auto step = [&](llvm::Value *p, const std::vector<llvm::Value *> &acc, llvm::Value *mask) {
    auto read = [&](llvm::Value *row) {
      llvm::Value *at = b.CreateGEP(f32, row, p);
      if (mask) return static_cast<llvm::Value *>(b.CreateMaskedLoad(vec, at, llvm::Align(4), mask, llvm::Constant::getNullValue(vec)));
      return static_cast<llvm::Value *>(b.CreateAlignedLoad(vec, at, llvm::Align(4)));
    };
    std::vector<llvm::Value *> av, out(acc.size());
    for (llvm::Value *row : aRow) av.push_back(read(row));
    for (int64_t j = 0; j < cols; ++j) {
      llvm::Value *bv = read(bRow[size_t(j)]);
      for (int64_t r = 0; r < rows; ++r) {
        size_t i = size_t(r * cols + j);
        out[i] = b.CreateIntrinsic(llvm::Intrinsic::fma, {vec}, {av[size_t(r)], bv, acc[i]});
      }
    }
    return out;
  };
  const size_t count = size_t(rows * cols);
  b.SetInsertPoint(loop);
  llvm::PHINode *p = b.CreatePHI(i64, 2, "p");
  std::vector<llvm::Value *> acc;
  for (size_t i = 0; i < count; ++i) acc.push_back(b.CreatePHI(vec, 2, "acc"));
  std::vector<llvm::Value *> next = step(p, acc, nullptr);
  llvm::Value *pNext = b.CreateAdd(p, k64(width), "", true, true);
  p->addIncoming(k64(0), entry);
  p->addIncoming(pNext, loop);
  for (size_t i = 0; i < count; ++i) {
    llvm::cast<llvm::PHINode>(acc[i])->addIncoming(llvm::Constant::getNullValue(vec), entry);
    llvm::cast<llvm::PHINode>(acc[i])->addIncoming(next[i], loop);
  }
  b.CreateCondBr(b.CreateICmpSLT(pNext, whole), loop, tail);

  b.SetInsertPoint(tail);
  std::vector<llvm::Value *> sum;
  for (size_t i = 0; i < count; ++i) {
    llvm::PHINode *phi = b.CreatePHI(vec, 2, "sum");
    phi->addIncoming(llvm::Constant::getNullValue(vec), entry);
    phi->addIncoming(next[i], loop);
    sum.push_back(phi);
  }
  std::vector<llvm::Constant *> iota;
  for (int64_t l = 0; l < width; ++l) iota.push_back(b.getInt32(uint32_t(l)));
  llvm::Value *rest = b.CreateVectorSplat(unsigned(width), b.CreateTrunc(b.CreateSub(k, whole), b.getInt32Ty()));
  sum = step(whole, sum, b.CreateICmpSLT(llvm::ConstantVector::get(iota), rest)); // no lanes when k is whole vectors

  llvm::Value *addMask = b.CreateVectorSplat(unsigned(width), add);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j0 = 0; j0 < cols; j0 += width) {
      int64_t n = std::min(width, cols - j0);
      std::vector<llvm::Value *> parts(sum.begin() + r * cols + j0, sum.begin() + r * cols + j0 + n);
      llvm::Value *v = laneSums(b, parts, width);
      std::vector<llvm::Constant *> lanes;
      for (int64_t l = 0; l < width; ++l) lanes.push_back(b.getInt1(l < n));
      llvm::Value *mask = llvm::ConstantVector::get(lanes);
      llvm::Value *at = b.CreateGEP(f32, c, b.CreateAdd(b.CreateMul(ldc, k64(r)), k64(j0)));
      llvm::Value *old = b.CreateMaskedLoad(vec, at, llvm::Align(4), b.CreateAnd(mask, addMask), llvm::Constant::getNullValue(vec));
      b.CreateMaskedStore(b.CreateFAdd(v, old), at, llvm::Align(4), mask);
    }
  b.CreateRetVoid();
  return fn;
}

/// Rows of a dot tile for `cols` columns: R x cols accumulators in 3/4 of
/// the vector registers (the rest hold A's R vectors and one of B).
int64_t dotRows(const GemmConfig &cfg, int64_t cols) {
  int64_t accumulators = cfg.vector == 16 ? 24 : 12;
  return std::clamp<int64_t>(accumulators / cols, 1, 4);
}

} // namespace

void emitGemm(llvm::IRBuilder<> &b, llvm::Function *fn, const GemmConfig &cfg, const GemmSpec &s,
              const TileCallback &onTile) {
  llvm::Module &m = *fn->getParent();
  llvm::Type *f32 = b.getFloatTy();
  auto k64 = [&](int64_t v) { return b.getInt64(v); };
  // op(B)'s layout picks its packing function, op(A)'s too: the two-vector
  // kernels read A packed per row block as [tile][p][0:MR] (readsPackedA),
  // contiguously, instead of MR rows a row stride apart (rows 4 KiB apart,
  // as a 1024-wide layer's, share one set of L1: 14 rows and 8 ways). The
  // narrow kernels read A in place unless it is A^T (a step along the depth
  // would jump a whole row: one cache line and page per step).
  PackKind kindB = isUnit(s.b.colStride) ? PackKind::Rows : isUnit(s.b.rowStride) ? PackKind::Columns : PackKind::Strided;
  llvm::Function *packB = packFunction(m, cfg, kindB);
  // With few rows (at most kGemmInPlaceRowTiles tiles: a dense layer's
  // 10-row weight gradient over 6272 columns), a row-contiguous op(B) is
  // read in place, full panels at its own row stride: each packed element
  // would serve one or two tiles, so packing cost about as much as the
  // multiply. The last, partial panel is still packed (zero padded: the
  // kernel reads NR columns).
  llvm::Value *inPlace = kindB == PackKind::Rows ? b.CreateICmpSLE(s.m, k64(kGemmInPlaceRowTiles * cfg.mr)) : b.getFalse();
  PackKind kindA = isUnit(s.a.colStride)   ? PackKind::RowsA
                   : isUnit(s.a.rowStride) ? PackKind::TransposedA
                                           : PackKind::StridedA;
  bool packA = readsPackedA(cfg) || kindA == PackKind::TransposedA;
  llvm::Value *packedA = b.CreateGEP(f32, s.workspace, k64(cfg.kc * cfg.nc));

  forRange(b, k64(0), s.n, {.step = cfg.nc, .name = "gemm"}, [&](llvm::Value *jc) {
    llvm::Value *nc = minimum(b, k64(cfg.nc), b.CreateSub(s.n, jc));
    llvm::Value *panels = b.CreateUDiv(b.CreateAdd(nc, k64(cfg.nr - 1)), k64(cfg.nr));
    forRange(b, k64(0), s.k, {.step = cfg.kc, .name = "gemm"}, [&](llvm::Value *pc) {
      llvm::Value *kc = minimum(b, k64(cfg.kc), b.CreateSub(s.k, pc));
      auto panelAt = [&](llvm::Value *jp) { return b.CreateGEP(f32, s.workspace, b.CreateMul(b.CreateMul(jp, kc), k64(cfg.nr))); };
      auto firstColumn = [&](llvm::Value *jp) { return b.CreateAdd(jc, b.CreateMul(jp, k64(cfg.nr))); };
      auto sourceAt = [&](llvm::Value *col0) {
        return b.CreateGEP(f32, s.b.base, b.CreateAdd(b.CreateMul(pc, s.b.rowStride), b.CreateMul(col0, s.b.colStride)));
      };
      auto readInPlace = [&](llvm::Value *width) { return b.CreateAnd(inPlace, b.CreateICmpEQ(width, k64(cfg.nr))); };
      // Pack op(B)[pc:+kc, jc:+nc] as panels[jp][p][0:kNR], zeros past column n.
      forRange(b, k64(0), panels, {.name = "gemm"}, [&](llvm::Value *jp) {
        llvm::Value *col0 = firstColumn(jp);
        llvm::Value *width = minimum(b, k64(cfg.nr), b.CreateSub(s.n, col0));
        ifThen(b, fn, b.CreateNot(readInPlace(width)), [&] {
          b.CreateCall(packB, {kc, width, sourceAt(col0), s.b.rowStride, s.b.colStride, panelAt(jp)});
        });
      });
      llvm::Value *add = s.accumulate ? b.getTrue() : b.CreateICmpNE(pc, k64(0));
      llvm::Value *last = b.CreateICmpSGE(b.CreateAdd(pc, kc), s.k);
      forRange(b, k64(0), s.m, {.step = cfg.mc, .name = "gemm"}, [&](llvm::Value *ic) {
        llvm::Value *mc = minimum(b, k64(cfg.mc), b.CreateSub(s.m, ic));
        if (packA) {
          llvm::Value *src = b.CreateGEP(f32, s.a.base, b.CreateAdd(b.CreateMul(ic, s.a.rowStride), b.CreateMul(pc, s.a.colStride)));
          b.CreateCall(packFunction(m, cfg, kindA), {kc, mc, src, s.a.rowStride, s.a.colStride, packedA});
        }
        forRange(b, k64(0), panels, {.name = "gemm"}, [&](llvm::Value *jp) {
          llvm::Value *col0 = firstColumn(jp);
          llvm::Value *nr = minimum(b, k64(cfg.nr), b.CreateSub(s.n, col0));
          llvm::Value *direct = readInPlace(nr);
          llvm::Value *panel = b.CreateSelect(direct, sourceAt(col0), panelAt(jp));
          llvm::Value *panelStride = b.CreateSelect(direct, s.b.rowStride, k64(cfg.nr));
          forRange(b, k64(0), mc, {.step = cfg.mr, .name = "gemm"}, [&](llvm::Value *irLocal) {
            llvm::Value *ir = b.CreateAdd(ic, irLocal);
            llvm::Value *mr = minimum(b, k64(cfg.mr), b.CreateSub(s.m, ir));
            llvm::Value *a = packA ? b.CreateGEP(f32, packedA, b.CreateMul(irLocal, kc))
                                   : b.CreateGEP(f32, s.a.base, b.CreateAdd(b.CreateMul(ir, s.a.rowStride),
                                                                           b.CreateMul(pc, s.a.colStride)));
            llvm::Value *aRs = packA ? k64(1) : s.a.rowStride, *aCs = packA ? k64(cfg.mr) : s.a.colStride;
            llvm::Value *c = b.CreateGEP(f32, s.c, b.CreateAdd(b.CreateMul(ir, s.ldc), col0));
            callMicroKernel(b, fn, cfg, mr, {kc, a, aRs, aCs, panel, panelStride, c, s.ldc, nr, add});
            if (onTile) ifThen(b, fn, last, [&] { onTile(ir, mr, col0, nr); });
          });
        });
      });
    });
  });
}

int64_t dotTileRows(const GemmConfig &cfg, int64_t cols, int64_t depth) {
  if (cols < 1 || cols > kDotMaxColumns || depth < kDotMinDepth) return 0;
  // With one row per tile (AVX2's 16 registers for 8 to 12 columns) every
  // row of A re-reads all of B: not measured against the narrow kernel
  // (no AVX2-only host since session 10), so those products keep it.
  int64_t rows = dotRows(cfg, cols);
  return rows >= 2 ? rows : 0;
}

void emitDotProduct(llvm::IRBuilder<> &b, llvm::Function *fn, const GemmConfig &cfg, const GemmSpec &s, int64_t cols,
                    const TileCallback &onTile) {
  assert(isUnit(s.a.colStride) && isUnit(s.b.rowStride) && "the dot kernel reads A's and B's rows along the depth");
  assert(llvm::isa<llvm::ConstantInt>(s.n) && llvm::cast<llvm::ConstantInt>(s.n)->getSExtValue() == cols);
  llvm::Module &m = *fn->getParent();
  auto k64 = [&](int64_t v) { return b.getInt64(v); };
  const int64_t rows = dotRows(cfg, cols);
  llvm::Function *tile = dotKernel(m, cfg, rows, cols), *single = dotKernel(m, cfg, 1, cols);
  auto call = [&](llvm::Function *kernel, llvm::Value *i, int64_t count) {
    llvm::Type *f32 = b.getFloatTy();
    b.CreateCall(kernel, {s.k, b.CreateGEP(f32, s.a.base, b.CreateMul(i, s.a.rowStride)), s.a.rowStride, s.b.base,
                          s.b.colStride, b.CreateGEP(f32, s.c, b.CreateMul(i, s.ldc)), s.ldc, b.getInt1(s.accumulate)});
    if (onTile) onTile(i, k64(count), k64(0), k64(cols));
  };
  llvm::Value *whole = b.CreateMul(b.CreateUDiv(s.m, k64(rows)), k64(rows)); // rows in whole tiles
  forRange(b, k64(0), whole, {.step = rows, .name = "dot"}, [&](llvm::Value *i) { call(tile, i, rows); });
  forRange(b, whole, s.m, {.name = "dot", .scalar = true}, [&](llvm::Value *i) { call(single, i, 1); });
}

bool isGemmLibraryFunction(const llvm::Function &f) { return f.getName().starts_with("dlc.gemm."); }

void completeGemmLibrary(llvm::Module &m, const GemmConfig &cfg) {
  if (std::none_of(m.begin(), m.end(), [](const llvm::Function &f) { return isGemmLibraryFunction(f); })) return;
  std::vector<GemmConfig> configs = {cfg};
  if (std::optional<GemmConfig> narrow = narrowGemmConfig(cfg)) configs.push_back(*narrow);
  for (const GemmConfig &c : configs) {
    microKernel(m, c, c.mr);
    int64_t part = 1;
    while (2 * part < c.mr) part *= 2;
    for (; part >= 1; part /= 2) microKernel(m, c, part);
    for (PackKind k : {PackKind::Rows, PackKind::Columns, PackKind::Strided, PackKind::TransposedA, PackKind::RowsA,
                       PackKind::StridedA})
      packFunction(m, c, k);
  }
  std::vector<llvm::Function *> library;
  for (llvm::Function &f : m)
    if (isGemmLibraryFunction(f)) library.push_back(&f);
  std::sort(library.begin(), library.end(), [](llvm::Function *a, llvm::Function *b) { return a->getName() < b->getName(); });
  for (llvm::Function *f : library) {
    f->removeFromParent();
    m.getFunctionList().push_back(f);
  }
}

std::string GemmConfig::describe() const {
  return fmt::format("{} {}x{}, kc {} mc {} nc {}", vector == 16 ? "avx512" : "avx2", mr, nr, kc, mc, nc);
}

GemmConfig portableGemmConfig() { return {}; }

std::optional<GemmConfig> narrowGemmConfig(const GemmConfig &cfg) {
  GemmConfig g = cfg;
  g.nr = cfg.vector;
  g.mr = cfg.vector == 16 ? 28 : 12;
  g.mc = cfg.mc / g.mr * g.mr;
  if (g.mc < g.mr) return std::nullopt; // its A block would not fit the workspace
  return g;
}

GemmConfig deriveGemmConfig(int64_t vector, const CacheSizes &caches) {
  GemmConfig g;
  if (vector == 16) g = {.vector = 16, .mr = 14, .nr = 32, .kc = 192, .mc = 140, .nc = 512};
  auto roundDown = [](int64_t v, int64_t unit) { return std::max(unit, v / unit * unit); };
  // AVX2 (16-column panels): the B panel (kc x nr) takes half of L1, the rest
  // is for A's rows and C. AVX-512 (32-column panels): a panel of useful depth
  // does not fit L1 (half of 32 KiB is 128 deep), and the kernel is faster
  // streaming a deeper panel from L2 with fewer passes over C: kc x nr takes
  // 1/16 of L2 (Zen 4, 1 MiB L2: kc 512; wide's step 60 -> 55 ms against
  // kc 128, bench/README.md). A's block (mc x kc) takes half of L2; B's block
  // (kc x nc) all of L2 (it is read from there once per row block), at most
  // 2048 columns.
  if (vector == 16 && caches.l2 > 0) g.kc = std::clamp<int64_t>(roundDown(caches.l2 / 16 / (4 * g.nr), 16), 128, 512);
  else if (vector != 16 && caches.l1d > 0)
    g.kc = std::clamp<int64_t>(roundDown(caches.l1d / 2 / (4 * g.nr), 16), 64, 512);
  if (caches.l2 > 0) {
    g.mc = std::clamp<int64_t>(roundDown(caches.l2 / 2 / (4 * g.kc), g.mr), g.mr, 100 * g.mr);
    g.nc = std::clamp<int64_t>(roundDown(caches.l2 / (4 * g.kc), g.nr), 4 * g.nr, 2048);
  }
  return g;
}

// Split on tile boundaries (MR rows or NR columns), so every element sees the
// same tiles and depth blocks at any thread count. A thread packs the part of
// op(B) its columns need, and op(A)^T for its rows: split by columns, no
// thread packs B twice, and only a transposed A (packed whole by each thread)
// costs extra, so columns win unless op(A) = A^T has more rows than op(B) has
// columns. A weight gradient is the exception (Gemm.h).
PoolSplit productSplit(int64_t rows, int64_t cols, int64_t depth, bool transposedA, bool weightGradient,
                       const GemmConfig &g) {
  int64_t flops = rows * cols * depth;
  if (weightGradient && flops >= kGemmParallelFlops && rows >= 2 * g.mr) return {PoolSplit::Rows, g.mr};
  bool byColumns = cols >= kGemmParallelPanels * g.nr && (!transposedA || rows <= cols);
  if (byColumns && flops >= kGemmParallelFlops) return {PoolSplit::Columns, g.nr};
  if (!byColumns && rows >= kGemmParallelRows && flops >= kGemmParallelRowFlops) return {PoolSplit::Rows, g.mr};
  return {};
}

std::optional<GemmConfig> withBlocks(const GemmConfig &cfg, const std::string &spec) {
  int64_t v[3];
  const char *p = spec.data(), *end = spec.data() + spec.size();
  for (int i = 0; i < 3; ++i) {
    if (i && (p == end || *p++ != ',')) return std::nullopt;
    auto [next, ec] = std::from_chars(p, end, v[i]);
    if (ec != std::errc()) return std::nullopt;
    p = next;
  }
  if (p != end) return std::nullopt;
  auto [kc, mc, nc] = v;
  if (kc < 16 || kc > 4096 || kc % 8 || mc < cfg.mr || mc > 8192 || nc < cfg.nr || nc > 8192) return std::nullopt;
  GemmConfig g = cfg;
  g.kc = kc;
  g.mc = mc / g.mr * g.mr;
  g.nc = nc / g.nr * g.nr;
  if (g.workspace() > (int64_t(1) << 24)) return std::nullopt; // 64 MiB of packing space per thread
  return g;
}

} // namespace dlc
