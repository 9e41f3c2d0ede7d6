//===- codegen/lower/KernelEmitter.cpp - Buffers, elementwise and layout --===//
//
// Every IR value has a buffer in the model's arena (codegen/Layout.h) unless
// fusion computes it inline; every kernel becomes a loop nest over its
// result. Extents are compile-time constants except the batch n, a run-time
// argument. Labels hold class indices as floats.
//
//===----------------------------------------------------------------------===//
#include "codegen/lower/KernelEmitter.h"

#include <algorithm>
#include <stdexcept>

#include <llvm/IR/MDBuilder.h>

#include "codegen/lower/Loops.h"

namespace dlc {

KernelEmitter::KernelEmitter(llvm::Module &m, const ModelLayout &layout, DiagnosticEngine &diags)
    : m_(m), ctx_(m.getContext()), b_(ctx_), math_(b_), layout_(layout), diags_(diags) {
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

llvm::Function *KernelEmitter::begin(const std::string &name, bool withHyper) {
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

bool KernelEmitter::emit(const std::vector<const Node *> &nodes, const std::vector<std::string> &names,
                         const KernelPlan &plan) {
  plan_ = &plan;
  nodes_ = &nodes;
  names_ = &names;
  if (!bind()) return false;
  assignAliasScopes();
  for (const Kernel &k : plan.kernels) {
    try {
      if (!lower(*k.anchor)) return false;
    } catch (const std::exception &e) { // a compiler bug: say where, do not abort the host
      diags_.error(k.anchor->loc, "internal: lowering '{}' failed: {}", k.anchor->info().mnemonic, e.what());
      return false;
    }
  }
  return true;
}

void KernelEmitter::callEntry(llvm::Function *entry) {
  std::vector<llvm::Value *> args{fn_->getArg(0), fn_->getArg(1)};
  if (entry->arg_size() == 3) args.push_back(fn_->getArg(2)); // the callee takes hyper too
  b_.CreateCall(entry, args);
}

/// Gives every value of the entry its extents and its buffer in the current
/// function (again for each outlined function).
bool KernelEmitter::bind() {
  for (size_t i = 0; i < nodes_->size(); ++i) {
    const Node *n = (*nodes_)[i];
    shapes_[n] = resolve(n->shape());
    auto slot = layout_.slots.find(n);
    if (slot != layout_.slots.end())
      buffers_[n] = b_.CreateGEP(f32_, fn_->getArg(0), c(slot->second.first), (*names_)[i]);
    else if (!plan_->fused.count(n) && !plan_->epilogues.count(n) &&
             !(n->kind == OpKind::Input || n->kind == OpKind::Label || n->kind == OpKind::Param)) {
      diags_.error(n->loc, "codegen: value {} has no place in the arena (a compiler bug)", (*names_)[i]);
      return false;
    }
  }
  return true;
}

KernelEmitter::Dims KernelEmitter::resolve(const Shape &s) {
  Dims out;
  for (const Dim &d : s) out.push_back(d.isKnown() ? c(d.value()) : batch_);
  return out;
}

KernelEmitter::Dims KernelEmitter::stridesOf(const Dims &shape) {
  Dims st(shape.size(), c(1));
  for (int64_t i = int64_t(shape.size()) - 2; i >= 0; --i)
    st[size_t(i)] = b_.CreateMul(st[size_t(i) + 1], shape[size_t(i) + 1]);
  return st;
}

llvm::Value *KernelEmitter::product(const Dims &d) {
  llvm::Value *p = c(1);
  for (llvm::Value *x : d) p = b_.CreateMul(p, x);
  return p;
}

void KernelEmitter::loops(const Dims &bounds, const std::function<void(const Index &)> &body) {
  forEachIndex(b_, bounds, body);
}

void KernelEmitter::range(llvm::Value *begin, llvm::Value *end, const std::function<void(llvm::Value *)> &body) {
  forRange(b_, begin, end, {.name = "range"}, body);
}

/// sum_d idx[d] * strides[d]
llvm::Value *KernelEmitter::offset(const Index &idx, const Dims &strides) {
  llvm::Value *off = c(0);
  for (size_t d = 0; d < idx.size(); ++d) {
    auto *k = llvm::dyn_cast<llvm::ConstantInt>(strides[d]);
    if (k && k->isZero()) continue;
    off = b_.CreateAdd(off, b_.CreateMul(idx[d], strides[d]));
  }
  return off;
}

llvm::Value *KernelEmitter::load(const Node *n, llvm::Value *off) {
  if (plan_->inlineOps.count(n) && n->type.isScalar()) return inlineValue(n, {});
  return tagged(b_.CreateLoad(f32_, b_.CreateGEP(f32_, buffers_.at(n), off)), n);
}

/// An inline op's value at `idx` (its own index: inline ops have their user's shape).
llvm::Value *KernelEmitter::inlineValue(const Node *n, const Index &idx) {
  if (n->kind == OpKind::Const) return cf(n->attrs.getFloat("value"));
  if (n->kind == OpKind::DimSize) return b_.CreateSIToFP(batch_, f32_);
  std::vector<llvm::Value *> v;
  for (const Node *o : n->operands) v.push_back(valueAt(o, idx, broadcastStrides(o, shapes_.at(n))));
  return math_.elementwise(n->kind, v, n->attrs);
}

/// The value of operand `n` at the consumer's index: computed inline when
/// the plan says so, else read from its buffer at the given strides.
llvm::Value *KernelEmitter::valueAt(const Node *n, const Index &idx, const Dims &strides) {
  if (plan_->inlineOps.count(n)) return inlineValue(n, n->type.isScalar() ? Index{} : idx);
  return load(n, offset(idx, strides));
}

void KernelEmitter::store(const Node *n, llvm::Value *off, llvm::Value *v) {
  tagged(b_.CreateStore(v, b_.CreateGEP(f32_, buffers_.at(n), off)), n);
}

/// Buffers are disjoint arena ranges, but LLVM sees one pointer plus offsets
/// and would guard every vectorized loop with overlap checks (or give up).
/// Each group of overlapping ranges gets an alias scope; an access carries
/// its own scope and is declared not to alias the others.
void KernelEmitter::assignAliasScopes() {
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

llvm::Instruction *KernelEmitter::tagged(llvm::Instruction *access, const Node *n) {
  auto it = scopeOf_.find(n);
  if (it != scopeOf_.end()) {
    access->setMetadata(llvm::LLVMContext::MD_alias_scope, it->second.first);
    access->setMetadata(llvm::LLVMContext::MD_noalias, it->second.second);
  }
  return access;
}

/// Strides that read operand `x` at the result index of shape `out` (numpy broadcasting).
KernelEmitter::Dims KernelEmitter::broadcastStrides(const Node *x, const Dims &out) {
  auto st = stridesOf(shapes_.at(x));
  const Shape &xs = x->shape();
  Dims r(out.size(), c(0));
  size_t shift = out.size() - xs.size();
  for (size_t i = 0; i < xs.size(); ++i) r[i + shift] = xs[i] == Dim(1) ? c(0) : st[i];
  return r;
}

/// Thread `tid`'s workspace slice (packing, then im2col columns, then a
/// partial filter gradient) at the end of the arena, plus `offset`.
llvm::Value *KernelEmitter::workspace(llvm::Value *tid, int64_t offset) {
  llvm::Value *at = c(layout_.workspaceOffset + offset);
  if (tid) at = b_.CreateAdd(at, b_.CreateMul(tid, c(layout_.workspacePerThread)));
  return b_.CreateGEP(f32_, fn_->getArg(0), at);
}

/// A constant extent, or the capacity for the batch.
int64_t KernelEmitter::staticExtent(llvm::Value *v) const {
  auto *k = llvm::dyn_cast<llvm::ConstantInt>(v);
  return k ? k->getSExtValue() : layout_.capacity;
}

bool KernelEmitter::lower(const Node &n) {
  switch (n.kind) {
  case OpKind::Input:
  case OpKind::Label:
  case OpKind::Param: return true;
  case OpKind::Const:
  case OpKind::DimSize: lowerFill(n); return true;
  case OpKind::Literal: lowerLiteral(n); return true;
  case OpKind::DropoutMask: lowerDropoutMask(n); return true;
  case OpKind::Slice: lowerSlice(n); return true;
  case OpKind::Concat: lowerConcat(n); return true;
  case OpKind::Reshape: lowerReshape(n); return true;
  case OpKind::Transpose: lowerTranspose(n); return true;
  case OpKind::Broadcast: lowerBroadcast(n); return true;
  case OpKind::ReduceSum:
  case OpKind::ReduceMax: lowerReduce(n); return true;
  case OpKind::Softmax:
  case OpKind::LogSoftmax: lowerSoftmax(n); return true;
  case OpKind::MatMul: lowerMatMul(n); return true;
  case OpKind::OneHot: lowerOneHot(n); return true;
  case OpKind::Conv2D:
  case OpKind::Conv2DBwdData:
  case OpKind::Conv2DBwdFilter: lowerConv(n); return true;
  default: break;
  }
  if (n.info().is(Elementwise)) { // ScalarMath has every elementwise row (it does not compile otherwise)
    std::vector<Dims> st;
    for (const Node *o : n.operands) st.push_back(broadcastStrides(o, shapes_.at(&n)));
    elementwise(n, st, [&](const std::vector<llvm::Value *> &v) { return math_.elementwise(n.kind, v, n.attrs); });
    return true;
  }
  diags_.error(n.loc, "codegen: no lowering for '{}' yet", n.info().mnemonic);
  return false;
}

/// out[idx] = f(operands at strided offsets)
void KernelEmitter::elementwise(const Node &n, const std::vector<Dims> &operandStrides,
                                const std::function<llvm::Value *(const std::vector<llvm::Value *> &)> &f) {
  const auto &out = shapes_.at(&n);
  auto st = stridesOf(out);
  loops(out, [&](const Index &idx) {
    std::vector<llvm::Value *> v;
    for (size_t k = 0; k < n.operands.size(); ++k) v.push_back(valueAt(n.operands[k], idx, operandStrides[k]));
    store(&n, offset(idx, st), f(v));
  });
}

/// const and dim: every element the same value.
void KernelEmitter::lowerFill(const Node &n) {
  llvm::Value *v = n.kind == OpKind::Const ? cf(n.attrs.getFloat("value")) : b_.CreateSIToFP(batch_, f32_);
  elementwise(n, {}, [&](const std::vector<llvm::Value *> &) { return v; });
}

/// The same elements in the same order.
void KernelEmitter::lowerReshape(const Node &n) {
  loops({product(shapes_.at(&n))}, [&](const Index &i) { store(&n, i[0], load(n.operands[0], i[0])); });
}

void KernelEmitter::lowerTranspose(const Node &n) {
  auto perm = n.attrs.has("perm") ? n.attrs.getInts("perm") : std::vector<int64_t>{1, 0};
  auto xs = stridesOf(shapes_.at(n.operands[0]));
  Dims st;
  for (int64_t p : perm) st.push_back(xs[size_t(p)]);
  elementwise(n, {st}, [&](const std::vector<llvm::Value *> &v) { return v[0]; });
}

/// Operand dim i goes to result dim dims[i]; extents of 1 stretch (stride 0).
void KernelEmitter::lowerBroadcast(const Node &n) {
  const Node *x = n.operands[0];
  auto dims = n.attrs.getInts("dims");
  auto xs = stridesOf(shapes_.at(x));
  Dims st(shapes_.at(&n).size(), c(0));
  for (size_t i = 0; i < dims.size(); ++i)
    if (x->shape()[i] != Dim(1)) st[size_t(dims[i])] = xs[i];
  elementwise(n, {st}, [&](const std::vector<llvm::Value *> &v) { return v[0]; });
}

/// out[..., c] = (label[...] == c), the label a class index stored as a float.
void KernelEmitter::lowerOneHot(const Node &n) {
  const Node *y = n.operands[0];
  const auto &out = shapes_.at(&n);
  Dims st = stridesOf(shapes_.at(y));
  st.push_back(c(0));
  auto ost = stridesOf(out);
  loops(out, [&](const Index &idx) {
    llvm::Value *label = b_.CreateFPToSI(load(y, offset(idx, st)), i64_);
    store(&n, offset(idx, ost), b_.CreateUIToFP(b_.CreateICmpEQ(label, idx.back()), f32_));
  });
}

} // namespace dlc
