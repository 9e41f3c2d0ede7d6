//===- fuzz/Harness.cpp - The invariants of the four fuzz targets ---------===//
#include "fuzz/Harness.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/raw_ostream.h>

#include "codegen/Layout.h"
#include "codegen/Lowering.h"
#include "frontend/IRGen.h"
#include "ir/IRParser.h"
#include "ir/Printer.h"
#include "ir/Verifier.h"
#include "runtime/model_runtime.h"
#include "passes/Pass.h"

namespace dlc::fuzz {
namespace {

std::shared_ptr<SourceFile> sourceOf(std::string_view text, const char *name) {
  auto f = std::make_shared<SourceFile>();
  f->name = name;
  f->text = std::string(text);
  return f;
}

/// A byte a terminal would act on rather than show.
bool isControl(unsigned char c) { return (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f; }

/// The invariants every stage's outcome keeps: a result xor errors, and
/// errors that render as printable text.
std::string checkOutcome(bool accepted, const DiagnosticEngine &diags) {
  if (accepted == diags.hasErrors())
    return accepted ? "accepted with errors:\n" + renderDiagnostics(diags) : "rejected without an error";
  for (const Diagnostic &d : diags.diagnostics())
    if (d.message.empty()) return "a diagnostic without a message";
  std::string rendered = renderDiagnostics(diags);
  if (diags.hasErrors() && rendered.empty()) return "errors that render as nothing";
  for (unsigned char c : rendered)
    if (isControl(c)) return fmt::format("a diagnostic echoes the control byte 0x{:02x}:\n{}", c, rendered);
  for (const Diagnostic &d : diags.diagnostics()) // by the mark: the message may quote the input
    if (d.compilerBug) return "a stage reports a compiler bug:\n" + rendered;
  return "";
}

/// An accepted graph verifies, and its text reads back to the same text.
std::string checkRoundTrip(const Graph &g) {
  DiagnosticEngine diags;
  if (!verify(g, diags)) return "an accepted graph does not verify:\n" + renderDiagnostics(diags);
  std::string text = printGraph(g);
  auto again = parseIR(sourceOf(text, "printed.ir"), diags);
  if (!again) return "the printed IR does not read back:\n" + renderDiagnostics(diags) + "\n" + text;
  std::string text2 = printGraph(*again);
  if (text2 != text) return "the printed IR reads back different:\n" + text + "\n---\n" + text2;
  return "";
}

} // namespace

std::string checkNetFrontEnd(std::string_view input) {
  if (input.size() > kMaxInput) return "";
  DiagnosticEngine diags;
  auto g = compileNet(sourceOf(input, "fuzz.net"), diags);
  std::string broken = checkOutcome(g != nullptr, diags);
  if (broken.empty() && g) broken = checkRoundTrip(*g);
  return broken;
}

std::string checkIRReader(std::string_view input) {
  if (input.size() > kMaxInput) return "";
  DiagnosticEngine diags;
  auto g = parseIR(sourceOf(input, "fuzz.ir"), diags);
  std::string broken = checkOutcome(g != nullptr, diags);
  if (broken.empty() && g) broken = checkRoundTrip(*g);
  return broken;
}

std::string checkPipeline(std::string_view input) {
  if (input.size() > kMaxInput) return "";
  DiagnosticEngine diags;
  bool isIR = input.substr(0, 5) == "graph";
  auto g = isIR ? parseIR(sourceOf(input, "fuzz.ir"), diags) : compileNet(sourceOf(input, "fuzz.net"), diags);
  std::string broken = checkOutcome(g != nullptr, diags);
  if (!broken.empty() || !g) return broken;
  PassContext ctx(diags);
  ctx.verifyEach = true;
  bool passed = runPipeline(g, defaultPipeline(), ctx);
  if (!(broken = checkOutcome(passed, diags)).empty() || !passed) return broken;
  int64_t capacity = g->train.getInt("batch", 64);
  Optimizer optimizer = g->train.getString("optimizer") == "adam" ? Optimizer::Adam : Optimizer::SGD;
  bool fits = checkLayoutLimits(*g, capacity, diags);
  if (!(broken = checkOutcome(fits, diags)).empty() || !fits) return broken;
  ModelLayout layout = planLayout(*g, capacity, optimizer);
  llvm::LLVMContext llctx;
  auto module = lowerModel(*g, layout, g->name, llctx, diags);
  if (!(broken = checkOutcome(module != nullptr, diags)).empty() || !module) return broken;
  std::string err;
  llvm::raw_string_ostream os(err);
  if (llvm::verifyModule(*module, &os)) return "the lowered module does not verify: " + os.str();
  return "";
}

//===- checkpoint load -----------------------------------------------------===//

namespace {

void noEntry(float *, int64_t) {}
void noStep(float *, int64_t, const float *) {}

/// A small fixed model: an input, two params with Adam state, an output.
/// Arena (capacity 4): x 0..8, A1 8, dA1 14, m 20, v 26, b 32, db 35, m 38,
/// v 41, y 44..56.
struct FixedModel {
  dlc_tensor_info infos[4] = {
      {"x", DLC_ROLE_INPUT, DLC_F32, 2, {-1, 2}},
      {"A1", DLC_ROLE_PARAM, DLC_F32, 2, {3, 2}},
      {"b", DLC_ROLE_PARAM, DLC_F32, 1, {3}},
      {"y", DLC_ROLE_OUTPUT, DLC_F32, 2, {-1, 3}},
  };
  dlc_rt_tensor tensors[4] = {
      {0, -1, {-1, -1}, 2, 1, 0, DLC_INIT_Zeros, 0, 0, 1, 1},
      {8, 14, {20, 26}, 6, 0, 0, DLC_INIT_Normal, 0, 1, 2, 3},
      {32, 35, {38, 41}, 3, 0, 0, DLC_INIT_Uniform, -1, 1, 1, 1},
      {44, -1, {-1, -1}, 3, 1, 0, DLC_INIT_Zeros, 0, 0, 1, 1},
  };
  double hyperDefaults[DLC_HYPER_SETTINGS] = {
#define DLC_HYPER(Id, key, gd, sgd, adam, sgdDefault, adamDefault, meaning) adamDefault,
#include "runtime/Hyperparameters.def"
  };
  dlc_api api{};
  dlc_rt_model desc{};
  FixedModel() {
    api.abi_version = DLC_ABI_VERSION;
    api.model_name = "fuzz";
    api.max_batch = 4;
    api.has_loss = 1;
    api.tensor_count = 4;
    api.tensors = infos;
    desc.api = &api;
    desc.tensors = tensors;
    desc.arena_size = 56;
    desc.optimizer = DLC_OPT_ADAM;
    desc.loss_offset = 44;
    desc.hyper_default = hyperDefaults;
    desc.forward = noEntry;
    desc.loss_and_grad = noEntry;
    desc.train_step = noStep;
    desc.update = noStep;
    desc.target_triple = desc.target_cpu = "";
  }
};

const FixedModel &fixedModel() {
  static FixedModel model;
  return model;
}

std::string temporaryPath(const char *suffix) {
  llvm::SmallString<128> path;
  llvm::sys::fs::getPotentiallyUniqueTempFileName("dlc-fuzz-load", suffix, path);
  return std::string(path);
}

bool readFile(const std::string &path, std::string &out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

/// What `m` saves, or an empty string when save fails.
std::string savedBytes(dlc_model *m, const std::string &path) {
  std::string bytes;
  if (dlc_rt_save(m, path.c_str()) != DLC_OK || !readFile(path, bytes)) return "";
  return bytes;
}

struct ModelHandle {
  dlc_model *m = nullptr;
  ~ModelHandle() { dlc_rt_destroy(m); }
};

} // namespace

std::string checkCheckpointLoad(std::string_view input) {
  if (input.size() > kMaxInput) return "";
  static const struct Files { // one pair per process, removed at exit
    std::string input = temporaryPath("in"), save = temporaryPath("out");
    ~Files() {
      std::remove(input.c_str());
      std::remove(save.c_str());
    }
  } files;
  const std::string &inputPath = files.input, &savePath = files.save;
  {
    std::ofstream out(inputPath, std::ios::binary | std::ios::trunc);
    out.write(input.data(), std::streamsize(input.size()));
    if (!out) return "cannot write the input file " + inputPath;
  }
  ModelHandle model, fresh;
  if (dlc_rt_create(&fixedModel().desc, 7, &model.m) != DLC_OK) return "create failed";
  std::string before = savedBytes(model.m, savePath);
  if (before.empty()) return "save failed before load";
  dlc_status s = dlc_rt_load(model.m, inputPath.c_str());
  std::string after = savedBytes(model.m, savePath);
  if (after.empty()) return fmt::format("save failed after load (status {}): {}", int(s), dlc_rt_last_error(model.m));
  if (s != DLC_OK) {
    if (std::string_view(dlc_rt_last_error(model.m)).empty()) return "a failed load without a message";
    return after == before ? "" : "a failed load changed the model";
  }
  // Accepted: what it saved reloads into a fresh model identically.
  if (dlc_rt_create(&fixedModel().desc, 8, &fresh.m) != DLC_OK) return "create failed";
  std::string copy = temporaryPath("copy");
  std::rename(savePath.c_str(), copy.c_str());
  s = dlc_rt_load(fresh.m, copy.c_str());
  std::string again = s == DLC_OK ? savedBytes(fresh.m, savePath) : "";
  std::remove(copy.c_str());
  if (s != DLC_OK) return std::string("an accepted checkpoint saves a file that does not load: ") + dlc_rt_last_error(fresh.m);
  return again == after ? "" : "an accepted checkpoint does not reload identically";
}

const std::vector<Target> &targets() {
  static const std::vector<Target> all = {
      {"net", checkNetFrontEnd}, {"ir", checkIRReader}, {"pipeline", checkPipeline}, {"load", checkCheckpointLoad}};
  return all;
}

} // namespace dlc::fuzz
