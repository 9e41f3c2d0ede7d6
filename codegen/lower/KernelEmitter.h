//===- codegen/lower/KernelEmitter.h - One entry function's loop nests ----===//
//
// A KernelEmitter writes one entry point (forward, loss_and_grad or
// train_step) of a model: every kernel of its plan (codegen/Fusion.h) as a
// loop nest over the arena. The class is one idea, the state of emitting a
// function (its buffers, extents and alias scopes); its methods are spread
// over the folder by what they lower:
//
//   KernelEmitter.cpp    buffers, loads and stores, alias scopes, elementwise
//                        and layout kernels, the dispatch on the op
//   Slices.cpp           literal tensors, slice, concat, dropout masks
//   Reductions.cpp       reduce_sum, reduce_max, batch_mean, softmax, log_softmax
//   Products.cpp         matmul: the packed GEMM or loop nests, epilogues
//   Convolutions.cpp     conv2d and its two backward ops through im2col
//   ConvRows.cpp         few-filter convolutions directly, in vectors
//   Pooling.cpp          max and average pooling and their gradient ops
//   PoolRows.cpp         the same for a row of windows in vectors
//   OptimizerUpdate.cpp  the fused SGD and Adam updates of train_step
//   Outlining.cpp        a loop body outlined for the thread pool
//
//===----------------------------------------------------------------------===//
#pragma once

#include <functional>
#include <utility>
#include <string>
#include <unordered_map>
#include <vector>

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Module.h>

#include "codegen/Fusion.h"
#include "codegen/Gemm.h"
#include "codegen/Layout.h"
#include "codegen/lower/ScalarMath.h"
#include "ir/ConvGeometry.h"
#include "ir/PoolGeometry.h"
#include "ir/Diagnostics.h"

namespace dlc {

class KernelEmitter {
public:
  using Index = std::vector<llvm::Value *>;
  using Dims = std::vector<llvm::Value *>; ///< extents as i64 values (constants, or the batch n)
  /// A loop body over rows [lo, hi) on thread `tid`'s workspace.
  using RowsBody = std::function<void(llvm::Value *lo, llvm::Value *hi, llvm::Value *tid)>;

  KernelEmitter(llvm::Module &m, const ModelLayout &layout, DiagnosticEngine &diags);

  /// Starts `void name(float *arena, int64_t n [, const float *hyper])`.
  llvm::Function *begin(const std::string &name, bool withHyper);
  /// Emits the kernels of `plan` over `nodes` (the entry's ops in order,
  /// `names` their printed names); false with a diagnostic on an op that
  /// has no lowering or no buffer.
  bool emit(const std::vector<const Node *> &nodes, const std::vector<std::string> &names, const KernelPlan &plan);
  /// The fused optimizer update of one param from its gradient (the update
  /// entry), in a kernel group as every kernel.
  void update(const Node *param, const Node *grad);
  /// Copies an update's value into its state (after the loss, in loss_and_grad).
  void storeState(const Node *state, const Node *value);
  /// Calls another entry point on the same arena and batch (and hyper, when it takes one).
  void callEntry(llvm::Function *entry);
  void finish() {
    closeKernelGroup();
    b_.CreateRetVoid();
  }
  /// Emit as a training entry (loss_and_grad): dropout masks are drawn,
  /// select_mode takes its train operand.
  void setTraining(bool training) { training_ = training; }

private:
  // KernelEmitter.cpp: the function's values and memory.
  bool checkPlaces(const std::vector<const Node *> &nodes);
  llvm::Value *buffer(const Node *n);
  const Dims &shape(const Node *n);
  /// The state of the function being emitted, saved while another is.
  struct FunctionState {
    llvm::Function *fn = nullptr;
    llvm::Value *batch = nullptr;
    std::unordered_map<const Node *, llvm::Value *> buffers;
    std::unordered_map<const Node *, Dims> shapes;
    std::vector<std::pair<llvm::Instruction *, size_t>> accesses;
    llvm::IRBuilderBase::InsertPoint ip;
  };
  llvm::Function *createFunction(const std::string &name, llvm::ArrayRef<llvm::Type *> extraParams);
  FunctionState enterFunction(llvm::Function *fn);
  void leaveFunction(FunctionState caller);
  /// A kernel's code goes into the open group function (called from the
  /// entry), which closes once it is large enough.
  void beginKernel(const std::string &name);
  void endKernel();
  void closeKernelGroup();
  /// Emits `body` into a new internal function `void name(float *arena,
  /// int64_t n, extraParams...)` (the emitter's current function while it
  /// runs) and returns it; the caller emits the call.
  llvm::Function *outline(const std::string &name, llvm::ArrayRef<llvm::Type *> extraParams,
                          const std::function<void()> &body);
  Dims resolve(const Shape &s);
  Dims stridesOf(const Dims &shape);
  llvm::Value *product(const Dims &d);
  llvm::Value *c(int64_t v) { return b_.getInt64(v); }
  llvm::Value *cf(double v) { return math_.constant(v); }
  void loops(const Dims &bounds, const std::function<void(const Index &)> &body);
  void range(llvm::Value *begin, llvm::Value *end, const std::function<void(llvm::Value *)> &body);
  llvm::Value *offset(const Index &idx, const Dims &strides);
  llvm::Value *load(const Node *n, llvm::Value *off);
  llvm::Value *inlineValue(const Node *n, const Index &idx);
  llvm::Value *valueAt(const Node *n, const Index &idx, const Dims &strides);
  void store(const Node *n, llvm::Value *off, llvm::Value *v);
  void assignAliasScopes(const std::vector<const Node *> &nodes);
  llvm::Instruction *tagged(llvm::Instruction *access, const Node *n);
  void tagAccesses();
  Dims broadcastStrides(const Node *x, const Dims &out);
  llvm::Value *workspace(llvm::Value *tid = nullptr, int64_t offset = 0);
  int64_t staticExtent(llvm::Value *v) const;

  // KernelEmitter.cpp: the dispatch, elementwise and layout kernels.
  bool lower(const Node &n);
  void elementwise(const Node &n, const std::vector<Dims> &operandStrides,
                   const std::function<llvm::Value *(const std::vector<llvm::Value *> &)> &f);
  void collectReadStrides(const Node *o, const Dims &strides, std::vector<Dims> &out);
  std::vector<size_t> mergedRuns(const Dims &extents, const std::vector<Dims> &strides, Dims &bounds);
  void lowerFill(const Node &n);
  void lowerReshape(const Node &n);
  void lowerTranspose(const Node &n);
  void lowerBroadcast(const Node &n);
  void lowerOneHot(const Node &n);
  void lowerSelectMode(const Node &n);

  // Slices.cpp
  void lowerLiteral(const Node &n);
  void lowerSlice(const Node &n);
  void lowerConcat(const Node &n);
  void lowerDropoutMask(const Node &n);

  // Reductions.cpp
  void lowerReduce(const Node &n);
  void lowerSoftmax(const Node &n);

  // Products.cpp
  struct MatMulShape;
  MatMulShape matmulShape(const Node &n);
  const Node *matmulTarget(const Node &n);
  llvm::Value *applyEpilogue(const Node &n, llvm::Value *v, const Index &outIdx);
  void lowerMatMul(const Node &n);
  void lowerMatMulGemm(const Node &n);
  void lowerMatMulLoops(const Node &n);
  PoolSplit matmulSplit(const Node &n, GemmConfig *kernel = nullptr, int64_t *dotRows = nullptr);

  // Convolutions.cpp
  struct ConvImage;
  using Im2colRow = std::function<void(llvm::Value *colRow, llvm::Value *xRow, llvm::Value *lo, llvm::Value *hi)>;
  void lowerConv(const Node &n);
  void forEachIm2colRow(const ConvGeometry &g, llvm::Value *cols, llvm::Value *xImage, const Im2colRow &f);
  void im2col(const ConvGeometry &g, llvm::Value *cols, llvm::Value *xImage);
  std::pair<llvm::Value *, llvm::Value *> outputsInside(llvm::Value *tap, int64_t stride, int64_t pad, int64_t extent,
                                                        int64_t outputs);
  void convChunks(const Node &n, const ConvGeometry &g, llvm::Value *lo, llvm::Value *hi, llvm::Value *tid);
  void convForwardImage(const ConvGeometry &g, const ConvImage &im);
  void convBwdDataImage(const ConvGeometry &g, const ConvImage &im);
  void convBwdFilterImage(const ConvGeometry &g, const ConvImage &im);
  void convEpilogue(const Node &n, const ConvGeometry &g, const Node *target, llvm::Value *bi);
  void zeroFilterPartials(const ConvGeometry &g);
  void sumFilterPartials(const Node &n, const ConvGeometry &g);
  // ConvRows.cpp
  using ColumnChunk = std::function<void(llvm::Value *firstColumn, int64_t lanes)>;
  bool convRowsApply(const Node &n, const ConvGeometry &g) const;
  int64_t vectorRegisters() const;
  llvm::Value *columnMask(llvm::Value *col, int64_t width, int64_t imageWidth);
  llvm::Value *maskedLoad(const Node *n, llvm::Value *at, llvm::Value *mask);
  void forEachColumnChunk(int64_t width, int64_t vector, const ColumnChunk &chunk);
  std::pair<llvm::Value *, llvm::Value *> tapRowsInside(const ConvGeometry &g, llvm::Value *oh);
  void convRowsForward(const Node &n, const ConvGeometry &g, llvm::Value *bi);
  llvm::Value *laneSum(llvm::Value *v);
  void convRowsFilter(const Node &n, const ConvGeometry &g, llvm::Value *firstImage, llvm::Value *lastImage,
                      llvm::Value *partial);

  // Pooling.cpp
  struct PoolWindow;
  void lowerPool(const Node &n);
  void forEachPoolWindow(const PoolGeometry &g, const Node *image, const std::function<void(const PoolWindow &)> &body);
  void forEachPoolTap(const PoolGeometry &g, const PoolWindow &w, const std::function<void(llvm::Value *)> &body);
  llvm::Value *poolCount(const PoolGeometry &g, const PoolWindow &w);
  llvm::Value *windowVariable(llvm::Type *type);
  void averageWindow(const Node &n, const PoolGeometry &g, const PoolWindow &w, bool disjoint);
  void maxWindow(const Node &n, const PoolGeometry &g, const PoolWindow &w, bool disjoint);
  // PoolRows.cpp
  struct PoolChunk;
  bool poolRowsApply(const Node &n, const PoolGeometry &g);
  void lowerPoolRows(const Node &n, const PoolGeometry &g);
  void poolChunk(const Node &n, const PoolGeometry &g, const PoolChunk &chunk);
  void forEachChunkRow(const PoolGeometry &g, const PoolChunk &chunk, const std::function<void(llvm::Value *)> &body);
  void averageChunk(const Node &n, const PoolGeometry &g, const PoolChunk &chunk);
  void maxChunk(const Node &n, const PoolGeometry &g, const PoolChunk &chunk);
  llvm::Value *chunkLoad(const Node *n, llvm::Value *at, int64_t width, int64_t valid);
  void chunkStore(const Node *n, llvm::Value *at, llvm::Value *v, int64_t valid);

  // OptimizerUpdate.cpp
  void updateSGD(const Node *param, const Node *grad, llvm::Value *lo, llvm::Value *hi);
  void updateAdam(const Node *param, const Node *grad, llvm::Value *lo, llvm::Value *hi);

  // Outlining.cpp
  void parallelRows(llvm::Value *total, const RowsBody &body, int64_t grain);
  /// The current function's hyperparameter array (update kernels and the
  /// rows functions outlined from them), else null.
  llvm::Value *hyperArgument() const;

  llvm::Module &m_;
  llvm::LLVMContext &ctx_;
  llvm::IRBuilder<> b_;
  ScalarMath math_;
  const ModelLayout &layout_;
  DiagnosticEngine &diags_;
  llvm::Function *fn_ = nullptr;
  llvm::Value *batch_ = nullptr;
  const KernelPlan *plan_ = nullptr;
  llvm::Type *f32_, *i64_, *ptr_;
  std::unordered_map<const Node *, std::string> nameOf_;   ///< printed names, for the IR's value names
  std::unordered_map<const Node *, llvm::Value *> buffers_; ///< of the current function
  std::unordered_map<const Node *, Dims> shapes_;           ///< of the current function
  std::unordered_map<const Node *, size_t> groupOf_;        ///< a buffer's group of overlapping arena ranges
  std::vector<llvm::Metadata *> groupScopes_;               ///< each group's alias scope
  std::vector<std::pair<llvm::Instruction *, size_t>> accesses_; ///< the current function's, with their groups
  int rowFunctions_ = 0;
  llvm::Function *group_ = nullptr; ///< the open kernel group, if any
  FunctionState groupCaller_;       ///< the entry's state while group_ is open
  bool training_ = false;
  /// While an elementwise loop nest runs over merged dims: the last dim of
  /// each run, and the rank of the result (offset() maps strides of that rank).
  std::vector<size_t> runLast_;
  size_t collapsedRank_ = 0;
};

} // namespace dlc
