//===- codegen/Lowering.cpp -----------------------------------------------===//
#include "codegen/Lowering.h"

#include "codegen/Fusion.h"
#include "codegen/Gemm.h"
#include "ir/Printer.h"

#include <algorithm>
#include <functional>
#include <unordered_set>

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/MDBuilder.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Support/raw_ostream.h>

namespace dlc {

namespace {

using Index = std::vector<llvm::Value *>;
using Dims = std::vector<llvm::Value *>; ///< extents as i64 values (constants, or the batch n)

/// Emits one entry function: the ops of `nodes`, in order, on the arena.
class FunctionEmitter {
public:
  FunctionEmitter(llvm::Module &m, const ModelLayout &layout, DiagnosticEngine &diags)
      : m_(m), ctx_(m.getContext()), b_(ctx_), layout_(layout), diags_(diags) {
    f32_ = b_.getFloatTy();
    // Sums may be reassociated and multiply-adds contracted to FMA, so that the
    // vectorizer can split accumulations (matmul, reductions) into lanes. NaN
    // and infinity semantics stay (relu, max and the masks rely on them).
    llvm::FastMathFlags fmf;
    fmf.setAllowReassoc();
    fmf.setAllowContract();
    b_.setFastMathFlags(fmf);
    i64_ = b_.getInt64Ty();
    ptr_ = b_.getPtrTy();
  }

  /// void name(float *arena, int64_t n [, const float *hyper])
  llvm::Function *begin(const std::string &name, bool withHyper) {
    std::vector<llvm::Type *> params{ptr_, i64_};
    if (withHyper) params.push_back(ptr_);
    fn_ = llvm::Function::Create(llvm::FunctionType::get(b_.getVoidTy(), params, false),
                                 llvm::Function::ExternalLinkage, name, m_);
    fn_->getArg(0)->setName("arena");
    fn_->getArg(1)->setName("n");
    fn_->addParamAttr(0, llvm::Attribute::NoAlias);
    if (withHyper) fn_->getArg(2)->setName("hyper");
    b_.SetInsertPoint(llvm::BasicBlock::Create(ctx_, "entry", fn_));
    batch_ = fn_->getArg(1);
    return fn_;
  }

  bool emit(const std::vector<const Node *> &nodes, const std::vector<std::string> &names, const KernelPlan &plan) {
    plan_ = &plan;
    nodes_ = &nodes;
    names_ = &names;
    if (!bind()) return false;
    assignAliasScopes();
    for (const Kernel &k : plan.kernels)
      if (!lower(*k.anchor)) return false;
    return true;
  }

  /// Gives every value of the entry its extents and its buffer in the
  /// current function (again for each outlined kernel function).
  bool bind() {
    for (size_t i = 0; i < nodes_->size(); ++i) {
      const Node *n = (*nodes_)[i];
      shapes_[n] = resolve(n->shape());
      auto slot = layout_.slots.find(n);
      if (slot != layout_.slots.end())
        buffers_[n] = b_.CreateGEP(f32_, fn_->getArg(0), c(slot->second.first), (*names_)[i]);
      else if (!plan_->fused.count(n) && !plan_->epilogues.count(n) && !n->isLeaf()) {
        diags_.error(n->loc, "codegen: value {} has no place in the arena (a compiler bug)", (*names_)[i]);
        return false;
      }
    }
    return true;
  }

  /// Emits `body(lo, hi, tid)` as a function of its own,
  ///   void NAME.rowsK(float *arena, int64_t n, int64_t lo, int64_t hi, int64_t tid),
  /// and here a call that has the thread pool run it over rows [0, total).
  void parallelRows(llvm::Value *total, const std::function<void(llvm::Value *, llvm::Value *, llvm::Value *)> &body,
                    int64_t grain = kGemmMR) {
    llvm::Function *outer = fn_;
    llvm::IRBuilderBase::InsertPoint ip = b_.saveIP();
    auto savedBuffers = buffers_;
    auto savedShapes = shapes_;
    llvm::Value *savedBatch = batch_;
    auto *type = llvm::FunctionType::get(b_.getVoidTy(), {ptr_, i64_, i64_, i64_, i64_}, false);
    auto *rows = llvm::Function::Create(type, llvm::Function::InternalLinkage,
                                        outer->getName() + ".rows" + std::to_string(rowFunctions_++), m_);
    rows->addParamAttr(0, llvm::Attribute::NoAlias);
    fn_ = rows;
    batch_ = rows->getArg(1);
    b_.SetInsertPoint(llvm::BasicBlock::Create(ctx_, "entry", rows));
    bind();
    body(rows->getArg(2), rows->getArg(3), rows->getArg(4));
    b_.CreateRetVoid();
    fn_ = outer;
    batch_ = savedBatch;
    buffers_ = std::move(savedBuffers);
    shapes_ = std::move(savedShapes);
    b_.restoreIP(ip);
    auto pool = m_.getOrInsertFunction("dlc_parallel_for", b_.getVoidTy(), ptr_, ptr_, i64_, i64_, i64_);
    b_.CreateCall(pool, {rows, fn_->getArg(0), batch_, total, c(grain)});
  }

  /// The fused optimizer update of one param from its gradient.
  void update(const Node *param, const Node *grad);

  void finish() { b_.CreateRetVoid(); }

  /// Calls another entry point on the same arena and batch.
  void callEntry(llvm::Function *entry) { b_.CreateCall(entry, {fn_->getArg(0), fn_->getArg(1)}); }

private:
  Dims resolve(const Shape &s) {
    Dims out;
    for (const Dim &d : s) out.push_back(d.isKnown() ? c(d.value()) : batch_);
    return out;
  }
  Dims stridesOf(const Dims &shape) {
    Dims st(shape.size(), c(1));
    for (int64_t i = int64_t(shape.size()) - 2; i >= 0; --i) st[size_t(i)] = b_.CreateMul(st[size_t(i) + 1], shape[size_t(i) + 1]);
    return st;
  }
  llvm::Value *product(const Dims &d) {
    llvm::Value *p = c(1);
    for (llvm::Value *x : d) p = b_.CreateMul(p, x);
    return p;
  }
  llvm::Value *c(int64_t v) { return b_.getInt64(v); }
  llvm::Value *cf(double v) { return llvm::ConstantFP::get(f32_, v); }

  /// Emits nested counted loops over `bounds`, calling body with the indices.
  void loops(const Dims &bounds, const std::function<void(const Index &)> &body) {
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
      b_.CreateCondBr(b_.CreateICmpSLT(next, bounds[d]), loop, exit);
      b_.SetInsertPoint(exit);
    };
    level(0);
  }

  /// for (i = begin; i < end; ++i) body(i), for any begin and end.
  void range(llvm::Value *begin, llvm::Value *end, const std::function<void(llvm::Value *)> &body) {
    llvm::BasicBlock *pre = b_.GetInsertBlock();
    auto *loop = llvm::BasicBlock::Create(ctx_, "range", fn_), *exit = llvm::BasicBlock::Create(ctx_, "range.exit", fn_);
    b_.CreateCondBr(b_.CreateICmpSLT(begin, end), loop, exit);
    b_.SetInsertPoint(loop);
    llvm::PHINode *i = b_.CreatePHI(i64_, 2, "j");
    i->addIncoming(begin, pre);
    body(i);
    llvm::Value *next = b_.CreateAdd(i, c(1), "", true, true);
    i->addIncoming(next, b_.GetInsertBlock());
    b_.CreateCondBr(b_.CreateICmpSLT(next, end), loop, exit);
    b_.SetInsertPoint(exit);
  }

  /// sum_d idx[d] * strides[d]
  llvm::Value *offset(const Index &idx, const Dims &strides) {
    llvm::Value *off = c(0);
    for (size_t d = 0; d < idx.size(); ++d) {
      auto *k = llvm::dyn_cast<llvm::ConstantInt>(strides[d]);
      if (k && k->isZero()) continue;
      off = b_.CreateAdd(off, b_.CreateMul(idx[d], strides[d]));
    }
    return off;
  }
  llvm::Value *load(const Node *n, llvm::Value *off) {
    if (plan_->inlineOps.count(n) && n->type.isScalar()) return inlineValue(n, {});
    return tagged(b_.CreateLoad(f32_, b_.CreateGEP(f32_, buffers_.at(n), off)), n);
  }
  /// An inline op's value at `idx` (its own index: inline ops have their user's shape).
  llvm::Value *inlineValue(const Node *n, const Index &idx) {
    if (n->kind == OpKind::Const) return cf(n->attrs.getFloat("value"));
    if (n->kind == OpKind::DimSize) return b_.CreateSIToFP(batch_, f32_);
    std::vector<llvm::Value *> v;
    for (const Node *o : n->operands) v.push_back(valueAt(o, idx, broadcastStrides(o, shapes_.at(n))));
    return scalarOp(*n, v);
  }
  /// The value of operand `n` at the consumer's index: computed inline when
  /// the plan says so, else read from its buffer at the given strides.
  llvm::Value *valueAt(const Node *n, const Index &idx, const Dims &strides) {
    if (plan_->inlineOps.count(n)) return inlineValue(n, n->type.isScalar() ? Index{} : idx);
    return load(n, offset(idx, strides));
  }
  void store(const Node *n, llvm::Value *off, llvm::Value *v) {
    tagged(b_.CreateStore(v, b_.CreateGEP(f32_, buffers_.at(n), off)), n);
  }

  /// Buffers are disjoint arena ranges, but LLVM sees one pointer plus
  /// offsets and would guard every vectorized loop with overlap checks (or
  /// give up). Each group of overlapping ranges gets an alias scope; an
  /// access carries its own scope and is declared not to alias the others.
  void assignAliasScopes() {
    std::vector<std::pair<std::pair<int64_t, int64_t>, const Node *>> ranges;
    for (auto &[n, ptr] : buffers_) {
      auto [at, count] = layout_.slots.at(n);
      ranges.push_back({{at, at + count}, n});
    }
    std::sort(ranges.begin(), ranges.end(), [](auto &x, auto &y) { return x.first < y.first; });
    llvm::MDBuilder md(ctx_);
    llvm::MDNode *domain = md.createAnonymousAliasScopeDomain("arena");
    std::vector<llvm::Metadata *> scopes;
    std::unordered_map<const Node *, size_t> group;
    int64_t end = -1;
    for (auto &[range, n] : ranges) {
      if (range.first >= end) scopes.push_back(md.createAnonymousAliasScope(domain));
      end = std::max(end, range.second);
      group[n] = scopes.size() - 1;
    }
    for (auto &[n, g] : group) {
      std::vector<llvm::Metadata *> others;
      for (size_t i = 0; i < scopes.size(); ++i)
        if (i != g) others.push_back(scopes[i]);
      scopeOf_[n] = {llvm::MDNode::get(ctx_, {scopes[g]}), llvm::MDNode::get(ctx_, others)};
    }
  }
  llvm::Instruction *tagged(llvm::Instruction *access, const Node *n) {
    auto it = scopeOf_.find(n);
    if (it != scopeOf_.end()) {
      access->setMetadata(llvm::LLVMContext::MD_alias_scope, it->second.first);
      access->setMetadata(llvm::LLVMContext::MD_noalias, it->second.second);
    }
    return access;
  }
  llvm::Value *tagged(llvm::LoadInst *access, const Node *n) {
    tagged(static_cast<llvm::Instruction *>(access), n);
    return access;
  }
  /// Strides that read operand `x` at the result index of shape `out` (numpy broadcasting).
  Dims broadcastStrides(const Node *x, const Dims &out) {
    auto st = stridesOf(shapes_.at(x));
    const Shape &xs = x->shape();
    Dims r(out.size(), c(0));
    size_t shift = out.size() - xs.size();
    for (size_t i = 0; i < xs.size(); ++i) r[i + shift] = xs[i] == Dim(1) ? c(0) : st[i];
    return r;
  }
  llvm::Value *intrinsic(llvm::Intrinsic::ID id, llvm::Value *x) {
    return b_.CreateCall(llvm::Intrinsic::getDeclaration(&m_, id, {f32_}), {x});
  }
  llvm::Value *select(llvm::Value *cond, llvm::Value *a, llvm::Value *b) { return b_.CreateSelect(cond, a, b); }

  /// e^x in straight-line arithmetic (no libm call), so that loops over it
  /// vectorize: x = k ln2 + r with |r| <= ln2/2 (ln2 split in two for
  /// precision), e^r by Cephes' degree-7 polynomial, 2^k built in the
  /// exponent bits. About 2 ulp; 0 below the float range, +inf above, NaN stays.
  llvm::Value *exp(llvm::Value *x) {
    llvm::Value *big = b_.CreateFCmpOGT(x, cf(88.3762626647949)), *tiny = b_.CreateFCmpOLT(x, cf(-87.3365447505531));
    llvm::Value *xc = select(big, cf(88.3762626647949), select(tiny, cf(-87.3365447505531), x));
    llvm::Value *k = intrinsic(llvm::Intrinsic::floor, b_.CreateFAdd(b_.CreateFMul(xc, cf(1.44269504088896341)), cf(0.5)));
    llvm::Value *r = b_.CreateFSub(xc, b_.CreateFMul(k, cf(0.693359375)));
    r = b_.CreateFAdd(r, b_.CreateFMul(k, cf(2.12194440e-4)));
    llvm::Value *p = cf(1.9875691500e-4);
    for (double coef : {1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1})
      p = b_.CreateFAdd(b_.CreateFMul(p, r), cf(coef));
    p = b_.CreateFAdd(b_.CreateFAdd(b_.CreateFMul(p, b_.CreateFMul(r, r)), r), cf(1));
    llvm::Value *bits = b_.CreateShl(b_.CreateAdd(b_.CreateFPToSI(k, b_.getInt32Ty()), b_.getInt32(127)), 23);
    llvm::Value *e = b_.CreateFMul(p, b_.CreateBitCast(bits, f32_));
    return select(tiny, cf(0), select(big, cf(INFINITY), e));
  }

  /// tanh x = sign(x) (1 - t) / (1 + t) with t = e^(-2|x|); below |x| = 1/16,
  /// where 1 - t would cancel, its odd Taylor polynomial (error < 1e-12).
  llvm::Value *tanh(llvm::Value *x) {
    llvm::Value *ax = intrinsic(llvm::Intrinsic::fabs, x);
    llvm::Value *t = exp(b_.CreateFMul(ax, cf(-2)));
    llvm::Value *big = b_.CreateFDiv(b_.CreateFSub(cf(1), t), b_.CreateFAdd(cf(1), t));
    big = intrinsic2(llvm::Intrinsic::copysign, big, x);
    llvm::Value *x2 = b_.CreateFMul(x, x);
    llvm::Value *poly = b_.CreateFAdd(cf(2.0 / 15), b_.CreateFMul(x2, cf(-17.0 / 315)));
    poly = b_.CreateFAdd(cf(-1.0 / 3), b_.CreateFMul(x2, poly));
    llvm::Value *small = b_.CreateFAdd(x, b_.CreateFMul(x, b_.CreateFMul(x2, poly)));
    return select(b_.CreateFCmpOLT(ax, cf(0.0625)), small, big);
  }
  llvm::Value *intrinsic2(llvm::Intrinsic::ID id, llvm::Value *x, llvm::Value *y) {
    return b_.CreateCall(llvm::Intrinsic::getDeclaration(&m_, id, {f32_}), {x, y});
  }

  llvm::Value *scalarOp(const Node &n, const std::vector<llvm::Value *> &v) {
    switch (n.kind) {
    case OpKind::Neg: return b_.CreateFNeg(v[0]);
    case OpKind::Exp: return exp(v[0]);
    case OpKind::Log: return intrinsic(llvm::Intrinsic::log, v[0]);
    case OpKind::Sqrt: return intrinsic(llvm::Intrinsic::sqrt, v[0]);
    case OpKind::Abs: return intrinsic(llvm::Intrinsic::fabs, v[0]);
    case OpKind::Sign:
      return b_.CreateFSub(b_.CreateUIToFP(b_.CreateFCmpOGT(v[0], cf(0)), f32_),
                           b_.CreateUIToFP(b_.CreateFCmpOLT(v[0], cf(0)), f32_));
    case OpKind::Tanh: return tanh(v[0]);
    case OpKind::Sigmoid:
      return b_.CreateFDiv(cf(1), b_.CreateFAdd(cf(1), exp(b_.CreateFNeg(v[0]))));
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
  void elementwise(const Node &n, const std::vector<Dims> &operandStrides,
                   const std::function<llvm::Value *(const std::vector<llvm::Value *> &)> &f) {
    const auto &out = shapes_.at(&n);
    auto st = stridesOf(out);
    loops(out, [&](const Index &idx) {
      std::vector<llvm::Value *> v;
      for (size_t k = 0; k < n.operands.size(); ++k) v.push_back(valueAt(n.operands[k], idx, operandStrides[k]));
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
      llvm::Value *v = n.kind == OpKind::Const ? cf(a.getFloat("value")) : b_.CreateSIToFP(batch_, f32_);
      elementwise(n, {}, [&](const std::vector<llvm::Value *> &) { return v; });
      return true;
    }
    case OpKind::Reshape: { // the same elements in the same order
      loops({product(out)}, [&](const Index &i) { store(&n, i[0], load(n.operands[0], i[0])); });
      return true;
    }
    case OpKind::Transpose: {
      auto perm = a.has("perm") ? a.getInts("perm") : std::vector<int64_t>{1, 0};
      auto xs = stridesOf(shapes_.at(n.operands[0]));
      Dims st;
      for (int64_t p : perm) st.push_back(xs[size_t(p)]);
      elementwise(n, {st}, [&](const std::vector<llvm::Value *> &v) { return v[0]; });
      return true;
    }
    case OpKind::Broadcast: {
      const Node *x = n.operands[0];
      auto dims = a.getInts("dims");
      auto xs = stridesOf(shapes_.at(x));
      Dims st(out.size(), c(0));
      for (size_t i = 0; i < dims.size(); ++i)
        if (x->shape()[i] != Dim(1)) st[size_t(dims[i])] = xs[i];
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
      Dims st = stridesOf(shapes_.at(y));
      st.push_back(c(0));
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
      std::vector<Dims> st;
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
    Dims outer, inner, outerSt, innerSt;
    auto st = stridesOf(xs);
    for (size_t d = 0; d < xs.size(); ++d) {
      (reduced[d] ? inner : outer).push_back(xs[d]);
      (reduced[d] ? innerSt : outerSt).push_back(st[d]);
    }
    bool isMax = n.kind == OpKind::ReduceMax;
    auto ost = stridesOf(shapes_.at(&n));
    if (!reduced.back()) {
      // The last axis is kept (a bias gradient: the sum over the batch rows):
      // walk x in memory order and accumulate into the result, whose inner
      // loop is then contiguous in both, instead of striding down columns.
      Dims toOut(xs.size(), c(0));
      for (size_t d = 0, o = 0; d < xs.size(); ++d)
        if (!reduced[d]) toOut[d] = ost[o++];
      loops({product(shapes_.at(&n))}, [&](const Index &i) { store(&n, i[0], cf(isMax ? -INFINITY : 0.0)); });
      loops(xs, [&](const Index &i) {
        llvm::Value *at = offset(i, toOut), *v = load(x, offset(i, st)), *cur = load(&n, at);
        store(&n, at, isMax ? b_.CreateSelect(b_.CreateFCmpOGT(v, cur), v, cur) : b_.CreateFAdd(cur, v));
      });
      return true;
    }
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
    Dims outer, outerSt;
    for (size_t d = 0; d < xs.size(); ++d)
      if (d != axis) outer.push_back(xs[d]), outerSt.push_back(st[d]);
    llvm::Value *mx = b_.CreateAlloca(f32_), *sum = b_.CreateAlloca(f32_);
    bool isLog = n.kind == OpKind::LogSoftmax;
    loops(outer, [&](const Index &o) {
      llvm::Value *base = offset(o, outerSt);
      auto at = [&](const Index &j) { return b_.CreateAdd(base, b_.CreateMul(j[0], st[axis])); };
      b_.CreateStore(cf(-INFINITY), mx);
      b_.CreateStore(cf(0), sum);
      loops({xs[axis]}, [&](const Index &j) {
        llvm::Value *v = load(x, at(j)), *m = b_.CreateLoad(f32_, mx);
        b_.CreateStore(b_.CreateSelect(b_.CreateFCmpOGT(v, m), v, m), mx);
      });
      loops({xs[axis]}, [&](const Index &j) {
        llvm::Value *e = exp(b_.CreateFSub(load(x, at(j)), b_.CreateLoad(f32_, mx)));
        b_.CreateStore(b_.CreateFAdd(b_.CreateLoad(f32_, sum), e), sum);
      });
      llvm::Value *logSum = intrinsic(llvm::Intrinsic::log, b_.CreateLoad(f32_, sum));
      loops({xs[axis]}, [&](const Index &j) {
        llvm::Value *shifted = b_.CreateFSub(load(x, at(j)), b_.CreateLoad(f32_, mx));
        llvm::Value *r = isLog ? b_.CreateFSub(shifted, logSum)
                               : b_.CreateFDiv(exp(shifted), b_.CreateLoad(f32_, sum));
        store(&n, at(j), r);
      });
    });
    return true;
  }

  /// Where the matmul's result goes: its epilogue's last op, else itself.
  const Node *matmulTarget(const Node &n) {
    auto it = plan_->epilogues.find(&n);
    return it == plan_->epilogues.end() ? &n : it->second.back();
  }

  /// Applies the epilogue (bias, activation, a mask) to an accumulated element.
  llvm::Value *applyEpilogue(const Node &n, llvm::Value *v, const Index &outIdx) {
    auto it = plan_->epilogues.find(&n);
    if (it == plan_->epilogues.end()) return v;
    const Node *prev = &n;
    for (const Node *e : it->second) {
      std::vector<llvm::Value *> vals;
      for (const Node *o : e->operands)
        vals.push_back(o == prev ? v : valueAt(o, outIdx, broadcastStrides(o, shapes_.at(&n))));
      v = scalarOp(*e, vals);
      prev = e;
    }
    return v;
  }

  /// Thread `tid`'s workspace slice (packing, then im2col columns, then a
  /// partial filter gradient) at the end of the arena, plus `offset`.
  llvm::Value *workspace(llvm::Value *tid = nullptr, int64_t offset = 0) {
    llvm::Value *at = c(layout_.workspaceOffset + offset);
    if (tid) at = b_.CreateAdd(at, b_.CreateMul(tid, c(layout_.workspacePerThread)));
    return b_.CreateGEP(f32_, fn_->getArg(0), at);
  }
  /// Convolutions from this many multiply-adds up split their images over the pool.
  static constexpr int64_t kConvParallelFlops = 1 << 20;
  /// Dot products up to this depth are unrolled in the loop-nest matmul.
  static constexpr int64_t kUnrolledDepth = 8;
  int64_t staticExtent(llvm::Value *v) const {
    auto *k = llvm::dyn_cast<llvm::ConstantInt>(v);
    return k ? k->getSExtValue() : layout_.capacity;
  }

  // y = op(a) op(b). Products worth it go to the packed GEMM (codegen/Gemm.h),
  // with the epilogue applied to each finished tile while it is in cache.
  // Small ones (and matrix-vector products) stay plain loop nests, in one of
  // two orders chosen by where the operands are contiguous:
  //  - dot order (i, j, then p innermost) when both run contiguously along p;
  //  - row order (i, p, then j innermost) when op(b)'s rows are contiguous:
  //    out[i, :] += a[i, p] b[p, :].
  bool lowerMatMul(const Node &n) {
    const Node *a = n.operands[0], *bm = n.operands[1];
    bool ta = n.attrs.getBool("transpose_a"), tb = n.attrs.getBool("transpose_b");
    const auto &as = shapes_.at(a), &bs = shapes_.at(bm);
    // View both as matrices (a vector is a row on the left, a column on the right).
    llvm::Value *ar = as.size() == 2 ? as[0] : c(1), *ac = as.size() == 2 ? as[1] : as[0];
    llvm::Value *br = bs[0], *bc = bs.size() == 2 ? bs[1] : c(1);
    llvm::Value *m = ta ? ac : ar, *k = ta ? ar : ac, *nn = tb ? br : bc;
    const Node *target = matmulTarget(n);
    auto outIndex = [&](llvm::Value *i, llvm::Value *j) -> Index {
      if (n.type.rank() == 2) return {i, j};
      if (n.type.rank() == 1) return {as.size() == 2 ? i : j};
      return {};
    };
    int64_t flops = staticExtent(m) * staticExtent(nn) * staticExtent(k);
    if (staticExtent(nn) >= kGemmNR / 2 && flops >= kGemmMinFlops) {
      // Rows [lo, hi) of the product, on packing workspace `tid`.
      auto rows = [&](llvm::Value *lo, llvm::Value *hi, llvm::Value *tid) {
        StridedMatrix A = ta ? StridedMatrix{buffers_.at(a), c(1), ac} : StridedMatrix{buffers_.at(a), ac, c(1)};
        A.base = b_.CreateGEP(f32_, A.base, b_.CreateMul(lo, A.rowStride));
        GemmSpec spec{b_.CreateSub(hi, lo), nn, k, A, {}, nullptr, nn};
        spec.b = tb ? StridedMatrix{buffers_.at(bm), c(1), bc} : StridedMatrix{buffers_.at(bm), bc, c(1)};
        spec.c = b_.CreateGEP(f32_, buffers_.at(target), b_.CreateMul(lo, nn));
        spec.workspace = workspace(tid);
        TileCallback epilogue;
        if (target != &n)
          epilogue = [&](llvm::Value *row0, llvm::Value *rowCount, llvm::Value *col0, llvm::Value *cols) {
            loops({rowCount, cols}, [&](const Index &ij) {
              llvm::Value *i = b_.CreateAdd(lo, b_.CreateAdd(row0, ij[0])), *j = b_.CreateAdd(col0, ij[1]);
              llvm::Value *off = b_.CreateAdd(b_.CreateMul(i, nn), j);
              store(target, off, applyEpilogue(n, load(target, off), outIndex(i, j)));
            });
          };
        emitGemm(b_, fn_, spec, epilogue);
      };
      // Large products are split by rows over the thread pool; every thread
      // packs op(B) into its own workspace.
      if (staticExtent(m) >= kGemmParallelRows && flops >= kGemmParallelFlops)
        parallelRows(m, [&](llvm::Value *lo, llvm::Value *hi, llvm::Value *tid) {
          // The operands' extents belong to the outlined function now.
          const auto &as2 = shapes_.at(a), &bs2 = shapes_.at(bm);
          ac = as2.size() == 2 ? as2[1] : as2[0];
          bc = bs2.size() == 2 ? bs2[1] : c(1);
          nn = tb ? bs2[0] : bc;
          k = ta ? (as2.size() == 2 ? as2[0] : c(1)) : ac;
          rows(lo, hi, tid);
        });
      else
        rows(c(0), m, nullptr);
      return true;
    }
    // Element (i, p) of op(a) and (p, j) of op(b) as strides over (i, j, p).
    Dims aSt = ta ? Dims{c(1), c(0), ac} : Dims{ac, c(0), c(1)};
    Dims bSt = tb ? Dims{c(0), bc, c(1)} : Dims{c(0), c(1), bc};
    bool dotOrder = (!ta && (tb || bs.size() == 1)) || tb;
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
        store(target, b_.CreateAdd(b_.CreateMul(ij[0], nn), ij[1]), applyEpilogue(n, v, outIndex(ij[0], ij[1])));
      });
      return true;
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
        llvm::Value *v = applyEpilogue(n, b_.CreateLoad(f32_, acc), outIndex(ij[0], ij[1]));
        store(target, b_.CreateAdd(b_.CreateMul(ij[0], nn), ij[1]), v);
      });
      return true;
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
          store(target, off, applyEpilogue(n, load(target, off), outIndex(i[0], j[0])));
        });
    });
    return true;
  }

  // Convolutions as matrix products on the im2col matrix of one image,
  // cols[(c, kh, kw), (oh, ow)] = x[c, oh*sh + kh - ph, ow*sw + kw - pw] (0 in the padding):
  //   conv2d:        y[b]  = K[O, taps] cols(x[b])
  //   bwd data:      dx[b] = col2im(K^T dy[b])
  //   bwd filter:    dK   += dy[b] cols(x[b])^T, over the batch
  bool lowerConv(const Node &n) {
    ConvGeometry g = convGeometry(n);
    int64_t taps = g.taps(), pixels = g.pixels();
    llvm::Value *cols = nullptr; // this thread's im2col matrix, set per function below
    const Node *kernel = n.kind == OpKind::Conv2DBwdFilter ? &n : n.operands[1];
    const Node *image = n.kind == OpKind::Conv2DBwdData ? &n : n.operands[0];
    // Visits every row (c, kh, kw, oh) of the im2col matrix of one image.
    // The output columns whose input pixel lies inside the image form one
    // range [lo, hi) (computed, not tested per pixel), so the copy loops run
    // branch-free and vectorize; the padding outside it is zero.
    auto im2colRows = [&](llvm::Value *xImage,
                          const std::function<void(llvm::Value *colRow, llvm::Value *xRow, llvm::Value *lo,
                                                   llvm::Value *hi)> &f) {
      loops({c(g.C), c(g.KH), c(g.KW), c(g.OH)}, [&](const Index &i) {
        llvm::Value *tap = offset({i[0], i[1], i[2]}, {c(g.KH * g.KW), c(g.KW), c(1)});
        llvm::Value *colRow = b_.CreateGEP(f32_, cols, b_.CreateAdd(b_.CreateMul(tap, c(pixels)), b_.CreateMul(i[3], c(g.OW))));
        llvm::Value *iy = b_.CreateAdd(b_.CreateMul(i[3], c(g.strideH)), b_.CreateSub(i[1], c(g.padH)));
        llvm::Value *rowInside = b_.CreateAnd(b_.CreateICmpSGE(iy, c(0)), b_.CreateICmpSLT(iy, c(g.H)));
        // ix = ow*sw + kw - pw lies in [0, W) for ow in [lo, hi).
        llvm::Value *first = b_.CreateSub(c(g.padW), i[2]);               // ow*sw >= pw - kw
        llvm::Value *lo = b_.CreateSelect(b_.CreateICmpSGT(first, c(0)),
                                          b_.CreateSDiv(b_.CreateAdd(first, c(g.strideW - 1)), c(g.strideW)), c(0));
        llvm::Value *last = b_.CreateSub(c(g.W - 1 + g.padW), i[2]);      // ow*sw <= W - 1 + pw - kw
        llvm::Value *hi = b_.CreateSelect(b_.CreateICmpSGE(last, c(0)), b_.CreateAdd(b_.CreateSDiv(last, c(g.strideW)), c(1)), c(0));
        hi = b_.CreateSelect(rowInside, b_.CreateSelect(b_.CreateICmpSLT(hi, c(g.OW)), hi, c(g.OW)), c(0));
        lo = b_.CreateSelect(b_.CreateICmpSLT(lo, hi), lo, hi);
        // x row iy, shifted so that element ow of the range is xRow[ow * sw].
        llvm::Value *xRow = b_.CreateGEP(
            f32_, xImage,
            b_.CreateAdd(b_.CreateMul(b_.CreateAdd(b_.CreateMul(i[0], c(g.H)), b_.CreateSelect(rowInside, iy, c(0))), c(g.W)),
                         b_.CreateSub(i[2], c(g.padW))));
        f(colRow, xRow, lo, hi);
      });
    };
    auto xAt = [&](llvm::Value *xRow, llvm::Value *ow) { return b_.CreateGEP(f32_, xRow, b_.CreateMul(ow, c(g.strideW))); };
    auto im2col = [&](llvm::Value *xImage) {
      im2colRows(xImage, [&](llvm::Value *colRow, llvm::Value *xRow, llvm::Value *lo, llvm::Value *hi) {
        auto zero = [&](llvm::Value *j) { b_.CreateStore(cf(0), b_.CreateGEP(f32_, colRow, j)); };
        range(c(0), lo, zero);
        range(lo, hi, [&](llvm::Value *j) { b_.CreateStore(b_.CreateLoad(f32_, xAt(xRow, j)), b_.CreateGEP(f32_, colRow, j)); });
        range(hi, c(g.OW), zero);
      });
    };
    int64_t imageSize = g.C * g.H * g.W, outSize = g.O * pixels;
    // The batch is cut into kGemmMaxThreads fixed chunks of images, whatever
    // the thread count; chunks [lo, hi) run on thread tid's workspace, and the
    // filter gradient of chunk q goes to partial sum q. The partials are
    // added in chunk order below, so any thread count gives the same bits.
    auto chunks = [&](llvm::Value *lo, llvm::Value *hi, llvm::Value *tid) {
      cols = workspace(tid, layout_.columnsAt);
      llvm::Value *kBuf = buffers_.at(kernel), *xBuf = buffers_.at(image);
      llvm::Value *images = g.batched ? shapes_.at(image)[0] : c(1); // this function's batch
      const Node *gy = n.kind == OpKind::Conv2D ? &n : n.operands[n.kind == OpKind::Conv2DBwdData ? 0 : 1];
      range(lo, hi, [&](llvm::Value *q) {
      llvm::Value *partial = workspace(q, layout_.partialAt);
      llvm::Value *first = b_.CreateSDiv(b_.CreateMul(q, images), c(kGemmMaxThreads));
      llvm::Value *last = b_.CreateSDiv(b_.CreateMul(b_.CreateAdd(q, c(1)), images), c(kGemmMaxThreads));
      range(first, last, [&](llvm::Value *bi) {
        llvm::Value *xImage = b_.CreateGEP(f32_, xBuf, b_.CreateMul(bi, c(imageSize)));
        llvm::Value *yImage = b_.CreateGEP(f32_, buffers_.at(gy), b_.CreateMul(bi, c(outSize)));
        GemmSpec spec{};
        spec.workspace = workspace(tid);
        if (n.kind == OpKind::Conv2D) {
          im2col(xImage);
          spec.m = c(g.O), spec.n = c(pixels), spec.k = c(taps);
          spec.a = {kBuf, c(taps), c(1)}, spec.b = {cols, c(pixels), c(1)};
          spec.c = yImage, spec.ldc = c(pixels);
          emitGemm(b_, fn_, spec, nullptr);
        } else if (n.kind == OpKind::Conv2DBwdData) {
          spec.m = c(taps), spec.n = c(pixels), spec.k = c(g.O);
          spec.a = {kBuf, c(1), c(taps)}, spec.b = {yImage, c(pixels), c(1)};
          spec.c = cols, spec.ldc = c(pixels);
          emitGemm(b_, fn_, spec, nullptr);
          loops({c(imageSize)}, [&](const Index &i) { b_.CreateStore(cf(0), b_.CreateGEP(f32_, xImage, i[0])); });
          im2colRows(xImage, [&](llvm::Value *colRow, llvm::Value *xRow, llvm::Value *lo, llvm::Value *hi) {
            range(lo, hi, [&](llvm::Value *j) {
              llvm::Value *at = xAt(xRow, j);
              b_.CreateStore(b_.CreateFAdd(b_.CreateLoad(f32_, at), b_.CreateLoad(f32_, b_.CreateGEP(f32_, colRow, j))), at);
            });
          });
        } else {
          im2col(xImage);
          spec.m = c(g.O), spec.n = c(taps), spec.k = c(pixels);
          spec.a = {yImage, c(pixels), c(1)}, spec.b = {cols, c(1), c(pixels)};
          spec.c = partial, spec.ldc = c(taps), spec.accumulate = true;
          emitGemm(b_, fn_, spec, nullptr);
        }
      });
      });
    };
    int64_t partialSize = g.O * taps;
    bool filter = n.kind == OpKind::Conv2DBwdFilter;
    auto eachPartial = [&](const std::function<void(llvm::Value *partial)> &f) {
      for (int64_t t = 0; t < kGemmMaxThreads; ++t) f(workspace(c(t), layout_.partialAt));
    };
    if (filter) // every thread's partial sum starts at zero, whether it gets images or not
      eachPartial([&](llvm::Value *partial) {
        loops({c(partialSize)}, [&](const Index &i) { b_.CreateStore(cf(0), b_.CreateGEP(f32_, partial, i[0])); });
      });
    int64_t work = layout_.capacity * g.O * pixels * taps;
    if (g.batched && work >= kConvParallelFlops)
      parallelRows(c(kGemmMaxThreads), chunks, /*grain=*/1);
    else
      chunks(c(0), c(kGemmMaxThreads), c(0));
    if (filter) {
      llvm::Value *kBuf = buffers_.at(kernel);
      loops({c(partialSize)}, [&](const Index &i) { b_.CreateStore(cf(0), b_.CreateGEP(f32_, kBuf, i[0])); });
      eachPartial([&](llvm::Value *partial) {
        loops({c(partialSize)}, [&](const Index &i) {
          llvm::Value *at = b_.CreateGEP(f32_, kBuf, i[0]);
          b_.CreateStore(b_.CreateFAdd(b_.CreateLoad(f32_, at), b_.CreateLoad(f32_, b_.CreateGEP(f32_, partial, i[0]))), at);
        });
      });
    }
    return true;
  }

  llvm::Module &m_;
  llvm::LLVMContext &ctx_;
  llvm::IRBuilder<> b_;
  const ModelLayout &layout_;
  DiagnosticEngine &diags_;
  llvm::Function *fn_ = nullptr;
  llvm::Value *batch_ = nullptr;
  const KernelPlan *plan_ = nullptr;
  llvm::Type *f32_, *i64_, *ptr_;
  std::unordered_map<const Node *, llvm::Value *> buffers_;
  std::unordered_map<const Node *, Dims> shapes_;
  std::unordered_map<const Node *, std::pair<llvm::MDNode *, llvm::MDNode *>> scopeOf_; ///< alias.scope, noalias
  const std::vector<const Node *> *nodes_ = nullptr;
  const std::vector<std::string> *names_ = nullptr;
  int rowFunctions_ = 0;
};

// SGD:  z = g + beta z;  p -= lr (nesterov ? g + beta z : z)
// Adam: m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
//       p -= lr (c1 m / (sqrt(c2 v) + eps) + wd p)
void FunctionEmitter::update(const Node *param, const Node *grad) {
  llvm::Value *hyper = fn_->getArg(2);
  auto h = [&](int i) { return b_.CreateLoad(f32_, b_.CreateGEP(f32_, hyper, c(i))); };
  llvm::Value *arena = fn_->getArg(0);
  auto at = [&](int64_t off) { return b_.CreateGEP(f32_, arena, c(off)); };
  llvm::Value *p = at(layout_.slots.at(param).first), *g = at(layout_.slots.at(grad).first);
  const auto &state = layout_.state.at(param);
  int64_t count = layout_.slots.at(param).second;
  llvm::Value *lr = h(kLearningRate);
  if (layout_.optimizer == Optimizer::SGD) {
    llvm::Value *beta = h(kMomentum), *nesterov = b_.CreateFCmpONE(h(kNesterov), cf(0));
    llvm::Value *z = at(state[0]);
    loops({c(count)}, [&](const Index &i) {
      auto ld = [&](llvm::Value *base) { return b_.CreateLoad(f32_, b_.CreateGEP(f32_, base, i[0])); };
      llvm::Value *gi = ld(g);
      llvm::Value *zi = b_.CreateFAdd(gi, b_.CreateFMul(beta, ld(z)));
      b_.CreateStore(zi, b_.CreateGEP(f32_, z, i[0]));
      llvm::Value *dir = b_.CreateSelect(nesterov, b_.CreateFAdd(gi, b_.CreateFMul(beta, zi)), zi);
      b_.CreateStore(b_.CreateFSub(ld(p), b_.CreateFMul(lr, dir)), b_.CreateGEP(f32_, p, i[0]));
    });
    return;
  }
  llvm::Value *b1 = h(kBeta1), *b2 = h(kBeta2), *eps = h(kEpsilon), *c1 = h(kCorrection1), *c2 = h(kCorrection2),
              *wd = h(kWeightDecay);
  llvm::Value *mBuf = at(state[0]), *vBuf = at(state[1]);
  loops({c(count)}, [&](const Index &i) {
    auto ptr = [&](llvm::Value *base) { return b_.CreateGEP(f32_, base, i[0]); };
    llvm::Value *gi = b_.CreateLoad(f32_, ptr(g)), *pi = b_.CreateLoad(f32_, ptr(p));
    llvm::Value *mi = b_.CreateFAdd(b_.CreateFMul(b1, b_.CreateLoad(f32_, ptr(mBuf))), b_.CreateFMul(b_.CreateFSub(cf(1), b1), gi));
    llvm::Value *vi = b_.CreateFAdd(b_.CreateFMul(b2, b_.CreateLoad(f32_, ptr(vBuf))),
                                    b_.CreateFMul(b_.CreateFSub(cf(1), b2), b_.CreateFMul(gi, gi)));
    b_.CreateStore(mi, ptr(mBuf));
    b_.CreateStore(vi, ptr(vBuf));
    llvm::Value *denom = b_.CreateFAdd(intrinsic(llvm::Intrinsic::sqrt, b_.CreateFMul(c2, vi)), eps);
    llvm::Value *step = b_.CreateFAdd(b_.CreateFDiv(b_.CreateFMul(c1, mi), denom), b_.CreateFMul(wd, pi));
    b_.CreateStore(b_.CreateFSub(pi, b_.CreateFMul(lr, step)), ptr(p));
  });
}

} // namespace

std::unique_ptr<llvm::Module> lowerModel(const Graph &g, const ModelLayout &layout, const std::string &prefix,
                                         llvm::LLVMContext &ctx, DiagnosticEngine &diags) {
  auto m = std::make_unique<llvm::Module>(g.name, ctx);
  std::vector<std::string> printed = printedNames(g);
  std::unordered_map<const Node *, std::string> nameOf;
  for (size_t i = 0; i < g.size(); ++i) nameOf[g.nodes()[i].get()] = printed[i].substr(1);
  auto namesOf = [&](const std::vector<const Node *> &nodes) {
    std::vector<std::string> out;
    for (const Node *n : nodes) out.push_back(nameOf.at(n));
    return out;
  };
  auto [outputs, training] = entryRoots(g);
  auto emitEntry = [&](const std::string &suffix, const std::vector<const Node *> &roots) {
    FunctionEmitter e(*m, layout, diags);
    e.begin(prefix + suffix, false);
    std::vector<const Node *> nodes = entryNodes(g, roots);
    KernelPlan plan = planKernels(nodes, std::unordered_set<const Node *>(roots.begin(), roots.end()));
    if (!e.emit(nodes, namesOf(nodes), plan)) return false;
    e.finish();
    return true;
  };
  if (!emitEntry("_forward", outputs)) return nullptr;
  if (g.result(Role::Loss)) {
    if (!emitEntry("_loss_and_grad", training)) return nullptr;
    // train_step = loss_and_grad, then the optimizer update of every param
    // (one copy of the gradient kernels keeps compile time down).
    FunctionEmitter e(*m, layout, diags);
    e.begin(prefix + "_train_step", true);
    e.callEntry(m->getFunction(prefix + "_loss_and_grad"));
    for (const auto &r : g.results)
      if (r.role == Role::Grad && r.of->kind == OpKind::Param) e.update(r.of, r.node);
    e.finish();
  }
  std::string err;
  llvm::raw_string_ostream os(err);
  if (llvm::verifyModule(*m, &os)) {
    diags.error({}, "codegen produced invalid LLVM IR (a compiler bug): {}", os.str());
    return nullptr;
  }
  return m;
}

} // namespace dlc
