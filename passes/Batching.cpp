//===- passes/Batching.cpp - Add the batch dim N to a per-sample graph ----===//
//
// Every value that depends on an input or label gets a leading dim `N`
// (like vmap). Each op keeps its per-sample meaning: axes shift by one,
// matrix-vector products become matrix-matrix products (A v for each sample
// is V A^T for the batch), and the loss becomes the batch mean plus the
// penalties, one scalar named L.
//
//===----------------------------------------------------------------------===//
#include <optional>
#include <unordered_set>

#include "ir/Builder.h"
#include "ir/GraphUtils.h"
#include "passes/Pass.h"

namespace dlc {

namespace {

class Batcher {
public:
  Batcher(Graph &out, PassContext &ctx) : out_(out), b_(out, ctx.diags), diags_(ctx.diags) {}

  Node *batch(const Node &n, std::vector<Node *> ops) {
    bool any = false;
    std::vector<bool> isB;
    for (Node *o : ops) {
      isB.push_back(batched_.count(o) != 0);
      any = any || isB.back();
    }
    Node *r;
    if (n.kind == OpKind::Input || n.kind == OpKind::Label || n.kind == OpKind::DropoutMask) { // one per sample
      TensorType t = n.type;
      t.shape.insert(t.shape.begin(), N);
      r = out_.add(n.kind, {}, n.attrs, t, n.name, n.loc);
      batched_.insert(r);
      return r;
    }
    if (!any) return copyNode(out_, n, ops);
    if (n.kind == OpKind::BatchMean) return batchMean(n, ops[0], isB[0]); // shared by the samples
    r = rewrite(n, ops, isB);
    if (!r) return nullptr;
    r->name = n.name;
    r->note = n.note;
    batched_.insert(r);
    return r;
  }

  bool isBatched(const Node *n) const { return batched_.count(n) != 0; }

  /// The run-time batch size N as an f32 scalar (one `dim` node, named N).
  Node *batchSize(const SourceLoc &loc) {
    if (batchSize_) return batchSize_;
    Attrs sym;
    sym.set("symbol", std::string(kBatchSymbol));
    return batchSize_ = out_.add(OpKind::DimSize, {}, sym, TensorType{DType::F32, {}}, kBatchSymbol, loc);
  }

private:
  Node *reshapeBatched(Node *x, Shape sample, const SourceLoc &loc) {
    sample.insert(sample.begin(), N);
    Attrs a;
    a.set("shape", sample);
    return b_.op(OpKind::Reshape, {x}, loc, a);
  }

  /// A value shared by every sample broadcast to [N, ...].
  Node *repeated(Node *x, const SourceLoc &loc) {
    Shape s = x->shape();
    s.insert(s.begin(), N);
    Attrs a;
    a.set("shape", s);
    Shape dims;
    for (int64_t i = 0; i < x->type.rank(); ++i) dims.push_back(Dim(i + 1));
    a.set("dims", dims);
    return b_.op(OpKind::Broadcast, {x}, loc, a);
  }

  /// Axis numbers moved past the new leading dim (and that dim itself first, if `withBatch`).
  static Shape shifted(const Shape &s, bool withBatch) {
    Shape out;
    if (withBatch) out.push_back(Dim(0));
    for (const Dim &d : s) out.push_back(Dim(d.value() + 1));
    return out;
  }

  Node *rewrite(const Node &n, std::vector<Node *> ops, const std::vector<bool> &isB) {
    const SourceLoc &loc = n.loc;
    Attrs a = n.attrs;
    const OpInfo &info = n.info();
    if (info.is(Elementwise)) {
      // A batched operand of lower per-sample rank gets explicit unit dims so
      // that N does not align with a per-sample dim of the other operand.
      int64_t rank = n.type.rank();
      for (size_t i = 0; i < ops.size(); ++i) {
        int64_t r = ops[i]->type.rank() - 1;
        if (!isB[i] || r == rank) continue;
        Shape s(size_t(rank - r), Dim(1));
        s.insert(s.end(), ops[i]->shape().begin() + 1, ops[i]->shape().end());
        ops[i] = reshapeBatched(ops[i], s, loc);
      }
      return b_.op(n.kind, ops, loc, a);
    }
    switch (n.kind) {
    case OpKind::MatMul: return batchMatMul(n, ops, isB);
    case OpKind::Transpose: {
      Shape perm{Dim(0)};
      for (int64_t p : a.getInts("perm")) perm.push_back(Dim(p + 1));
      a.set("perm", perm);
      return b_.op(n.kind, ops, loc, a);
    }
    case OpKind::Reshape: return reshapeBatched(ops[0], a.getShape("shape"), loc);
    case OpKind::Broadcast: {
      Shape s = a.getShape("shape");
      s.insert(s.begin(), N);
      a.set("shape", s);
      a.set("dims", shifted(a.getShape("dims"), true));
      return b_.op(n.kind, ops, loc, a);
    }
    case OpKind::ReduceSum:
    case OpKind::ReduceMax:
      a.set("axes", shifted(a.getShape("axes"), false));
      return b_.op(n.kind, ops, loc, a);
    case OpKind::Softmax:
    case OpKind::LogSoftmax:
      a.set("axis", a.getInt("axis") + 1);
      return b_.op(n.kind, ops, loc, a);
    case OpKind::OneHot: return b_.op(n.kind, ops, loc, a);
    case OpKind::SelectMode: // one value computed two ways: both per sample
      for (size_t i = 0; i < ops.size(); ++i)
        if (!isB[i]) ops[i] = repeated(ops[i], loc);
      return b_.op(n.kind, ops, loc, a);
    case OpKind::Slice:
      a.set("axis", a.getInt("axis") + 1);
      return b_.op(n.kind, ops, loc, a);
    case OpKind::Concat: // a shared operand is repeated for every sample
      for (size_t i = 0; i < ops.size(); ++i)
        if (!isB[i]) ops[i] = repeated(ops[i], loc);
      a.set("axis", a.getInt("axis") + 1);
      return b_.op(n.kind, ops, loc, a);
    case OpKind::Conv2D:
      if (!isB[1]) return b_.op(n.kind, ops, loc, a);
      break;
    case OpKind::MaxPool2D:
    case OpKind::AvgPool2D:
    case OpKind::MaxPool2DGather: // a shared operand is repeated for every sample
    case OpKind::MaxPool2DBwd:
      for (size_t i = 0; i < ops.size(); ++i)
        if (!isB[i]) ops[i] = repeated(ops[i], loc);
      return b_.op(n.kind, ops, loc, a);
    case OpKind::AvgPool2DBwd: {
      Shape s = a.getShape("shape");
      s.insert(s.begin(), N);
      a.set("shape", s);
      return b_.op(n.kind, ops, loc, a);
    }
    default: break;
    }
    diags_.error(loc, "batching: '{}' with a per-sample {} is not supported", info.mnemonic,
                 isB[0] ? "first operand" : "second operand");
    return nullptr;
  }

  /// batch_mean(x) {axes, ddof} = sum over N and the axes / max(N count - ddof, 1),
  /// count the axes' elements: a value shared by the samples.
  Node *batchMean(const Node &n, Node *x, bool batched) {
    const SourceLoc &loc = n.loc;
    if (!batched) x = repeated(x, loc); // every sample holds the same value
    std::vector<int64_t> axes{0};
    int64_t count = 1;
    for (int64_t a : n.attrs.getInts("axes")) {
      axes.push_back(a + 1);
      count *= n.operands[0]->shape()[size_t(a)].value();
    }
    Node *sum = b_.op(OpKind::ReduceSum, {x}, loc, axesAttr("axes", axes));
    Node *total = b_.op(OpKind::Mul, {batchSize(loc), b_.scalar(double(count), loc)}, loc);
    if (int64_t ddof = n.attrs.getInt("ddof", 0))
      total = b_.op(OpKind::Max, {b_.op(OpKind::Sub, {total, b_.scalar(double(ddof), loc)}, loc), b_.scalar(1, loc)}, loc);
    Node *r = b_.op(OpKind::Div, {sum, total}, loc);
    if (r) r->name = n.name;
    return r;
  }

  // Per sample: A @ v (matrix, vector), v @ B, u @ v, with transpose flags.
  Node *batchMatMul(const Node &n, std::vector<Node *> ops, const std::vector<bool> &isB) {
    const SourceLoc &loc = n.loc;
    bool ta = n.attrs.getBool("transpose_a"), tb = n.attrs.getBool("transpose_b");
    int64_t ra = ops[0]->type.rank() - (isB[0] ? 1 : 0), rb = ops[1]->type.rank() - (isB[1] ? 1 : 0);
    Attrs a;
    if (isB[0] && isB[1] && ra == 1 && rb == 1) { // u . v for each sample
      Node *prod = b_.op(OpKind::Mul, ops, loc);
      return b_.op(OpKind::ReduceSum, {prod}, loc, axesAttr("axes", {1}));
    }
    if (!isB[0] && isB[1] && rb == 1 && ra == 2) { // A v -> V A^T (A^T v -> V A)
      if (!ta) a.set("transpose_b", true);
      return b_.op(OpKind::MatMul, {ops[1], ops[0]}, loc, a);
    }
    if (!isB[0] && isB[1] && rb == 1 && ra == 1) // u . v with u shared -> V u
      return b_.op(OpKind::MatMul, {ops[1], ops[0]}, loc);
    if (isB[0] && !isB[1] && ra == 1) { // v B -> V B (v B^T -> V B^T); v . u -> V u
      if (tb) a.set("transpose_b", true);
      return b_.op(OpKind::MatMul, {ops[0], ops[1]}, loc, a);
    }
    return batchMatrixProduct(n, ops, isB);
  }

  /// A product with a per-sample matrix (a Jacobian's factors): sum over q of
  /// A[n, p, q] B[n, q, r] as a broadcast multiply and a sum. The multiplies
  /// are those of the product; no GEMM kernel runs it, and it holds
  /// p x q x r values per sample.
  Node *batchMatrixProduct(const Node &n, std::vector<Node *> ops, const std::vector<bool> &isB) {
    const SourceLoc &loc = n.loc;
    bool flags[2] = {n.attrs.getBool("transpose_a"), n.attrs.getBool("transpose_b")};
    Shape sample[2];
    for (size_t i = 0; i < 2; ++i) {
      Shape s = ops[i]->shape();
      if (isB[i]) s.erase(s.begin());
      if (flags[i] && s.size() == 2) {
        Shape perm = isB[i] ? Shape{Dim(0), Dim(2), Dim(1)} : Shape{Dim(1), Dim(0)};
        Attrs a;
        a.set("perm", perm);
        ops[i] = b_.op(OpKind::Transpose, {ops[i]}, loc, a);
        std::swap(s[0], s[1]);
      }
      sample[i] = s;
    }
    // A as [p, q, 1] (a vector is [1, q, 1]); B as [1, q, r] (a vector is [1, q, 1]).
    Shape a3 = sample[0].size() == 2 ? Shape{sample[0][0], sample[0][1], Dim(1)} : Shape{Dim(1), sample[0][0], Dim(1)};
    Shape b3 = sample[1].size() == 2 ? Shape{Dim(1), sample[1][0], sample[1][1]} : Shape{Dim(1), sample[1][0], Dim(1)};
    auto to3 = [&](size_t i, const Shape &s) {
      if (isB[i]) return reshapeBatched(ops[i], s, loc);
      Attrs a;
      a.set("shape", s);
      return b_.op(OpKind::Reshape, {ops[i]}, loc, a);
    };
    Node *prod = b_.op(OpKind::Mul, {to3(0, a3), to3(1, b3)}, loc);
    Node *sum = b_.op(OpKind::ReduceSum, {prod}, loc, axesAttr("axes", {2}));
    return sum ? reshapeBatched(sum, n.type.shape, loc) : nullptr;
  }

  const Dim N = Dim::symbol(kBatchSymbol);
  Graph &out_;
  IRBuilder b_;
  DiagnosticEngine &diags_;
  std::unordered_set<const Node *> batched_;
  Node *batchSize_ = nullptr;
};

bool alreadyBatched(const Graph &g) {
  for (const auto &n : g.nodes())
    if (n->kind == OpKind::DimSize) return true;
  for (const Node *in : g.nodesOfKind(OpKind::Input))
    if (!in->shape().empty() && in->shape()[0].isSymbolic()) return true;
  return false;
}

} // namespace

PassResult runBatching(std::unique_ptr<Graph> &g, PassContext &ctx) {
  if (alreadyBatched(*g)) return PassResult::Unchanged;
  auto out = emptyGraphLike(*g);
  Batcher batcher(*out, ctx);
  std::optional<NodeMap> rebuilt =
      rebuildGraph(*g, [&](const Node &n, std::vector<Node *> ops) { return batcher.batch(n, std::move(ops)); });
  if (!rebuilt) return PassResult::Failed;
  const NodeMap &map = *rebuilt;
  IRBuilder b(*out, ctx.diags);
  Node *loss = g->result(Role::Loss) ? map.at(g->result(Role::Loss)) : nullptr;
  Node *penalty = g->result(Role::Penalty) ? map.at(g->result(Role::Penalty)) : nullptr;
  for (const auto &r : g->results)
    if (r.role == Role::Output || r.role == Role::Grad || r.role == Role::Update)
      out->addResult(r.role, map.at(r.node), r.loc, r.of ? map.at(r.of) : nullptr);
  if (loss) {
    SourceLoc loc = loss->loc;
    Node *total = loss;
    if (batcher.isBatched(loss)) { // L = (1/N) sum_n loss_n
      Node *count = batcher.batchSize(loc);
      Node *sum = b.op(OpKind::ReduceSum, {loss}, loc, axesAttr("axes", {0}));
      total = b.op(OpKind::Div, {sum, count}, loc);
    }
    if (penalty) total = b.op(OpKind::Add, {total, penalty}, loc);
    if (!total) return PassResult::Failed;
    if (total->name.empty() && !out->findByName("L")) total->name = "L";
    out->addResult(Role::Loss, total, loc);
  }
  g = std::move(out);
  return PassResult::Changed;
}

} // namespace dlc
