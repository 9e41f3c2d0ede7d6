//===- codegen/Lowering.cpp -----------------------------------------------===//
#include "codegen/Lowering.h"

#include "ir/Printer.h"

#include <functional>

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Support/raw_ostream.h>

namespace dlc {

namespace {

using Index = std::vector<llvm::Value *>;

std::vector<int64_t> stridesOf(const std::vector<int64_t> &shape) {
  std::vector<int64_t> st(shape.size(), 1);
  for (int64_t i = int64_t(shape.size()) - 2; i >= 0; --i) st[size_t(i)] = st[size_t(i) + 1] * shape[size_t(i) + 1];
  return st;
}

class Lowerer {
public:
  Lowerer(const Graph &g, const LoweringOptions &opts, llvm::Module &m, DiagnosticEngine &diags)
      : g_(g), opts_(opts), m_(m), ctx_(m.getContext()), b_(ctx_), diags_(diags) {
    f32_ = b_.getFloatTy();
    i64_ = b_.getInt64Ty();
    ptr_ = b_.getPtrTy();
  }

  bool run() {
    auto *fnTy = llvm::FunctionType::get(b_.getVoidTy(), {ptr_}, false);
    fn_ = llvm::Function::Create(fnTy, llvm::Function::ExternalLinkage, opts_.functionName, m_);
    fn_->getArg(0)->setName("slots");
    b_.SetInsertPoint(llvm::BasicBlock::Create(ctx_, "entry", fn_));
    std::vector<std::string> names = printedNames(g_);
    for (size_t i = 0; i < g_.size(); ++i) {
      const Node *n = g_.nodes()[i].get();
      index_[n] = i;
      llvm::Value *slot = b_.CreateGEP(ptr_, fn_->getArg(0), b_.getInt64(int64_t(i)));
      buffers_[n] = b_.CreateLoad(ptr_, slot, names[i].substr(1));
      shapes_[n] = resolve(n->shape());
    }
    for (const auto &n : g_.nodes())
      if (!lower(*n)) return false;
    b_.CreateRetVoid();
    return true;
  }

private:
  std::vector<int64_t> resolve(const Shape &s) const {
    std::vector<int64_t> out;
    for (const Dim &d : s) out.push_back(d.isKnown() ? d.value() : opts_.batch);
    return out;
  }
  llvm::Value *c(int64_t v) { return b_.getInt64(v); }
  llvm::Value *cf(double v) { return llvm::ConstantFP::get(f32_, v); }

  /// Emits nested counted loops over `bounds`, calling body with the indices.
  void loops(const std::vector<int64_t> &bounds, const std::function<void(const Index &)> &body) {
    Index idx;
    std::function<void(size_t)> level = [&](size_t d) {
      if (d == bounds.size()) {
        body(idx);
        return;
      }
      llvm::BasicBlock *pre = b_.GetInsertBlock();
      auto *loop = llvm::BasicBlock::Create(ctx_, "loop", fn_);
      auto *exit = llvm::BasicBlock::Create(ctx_, "exit", fn_);
      b_.CreateBr(loop);
      b_.SetInsertPoint(loop);
      llvm::PHINode *i = b_.CreatePHI(i64_, 2, "i");
      i->addIncoming(c(0), pre);
      idx.push_back(i);
      level(d + 1);
      idx.pop_back();
      llvm::Value *next = b_.CreateAdd(i, c(1), "", true, true);
      i->addIncoming(next, b_.GetInsertBlock());
      b_.CreateCondBr(b_.CreateICmpSLT(next, c(bounds[d])), loop, exit);
      b_.SetInsertPoint(exit);
    };
    level(0);
  }

  /// sum_d idx[d] * strides[d]
  llvm::Value *offset(const Index &idx, const std::vector<int64_t> &strides) {
    llvm::Value *off = c(0);
    for (size_t d = 0; d < idx.size(); ++d)
      if (strides[d]) off = b_.CreateAdd(off, b_.CreateMul(idx[d], c(strides[d])));
    return off;
  }
  llvm::Value *load(const Node *n, llvm::Value *off) {
    return b_.CreateLoad(f32_, b_.CreateGEP(f32_, buffers_.at(n), off));
  }
  void store(const Node *n, llvm::Value *off, llvm::Value *v) {
    b_.CreateStore(v, b_.CreateGEP(f32_, buffers_.at(n), off));
  }
  /// Strides that read operand `x` at the result index of shape `out` (numpy broadcasting).
  std::vector<int64_t> broadcastStrides(const Node *x, const std::vector<int64_t> &out) {
    const auto &xs = shapes_.at(x);
    auto st = stridesOf(xs);
    std::vector<int64_t> r(out.size(), 0);
    size_t shift = out.size() - xs.size();
    for (size_t i = 0; i < xs.size(); ++i) r[i + shift] = xs[i] == 1 ? 0 : st[i];
    return r;
  }
  llvm::Value *intrinsic(llvm::Intrinsic::ID id, llvm::Value *x) {
    return b_.CreateCall(llvm::Intrinsic::getDeclaration(&m_, id, {f32_}), {x});
  }
  llvm::Value *libcall(const char *name, llvm::Value *x) {
    auto callee = m_.getOrInsertFunction(name, llvm::FunctionType::get(f32_, {f32_}, false));
    return b_.CreateCall(callee, {x});
  }

  llvm::Value *scalarOp(const Node &n, const std::vector<llvm::Value *> &v) {
    switch (n.kind) {
    case OpKind::Neg: return b_.CreateFNeg(v[0]);
    case OpKind::Exp: return intrinsic(llvm::Intrinsic::exp, v[0]);
    case OpKind::Log: return intrinsic(llvm::Intrinsic::log, v[0]);
    case OpKind::Sqrt: return intrinsic(llvm::Intrinsic::sqrt, v[0]);
    case OpKind::Abs: return intrinsic(llvm::Intrinsic::fabs, v[0]);
    case OpKind::Sign:
      return b_.CreateFSub(b_.CreateUIToFP(b_.CreateFCmpOGT(v[0], cf(0)), f32_),
                           b_.CreateUIToFP(b_.CreateFCmpOLT(v[0], cf(0)), f32_));
    case OpKind::Tanh: return libcall("tanhf", v[0]);
    case OpKind::Sigmoid:
      return b_.CreateFDiv(cf(1), b_.CreateFAdd(cf(1), intrinsic(llvm::Intrinsic::exp, b_.CreateFNeg(v[0]))));
    case OpKind::Relu: return b_.CreateSelect(b_.CreateFCmpOGT(v[0], cf(0)), v[0], cf(0));
    case OpKind::Pow: {
      double p = n.attrs.getFloat("exponent");
      if (p == 2) return b_.CreateFMul(v[0], v[0]);
      auto callee = llvm::Intrinsic::getDeclaration(&m_, llvm::Intrinsic::pow, {f32_});
      return b_.CreateCall(callee, {v[0], cf(p)});
    }
    case OpKind::Add: return b_.CreateFAdd(v[0], v[1]);
    case OpKind::Sub: return b_.CreateFSub(v[0], v[1]);
    case OpKind::Mul: return b_.CreateFMul(v[0], v[1]);
    case OpKind::Div: return b_.CreateFDiv(v[0], v[1]);
    case OpKind::Max: return b_.CreateSelect(b_.CreateFCmpOGT(v[0], v[1]), v[0], v[1]);
    case OpKind::Gt: return b_.CreateUIToFP(b_.CreateFCmpOGT(v[0], v[1]), f32_);
    case OpKind::Eq: return b_.CreateUIToFP(b_.CreateFCmpOEQ(v[0], v[1]), f32_);
    default: return nullptr;
    }
  }

  /// out[idx] = f(operands at strided offsets)
  void elementwise(const Node &n, const std::vector<std::vector<int64_t>> &operandStrides,
                   const std::function<llvm::Value *(const std::vector<llvm::Value *> &)> &f) {
    const auto &out = shapes_.at(&n);
    auto st = stridesOf(out);
    loops(out, [&](const Index &idx) {
      std::vector<llvm::Value *> v;
      for (size_t k = 0; k < n.operands.size(); ++k) v.push_back(load(n.operands[k], offset(idx, operandStrides[k])));
      store(&n, offset(idx, st), f(v));
    });
  }

  bool lower(const Node &n) {
    const auto &out = shapes_.at(&n);
    const Attrs &a = n.attrs;
    switch (n.kind) {
    case OpKind::Input:
    case OpKind::Label:
    case OpKind::Param: return true;
    case OpKind::Const:
    case OpKind::DimSize: {
      double v = n.kind == OpKind::Const ? a.getFloat("value") : double(opts_.batch);
      elementwise(n, {}, [&](const std::vector<llvm::Value *> &) { return cf(v); });
      return true;
    }
    case OpKind::Reshape: { // the same elements in the same order
      int64_t count = 1;
      for (int64_t d : out) count *= d;
      loops({count}, [&](const Index &i) { store(&n, i[0], load(n.operands[0], i[0])); });
      return true;
    }
    case OpKind::Transpose: {
      auto perm = a.has("perm") ? a.getInts("perm") : std::vector<int64_t>{1, 0};
      auto xs = stridesOf(shapes_.at(n.operands[0]));
      std::vector<int64_t> st;
      for (int64_t p : perm) st.push_back(xs[size_t(p)]);
      elementwise(n, {st}, [&](const std::vector<llvm::Value *> &v) { return v[0]; });
      return true;
    }
    case OpKind::Broadcast: {
      const Node *x = n.operands[0];
      auto dims = a.getInts("dims");
      auto xs = stridesOf(shapes_.at(x));
      std::vector<int64_t> st(out.size(), 0);
      for (size_t i = 0; i < dims.size(); ++i)
        if (shapes_.at(x)[i] != 1) st[size_t(dims[i])] = xs[i];
      elementwise(n, {st}, [&](const std::vector<llvm::Value *> &v) { return v[0]; });
      return true;
    }
    case OpKind::ReduceSum:
    case OpKind::ReduceMax: return lowerReduce(n);
    case OpKind::Softmax:
    case OpKind::LogSoftmax: return lowerSoftmax(n);
    case OpKind::MatMul: return lowerMatMul(n);
    case OpKind::OneHot: {
      const Node *y = n.operands[0];
      std::vector<int64_t> st = stridesOf(shapes_.at(y));
      st.push_back(0);
      auto ost = stridesOf(out);
      loops(out, [&](const Index &idx) {
        llvm::Value *label = b_.CreateFPToSI(load(y, offset(idx, st)), i64_);
        store(&n, offset(idx, ost), b_.CreateUIToFP(b_.CreateICmpEQ(label, idx.back()), f32_));
      });
      return true;
    }
    case OpKind::Conv2D:
    case OpKind::Conv2DBwdData:
    case OpKind::Conv2DBwdFilter: return lowerConv(n);
    default: break;
    }
    if (n.info().is(Elementwise)) {
      std::vector<std::vector<int64_t>> st;
      for (const Node *o : n.operands) st.push_back(broadcastStrides(o, out));
      elementwise(n, st, [&](const std::vector<llvm::Value *> &v) { return scalarOp(n, v); });
      return true;
    }
    diags_.error(n.loc, "codegen: no lowering for '{}' yet", n.info().mnemonic);
    return false;
  }

  bool lowerReduce(const Node &n) {
    const Node *x = n.operands[0];
    const auto &xs = shapes_.at(x);
    auto axes = n.attrs.getInts("axes");
    std::vector<bool> reduced(xs.size(), false);
    for (int64_t ax : axes) reduced[size_t(ax)] = true;
    std::vector<int64_t> outer, inner, outerSt, innerSt;
    auto st = stridesOf(xs);
    for (size_t d = 0; d < xs.size(); ++d) {
      (reduced[d] ? inner : outer).push_back(xs[d]);
      (reduced[d] ? innerSt : outerSt).push_back(st[d]);
    }
    bool isMax = n.kind == OpKind::ReduceMax;
    auto ost = stridesOf(shapes_.at(&n));
    llvm::Value *acc = b_.CreateAlloca(f32_);
    loops(outer, [&](const Index &o) {
      llvm::Value *base = offset(o, outerSt);
      b_.CreateStore(cf(isMax ? -INFINITY : 0.0), acc);
      loops(inner, [&](const Index &i) {
        llvm::Value *v = load(x, b_.CreateAdd(base, offset(i, innerSt)));
        llvm::Value *cur = b_.CreateLoad(f32_, acc);
        b_.CreateStore(isMax ? b_.CreateSelect(b_.CreateFCmpOGT(v, cur), v, cur) : b_.CreateFAdd(cur, v), acc);
      });
      store(&n, offset(o, ost), b_.CreateLoad(f32_, acc));
    });
    return true;
  }

  bool lowerSoftmax(const Node &n) {
    const Node *x = n.operands[0];
    const auto &xs = shapes_.at(x);
    size_t axis = size_t(n.attrs.getInt("axis"));
    auto st = stridesOf(xs);
    std::vector<int64_t> outer, outerSt;
    for (size_t d = 0; d < xs.size(); ++d)
      if (d != axis) outer.push_back(xs[d]), outerSt.push_back(st[d]);
    llvm::Value *mx = b_.CreateAlloca(f32_), *sum = b_.CreateAlloca(f32_);
    bool isLog = n.kind == OpKind::LogSoftmax;
    loops(outer, [&](const Index &o) {
      llvm::Value *base = offset(o, outerSt);
      auto at = [&](const Index &j) { return b_.CreateAdd(base, b_.CreateMul(j[0], c(st[axis]))); };
      b_.CreateStore(cf(-INFINITY), mx);
      b_.CreateStore(cf(0), sum);
      loops({xs[axis]}, [&](const Index &j) {
        llvm::Value *v = load(x, at(j)), *m = b_.CreateLoad(f32_, mx);
        b_.CreateStore(b_.CreateSelect(b_.CreateFCmpOGT(v, m), v, m), mx);
      });
      loops({xs[axis]}, [&](const Index &j) {
        llvm::Value *e = intrinsic(llvm::Intrinsic::exp, b_.CreateFSub(load(x, at(j)), b_.CreateLoad(f32_, mx)));
        b_.CreateStore(b_.CreateFAdd(b_.CreateLoad(f32_, sum), e), sum);
      });
      llvm::Value *logSum = intrinsic(llvm::Intrinsic::log, b_.CreateLoad(f32_, sum));
      loops({xs[axis]}, [&](const Index &j) {
        llvm::Value *shifted = b_.CreateFSub(load(x, at(j)), b_.CreateLoad(f32_, mx));
        llvm::Value *r = isLog ? b_.CreateFSub(shifted, logSum)
                               : b_.CreateFDiv(intrinsic(llvm::Intrinsic::exp, shifted), b_.CreateLoad(f32_, sum));
        store(&n, at(j), r);
      });
    });
    return true;
  }

  bool lowerMatMul(const Node &n) {
    const Node *a = n.operands[0], *bm = n.operands[1];
    bool ta = n.attrs.getBool("transpose_a"), tb = n.attrs.getBool("transpose_b");
    const auto &as = shapes_.at(a), &bs = shapes_.at(bm);
    // View both as matrices (a vector is a row on the left, a column on the right).
    int64_t ar = as.size() == 2 ? as[0] : 1, ac = as.size() == 2 ? as[1] : as[0];
    int64_t br = bs[0], bc = bs.size() == 2 ? bs[1] : 1;
    int64_t m = ta ? ac : ar, k = ta ? ar : ac, nn = tb ? br : bc;
    // Element (i, p) of op(a) and (p, j) of op(b) as strides over (i, j, p).
    std::vector<int64_t> aSt = ta ? std::vector<int64_t>{1, 0, ac} : std::vector<int64_t>{ac, 0, 1};
    std::vector<int64_t> bSt = tb ? std::vector<int64_t>{0, bc, 1} : std::vector<int64_t>{0, 1, bc};
    llvm::Value *acc = b_.CreateAlloca(f32_);
    loops({m, nn}, [&](const Index &ij) {
      b_.CreateStore(cf(0), acc);
      loops({k}, [&](const Index &p) {
        Index ijp{ij[0], ij[1], p[0]};
        llvm::Value *prod = b_.CreateFMul(load(a, offset(ijp, aSt)), load(bm, offset(ijp, bSt)));
        b_.CreateStore(b_.CreateFAdd(b_.CreateLoad(f32_, acc), prod), acc);
      });
      store(&n, b_.CreateAdd(b_.CreateMul(ij[0], c(nn)), ij[1]), b_.CreateLoad(f32_, acc));
    });
    return true;
  }

  bool lowerConv(const Node &n) {
    // Geometry from the image x and the filter k, whichever op this is.
    std::vector<int64_t> xs, ks;
    const Node *x = nullptr, *k = nullptr, *gy = nullptr;
    if (n.kind == OpKind::Conv2D) x = n.operands[0], k = n.operands[1], xs = shapes_.at(x), ks = shapes_.at(k);
    if (n.kind == OpKind::Conv2DBwdData) gy = n.operands[0], k = n.operands[1], xs = shapes_.at(&n), ks = shapes_.at(k);
    if (n.kind == OpKind::Conv2DBwdFilter) x = n.operands[0], gy = n.operands[1], xs = shapes_.at(x), ks = shapes_.at(&n);
    size_t cAxis = xs.size() - 3;
    int64_t B = cAxis ? xs[0] : 1, C = xs[cAxis], H = xs[cAxis + 1], W = xs[cAxis + 2];
    int64_t O = ks[0], KH = ks[2], KW = ks[3];
    auto stride = n.attrs.getInts("stride"), pad = n.attrs.getInts("pad");
    int64_t sh = stride.size() == 2 ? stride[0] : 1, sw = stride.size() == 2 ? stride[1] : 1;
    int64_t ph = pad.size() == 2 ? pad[0] : 0, pw = pad.size() == 2 ? pad[1] : 0;
    int64_t OH = (H + 2 * ph - KH) / sh + 1, OW = (W + 2 * pw - KW) / sw + 1;
    // Zero the accumulating result, then visit every tap in bounds.
    int64_t total = 1;
    for (int64_t d : shapes_.at(&n)) total *= d;
    loops({total}, [&](const Index &i) { store(&n, i[0], cf(0)); });
    loops({B, O, OH, OW, C, KH, KW}, [&](const Index &i) {
      llvm::Value *iy = b_.CreateAdd(b_.CreateMul(i[2], c(sh)), b_.CreateSub(i[5], c(ph)));
      llvm::Value *ix = b_.CreateAdd(b_.CreateMul(i[3], c(sw)), b_.CreateSub(i[6], c(pw)));
      llvm::Value *inside = b_.CreateAnd(b_.CreateAnd(b_.CreateICmpSGE(iy, c(0)), b_.CreateICmpSLT(iy, c(H))),
                                         b_.CreateAnd(b_.CreateICmpSGE(ix, c(0)), b_.CreateICmpSLT(ix, c(W))));
      auto *then = llvm::BasicBlock::Create(ctx_, "tap", fn_), *done = llvm::BasicBlock::Create(ctx_, "next", fn_);
      b_.CreateCondBr(inside, then, done);
      b_.SetInsertPoint(then);
      llvm::Value *xo = b_.CreateAdd(b_.CreateMul(b_.CreateAdd(b_.CreateMul(b_.CreateAdd(b_.CreateMul(i[0], c(C)), i[4]), c(H)), iy), c(W)), ix);
      llvm::Value *ko = offset({i[1], i[4], i[5], i[6]}, {C * KH * KW, KH * KW, KW, 1});
      llvm::Value *yo = offset({i[0], i[1], i[2], i[3]}, {O * OH * OW, OH * OW, OW, 1});
      llvm::Value *target = n.kind == OpKind::Conv2D ? yo : n.kind == OpKind::Conv2DBwdData ? xo : ko;
      llvm::Value *lhs = n.kind == OpKind::Conv2DBwdData ? load(gy, yo) : load(x, xo);
      llvm::Value *rhs = n.kind == OpKind::Conv2DBwdFilter ? load(gy, yo) : load(k, ko);
      store(&n, target, b_.CreateFAdd(load(&n, target), b_.CreateFMul(lhs, rhs)));
      b_.CreateBr(done);
      b_.SetInsertPoint(done);
    });
    return true;
  }

  const Graph &g_;
  const LoweringOptions &opts_;
  llvm::Module &m_;
  llvm::LLVMContext &ctx_;
  llvm::IRBuilder<> b_;
  DiagnosticEngine &diags_;
  llvm::Function *fn_ = nullptr;
  llvm::Type *f32_, *i64_, *ptr_;
  std::unordered_map<const Node *, size_t> index_;
  std::unordered_map<const Node *, llvm::Value *> buffers_;
  std::unordered_map<const Node *, std::vector<int64_t>> shapes_;
};

} // namespace

std::unique_ptr<llvm::Module> lowerGraph(const Graph &g, const LoweringOptions &opts, llvm::LLVMContext &ctx,
                                         DiagnosticEngine &diags) {
  auto m = std::make_unique<llvm::Module>(g.name, ctx);
  Lowerer l(g, opts, *m, diags);
  if (!l.run()) return nullptr;
  std::string err;
  llvm::raw_string_ostream os(err);
  if (llvm::verifyModule(*m, &os)) {
    diags.error({}, "codegen produced invalid LLVM IR (a compiler bug): {}", os.str());
    return nullptr;
  }
  return m;
}

} // namespace dlc
