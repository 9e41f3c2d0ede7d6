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
#include <optional>
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
  for (size_t i = 0; i < nodes.size(); ++i) nameOf_[nodes[i]] = names[i];
  if (!checkPlaces(nodes)) return false;
  assignAliasScopes(nodes);
  for (const Kernel &k : plan.kernels) {
    const Node &n = *k.anchor;
    if (n.isSupplied()) continue;
    try {
      beginKernel(nameOf_.at(&n));
      if (!lower(n)) return false;
      endKernel();
    } catch (const std::exception &e) { // a compiler bug: say where, do not abort the host
      diags_.bug(n.loc, "internal: lowering '{}' failed: {}", n.info().mnemonic, e.what());
      return false;
    }
  }
  closeKernelGroup();
  return true;
}

/// Kernels go into functions of at most about kGroupInstructions LLVM
/// instructions each, called in order from the entry: the optimizer's and
/// the back end's work is then linear in the number of kernels (one function
/// holding them all cost L^1.6 for L layers, docs/compile-time.md), and a
/// small model still has few functions (each costs the back end a fixed
/// amount too).
constexpr unsigned kGroupInstructions = 2000;

void KernelEmitter::beginKernel(const std::string &name) {
  if (group_) return;
  std::vector<llvm::Type *> extra;
  std::vector<llvm::Value *> args{fn_->getArg(0), batch_};
  if (fn_->arg_size() == 3 && fn_->getArg(2)->getType() == ptr_) { // the update entry's hyper
    extra.push_back(ptr_);
    args.push_back(fn_->getArg(2));
  }
  llvm::Function *group = createFunction(fn_->getName().str() + "." + name, extra);
  b_.CreateCall(group, args);
  groupCaller_ = enterFunction(group);
  group_ = group;
}

void KernelEmitter::endKernel() {
  if (group_ && group_->getInstructionCount() >= kGroupInstructions) closeKernelGroup();
}

void KernelEmitter::closeKernelGroup() {
  if (!group_) return;
  leaveFunction(std::move(groupCaller_));
  group_ = nullptr;
}

void KernelEmitter::callEntry(llvm::Function *entry) {
  std::vector<llvm::Value *> args{fn_->getArg(0), fn_->getArg(1)};
  if (entry->arg_size() == 3) args.push_back(fn_->getArg(2)); // the callee takes hyper too
  b_.CreateCall(entry, args);
}

/// Every value that a kernel stores or loads has a place in the arena.
bool KernelEmitter::checkPlaces(const std::vector<const Node *> &nodes) {
  for (const Node *n : nodes)
    if (!layout_.slots.count(n) && !plan_->fused.count(n) && !plan_->epilogues.count(n) && !n->isSupplied()) {
      diags_.bug(n->loc, "codegen: value {} has no place in the arena", nameOf_.at(n));
      return false;
    }
  return true;
}

/// The value's buffer in the current function: a pointer into the arena,
/// made at the function's entry on first use (a function binds only the
/// buffers it touches, so its size does not grow with the model's).
llvm::Value *KernelEmitter::buffer(const Node *n) {
  auto [it, inserted] = buffers_.try_emplace(n, nullptr);
  if (inserted) {
    auto slot = layout_.slots.find(n);
    if (slot == layout_.slots.end()) throw std::logic_error("a value without a buffer is read or written");
    llvm::BasicBlock &entry = fn_->getEntryBlock();
    llvm::IRBuilder<> at(&entry, entry.getFirstInsertionPt());
    auto name = nameOf_.find(n);
    it->second = at.CreateGEP(f32_, fn_->getArg(0), c(slot->second.first), name == nameOf_.end() ? "" : name->second);
  }
  return it->second;
}

/// The value's extents as i64 values of the current function.
const KernelEmitter::Dims &KernelEmitter::shape(const Node *n) {
  auto it = shapes_.find(n);
  if (it == shapes_.end()) it = shapes_.emplace(n, resolve(n->shape())).first;
  return it->second;
}

llvm::Function *KernelEmitter::createFunction(const std::string &name, llvm::ArrayRef<llvm::Type *> extraParams) {
  std::vector<llvm::Type *> params{ptr_, i64_};
  params.insert(params.end(), extraParams.begin(), extraParams.end());
  auto *fn = llvm::Function::Create(llvm::FunctionType::get(b_.getVoidTy(), params, false),
                                    llvm::Function::InternalLinkage, name, m_);
  fn->addParamAttr(0, llvm::Attribute::NoAlias);
  fn->addFnAttr(llvm::Attribute::NoInline); // -O3's inliner would rebuild the one huge function
  fn->addFnAttr(llvm::Attribute::NoUnwind);
  return fn;
}

KernelEmitter::FunctionState KernelEmitter::enterFunction(llvm::Function *fn) {
  FunctionState caller{fn_, batch_, std::move(buffers_), std::move(shapes_), std::move(accesses_), b_.saveIP()};
  buffers_.clear();
  shapes_.clear();
  accesses_.clear();
  fn_ = fn;
  batch_ = fn->getArg(1);
  b_.SetInsertPoint(llvm::BasicBlock::Create(ctx_, "entry", fn));
  return caller;
}

void KernelEmitter::leaveFunction(FunctionState caller) {
  b_.CreateRetVoid();
  tagAccesses();
  fn_ = caller.fn;
  batch_ = caller.batch;
  buffers_ = std::move(caller.buffers);
  shapes_ = std::move(caller.shapes);
  accesses_ = std::move(caller.accesses);
  b_.restoreIP(caller.ip);
}

llvm::Function *KernelEmitter::outline(const std::string &name, llvm::ArrayRef<llvm::Type *> extraParams,
                                       const std::function<void()> &body) {
  llvm::Function *fn = createFunction(name, extraParams);
  FunctionState caller = enterFunction(fn);
  body();
  leaveFunction(std::move(caller));
  return fn;
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

/// sum_d idx[d] * strides[d]. Inside a collapsed elementwise loop nest the
/// index has one entry per merged run of dims, and a run's stride is that of
/// its last dim.
llvm::Value *KernelEmitter::offset(const Index &idx, const Dims &strides) {
  llvm::Value *off = c(0);
  bool collapsed = !runLast_.empty() && strides.size() == collapsedRank_ && idx.size() == runLast_.size();
  for (size_t d = 0; d < idx.size(); ++d) {
    llvm::Value *stride = collapsed ? strides[runLast_[d]] : strides[d];
    auto *k = llvm::dyn_cast<llvm::ConstantInt>(stride);
    if (k && k->isZero()) continue;
    off = b_.CreateAdd(off, b_.CreateMul(idx[d], stride));
  }
  return off;
}

llvm::Value *KernelEmitter::load(const Node *n, llvm::Value *off) {
  if (plan_->inlineOps.count(n) && n->type.isScalar()) return inlineValue(n, {});
  return tagged(b_.CreateLoad(f32_, b_.CreateGEP(f32_, buffer(n), off)), n);
}

/// An inline op's value at `idx` (its own index: inline ops have their user's shape).
llvm::Value *KernelEmitter::inlineValue(const Node *n, const Index &idx) {
  if (n->kind == OpKind::Const) return cf(n->attrs.getFloat("value"));
  if (n->kind == OpKind::DimSize) return b_.CreateSIToFP(batch_, f32_);
  std::vector<llvm::Value *> v;
  for (const Node *o : n->operands) v.push_back(valueAt(o, idx, broadcastStrides(o, shape(n))));
  return math_.elementwise(n->kind, v, n->attrs);
}

/// The value of operand `n` at the consumer's index: computed inline when
/// the plan says so, else read from its buffer at the given strides.
llvm::Value *KernelEmitter::valueAt(const Node *n, const Index &idx, const Dims &strides) {
  if (plan_->inlineOps.count(n)) return inlineValue(n, n->type.isScalar() ? Index{} : idx);
  return load(n, offset(idx, strides));
}

void KernelEmitter::store(const Node *n, llvm::Value *off, llvm::Value *v) {
  tagged(b_.CreateStore(v, b_.CreateGEP(f32_, buffer(n), off)), n);
}

/// Buffers are disjoint arena ranges, but LLVM sees one pointer plus offsets
/// and would guard every vectorized loop with overlap checks (or give up).
/// Each group of overlapping ranges gets an alias scope (here); an access
/// carries its group's scope and is declared not to alias the other groups
/// its function touches (tagAccesses), so a kernel's metadata is as small as
/// the kernel, not as large as the model.
void KernelEmitter::assignAliasScopes(const std::vector<const Node *> &nodes) {
  std::vector<std::pair<std::pair<int64_t, int64_t>, const Node *>> ranges;
  for (const Node *n : nodes)
    if (auto slot = layout_.slots.find(n); slot != layout_.slots.end())
      ranges.push_back({{slot->second.first, slot->second.first + slot->second.second}, n});
  std::sort(ranges.begin(), ranges.end(), [](auto &x, auto &y) { return x.first < y.first; });
  llvm::MDBuilder md(ctx_);
  llvm::MDNode *domain = md.createAnonymousAliasScopeDomain("arena");
  int64_t end = -1;
  for (auto &[range, n] : ranges) {
    if (range.first >= end) groupScopes_.push_back(md.createAnonymousAliasScope(domain));
    end = std::max(end, range.second);
    groupOf_[n] = groupScopes_.size() - 1;
  }
}

llvm::Instruction *KernelEmitter::tagged(llvm::Instruction *access, const Node *n) {
  if (auto it = groupOf_.find(n); it != groupOf_.end()) accesses_.push_back({access, it->second});
  return access;
}

/// The alias metadata of the finished function's accesses: each its group's
/// scope, and noalias with the other groups the function touches.
void KernelEmitter::tagAccesses() {
  std::vector<size_t> touched;
  for (auto &[access, g] : accesses_) touched.push_back(g);
  std::sort(touched.begin(), touched.end());
  touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
  std::unordered_map<size_t, std::pair<llvm::MDNode *, llvm::MDNode *>> lists;
  for (size_t g : touched) {
    std::vector<llvm::Metadata *> others;
    for (size_t o : touched)
      if (o != g) others.push_back(groupScopes_[o]);
    lists[g] = {llvm::MDNode::get(ctx_, {groupScopes_[g]}), others.empty() ? nullptr : llvm::MDNode::get(ctx_, others)};
  }
  for (auto &[access, g] : accesses_) {
    access->setMetadata(llvm::LLVMContext::MD_alias_scope, lists[g].first);
    if (lists[g].second) access->setMetadata(llvm::LLVMContext::MD_noalias, lists[g].second);
  }
  accesses_.clear();
}

/// Strides that read operand `x` at the result index of shape `out` (numpy broadcasting).
KernelEmitter::Dims KernelEmitter::broadcastStrides(const Node *x, const Dims &out) {
  auto st = stridesOf(shape(x));
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
  case OpKind::Param:
  case OpKind::State: return true;
  case OpKind::SelectMode: lowerSelectMode(n); return true;
  case OpKind::BatchMean: lowerReduce(n); return true;
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
  case OpKind::MaxPool2D:
  case OpKind::MaxPool2DGather:
  case OpKind::MaxPool2DBwd:
  case OpKind::AvgPool2D:
  case OpKind::AvgPool2DBwd: lowerPool(n); return true;
  default: break;
  }
  if (n.info().is(Elementwise)) { // ScalarMath has every elementwise row (it does not compile otherwise)
    std::vector<Dims> st;
    for (const Node *o : n.operands) st.push_back(broadcastStrides(o, shape(&n)));
    elementwise(n, st, [&](const std::vector<llvm::Value *> &v) { return math_.elementwise(n.kind, v, n.attrs); });
    return true;
  }
  diags_.error(n.loc, "codegen: no lowering for '{}' yet", n.info().mnemonic);
  return false;
}

/// The strides of every buffer an elementwise kernel reads (through the
/// inline ops it computes in place), at the result's index.
void KernelEmitter::collectReadStrides(const Node *o, const Dims &strides, std::vector<Dims> &out) {
  if (!plan_->inlineOps.count(o)) return out.push_back(strides);
  if (o->type.isScalar()) return; // read at no index
  for (const Node *x : o->operands) collectReadStrides(x, broadcastStrides(x, shape(o)), out);
}

/// Runs of neighbouring dims d, d + 1 that every stride vector walks as one
/// (stride[d] = stride[d + 1] * extent[d + 1], constants): the last dim of
/// each run, and each run's extent in `bounds`.
std::vector<size_t> KernelEmitter::mergedRuns(const Dims &extents, const std::vector<Dims> &strides, Dims &bounds) {
  auto constant = [](llvm::Value *v) -> std::optional<int64_t> {
    if (auto *k = llvm::dyn_cast<llvm::ConstantInt>(v)) return k->getSExtValue();
    return std::nullopt;
  };
  auto mergeable = [&](size_t d) {
    auto extent = constant(extents[d + 1]);
    if (!extent) return false;
    for (const Dims &s : strides) {
      auto outer = constant(s[d]), inner = constant(s[d + 1]);
      if (!outer || !inner || *outer != *inner * *extent) return false;
    }
    return true;
  };
  std::vector<size_t> last;
  bounds.clear();
  for (size_t d = 0; d < extents.size(); ++d) {
    if (d > 0 && mergeable(d - 1)) {
      last.back() = d;
      bounds.back() = b_.CreateMul(bounds.back(), extents[d]);
    } else {
      last.push_back(d);
      bounds.push_back(extents[d]);
    }
  }
  return last;
}

/// out[idx] = f(operands at strided offsets). Neighbouring dims d, d + 1 that
/// every access (the result and each buffer read) walks as one (stride[d] =
/// stride[d + 1] * extent[d + 1], constants) become one loop: relu(conv + c)
/// over [n, 8, 28, 28] runs 784-element inner loops instead of 28-element ones.
void KernelEmitter::elementwise(const Node &n, const std::vector<Dims> &operandStrides,
                                const std::function<llvm::Value *(const std::vector<llvm::Value *> &)> &f) {
  const auto &out = shape(&n);
  auto st = stridesOf(out);
  std::vector<Dims> reads{st};
  for (size_t k = 0; k < n.operands.size(); ++k) collectReadStrides(n.operands[k], operandStrides[k], reads);
  Dims bounds;
  std::vector<size_t> last = mergedRuns(out, reads, bounds);
  if (last.size() < out.size()) runLast_ = last, collapsedRank_ = out.size();
  loops(last.size() < out.size() ? bounds : out, [&](const Index &idx) {
    std::vector<llvm::Value *> v;
    for (size_t k = 0; k < n.operands.size(); ++k) v.push_back(valueAt(n.operands[k], idx, operandStrides[k]));
    store(&n, offset(idx, st), f(v));
  });
  runLast_.clear();
}

/// const and dim: every element the same value.
void KernelEmitter::lowerFill(const Node &n) {
  llvm::Value *v = n.kind == OpKind::Const ? cf(n.attrs.getFloat("value")) : b_.CreateSIToFP(batch_, f32_);
  elementwise(n, {}, [&](const std::vector<llvm::Value *> &) { return v; });
}

/// The operand the entry's mode takes (the modes pass leaves none; a graph
/// lowered without it computes both operands and copies one).
void KernelEmitter::lowerSelectMode(const Node &n) {
  const Node *x = n.operands[training_ ? 0 : 1];
  loops({product(shape(&n))}, [&](const Index &i) { store(&n, i[0], load(x, i[0])); });
}

/// The training entry's last kernel: each state takes its new value.
void KernelEmitter::storeState(const Node *state, const Node *value) {
  beginKernel(state->name);
  loops({c(layout_.slots.at(state).second)}, [&](const Index &i) { store(state, i[0], load(value, i[0])); });
  endKernel();
}

/// The same elements in the same order.
void KernelEmitter::lowerReshape(const Node &n) {
  auto of = layout_.slots.find(n.operands[0]);
  if (of != layout_.slots.end() && of->second.first == layout_.slots.at(&n).first) return; // a view (codegen/Layout.h)
  loops({product(shape(&n))}, [&](const Index &i) { store(&n, i[0], load(n.operands[0], i[0])); });
}

void KernelEmitter::lowerTranspose(const Node &n) {
  auto perm = n.attrs.has("perm") ? n.attrs.getInts("perm") : std::vector<int64_t>{1, 0};
  auto xs = stridesOf(shape(n.operands[0]));
  Dims st;
  for (int64_t p : perm) st.push_back(xs[size_t(p)]);
  elementwise(n, {st}, [&](const std::vector<llvm::Value *> &v) { return v[0]; });
}

/// Operand dim i goes to result dim dims[i]; extents of 1 stretch (stride 0).
void KernelEmitter::lowerBroadcast(const Node &n) {
  const Node *x = n.operands[0];
  auto dims = n.attrs.getInts("dims");
  auto xs = stridesOf(shape(x));
  Dims st(shape(&n).size(), c(0));
  for (size_t i = 0; i < dims.size(); ++i)
    if (x->shape()[i] != Dim(1)) st[size_t(dims[i])] = xs[i];
  elementwise(n, {st}, [&](const std::vector<llvm::Value *> &v) { return v[0]; });
}

/// out[..., c] = (label[...] == c), the label a class index stored as a float.
void KernelEmitter::lowerOneHot(const Node &n) {
  const Node *y = n.operands[0];
  const auto &out = shape(&n);
  Dims st = stridesOf(shape(y));
  st.push_back(c(0));
  auto ost = stridesOf(out);
  loops(out, [&](const Index &idx) {
    llvm::Value *label = b_.CreateFPToSI(load(y, offset(idx, st)), i64_);
    store(&n, offset(idx, ost), b_.CreateUIToFP(b_.CreateICmpEQ(label, idx.back()), f32_));
  });
}

} // namespace dlc
