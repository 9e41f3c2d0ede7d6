//===- tools/dlc/dlc.cpp - The dlc command-line driver --------------------===//
//
// A thin shell over the library: parses flags, reads the input, runs the
// stages up to the requested --emit, prints diagnostics and picks the exit
// code (0 success, 1 any error: in the input, the flags, or I/O).
//
//===----------------------------------------------------------------------===//
#include <algorithm>
#include <cmath>
#include <iostream>
#include <sstream>

#include <llvm/Pass.h>
#include <llvm/Support/CommandLine.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/Process.h>
#include <llvm/Support/Timer.h>
#include <llvm/Support/ToolOutputFile.h>
#include <llvm/Support/raw_ostream.h>

#include "analysis/RegionsCommand.h"
#include "frontend/IRGen.h"
#include "frontend/Parser.h"
#include "ir/Dataflow.h"
#include "ir/Dot.h"
#include "ir/IRParser.h"
#include "ir/Limits.h"
#include "ir/Printer.h"
#include "codegen/AOT.h"
#include "codegen/Explain.h"
#include "codegen/Fusion.h"
#include "codegen/Lowering.h"
#include "codegen/ParallelCodegen.h"
#include "codegen/Target.h"
#include "OnnxCommands.h"
#include "train/Dataset.h"
#include "train/Trainer.h"
#ifdef DLC_HAVE_MPI
#include "MpiProcessGroup.h"
#endif
#include "dlc/dlc.hpp"
#include "passes/Pass.h"

namespace cl = llvm::cl;
using namespace dlc;

namespace {

cl::OptionCategory category("dlc options");

enum class Emit { AST, IR, Grad, Opt, Kernels, LLVM, Obj, Dot, ONNX };
cl::opt<Emit> emit("emit", cl::desc("What to print"), cl::init(Emit::IR), cl::cat(category),
                   cl::values(clEnumValN(Emit::AST, "ast", "the syntax tree of a .net file"),
                              clEnumValN(Emit::IR, "ir", "the per-sample graph IR (text form, parses back)"),
                              clEnumValN(Emit::Grad, "grad", "the gradient graph (batch, autodiff, simplify)"),
                              clEnumValN(Emit::Opt, "opt", "the IR after the whole pipeline, with the chain-order report"),
                              clEnumValN(Emit::Kernels, "kernels", "the kernel plan of each entry point (what is fused, and where)"),
                              clEnumValN(Emit::LLVM, "llvm", "the optimized LLVM IR of the entry points (batch capacity from --batch)"),
                              clEnumValN(Emit::Obj, "obj", "an object file of the entry points (needs -o)"),
                              clEnumValN(Emit::Dot, "dot", "a Graphviz picture of the IR (with --grad: forward and backward)"),
                              clEnumValN(Emit::ONNX, "onnx", "an ONNX model of the forward graph (needs -o; --checkpoint for trained params)")));

cl::opt<std::string> passList("passes", cl::desc("Run these passes (comma-separated; fix(p1,p2) repeats a group to a fixed point) instead of --emit's pipeline"),
                              cl::value_desc("p1,p2,..."), cl::cat(category));
cl::opt<bool> verifyEach("verify-each", cl::desc("Verify the IR after each pass that changed it"), cl::cat(category));
cl::opt<bool> passStats("pass-stats", cl::desc("Print how often each rewrite fired (pass.name: count) on stderr"),
                        cl::cat(category));
cl::opt<int64_t> nominalBatch("batch",
                              cl::desc("Batch size assumed by cost models while N is symbolic "
                                       "(default: the train block's batch, else 64)"),
                              cl::init(0), cl::cat(category));
cl::opt<int> optLevel("O", cl::desc("LLVM optimization level 0..3 (default 2)"), cl::init(2), cl::Prefix,
                      cl::cat(category));
cl::opt<bool> dotGrad("grad", cl::desc("With --emit=dot: draw the gradient graph, backward edges dashed"),
                      cl::cat(category));
cl::opt<bool> explain("explain",
                      cl::desc("Report every decision with its cost: chain and Jacobian orders against the "
                               "alternatives, stable rewrites, the kernel plan, the arena's peak, the values the "
                               "backward keeps"),
                      cl::cat(category));
cl::opt<std::string> jacobianMode("jacobian-mode",
                                 cl::desc("How jacobian(y, x) multiplies its chain: auto (the cheapest), forward, "
                                          "reverse or mixed"),
                                 cl::init("auto"), cl::value_desc("mode"), cl::cat(category));
cl::list<std::string> wrtInputs("wrt", cl::desc("Also differentiate with respect to this input"),
                                cl::value_desc("input"), cl::cat(category));

enum class Lang { Auto, Net, IR };
cl::opt<Lang> language("x", cl::desc("Input language (default: from the extension; .ir is IR)"),
                       cl::init(Lang::Auto), cl::cat(category),
                       cl::values(clEnumValN(Lang::Net, "net", "network description"),
                                  clEnumValN(Lang::IR, "ir", "graph IR text")));

cl::opt<std::string> outputFile("o", cl::desc("Output file (default: stdout); a .so builds the model's library and header"),
                                cl::value_desc("file"),
                                cl::init("-"), cl::cat(category));
cl::opt<std::string> targetTriple("target",
                                  cl::desc("Compile a .so or --emit=obj for this LLVM triple, e.g. aarch64-linux-gnu "
                                           "(default: this host's); it links with TRIPLE-gcc"),
                                  cl::value_desc("triple"), cl::cat(category));
cl::opt<std::string> cpuName("cpu",
                             cl::desc("Compile for this LLVM CPU name, or native for this host's CPU (default: "
                                      "x86-64-v3 for a .so on x86-64, generic on other targets, native otherwise)"),
                             cl::value_desc("name"), cl::cat(category));
cl::opt<std::string> inputFile(cl::Positional, cl::desc("<input file, or - for stdin>"), cl::Required,
                               cl::cat(category));

// ---- dlc train -----------------------------------------------------------
cl::SubCommand trainCommand("train", "Train a model on a data set and report its test accuracy");
cl::opt<std::string> remat("remat",
                         cl::desc("memory: recompute cheap elementwise forward values in the backward instead of "
                                  "keeping them"),
                         cl::value_desc("memory"), cl::cat(category), cl::sub(cl::SubCommand::getTopLevel()),
                         cl::sub(trainCommand));
cl::opt<std::string> trainFile(cl::Positional, cl::desc("<model.net>"), cl::Required, cl::sub(trainCommand), cl::cat(category));
cl::opt<std::string> trainData("data", cl::desc("mnist, fashion-mnist, a directory of train-/t10k- IDX files, or a .csv file"),
                               cl::Required, cl::sub(trainCommand), cl::cat(category));
cl::opt<std::string> dataRoot("data-root", cl::desc("Where scripts/fetch_data.sh put the data (default: data)"),
                              cl::init("data"), cl::sub(trainCommand), cl::cat(category));
cl::opt<int64_t> trainEpochs("epochs", cl::desc("Epochs (default: the train block's, else 1)"), cl::init(0),
                             cl::sub(trainCommand), cl::cat(category));
cl::opt<int64_t> trainBatch("batch", cl::desc("Batch size (default: the train block's, else 64)"), cl::init(0),
                            cl::sub(trainCommand), cl::cat(category));
cl::opt<double> trainLR("lr", cl::desc("Learning rate (default: the train block's)"), cl::init(-1),
                        cl::sub(trainCommand), cl::cat(category));
cl::opt<uint64_t> trainSeed("seed", cl::desc("Seed of the initializers and the shuffling (default 0)"), cl::init(0),
                            cl::sub(trainCommand), cl::cat(category));
cl::opt<bool> trainQuiet("quiet", cl::desc("No progress bar"), cl::sub(trainCommand), cl::cat(category));
cl::opt<double> valSplit("val-split", cl::desc("Share of the training data held out for validation (default 0)"),
                         cl::init(0), cl::sub(trainCommand), cl::cat(category));
cl::opt<int64_t> earlyStop("early-stop", cl::desc("Stop after this many epochs without a better validation loss"),
                           cl::init(0), cl::sub(trainCommand), cl::cat(category));
cl::opt<std::string> checkpointFile("checkpoint", cl::desc("Save params and optimizer state here after every epoch"),
                                    cl::value_desc("file"), cl::sub(trainCommand), cl::cat(category));
cl::opt<std::string> metricsLog("log", cl::desc("Write one CSV row of metrics per epoch to this file, as it trains"),
                                cl::value_desc("file.csv"), cl::sub(trainCommand), cl::cat(category));
cl::opt<std::string> resumeFile("resume", cl::desc("Continue training from this checkpoint"), cl::value_desc("file"),
                                cl::sub(trainCommand), cl::cat(category));
cl::opt<std::string> trainOptimizer("optimizer", cl::desc("sgd, momentum, nesterov or adam (default: the train block's)"),
                                    cl::sub(trainCommand), cl::cat(category));
cl::opt<int> trainThreads("threads", cl::desc("Threads for the compiled steps, 1..4 (default: $DLC_NUM_THREADS, else 1)"),
                          cl::init(0), cl::sub(trainCommand), cl::cat(category));
cl::opt<bool> deterministic("deterministic",
                            cl::desc("Under mpirun: reduce the gradients in rank order (the same bits on every rank and "
                                     "as --simulate-ranks K)"),
                            cl::sub(trainCommand), cl::cat(category));
cl::opt<int> simulateRanks("simulate-ranks",
                           cl::desc("One process computes each global batch as K ranks would, summing their shards' "
                                    "gradients in rank order"),
                           cl::init(0), cl::value_desc("K"), cl::sub(trainCommand), cl::cat(category));
cl::opt<bool> checkNumerics("check-numerics",
                            cl::desc("Stop at the first NaN or Inf of a step, naming the value (e.g. dL/dA1)"),
                            cl::sub(trainCommand), cl::cat(category));
cl::opt<int64_t> kFolds("kfold", cl::desc("K-fold cross-validation on the training data: K runs, mean and spread"),
                        cl::init(0), cl::value_desc("K"), cl::sub(trainCommand), cl::cat(category));
cl::opt<std::string> plotFile("plot", cl::desc("Write the loss and accuracy curves to this PNG (needs gnuplot)"),
                              cl::value_desc("file.png"), cl::sub(trainCommand), cl::cat(category));
cl::opt<double> labelNoise("label-noise", cl::desc("Replace this share of the training labels by other classes (seeded by --seed)"),
                           cl::init(0), cl::value_desc("P"), cl::sub(trainCommand), cl::cat(category));
cl::opt<int64_t> trainSamples("train-samples", cl::desc("Train on the first N training samples only"), cl::init(0),
                              cl::value_desc("N"), cl::sub(trainCommand), cl::cat(category));
cl::opt<bool> fitReport("fit-report", cl::desc("End with the train error (on the labels trained with), test error and test loss"),
                        cl::sub(trainCommand), cl::cat(category));
enum class Normalize { None, Standard };
cl::opt<Normalize> normalize("normalize", cl::desc("Feature normalization (default: none; IDX pixels are 0..1)"),
                             cl::values(clEnumValN(Normalize::None, "none", "as loaded"),
                                        clEnumValN(Normalize::Standard, "standard", "mean 0, deviation 1 per feature (train statistics)")),
                             cl::init(Normalize::None), cl::sub(trainCommand), cl::cat(category));

// ---- dlc eval ------------------------------------------------------------
cl::SubCommand evalCommand("eval", "Report a trained model's test accuracy and confusion matrix");
cl::opt<bool> noCache("no-cache",
                      cl::desc("Compile the model even if the compile cache ($DLC_CACHE_DIR, else ~/.cache/dlc) holds "
                               "its code (or its GEMM kernel library's), and store nothing"),
                      cl::sub(trainCommand), cl::sub(evalCommand), cl::cat(category));
cl::opt<unsigned> compileThreads("compile-threads",
                                 cl::desc("Threads that optimize and compile the model's code at once (default 0: one "
                                          "per core; the code is the same for any count)"),
                                 cl::init(0), cl::value_desc("N"), cl::cat(category),
                                 cl::sub(cl::SubCommand::getTopLevel()), cl::sub(trainCommand), cl::sub(evalCommand));
cl::opt<std::string> evalFile(cl::Positional, cl::desc("<model.net>"), cl::Required, cl::sub(evalCommand));
cl::opt<std::string> evalCheckpoint("checkpoint", cl::desc("The trained params"), cl::Required, cl::value_desc("file"),
                                    cl::sub(evalCommand), cl::cat(category));
cl::opt<std::string> evalData("data", cl::desc("mnist, fashion-mnist, a directory of IDX files (their test set), or a .csv file (exactly it)"), cl::Required,
                              cl::sub(evalCommand), cl::cat(category));
cl::opt<std::string> evalDataRoot("data-root", cl::desc("Where scripts/fetch_data.sh put the data (default: data)"),
                                  cl::init("data"), cl::sub(evalCommand), cl::cat(category));

// ---- dlc regions ---------------------------------------------------------
cl::SubCommand regionsCommand("regions", "Count the linear pieces of a ReLU network on a line or plane, exactly");
cl::opt<std::string> regionsFile(cl::Positional, cl::desc("<model.net>"), cl::Required, cl::sub(regionsCommand));
cl::opt<std::string> regionsCheckpoint("checkpoint", cl::desc("The params (default: the initializers with --seed)"),
                                       cl::value_desc("file"), cl::sub(regionsCommand), cl::cat(category));
cl::opt<uint64_t> regionsSeed("seed", cl::desc("Seed of the initializers (as dlc train --seed)"), cl::init(0),
                              cl::sub(regionsCommand), cl::cat(category));
cl::opt<std::string> regionsPlane("plane", cl::desc("The plane through three points (box [0,1]^2 in their coordinates)"),
                                 cl::value_desc("a;b;c"), cl::sub(regionsCommand), cl::cat(category));
cl::opt<std::string> regionsOrigin("origin", cl::desc("Origin of the line or plane (default 0)"), cl::value_desc("x1,x2,.."),
                                   cl::sub(regionsCommand), cl::cat(category));
cl::list<std::string> regionsDirs("dir", cl::desc("A direction (once: a line, twice: a plane); eK is unit vector K"),
                                  cl::value_desc("u1,u2,..|eK"), cl::sub(regionsCommand), cl::cat(category));
cl::opt<std::string> regionsLine("line", cl::ValueOptional,
                                cl::desc("The line through two points (box [0,1]); alone: the line of input coordinate 1"),
                                cl::value_desc("a;b"), cl::sub(regionsCommand), cl::cat(category));
cl::opt<std::string> regionsBox("box", cl::desc("lo,hi or x0,x1,y0,y1 in line/plane coordinates (default: holds every "
                                                "crossing of the first layer's folds)"),
                                cl::sub(regionsCommand), cl::cat(category));
cl::opt<std::string> regionsOf("of", cl::desc("Count the pieces of this value (default: the first output)"),
                               cl::value_desc("name"), cl::sub(regionsCommand), cl::cat(category));
cl::opt<std::string> regionsPlot("plot", cl::desc("Draw the regions to this PNG (needs gnuplot)"), cl::value_desc("file.png"),
                                 cl::sub(regionsCommand), cl::cat(category));

int usageError(const std::string &msg) {
  llvm::errs() << "dlc: error: " + msg + "\n";
  return 1;
}

} // namespace

/// LLVM itself registers --print-after-all (for its own passes) in the shared
/// library; dlc reuses that flag for its passes rather than clash with it.
cl::opt<bool> &printAfterAllFlag() {
  auto &options = cl::getRegisteredOptions();
  auto *opt = static_cast<cl::opt<bool> *>(options["print-after-all"]);
  return *opt;
}

/// --emit=kernels: what each entry point computes in which loop nest.
std::string kernelReport(const Graph &g) {
  std::string out;
  auto [outputs, training] = entryRoots(g);
  auto report = [&](const char *entry, const std::vector<const Node *> &roots) {
    std::vector<const Node *> nodes = entryNodes(g, roots);
    out += printKernelPlan(g, planKernels(nodes, {roots.begin(), roots.end()}), entry);
  };
  report("forward", outputs);
  if (g.result(Role::Loss)) report("loss_and_grad", training);
  int64_t capacity = nominalBatch > 0 ? nominalBatch.getValue() : g.train.getInt("batch", 64);
  Optimizer optimizer = g.train.getString("optimizer") == "adam" ? Optimizer::Adam : Optimizer::SGD;
  ModelLayout l = planLayout(g, capacity, optimizer);
  out += fmt::format("arena at batch {}: {} floats = {} persistent (inputs, labels, params, optimizer state, results)"
                     " + {} temporary ({} without sharing) + {} workspace (packed panels, im2col)\n",
                     capacity, l.arenaSize, l.persistentSize, l.arenaSize - l.persistentSize - l.workspaceSize,
                     l.unsharedTemporarySize, l.workspaceSize);
  if (!l.views.empty()) {
    std::vector<std::string> names = printedNames(g), views;
    std::unordered_map<const Node *, std::string> nameOf;
    for (size_t i = 0; i < g.size(); ++i) nameOf[g.nodes()[i].get()] = names[i];
    auto name = [&](const Node *n) { return nameOf.at(n); };
    for (auto [view, of] : l.views) views.push_back(fmt::format("{} = {}", name(view), name(of)));
    out += fmt::format("views (reshapes that read their operand's buffer, no copy): {}\n", fmt::join(views, ", "));
  }
  return out;
}

/// --emit=llvm and --emit=obj: lower the optimized graph for a fixed batch.
int emitMachineCode(const Graph &g, DiagnosticEngine &diags) {
  if (optLevel < 0 || optLevel > 3) return usageError("-O takes 0, 1, 2 or 3");
  if (emit == Emit::Obj && outputFile == "-") return usageError("--emit=obj needs -o FILE");
  llvm::LLVMContext ctx;
  int64_t capacity = nominalBatch > 0 ? nominalBatch.getValue() : g.train.getInt("batch", 64);
  Optimizer optimizer = g.train.getString("optimizer") == "adam" ? Optimizer::Adam : Optimizer::SGD;
  std::string error;
  std::string cpu = cpuName.empty() ? "native" : cpuName.getValue();
  auto tm = createTargetMachine({targetTriple, cpu}, error);
  if (!tm) return usageError(error);
  GemmConfig gemm = gemmConfigFor(*tm, cpu == "native");
  ModelLayout layout;
  if (checkLayoutLimits(g, capacity, diags, gemm)) layout = planLayout(g, capacity, optimizer, gemm);
  auto module = diags.hasErrors() ? nullptr : lowerModel(g, layout, g.name, ctx, diags);
  if (!module) {
    llvm::errs() << renderDiagnostics(diags, llvm::errs().has_colors());
    return 1;
  }
  if (emit == Emit::Obj) {
    std::vector<std::string> objects;
    bool ok = compileModule(*module, *tm, optLevel, compileThreads, objects, error) &&
              writeObjectFile(objects, outputFile, cCompilerName(targetTriple, ""), error);
    return ok ? 0 : usageError(error);
  }
  optimizeModule(*module, *tm, optLevel);
  std::error_code ec;
  llvm::ToolOutputFile out(outputFile, ec, llvm::sys::fs::OF_Text);
  if (ec) return usageError(fmt::format("cannot write '{}': {}", outputFile.getValue(), ec.message()));
  module->print(out.os(), nullptr);
  out.keep();
  return 0;
}

/// --kfold K: K fresh models (same seed), each trained on all folds but one
/// and validated on that one; the validation accuracies' mean and spread.
int crossValidate(CompileResult &first, const CompileOptions &options, const Dataset &all, int64_t kFolds,
                  TrainOptions to, std::ostream &out) {
  std::string error;
  if (kFolds < 2 || kFolds > all.count) {
    llvm::errs() << "dlc train: error: --kfold needs 2 <= K <= " << all.count << " (the training samples)\n";
    return 1;
  }
  if (!checkpointFile.empty() || !resumeFile.empty() || to.valSplit > 0 || !metricsLog.empty()) {
    llvm::errs() << "dlc train: error: --kfold does not combine with --checkpoint, --resume, --val-split or --log\n";
    return 1;
  }
  std::vector<double> scores; // each fold's validation accuracy (%) or mse
  bool regression = false;
  const Dataset none = all.emptyLike();
  for (int64_t fold = 0; fold < kFolds; ++fold) {
    CompileResult fresh = fold == 0 ? std::move(first) : compileFile(trainFile, options);
    if (fresh && checkNumerics) fresh.model->setHyper("check_numerics", 1);
    if (!fresh) {
      llvm::errs() << fresh.rendered;
      return 1;
    }
    Dataset train, val;
    kFoldSplit(all, kFolds, fold, to.seed, train, val);
    to.validation = &val;
    out << "fold " << fold + 1 << "/" << kFolds << ": " << train.count << " training, " << val.count
        << " validation samples\n";
    TrainSummary summary;
    if (!trainModel(*fresh.model, train, none, to, out, summary, error)) {
      llvm::errs() << "dlc train: error: " + error + "\n";
      return 1;
    }
    regression = std::isnan(summary.val.accuracy);
    scores.push_back(regression ? summary.val.mse : 100 * summary.val.accuracy);
  }
  double mean = 0, var = 0;
  for (double a : scores) mean += a / double(scores.size());
  for (double a : scores) var += (a - mean) * (a - mean) / double(scores.size() - 1);
  auto show = [&](double v) { return regression ? fmt::format("{:.4g}", v) : fmt::format("{:.2f}", v); };
  const char *unit = regression ? "" : "%";
  out << fmt::format("{}-fold validation {}: {}{} +- {}{} (mean +- standard deviation; folds:", kFolds,
                     regression ? "mse" : "accuracy", show(mean), unit, show(std::sqrt(var)), unit);
  for (double a : scores) out << " " << show(a);
  out << ")\n";
  return 0;
}

/// A numeric flag outside its range: the flag, what it takes and what it got.
int flagError(const char *flag, const char *takes, double got) {
  llvm::errs() << fmt::format("dlc train: error: {} takes {}, got {}\n", flag, takes, got);
  return 1;
}

/// A stream that drops what it is given (the log of ranks other than 0).
struct Discard : std::streambuf {
  int overflow(int c) override { return c; }
};

/// --deterministic on several ranks: checks that every rank ended with the
/// same bits and says so.
bool reportAgreement(Model &model, ProcessGroup &group, std::string &error) {
  std::span<float> state = model.trainingState();
  std::vector<uint64_t> hashes;
  if (!group.gatherHashes(hashBytes(state.data(), state.size_bytes()), hashes, error)) return false;
  for (int r = 1; r < group.size(); ++r)
    if (hashes[size_t(r)] != hashes[0]) {
      error = fmt::format("--deterministic: rank {} ended with other params than rank 0", r);
      return false;
    }
  if (group.rank() == 0)
    llvm::outs() << fmt::format("deterministic: params{} bit-identical on all {} ranks (hash {:016x})\n",
                                model.modelState().empty() ? " and optimizer state" : ", optimizer state and model state",
                                group.size(), hashes[0]);
  return true;
}

/// The model's graph as the front end writes it, for its train block and
/// outputs (null when it has errors; compiling it reports them).
std::unique_ptr<Graph> settingsOf(const std::string &path) {
  DiagnosticEngine diags;
  auto file = std::make_shared<SourceFile>();
  file->name = path;
  auto buffer = llvm::MemoryBuffer::getFile(path);
  file->text = buffer ? (*buffer)->getBuffer().str() : "";
  return compileNet(file, diags);
}

/// The decision threshold of a binary classifier: 0.5 when its first output
/// is a probability (a sigmoid), else 0 (a score or logit).
double binaryThreshold(const Graph &g) {
  Node *out = g.result(Role::Output);
  return out && out->kind == OpKind::Sigmoid ? 0.5 : 0.0;
}

int trainMain(ProcessGroup *group) {
  std::string error;
  const bool distributed = group && group->size() > 1, writer = !group || group->rank() == 0;
  auto fail = [&](const std::string &why) {
    // One write: under mpirun the ranks share stderr, and a message written in pieces interleaves.
    llvm::errs() << fmt::format("dlc train: error: {}{}\n", distributed ? fmt::format("rank {}: ", group->rank()) : "", why);
    llvm::errs().flush();
#ifdef DLC_HAVE_MPI
    if (distributed) abortMpi(1); // ends every rank: none waits for this one
#endif
    return 1;
  };
  if (simulateRanks < 0 || (simulateRanks > 0 && distributed))
    return fail("--simulate-ranks K needs K >= 1 and one process (not mpirun)");
  if (trainSamples < 0 || labelNoise < 0 || labelNoise > 1)
    return usageError("--train-samples needs N >= 0 and --label-noise a share in [0, 1]");
  // The train block's settings, which the flags override.
  std::unique_ptr<Graph> g = settingsOf(trainFile);
  Attrs block = g ? g->train : Attrs();
  auto given = [](const auto &flag) { return flag.getNumOccurrences() > 0; };
  if (given(trainLR) && !(std::isfinite(trainLR) && trainLR > 0)) return flagError("--lr", "a positive number", trainLR);
  if (given(trainBatch) && trainBatch <= 0) return flagError("--batch", "a positive integer", double(trainBatch));
  if (given(trainEpochs) && trainEpochs <= 0) return flagError("--epochs", "a positive integer", double(trainEpochs));
  if (given(valSplit) && !(valSplit >= 0 && valSplit < 1)) return flagError("--val-split", "in [0, 1)", valSplit);
  if (given(earlyStop) && earlyStop < 0) return flagError("--early-stop", "a count >= 0", double(earlyStop));
  uint64_t seed = given(trainSeed) ? trainSeed.getValue() : uint64_t(block.getInt("seed", 0));
  CompileOptions options;
  options.seed = seed;
  options.maxBatch = trainBatch;
  options.optimizer = trainOptimizer;
  options.remat = remat;
  options.cache = !noCache;
  options.kernelCache = !noCache;
  options.compileThreads = compileThreads;
  CompileResult r = compileFile(trainFile, options);
  if (!r) {
    if (writer) llvm::errs() << r.rendered;
    return fail("cannot compile " + trainFile);
  }
  if (checkNumerics) r.model->setHyper("check_numerics", 1);
  if (given(trainThreads) && r.model->setHyper("threads", trainThreads) != DLC_OK)
    return fail(fmt::format("--threads {}: {}", trainThreads.getValue(), r.model->lastError()));
  // The model's label says what the data holds: class labels or float targets.
  Dataset train, test;
  if (!loadNamedDataset(trainData, dataRoot, train, test, error, labelTargets(*r.model))) {
    if (trainData == "mnist" && error.find("no such file") != std::string::npos)
      error += "\ndlc train: note: scripts/fetch_data.sh installs the MNIST digits";
    return fail(error);
  }
  if (normalize == Normalize::Standard) standardize(train, test);
  if (trainSamples > 0) keepFirst(train, trainSamples);
  if (labelNoise > 0 && train.targetSize > 0) return fail("--label-noise needs class labels");
  int64_t epochs = trainEpochs > 0 ? trainEpochs.getValue() : block.getInt("epochs", 1);
  if (int64_t changed = addLabelNoise(train, labelNoise, seed); changed && writer)
    llvm::outs() << fmt::format("label noise: {} of {} training labels replaced by another class\n", changed, train.count);
  if (writer)
    llvm::outs() << fmt::format("training {} on {}: {} training and {} test samples, batch {}, {} epochs{}\n",
                                trainFile.getValue(), trainData.getValue(), train.count, test.count, r.model->maxBatch(),
                                epochs, distributed ? fmt::format(", {} ranks", group->size()) : "");
  llvm::outs().flush();
  TrainOptions to;
  to.epochs = epochs;
  to.seed = seed;
  to.lr = trainLR;
  to.valSplit = given(valSplit) ? valSplit.getValue() : block.getFloat("val_split", 0);
  to.schedule = block.getString("schedule", "constant");
  to.every = block.getFloat("every", 1);
  to.gamma = block.getFloat("gamma", 0.1);
  to.minLr = block.getFloat("min_lr", 0);
  to.warmup = block.getInt("warmup", 0);
  to.earlyStop = given(earlyStop) ? earlyStop.getValue() : block.getInt("early_stop", 0);
  to.checkpoint = checkpointFile;
  to.metricsLog = metricsLog;
  to.task = block.getString("task", "");
  to.threshold = g ? binaryThreshold(*g) : 0;
  to.progress = !trainQuiet && llvm::errs().is_displayed();
  struct Forward : std::streambuf {
    int overflow(int c) override {
      if (c != EOF) llvm::outs() << char(c);
      return c;
    }
    std::streamsize xsputn(const char *s, std::streamsize n) override {
      llvm::outs() << llvm::StringRef(s, size_t(n));
      llvm::outs().flush();
      return n;
    }
  } forward;
  Discard discard;
  std::ostream out(writer ? static_cast<std::streambuf *>(&forward) : &discard);
  to.parallel.group = group;
  to.parallel.deterministic = deterministic;
  to.parallel.simulatedRanks = simulateRanks;
  int64_t folds = given(kFolds) ? kFolds.getValue() : block.getInt("kfold", 0);
  if (folds > 0 && (distributed || simulateRanks > 0)) return fail("--kfold runs in one process, without --simulate-ranks");
  if (folds > 0) return crossValidate(r, options, train, folds, to, out);
  if (!resumeFile.empty()) {
    // Rank 0 reads the checkpoint; the trainer broadcasts it to the others.
    if (writer && r.model->load(resumeFile) != DLC_OK) return fail(r.model->lastError());
    to.resumed = true;
  }
  TrainSummary summary;
  if (!trainModel(*r.model, train, test, to, out, summary, error)) return fail(error);
  if (distributed && deterministic && !reportAgreement(*r.model, *group, error)) return fail(error);
  if (fitReport && writer) {
    Metrics fit;
    double testLoss = 0;
    if (!evaluate(*r.model, train, to.task, to.threshold, fit, error) || !meanLoss(*r.model, test, testLoss, error))
      return fail(error);
    if (std::isnan(fit.accuracy))
      llvm::outs() << fmt::format("fit: train mse {:.4g}  test mse {:.4g}  test loss {:.4f}\n", fit.mse,
                                  summary.test.mse, testLoss);
    else
      llvm::outs() << fmt::format("fit: train error {:.2f}%  test error {:.2f}%  test loss {:.4f}\n",
                                  100 * (1 - fit.accuracy), 100 * (1 - summary.test.accuracy), testLoss);
  }
  if (writer && !plotFile.empty()) {
    if (!plotHistory(summary.history, trainFile + " on " + trainData, plotFile, error)) return fail(error);
    llvm::outs() << "curves written to " << plotFile << "\n";
  }
  return 0;
}

int evalMain() {
  auto fail = [](const std::string &why) {
    llvm::errs() << "dlc eval: error: " + why + "\n";
    return 1;
  };
  CompileOptions options;
  options.cache = !noCache;
  options.kernelCache = !noCache;
  options.compileThreads = compileThreads;
  CompileResult r = compileFile(evalFile, options);
  if (!r) {
    llvm::errs() << r.rendered;
    return 1;
  }
  if (r.model->load(evalCheckpoint) != DLC_OK) return fail(r.model->lastError());
  std::string error;
  Dataset train, test;
  const int64_t targets = labelTargets(*r.model);
  bool csv = llvm::StringRef(evalData).ends_with(".csv");
  if (csv) { // exactly this file, whatever lies beside it
    std::optional<Dataset> d = loadCSV(evalData, error, targets);
    if (d) test = std::move(*d);
  }
  if (csv ? !error.empty() : !loadNamedDataset(evalData, evalDataRoot, train, test, error, targets)) return fail(error);
  if (test.count == 0 && llvm::StringRef(evalData).ends_with(".npz")) test = std::move(train); // no x_test: x is it
  if (test.count == 0) return fail(evalData + " has no test samples to evaluate");
  std::unique_ptr<Graph> g = settingsOf(evalFile);
  std::string task = g ? g->train.getString("task", "") : "";
  Metrics m;
  std::vector<int64_t> confusion;
  if (!evaluate(*r.model, test, task, g ? binaryThreshold(*g) : 0, m, error, &confusion)) return fail(error);
  if (!std::isnan(m.mse)) {
    llvm::outs() << fmt::format("test mse: {:.4g}\ntest r2: {:.4f}\n", m.mse, m.r2);
    return 0;
  }
  size_t k = size_t(std::sqrt(double(confusion.size())));
  if (k > 0) {
    llvm::outs() << fmt::format("confusion matrix on {} test samples (rows: label, columns: prediction)\n      ", test.count);
    for (size_t c = 0; c < k; ++c) llvm::outs() << fmt::format("{:>6}", c);
    llvm::outs() << "\n";
    for (size_t row = 0; row < k; ++row) {
      llvm::outs() << fmt::format("{:>6}", row);
      for (size_t c = 0; c < k; ++c) llvm::outs() << fmt::format("{:>6}", confusion[row * k + c]);
      llvm::outs() << "\n";
    }
  }
  llvm::outs() << fmt::format("test accuracy: {:.2f}%\n", 100 * m.accuracy);
  return 0;
}

int regionsMain() {
  RegionsRequest request;
  request.modelPath = regionsFile;
  request.checkpoint = regionsCheckpoint;
  request.seed = regionsSeed;
  request.outputName = regionsOf;
  request.plane = regionsPlane;
  request.line = regionsLine;
  request.lineGiven = regionsLine.getNumOccurrences() > 0;
  request.origin = regionsOrigin;
  request.directions.assign(regionsDirs.begin(), regionsDirs.end());
  request.box = regionsBox;
  request.plot = regionsPlot;
  RegionsResult result;
  std::string error;
  if (!runRegions(request, result, error)) {
    llvm::errs() << (llvm::StringRef(error).ends_with("\n") ? error : "dlc regions: error: " + error + "\n");
    return 1;
  }
  llvm::outs() << result.report;
  return 0;
}

int compileMain();

int main(int argc, char **argv) {
  cl::opt<bool> &printAfterAll = printAfterAllFlag();
  printAfterAll.setDescription("Print the IR after each pass (to stderr)");
  printAfterAll.addCategory(category);
  // LLVM's -time-passes, shown with dlc's flags: it times dlc's phases too.
  if (auto *timePasses = cl::getRegisteredOptions().lookup("time-passes")) {
    timePasses->setDescription("Print the time of each LLVM pass and of each of dlc's phases (to stderr)");
    timePasses->addCategory(category);
  }
  cl::HideUnrelatedOptions({&category, &onnxCategory()});
  cl::SetVersionPrinter([](llvm::raw_ostream &os) { os << "dlc version 0.1.0 (LLVM " LLVM_VERSION_STRING ")\n"; });
  cl::ParseCommandLineOptions(argc, argv,
                              "dlc - a symbolic automatic-differentiation compiler for neural networks\n");
  int rc = 0;
  if (trainCommand) {
#ifdef DLC_HAVE_MPI
    std::unique_ptr<ProcessGroup> group = startMpi(argc, argv); // null unless mpirun started this process
    rc = trainMain(group.get());
    finishMpi();
#else
    rc = trainMain(nullptr);
#endif
  } else if (evalCommand) {
    rc = evalMain();
  } else if (regionsCommand) {
    rc = regionsMain();
  } else if (importSubCommand()) {
    rc = importMain();
  } else {
    rc = compileMain();
  }
  // -time-passes: LLVM's pass timings, then dlc's phases (ir/PhaseTimer.h).
  if (llvm::TimePassesIsEnabled) llvm::TimerGroup::printAll(llvm::errs());
  return rc;
}

/// `dlc FILE --emit=...` and `dlc FILE -o model.so`.
int compileMain() {

  auto buffer = inputFile == "-" ? llvm::MemoryBuffer::getSTDIN() : llvm::MemoryBuffer::getFile(inputFile);
  if (!buffer) {
    llvm::errs() << fmt::format("{}: error: cannot read file: {}\n", inputFile.getValue(),
                                buffer.getError().message());
    return 1;
  }
  auto file = std::make_shared<SourceFile>();
  file->name = inputFile == "-" ? "<stdin>" : inputFile.getValue();
  file->text = (*buffer)->getBuffer().str();

  Lang lang = language;
  if (lang == Lang::Auto)
    lang = llvm::StringRef(inputFile).ends_with(".ir") ? Lang::IR : Lang::Net;

  DiagnosticEngine diags;
  bool color = llvm::errs().has_colors();
  auto fail = [&] {
    llvm::errs() << renderDiagnostics(diags, color);
    return 1;
  };

  std::string text;
  if (emit == Emit::AST) {
    if (lang != Lang::Net) return usageError("--emit=ast needs .net input");
    Program p = parseProgram(file, diags);
    if (diags.hasErrors()) return fail();
    text = printAST(p);
  } else {
    std::unique_ptr<Graph> g = lang == Lang::IR ? parseIR(file, diags) : compileNet(file, diags);
    if (!g) return fail();
    if (emit == Emit::ONNX) {
      if (lang != Lang::Net) return usageError("--emit=onnx needs .net input");
      return emitOnnx(file->name, file->text, std::move(g), outputFile);
    }
    // `dlc model.net -o model.so` builds the library (and model.h beside it).
    bool buildLibrary = emit.getNumOccurrences() == 0 && llvm::StringRef(outputFile).ends_with(".so");
    std::vector<std::string> pipeline;
    if (emit == Emit::Grad || (emit == Emit::Dot && dotGrad)) pipeline = gradPipeline();
    if (emit == Emit::Opt || emit == Emit::Kernels || emit == Emit::LLVM || emit == Emit::Obj || buildLibrary ||
        explain)
      pipeline = defaultPipeline();
    if (!passList.empty()) pipeline = splitPipeline(passList);
    if (pipeline == gradPipeline() && !g->result(Role::Loss)) {
      diags.error(g->loc, "model '{}' has no loss: --emit=grad differentiates the loss (add `loss EXPR`; --emit=opt shows the forward graph)", g->name);
      return fail();
    }
    if (nominalBatch < 0 || nominalBatch > kMaxBatch)
      return usageError(fmt::format("--batch={} is outside 1..{}", nominalBatch.getValue(), kMaxBatch));
    if (optLevel < 0 || optLevel > 3) return usageError("-O takes 0, 1, 2 or 3");
    PassContext ctx(diags);
    ctx.nominalBatch = nominalBatch;
    ctx.verifyEach = verifyEach;
    ctx.gradInputs.assign(wrtInputs.begin(), wrtInputs.end());
    if (jacobianMode != "auto" && jacobianMode != "forward" && jacobianMode != "reverse" && jacobianMode != "mixed")
      return usageError("--jacobian-mode takes auto, forward, reverse or mixed");
    ctx.jacobianMode = jacobianMode;
    if (!remat.empty() && remat != "memory") return usageError("--remat takes memory");
    if (remat == "memory" && !pipeline.empty() && passList.empty()) pipeline.push_back("remat");
    if (printAfterAllFlag()) ctx.printAfterEach = &std::cerr;
    if (!runPipeline(g, pipeline, ctx)) return fail();
    if (passStats) llvm::errs() << formatStats(ctx);
    if (emit == Emit::LLVM || emit == Emit::Obj || emit == Emit::Kernels || buildLibrary || explain) {
      int64_t capacity = nominalBatch > 0 ? nominalBatch.getValue() : g->train.getInt("batch", 64);
      if (!checkLayoutLimits(*g, capacity, diags)) return fail();
    }
    if (explain) {
      int64_t capacity = nominalBatch > 0 ? nominalBatch.getValue() : g->train.getInt("batch", 64);
      Optimizer optimizer = g->train.getString("optimizer") == "adam" ? Optimizer::Adam : Optimizer::SGD;
      llvm::outs() << explainModel(*g, ctx.remarks, capacity, optimizer);
      return 0;
    }
    if (emit == Emit::LLVM || emit == Emit::Obj) return emitMachineCode(*g, diags);
    if (emit == Emit::Kernels) {
      text = kernelReport(*g);
      llvm::outs() << text;
      return 0;
    }
    if (buildLibrary) {
      AOTOptions aot;
      aot.outputPath = outputFile;
      aot.maxBatch = nominalBatch;
      aot.optLevel = optLevel;
      aot.triple = targetTriple;
      aot.cpu = cpuName;
      aot.compileThreads = compileThreads;
      if (!buildSharedLibrary(*g, aot, diags)) return fail();
      return 0;
    }
    std::string remarks;
    for (const std::string &r : ctx.remarks) remarks += "# " + r + "\n";
    // The chain pass ran and found nothing to order: say so.
    bool chainRan = std::find(pipeline.begin(), pipeline.end(), "chain") != pipeline.end();
    if (chainRan && remarks.find("# chain ") == std::string::npos)
      remarks += "# chain: no chains (no product of three or more factors)\n";
    if (emit == Emit::Dot) {
      std::ostringstream os;
      DotOptions opts;
      if (dotGrad) {
        // Backward values: those the loss does not depend on but a gradient does.
        std::vector<bool> forward(g->size(), false), backward(g->size(), false);
        if (Node *loss = g->result(Role::Loss)) forward = reachesTo(*g, loss);
        for (Node *grad : g->resultsWith(Role::Grad)) {
          std::vector<bool> r = reachesTo(*g, grad);
          for (size_t i = 0; i < r.size(); ++i) backward[i] = backward[i] || (r[i] && !forward[i]);
        }
        std::unordered_map<const Node *, bool> isBackward;
        for (size_t i = 0; i < g->size(); ++i) isBackward[g->nodes()[i].get()] = backward[i];
        opts.isBackward = [isBackward](const Node *n) { return isBackward.at(n); };
      }
      writeDot(*g, os, opts);
      text = os.str();
    } else {
      text = remarks + printGraph(*g);
    }
  }
  llvm::errs() << renderDiagnostics(diags, color); // warnings, if any

  std::error_code ec;
  llvm::ToolOutputFile out(outputFile, ec, llvm::sys::fs::OF_Text);
  if (ec) return usageError(fmt::format("cannot write '{}': {}", outputFile.getValue(), ec.message()));
  out.os() << text;
  out.keep();
  return 0;
}
