//===- tools/dlc/OnnxCommands.cpp - `dlc import` and `--emit=onnx` --------===//
//
// Thin: reads and writes files, calls onnx/ for the conversions and the C++
// API for param values, prints and picks exit codes. Built without ONNX
// support (no libonnx-dev), both commands say how to get it.
//
//===----------------------------------------------------------------------===//
#include "OnnxCommands.h"

#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <llvm/ADT/SmallString.h>
#include <llvm/Support/Path.h>
#include <llvm/Support/raw_ostream.h>

#include "dlc/dlc.hpp"
#include "frontend/IRGen.h"
#include "passes/Pass.h"
#ifdef DLC_HAVE_ONNX
#include "onnx/OnnxExport.h"
#include "onnx/OnnxImport.h"
#endif

namespace cl = llvm::cl;

namespace dlc {

cl::OptionCategory &onnxCategory() {
  static cl::OptionCategory category("dlc ONNX options");
  return category;
}

cl::SubCommand &importSubCommand() {
  static cl::SubCommand command("import", "Import an ONNX model as a .net file and a checkpoint of its weights");
  return command;
}

namespace {

cl::opt<std::string> importInput(cl::Positional, cl::desc("<model.onnx>"), cl::Required, cl::sub(importSubCommand()),
                                 cl::cat(onnxCategory()));
cl::opt<std::string> importOutput("o", cl::desc("The .net file to write (the checkpoint goes beside it, .safetensors)"),
                                  cl::value_desc("model.net"), cl::Required, cl::sub(importSubCommand()),
                                  cl::cat(onnxCategory()));
cl::opt<std::string> importName("name", cl::desc("The model's name (default: from the output file)"),
                                cl::sub(importSubCommand()), cl::cat(onnxCategory()));
cl::opt<std::string> importLoss("loss",
                                cl::desc("The loss to add: auto (cross_entropy for one vector output, else none), "
                                         "cross_entropy, square or none"),
                                cl::init("auto"), cl::sub(importSubCommand()), cl::cat(onnxCategory()));
cl::opt<std::string> exportCheckpoint("checkpoint",
                                      cl::desc("With --emit=onnx: the trained params (default: the initializers, seed 0)"),
                                      cl::value_desc("file"), cl::cat(onnxCategory()));

int fail(const std::string &message) {
  llvm::errs() << message << (message.empty() || message.back() == '\n' ? "" : "\n");
  return 1;
}

} // namespace

#ifdef DLC_HAVE_ONNX

static bool readBytes(const std::string &path, std::string &out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

/// An identifier from a file name: `my-model.net` -> `my_model`.
static std::string modelNameFrom(const std::string &path) {
  std::string stem = llvm::sys::path::stem(path).str(), name;
  for (char c : stem) name += std::isalnum((unsigned char)c) ? c : '_';
  if (name.empty() || std::isdigit((unsigned char)name[0])) name = "m" + name;
  return name;
}

int importMain() {
  using namespace onnx_import;
  std::string bytes;
  if (!readBytes(importInput, bytes)) return fail(fmt::format("{}: error: cannot read file", importInput.getValue()));
  ImportOptions options;
  options.sourceName = importInput;
  options.modelName = importName.empty() ? modelNameFrom(importOutput) : importName.getValue();
  static const std::map<std::string, LossKind> losses = {{"auto", LossKind::Auto}, {"cross_entropy", LossKind::CrossEntropy},
                                                         {"square", LossKind::Square}, {"none", LossKind::None}};
  if (!losses.count(importLoss)) return fail("dlc import: error: --loss takes auto, cross_entropy, square or none");
  options.loss = losses.at(importLoss);
  auto imported = importOnnx(bytes, options);
  if (!imported) return fail(llvm::toString(imported.takeError()));
  // The text must compile: check it before writing anything.
  DiagnosticEngine diags;
  auto file = std::make_shared<SourceFile>();
  file->name = importOutput;
  file->text = imported->netText;
  if (!compileNet(file, diags))
    return fail("dlc import: internal error: the generated .net does not compile:\n" + renderDiagnostics(diags) +
                imported->netText);
  llvm::SmallString<256> checkpoint(importOutput.getValue());
  llvm::sys::path::replace_extension(checkpoint, ".safetensors");
  if (llvm::Error e = writeCheckpoint(checkpoint.str().str(), imported->modelName, imported->params))
    return fail("dlc import: error: " + llvm::toString(std::move(e)));
  std::error_code ec;
  llvm::raw_fd_ostream out(importOutput, ec);
  if (ec) return fail(fmt::format("dlc import: error: cannot write '{}': {}", importOutput.getValue(), ec.message()));
  out << imported->netText;
  int64_t values = 0;
  for (const NamedTensor &p : imported->params) values += int64_t(p.values.size());
  llvm::outs() << fmt::format("imported {}: model '{}' with {} params ({} values) -> {}, {}\n", importInput.getValue(),
                              imported->modelName, imported->params.size(), values, importOutput.getValue(),
                              checkpoint.str());
  return 0;
}

int emitOnnx(const std::string &sourceName, const std::string &source, std::unique_ptr<Graph> g,
             const std::string &outputPath) {
  if (outputPath == "-") return fail("dlc: error: --emit=onnx needs -o FILE.onnx");
  // The param values: a compiled model's (seed 0), or the checkpoint's,
  // which `load` checks name by name and shape by shape.
  CompileOptions options;
  options.sourceName = sourceName;
  CompileResult compiled = compileString(source, options);
  if (!compiled) return fail(compiled.rendered);
  if (!exportCheckpoint.empty() && compiled.model->load(exportCheckpoint) != DLC_OK)
    return fail(fmt::format("dlc: error: {}", compiled.model->lastError()));
  onnx_export::ParamValues values;
  for (const dlc_tensor_info &t : compiled.model->tensors()) {
    if (t.role != DLC_ROLE_PARAM) continue;
    int64_t count = 1;
    for (int r = 0; r < t.rank; ++r) count *= t.dims[r] < 0 ? 1 : t.dims[r];
    std::vector<float> v(static_cast<size_t>(count));
    if (compiled.model->getParam(t.name, v) != DLC_OK) return fail(compiled.model->lastError());
    values[t.name] = std::move(v);
  }
  DiagnosticEngine diags;
  PassContext ctx(diags);
  if (!runPipeline(g, {"batch"}, ctx)) return fail(renderDiagnostics(diags));
  auto bytes = onnx_export::exportOnnx(*g, values);
  if (!bytes) return fail(llvm::toString(bytes.takeError()));
  std::string tmp = outputPath + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(bytes->data(), std::streamsize(bytes->size()));
    if (!out.flush()) return fail(fmt::format("dlc: error: cannot write '{}'", tmp));
  }
  if (std::rename(tmp.c_str(), outputPath.c_str()) != 0)
    return fail(fmt::format("dlc: error: cannot write '{}'", outputPath));
  return 0;
}

#else

static const char *kNoOnnx = "dlc: error: this dlc was built without ONNX support; install libonnx-dev, "
                             "libprotobuf-dev and protobuf-compiler (scripts/setup.sh does) and rebuild";
int importMain() { return fail(kNoOnnx); }
int emitOnnx(const std::string &, const std::string &, std::unique_ptr<Graph>, const std::string &) {
  return fail(kNoOnnx);
}

#endif

} // namespace dlc
