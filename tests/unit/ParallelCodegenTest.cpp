//===- tests/unit/ParallelCodegenTest.cpp - Partitions on several threads -===//
//
// The partitions are a function of the module alone and balanced; the
// object files are the same bytes on 1, 2 and 3 threads; a model compiled
// on 2 threads computes the same bits as one compiled on 1, and the two
// share one compile-cache entry.
//
//===----------------------------------------------------------------------===//
#include <fstream>
#include <set>

#include <catch2/catch.hpp>

#include <llvm/IR/IRBuilder.h>
#include <llvm/Support/FileSystem.h>

#include "TestUtil.h"
#include "codegen/Gemm.h"
#include "codegen/Lowering.h"
#include "codegen/ParallelCodegen.h"
#include "codegen/Target.h"
#include "dlc/dlc.hpp"
#include "passes/Pass.h"

using namespace dlc;
using namespace dlc::test;

namespace {

/// A module of functions with `sizes[i]` instructions each (adds, then a return).
std::unique_ptr<llvm::Module> moduleOfSizes(llvm::LLVMContext &ctx, const std::vector<unsigned> &sizes) {
  auto m = std::make_unique<llvm::Module>("sizes", ctx);
  llvm::IRBuilder<> b(ctx);
  for (size_t i = 0; i < sizes.size(); ++i) {
    auto *type = llvm::FunctionType::get(b.getInt64Ty(), {b.getInt64Ty()}, false);
    auto *f = llvm::Function::Create(type, llvm::Function::InternalLinkage, "f" + std::to_string(i), *m);
    b.SetInsertPoint(llvm::BasicBlock::Create(ctx, "entry", f));
    llvm::Value *v = f->getArg(0);
    for (unsigned k = 1; k < sizes[i]; ++k) v = b.CreateAdd(v, f->getArg(0));
    b.CreateRet(v);
  }
  return m;
}

/// The lowered module of a model (default pipeline, the JIT's target).
std::unique_ptr<llvm::Module> lowerModelText(const std::string &text, llvm::LLVMContext &ctx, llvm::TargetMachine &tm) {
  DiagnosticEngine diags;
  auto g = compile(text, diags);
  REQUIRE(g);
  PassContext pc(diags);
  REQUIRE(runPipeline(g, defaultPipeline(), pc));
  ModelLayout layout = planLayout(*g, 64, Optimizer::SGD, gemmConfigFor(tm, true));
  auto m = lowerModel(*g, layout, "m", ctx, diags);
  INFO(renderDiagnostics(diags));
  REQUIRE(m);
  completeGemmLibrary(*m, layout.gemm); // what compileModule adds for the kernel cache
  return m;
}

const char *kModel = R"(model split {
  input  x : [64]
  label  y : class(10)
  param  A : [96, 64] ~ he
  param  a : [96] ~ zeros
  param  B : [96, 96] ~ he
  param  b : [96] ~ zeros
  param  C : [10, 96] ~ glorot
  h = relu(B @ relu(A @ x + a) + b)
  w = C @ h
  output p = softmax(w)
  loss cross_entropy(w, y)
}
train split {
  optimizer adam(lr = 1e-2)
  batch 16
}
)";

/// Two train steps and a forward pass on fixed data: the losses, the
/// outputs and the params after, as one vector.
std::vector<float> run(Model &m) {
  std::vector<float> x(16 * 64), p(16 * 10), out;
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(int(i * 7 % 11) - 5) / 5.0f;
  std::vector<int32_t> y(16);
  for (size_t i = 0; i < y.size(); ++i) y[i] = int32_t(i * 3 % 10);
  const float *in[] = {x.data()};
  const void *labels[] = {y.data()};
  float *outs[] = {p.data()};
  for (int step = 0; step < 2; ++step) {
    float loss = 0;
    REQUIRE(m.trainStep(16, in, labels, &loss) == DLC_OK);
    out.push_back(loss);
  }
  REQUIRE(m.forward(16, in, outs) == DLC_OK);
  out.insert(out.end(), p.begin(), p.end());
  for (const char *name : {"A", "B", "C"}) {
    std::vector<float> values(name[0] == 'C' ? 10 * 96 : name[0] == 'A' ? 96 * 64 : 96 * 96);
    REQUIRE(m.getParam(name, values) == DLC_OK);
    out.insert(out.end(), values.begin(), values.end());
  }
  return out;
}

} // namespace

TEST_CASE("partitions: a power of two, balanced, from the module alone", "[partitions]") {
  llvm::LLVMContext ctx;
  std::vector<unsigned> sizes = {900, 150, 700, 40, 1200, 600, 300, 800, 500, 60, 1000, 450};
  auto m = moduleOfSizes(ctx, sizes);
  unsigned partitions = 0;
  std::vector<unsigned> assigned = partitionFunctions(*m, partitions);
  unsigned total = 0;
  for (unsigned s : sizes) total += s + 1; // and the return
  unsigned expected = 1;
  while (expected < kMaxPartitions && total > expected * kPartitionInstructions) expected *= 2;
  CHECK(partitions == expected);
  REQUIRE(partitions >= 2);
  REQUIRE(assigned.size() == sizes.size());
  std::vector<unsigned> load(partitions, 0);
  for (size_t i = 0; i < sizes.size(); ++i) {
    REQUIRE(assigned[i] < partitions);
    load[assigned[i]] += sizes[i] + 1;
  }
  // Largest first into the least loaded: no partition ends more than the
  // largest function above another.
  auto [lo, hi] = std::minmax_element(load.begin(), load.end());
  CHECK(*hi - *lo <= 1201);
  unsigned again = 0;
  CHECK(partitionFunctions(*m, again) == assigned);

  auto one = moduleOfSizes(ctx, {3000});
  CHECK(partitionFunctions(*one, partitions) == std::vector<unsigned>{0});
  CHECK(partitions == 1); // never more partitions than functions
}

TEST_CASE("the object files are the same bytes on 1, 2 and 3 threads", "[partitions]") {
  std::string error;
  auto tm = hostTargetMachine(error);
  REQUIRE(tm);
  std::vector<std::string> objects[3];
  for (unsigned threads = 1; threads <= 3; ++threads) {
    llvm::LLVMContext ctx;
    auto m = lowerModelText(readExample("mnist_mlp.net"), ctx, *tm);
    unsigned partitions = 0;
    partitionFunctions(*m, partitions);
    REQUIRE(partitions >= 2); // else there is nothing to run in parallel
    INFO(error);
    REQUIRE(compileModule(*m, *tm, 2, threads, objects[threads - 1], error));
    REQUIRE(objects[threads - 1].size() == partitions);
  }
  CHECK(objects[1] == objects[0]);
  CHECK(objects[2] == objects[0]);
}

TEST_CASE("a model compiled on 2 threads computes the bits of 1 thread's and hits its cache entry", "[partitions][cache]") {
  {
    std::string error;
    auto tm = hostTargetMachine(error);
    REQUIRE(tm);
    llvm::LLVMContext ctx;
    unsigned partitions = 0;
    partitionFunctions(*lowerModelText(kModel, ctx, *tm), partitions);
    REQUIRE(partitions >= 2);
  }
  llvm::SmallString<128> dir;
  REQUIRE(!llvm::sys::fs::createUniqueDirectory("dlc-parallel-test", dir));
  CompileOptions options;
  options.cacheDir = dir.str().str();
  options.compileThreads = 2;
  CompileResult two = compileString(kModel, options);
  INFO(two.rendered);
  REQUIRE(two);
  CHECK_FALSE(two.fromCache);
  options.compileThreads = 1;
  options.cache = false;
  CompileResult one = compileString(kModel, options);
  REQUIRE(one);
  options.cache = true;
  CompileResult cached = compileString(kModel, options); // 1 thread, the entry 2 threads stored
  REQUIRE(cached);
  CHECK(cached.fromCache);
  std::vector<float> a = run(*two.model), b = run(*one.model), c = run(*cached.model);
  CHECK(a == b);
  CHECK(c == b);
  llvm::sys::fs::remove_directories(dir);
}

namespace {

/// The defined functions that `entry` calls, directly or not.
std::set<const llvm::Function *> reachable(const llvm::Function *entry) {
  std::set<const llvm::Function *> seen{entry};
  std::vector<const llvm::Function *> work{entry};
  while (!work.empty()) {
    const llvm::Function *f = work.back();
    work.pop_back();
    for (const llvm::BasicBlock &bb : *f)
      for (const llvm::Instruction &i : bb)
        for (const llvm::Value *op : i.operands()) // calls, and functions passed to the thread pool
          if (auto *callee = llvm::dyn_cast<llvm::Function>(op->stripPointerCasts()))
            if (!callee->isDeclaration() && seen.insert(callee).second) work.push_back(callee);
  }
  return seen;
}

} // namespace

TEST_CASE("the kernels forward and loss_and_grad share are one function, not two", "[partitions][lowering]") {
  std::string error;
  auto tm = hostTargetMachine(error);
  REQUIRE(tm);
  llvm::LLVMContext ctx;
  // Layers wide enough that their products are split over threads: each
  // product's row-range body is a function of its own.
  auto m = lowerModelText(R"(model m {
  input  x : [784]
  label  y : class(10)
  param  A1 : [256, 784] ~ he
  param  b1 : [256] ~ zeros
  param  A2 : [256, 256] ~ he
  param  b2 : [256] ~ zeros
  param  A3 : [10, 256] ~ he
  w = A3 @ relu(A2 @ relu(A1 @ x + b1) + b2)
  loss cross_entropy(w, y)
  output w
}
train m {
  optimizer sgd(lr = 0.01)
  batch 64
}
)", ctx, *tm);
  std::set<const llvm::Function *> forward = reachable(m->getFunction("m_forward")),
                                   train = reachable(m->getFunction("m_loss_and_grad"));
  // The hidden layers' products with their bias and relu epilogues run in
  // both entries: forward's row-range bodies of them are reached from
  // loss_and_grad too (each entry had its own copy before).
  std::vector<std::string> shared;
  for (const llvm::Function *f : forward)
    if (train.count(f) && f->getName().starts_with("m_forward")) shared.push_back(f->getName().str());
  INFO("forward's kernel functions: " << forward.size());
  CHECK(!shared.empty());
  // No function is left twice: nothing shared is also defined again under
  // loss_and_grad's name.
  for (const std::string &name : shared) {
    std::string twin = "m_loss_and_grad" + name.substr(std::string("m_forward").size());
    INFO(name << " and " << twin);
    CHECK(m->getFunction(twin) == nullptr);
  }
}

namespace {

/// The .dlco entries in `dir`.
int cacheEntries(const std::string &dir) {
  int n = 0;
  std::error_code ec;
  for (llvm::sys::fs::directory_iterator it(dir, ec), end; it != end && !ec; it.increment(ec))
    n += llvm::StringRef(it->path()).ends_with(".dlco");
  return n;
}

} // namespace

TEST_CASE("the GEMM kernel library is one partition, the same for every model, compiled once per host",
          "[partitions][cache]") {
  std::string error;
  auto tm = hostTargetMachine(error);
  REQUIRE(tm);
  // Two models of different shapes lower to the same library: the same
  // functions in the same order at the module's end.
  llvm::LLVMContext ctx;
  auto a = lowerModelText(kModel, ctx, *tm), b = lowerModelText(test::readExample("fashion_cnn.net"), ctx, *tm);
  auto library = [](const llvm::Module &m) {
    std::vector<std::string> names;
    bool seen = false;
    for (const llvm::Function &f : m) {
      if (f.isDeclaration()) continue;
      if (isGemmLibraryFunction(f)) names.push_back(f.getName().str());
      else CHECK_FALSE(seen); // no model function after the library's first
      seen = seen || isGemmLibraryFunction(f);
    }
    return names;
  };
  std::vector<std::string> la = library(*a), lb = library(*b);
  CHECK(la.size() >= 20); // micro-kernels (the tile, its power-of-two edges, the narrow ones) and packing
  CHECK(la == lb);
  unsigned pa = 0, pb = 0;
  std::vector<unsigned> assigned = partitionFunctions(*a, pa);
  size_t i = 0;
  for (const llvm::Function &f : *a)
    if (!f.isDeclaration()) CHECK((assigned[i++] >= pa - kLibraryPartitions) == isGemmLibraryFunction(f));
  partitionFunctions(*b, pb);
  CHECK(pa >= 1 + kLibraryPartitions); // the model's own, then the library's

  // Compiled: the first model stores the library's object, the second loads
  // it (one entry, no new one), and computes the bits of a compile without it.
  std::string dir = test::tempDir("dlc-kernels-test");
  CompileOptions options;
  options.cacheDir = dir;
  options.cache = false; // the model's own code is compiled every time
  CompileResult first = compileString(kModel, options);
  INFO(first.rendered);
  REQUIRE(first);
  CHECK_FALSE(first.kernelsFromCache);
  CHECK(cacheEntries(dir) == 1);
  CompileResult second = compileString(test::readExample("fashion_cnn.net"), options);
  INFO(second.rendered);
  REQUIRE(second);
  CHECK(second.kernelsFromCache);
  CHECK(cacheEntries(dir) == 1);
  CompileResult again = compileString(kModel, options);
  REQUIRE(again);
  CHECK(again.kernelsFromCache);
  options.kernelCache = false;
  CompileResult fresh = compileString(kModel, options);
  REQUIRE(fresh);
  CHECK_FALSE(fresh.kernelsFromCache);
  const std::vector<float> expected = run(*fresh.model); // (run trains: once per model)
  CHECK(run(*again.model) == expected);
  CHECK(run(*first.model) == expected);

  // A damaged entry is a miss: compiled again, stored again.
  options.kernelCache = true;
  std::error_code ec;
  for (llvm::sys::fs::directory_iterator it(dir, ec), end; it != end && !ec; it.increment(ec)) {
    std::string bytes = test::readBytes(it->path());
    REQUIRE(bytes.size() > 200);
    bytes[bytes.size() - 100] ^= 0x40;
    std::ofstream(it->path(), std::ios::binary) << bytes;
  }
  CompileResult repaired = compileString(kModel, options);
  REQUIRE(repaired);
  CHECK_FALSE(repaired.kernelsFromCache);
  CHECK(run(*repaired.model) == expected);
  CHECK(compileString(kModel, options).kernelsFromCache);
  llvm::sys::fs::remove_directories(dir);
}
