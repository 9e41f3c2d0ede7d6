//===- codegen/AOT.cpp ----------------------------------------------------===//
#include "codegen/AOT.h"

#include <fstream>
#include <unordered_map>

#include <llvm/ADT/StringExtras.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/Path.h>
#include <llvm/Support/Program.h>

#include "codegen/CNames.h"
#include "codegen/Descriptor.h"
#include "codegen/Layout.h"
#include "codegen/Lowering.h"
#include "codegen/ParallelCodegen.h"
#include "codegen/Target.h"

namespace dlc {

namespace {

#include "RuntimeSources.inc" // kRuntimeFiles: the C glue's sources, by path

/// How one model's source names are spelled in its generated C (CNames.h),
/// fixed once so that the .c and the .h agree.
struct CSpelling {
  std::string model;                                  ///< the prefix of the typed functions and the handle type
  std::unordered_map<const Node *, std::string> args; ///< inputs, labels and outputs as parameters
};

CSpelling spellNames(const Graph &g, const std::vector<ApiTensor> &tensors) {
  CSpelling s;
  s.model = CIdentifiers().make(g.name);
  // The typed functions' own parameters and locals, and the handle type.
  CIdentifiers args({"m", "n", "loss", "in", "out", "lab", "name", "data", "count", "key", "value", "path", "seed",
                     s.model});
  for (const ApiTensor &t : tensors) s.args[t.node] = args.make(t.node->name);
  return s;
}

/// "[n, 784]"-style comment for a buffer argument.
std::string shapeComment(const Node *n) {
  std::string s = "[";
  for (size_t i = 0; i < n->shape().size(); ++i) s += (i ? ", " : "") + (n->shape()[i].isSymbolic() ? std::string("n") : n->shape()[i].str());
  return s + "]";
}

const char *roleName(dlc_role role) {
  switch (role) {
  case DLC_ROLE_INPUT: return "DLC_ROLE_INPUT";
  case DLC_ROLE_LABEL: return "DLC_ROLE_LABEL";
  case DLC_ROLE_PARAM: return "DLC_ROLE_PARAM";
  case DLC_ROLE_OUTPUT: return "DLC_ROLE_OUTPUT";
  case DLC_ROLE_STATE: return "DLC_ROLE_STATE";
  }
  return "?";
}

struct Signature {
  std::string params; ///< ", const float *v0 /* [n, 784] */, ..."
  std::string setup;  ///< the pointer arrays
  std::string args;   ///< "in, out"
};

/// The typed argument list of forward or training calls.
Signature typedArgs(const std::vector<ApiTensor> &tensors, const CSpelling &spelling, bool training) {
  Signature sig;
  std::string inputs, labels, outputs;
  for (const ApiTensor &t : tensors) {
    const std::string &id = spelling.args.at(t.node);
    if (t.role == DLC_ROLE_INPUT) {
      sig.params += fmt::format(", const float *{} /* {} */", id, shapeComment(t.node));
      inputs += (inputs.empty() ? "" : ", ") + id;
    } else if (t.role == DLC_ROLE_LABEL && training) {
      sig.params += fmt::format(", const {} *{} /* {} */", t.isClassLabel ? "int32_t" : "float", id, shapeComment(t.node));
      labels += (labels.empty() ? "" : ", ") + std::string("(const void *)") + id;
    } else if (t.role == DLC_ROLE_OUTPUT && !training) {
      sig.params += fmt::format(", float *{} /* {} */", id, shapeComment(t.node));
      outputs += (outputs.empty() ? "" : ", ") + id;
    }
  }
  if (training) sig.params += ", float *loss";
  std::string in = inputs.empty() ? "NULL" : "in", lab = labels.empty() ? "NULL" : "lab", out = outputs.empty() ? "NULL" : "out";
  sig.setup = (inputs.empty() ? "" : "  const float *in[] = {" + inputs + "};\n") +
              (training ? (labels.empty() ? "" : "  const void *lab[] = {" + labels + "};\n")
                        : (outputs.empty() ? "" : "  float *out[] = {" + outputs + "};\n"));
  sig.args = training ? fmt::format("{}, {}, loss", in, lab) : fmt::format("{}, {}", in, out);
  return sig;
}

// C literals of the record's fields (runtime/TensorRecord.def).
std::string cValue(int64_t v) { return std::to_string(v); }
std::string cValue(int v) { return std::to_string(v); }
std::string cValue(double v) { return formatFloat(v); }
std::string cValue(dlc_init_kind kind) {
  switch (kind) {
#define DLC_INIT(Id, name, args, argNames, valid, draw, shift, scale) \
  case DLC_INIT_##Id: return "DLC_INIT_" #Id;
#include "runtime/Initializers.def"
  default: return std::to_string(int(kind));
  }
}
template <typename T, size_t N> std::string cValue(const T (&values)[N]) {
  std::string s;
  for (const T &v : values) s += (s.empty() ? "" : ", ") + cValue(v);
  return "{" + s + "}";
}

/// `{.offset = 0, .grad_offset = -1, ...}`: the record, field by field.
std::string cRecord(const dlc_rt_tensor &r) {
  std::string fields;
#define DLC_TENSOR_FIELD(type, name, array, meaning) \
  fields += std::string(fields.empty() ? "" : ", ") + "." #name " = " + cValue(r.name);
#include "runtime/TensorRecord.def"
  return "{" + fields + "}";
}

/// `{"A1", DLC_ROLE_PARAM, DLC_F32, 2, {128, 784}}`: the ABI's view of a tensor.
std::string cTensorInfo(const TensorDescription &t) {
  std::string dims;
  for (int64_t d : t.dims) dims += (dims.empty() ? "" : ", ") + std::to_string(d);
  return fmt::format("{{{}, {}, {}, {}, {{{}}}}}", cStringLiteral(t.name), roleName(t.api.role),
                     t.dtype() == DLC_I32 ? "DLC_I32" : "DLC_F32", t.dims.size(), dims.empty() ? "0" : dims);
}

/// The settings' defaults, one per line with its key.
std::string cHyperDefaults(const ModelDescription &desc) {
  std::string values;
#define DLC_HYPER(Id, key, gd, sgd, adam, sgdDefault, adamDefault, meaning) \
  values += fmt::format("  {}, /* {} */\n", formatFloat(desc.hyperDefaults[DLC_HYPER_##Id]), key);
#include "runtime/Hyperparameters.def"
  return values;
}

/// The C source that binds the glue to one model (the library's
/// model_desc.c): its tables, its dlc_rt_model and its dlc_api.
std::string generateDescriptor(const Graph &g, const ModelLayout &layout, const std::string &kernelPrefix,
                               const LibraryTarget &target) {
  ModelDescription desc = describeModel(g, layout);
  bool hasLoss = desc.lossOffset >= 0;
  std::string infos, records;
  for (const TensorDescription &t : desc.tensors) {
    infos += "  " + cTensorInfo(t) + ",\n";
    records += "  " + cRecord(t.record) + ",\n";
  }
  std::string training = hasLoss ? fmt::format("void {0}_loss_and_grad(float *arena, int64_t n);\n"
                                               "void {0}_train_step(float *arena, int64_t n, const float *hyper);\n"
                                               "void {0}_update(float *arena, int64_t n, const float *hyper);\n",
                                               kernelPrefix)
                                 : "";
  return fmt::format(
      R"(/* Generated by dlc for model '{model_comment}'. */
#include "model_runtime.h"

#include <stddef.h>

void {kernels}_forward(float *arena, int64_t n);
{training_decls}
static const dlc_tensor_info infos[] = {{
{infos}}};
static const dlc_rt_tensor tensors[] = {{
{records}}};
static const double hyper_default[DLC_HYPER_SETTINGS] = {{
{hyper_defaults}}};

static const dlc_api api;
static const dlc_rt_model model = {{
    .api = &api, .tensors = tensors, .arena_size = {arena_size}, .optimizer = {optimizer},
    .loss_offset = {loss_offset}, .dropout_key_offset = {dropout_key_offset}, .hyper_default = hyper_default, .forward = {kernels}_forward,
    .loss_and_grad = {loss_and_grad}, .train_step = {train_step}, .update = {update},
    .target_triple = {triple}, .target_cpu = {cpu}, .cpu_features = {features:#x}ull}};

static dlc_status create(uint64_t seed, dlc_model **out) {{ return dlc_rt_create(&model, seed, out); }}
static const dlc_api api = {{
    .abi_version = DLC_ABI_VERSION, .model_name = {model}, .max_batch = {max_batch}, .has_loss = {has_loss},
    .tensor_count = {tensor_count}, .tensors = infos, .create = create, .destroy = dlc_rt_destroy,
    .forward = dlc_rt_forward, .loss_and_grad = dlc_rt_loss_and_grad, .train_step = dlc_rt_train_step,
    .get_param = dlc_rt_get_param, .set_param = dlc_rt_set_param, .get_grad = dlc_rt_get_grad,
    .set_hyper = dlc_rt_set_hyper, .save = dlc_rt_save, .load = dlc_rt_load, .last_error = dlc_rt_last_error,
    .gradients = dlc_rt_gradients, .training_state = dlc_rt_training_state, .apply_update = dlc_rt_apply_update,
    .get_step = dlc_rt_step, .set_step = dlc_rt_set_step, .get_state = dlc_rt_get_state,
    .set_state = dlc_rt_set_state, .model_state = dlc_rt_model_state}};

__attribute__((visibility("default"))) const dlc_api *dlc_get_api(void) {{ return &api; }}
)",
      fmt::arg("model", cStringLiteral(g.name)), fmt::arg("model_comment", cCommentText(g.name)),
      fmt::arg("kernels", kernelPrefix), fmt::arg("training_decls", training),
      fmt::arg("infos", infos), fmt::arg("records", records), fmt::arg("hyper_defaults", cHyperDefaults(desc)),
      fmt::arg("arena_size", desc.arenaSize),
      fmt::arg("optimizer", desc.optimizer == DLC_OPT_ADAM ? "DLC_OPT_ADAM" : "DLC_OPT_SGD"),
      fmt::arg("loss_offset", desc.lossOffset), fmt::arg("dropout_key_offset", desc.dropoutKeyOffset),
      fmt::arg("loss_and_grad", hasLoss ? kernelPrefix + "_loss_and_grad" : "NULL"),
      fmt::arg("train_step", hasLoss ? kernelPrefix + "_train_step" : "NULL"),
      fmt::arg("update", hasLoss ? kernelPrefix + "_update" : "NULL"), fmt::arg("max_batch", layout.capacity),
      fmt::arg("has_loss", hasLoss ? 1 : 0), fmt::arg("tensor_count", desc.tensors.size()),
      fmt::arg("triple", cStringLiteral(target.triple)), fmt::arg("cpu", cStringLiteral(target.cpu)),
      fmt::arg("features", target.cpuFeatures));
}

/// The typed functions the library exports (declared in the header), each a
/// call of the glue.
std::string generateTypedFunctions(const Graph &g) {
  std::vector<ApiTensor> tensors = apiTensors(g);
  CSpelling spelling = spellNames(g, tensors);
  const std::string &name = spelling.model;
  Signature fwd = typedArgs(tensors, spelling, false), train = typedArgs(tensors, spelling, true);
  std::string out = fmt::format(R"(
#define DLC_EXPORT __attribute__((visibility("default")))
DLC_EXPORT int {name}_create(uint64_t seed, dlc_model **out) {{ return create(seed, out); }}
DLC_EXPORT void {name}_destroy(dlc_model *m) {{ dlc_rt_destroy(m); }}
DLC_EXPORT int {name}_forward(dlc_model *m, int64_t n{params}) {{
{setup}  return dlc_rt_forward(m, n, {args});
}}
DLC_EXPORT const char *{name}_last_error(const dlc_model *m) {{ return dlc_rt_last_error(m); }}
DLC_EXPORT int {name}_get_param(const dlc_model *m, const char *name, float *data, int64_t count) {{ return dlc_rt_get_param(m, name, data, count); }}
DLC_EXPORT int {name}_set_param(dlc_model *m, const char *name, const float *data, int64_t count) {{ return dlc_rt_set_param(m, name, data, count); }}
DLC_EXPORT int {name}_get_state(const dlc_model *m, const char *name, float *data, int64_t count) {{ return dlc_rt_get_state(m, name, data, count); }}
DLC_EXPORT int {name}_set_state(dlc_model *m, const char *name, const float *data, int64_t count) {{ return dlc_rt_set_state(m, name, data, count); }}
DLC_EXPORT int {name}_set_hyper(dlc_model *m, const char *key, double value) {{ return dlc_rt_set_hyper(m, key, value); }}
DLC_EXPORT int {name}_save(const dlc_model *m, const char *path) {{ return dlc_rt_save(m, path); }}
DLC_EXPORT int {name}_load(dlc_model *m, const char *path) {{ return dlc_rt_load(m, path); }}
)",
                                fmt::arg("name", name), fmt::arg("params", fwd.params), fmt::arg("setup", fwd.setup),
                                fmt::arg("args", fwd.args));
  if (g.result(Role::Loss))
    out += fmt::format(R"(DLC_EXPORT int {name}_get_grad(const dlc_model *m, const char *name, float *data, int64_t count) {{ return dlc_rt_get_grad(m, name, data, count); }}
DLC_EXPORT int {name}_loss_and_grad(dlc_model *m, int64_t n{params}) {{
{setup}  return dlc_rt_loss_and_grad(m, n, {args});
}}
DLC_EXPORT int {name}_train_step(dlc_model *m, int64_t n{params}) {{
{setup}  return dlc_rt_train_step(m, n, {args});
}}
)",
                       fmt::arg("name", name), fmt::arg("params", train.params), fmt::arg("setup", train.setup),
                       fmt::arg("args", train.args));
  return out;
}

bool writeFile(const std::string &path, const std::string &text, DiagnosticEngine &diags) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  out.close();
  if (!out) diags.error({}, "cannot write '{}'", path);
  return bool(out);
}

} // namespace

/// `"lr", "momentum", ...`: the keys of set_hyper (runtime/Hyperparameters.def).
std::string hyperKeys() {
  std::string keys;
#define DLC_HYPER(Id, key, gd, sgd, adam, sgdDefault, adamDefault, meaning) \
  keys += std::string(keys.empty() ? "" : ", ") + "\"" key "\"";
#include "runtime/Hyperparameters.def"
  return keys;
}

/// The header's lines that say which machines the library runs on.
std::string targetComment(const std::string &name, const LibraryTarget &target) {
  std::string needs = cpuFeatureNames(target.cpuFeatures), text;
  std::string line = fmt::format(" * Compiled for {}, CPU {}{}", cCommentText(target.triple), cCommentText(target.cpu),
                                 needs.empty() ? "." : ": it needs");
  for (llvm::StringRef word : llvm::split(needs, ", ")) {
    std::string next = " " + word.str() + ",";
    if (line.size() + next.size() > 78) {
      text += line + "\n";
      line = " *";
    }
    line += next;
  }
  if (!needs.empty()) line.back() = '.';
  text += line + "\n";
  if (!needs.empty())
    text += fmt::format(" * On a CPU without one of them {}_create fails with DLC_ERR_CPU (10).\n", name);
  return text;
}

std::string generateHeader(const Graph &g, int64_t capacity, const LibraryTarget &target) {
  std::vector<ApiTensor> tensors = apiTensors(g);
  CSpelling spelling = spellNames(g, tensors);
  const std::string &name = spelling.model;
  Signature fwd = typedArgs(tensors, spelling, false), train = typedArgs(tensors, spelling, true);
  std::string table;
  for (const ApiTensor &t : tensors)
    table += fmt::format(" *   {:<8} {:<12} {}{}\n", std::string(roleName(t.role)).substr(9), cCommentText(t.node->name),
                         t.isClassLabel ? "int32 class index " : "float ", shapeComment(t.node));
  std::string guard = "DLC_MODEL_" + name + "_H";
  for (char &c : guard) c = char(std::toupper((unsigned char)c));
  std::string training;
  if (g.result(Role::Loss))
    training = fmt::format(R"(
/* The batch-mean loss (plus penalties) and every param's gradient (see get_grad). */
int {name}_loss_and_grad({name} *m, int64_t n{params});
/* One optimizer step: loss_and_grad, then the update; *loss is the loss before it. */
int {name}_train_step({name} *m, int64_t n{params});
int {name}_get_grad(const {name} *m, const char *name, float *data, int64_t count);
)",
                           fmt::arg("name", name), fmt::arg("params", train.params));
  return fmt::format(R"(/* {name}.h - the C API of model '{model_comment}', generated by dlc.
 *
 * Link with {name}.so (it needs only libc and libm). Buffers hold n samples,
 * row-major, 1 <= n <= {capacity} (the batch capacity); "n" in a shape below is the
 * batch dim. Every int-returning call gives 0 on success or a dlc_status code
 * (see dlc/abi.h: 1 null pointer, 2 bad batch, 3 unknown name, 4 wrong size,
 * 5 value out of range, 6 out of memory, 7 no loss, 8 file error, 9 corrupt
 * checkpoint, 10 CPU without the library's features); {name}_last_error says why.
 *
{target_comment} *
 * Tensors:
{tensor_table} */
#ifndef {guard}
#define {guard}

#include <stdint.h>

/* What the library's code was compiled for (dlc --target, --cpu). */
#define {guard_prefix}_TARGET_TRIPLE {triple}
#define {guard_prefix}_TARGET_CPU {cpu}

#ifdef __cplusplus
extern "C" {{
#endif

typedef struct dlc_model {name};

/* A new instance: params from their initializers (seeded), state from its
 * own, optimizer state zero. */
int {name}_create(uint64_t seed, {name} **out);
void {name}_destroy({name} *m);
/* Why the last failing call on m (or create, with m null) failed. */
const char *{name}_last_error(const {name} *m);

/* The outputs for n samples. */
int {name}_forward({name} *m, int64_t n{forward_params});
{training}
/* Params by name; count must equal the param's element count. */
int {name}_get_param(const {name} *m, const char *name, float *data, int64_t count);
int {name}_set_param({name} *m, const char *name, const float *data, int64_t count);
/* Model state (the tensors marked "state" above: batch norm's running
 * statistics) by name: forward reads it, loss_and_grad and train_step write
 * it after the loss. */
int {name}_get_state(const {name} *m, const char *name, float *data, int64_t count);
int {name}_set_state({name} *m, const char *name, const float *data, int64_t count);
/* {hyper_keys}. */
int {name}_set_hyper({name} *m, const char *key, double value);
/* Checkpoints (safetensors: params, optimizer state, model state, step and
 * seed). save replaces
 * `path` atomically; load checks the whole file before changing anything. */
int {name}_save(const {name} *m, const char *path);
int {name}_load({name} *m, const char *path);

#ifdef __cplusplus
}}
#endif

#endif
)",
                     fmt::arg("name", name), fmt::arg("capacity", capacity), fmt::arg("tensor_table", table),
                     fmt::arg("guard", guard), fmt::arg("forward_params", fwd.params), fmt::arg("training", training),
                     fmt::arg("hyper_keys", hyperKeys()), fmt::arg("target_comment", targetComment(name, target)),
                     fmt::arg("guard_prefix", guard.substr(0, guard.size() - 2)),
                     fmt::arg("triple", cStringLiteral(target.triple)), fmt::arg("cpu", cStringLiteral(target.cpu)),
                     fmt::arg("model_comment", cCommentText(g.name)));
}

std::string cCompilerName(const std::string &triple, const std::string &cc) {
  return !cc.empty() ? cc : isHostTriple(triple) ? "cc" : triple + "-gcc";
}

bool buildSharedLibrary(const Graph &g, const AOTOptions &opts, DiagnosticEngine &diags) {
  int64_t capacity = opts.maxBatch > 0 ? opts.maxBatch : g.train.getInt("batch", 64);
  Optimizer optimizer = g.train.getString("optimizer") == "adam" ? Optimizer::Adam : Optimizer::SGD;
  std::string error;
  TargetSpec spec{opts.triple, opts.cpu.empty() ? defaultLibraryCPU(opts.triple) : opts.cpu};
  auto tm = createTargetMachine(spec, error);
  if (!tm) {
    diags.error({}, "{}", error);
    return false;
  }
  // The kernel follows the library's target; the blocks the host's caches
  // only for --cpu=native (the library runs where it is built).
  GemmConfig gemm = gemmConfigFor(*tm, spec.cpu == "native");
  if (!checkLayoutLimits(g, capacity, diags, gemm)) return false;
  ModelLayout layout = planLayout(g, capacity, optimizer, gemm);
  std::string kernelPrefix = "dlc_kernel_" + CIdentifiers().make(g.name);
  llvm::LLVMContext ctx;
  auto module = lowerModel(g, layout, kernelPrefix, ctx, diags);
  if (!module) return false;
  for (llvm::Function &f : *module)
    if (!f.isDeclaration() && !f.hasLocalLinkage()) // internal kernels have no visibility to set
      f.setVisibility(llvm::GlobalValue::HiddenVisibility);
  std::vector<std::string> objects;
  if (!compileModule(*module, *tm, opts.optLevel, opts.compileThreads, objects, error)) {
    diags.error({}, "{}", error);
    return false;
  }
  LibraryTarget target{tm->getTargetTriple().str(), tm->getTargetCPU().str(), requiredCpuFeatures(*tm)};

  llvm::SmallString<128> dir;
  if (auto ec = llvm::sys::fs::createUniqueDirectory("dlc-aot", dir)) {
    diags.error({}, "cannot create a temporary directory: {}", ec.message());
    return false;
  }
  auto path = [&](const char *leaf) { return (dir + "/" + leaf).str(); };
  llvm::sys::fs::create_directory(path("dlc"));
  bool ok = true;
  std::vector<std::string> objectPaths;
  for (size_t i = 0; i < objects.size() && ok; ++i) {
    objectPaths.push_back(path(("kernels" + std::to_string(i) + ".o").c_str()));
    ok = writeFile(objectPaths.back(), objects[i], diags);
  }
  for (const RuntimeFile &file : kRuntimeFiles) ok = ok && writeFile(path(file.path), file.text, diags);
  ok = ok && writeFile(path("model_desc.c"), generateDescriptor(g, layout, kernelPrefix, target) + generateTypedFunctions(g), diags);

  std::string tmpOut = opts.outputPath + ".tmp";
  if (ok) {
    std::string ccName = cCompilerName(opts.triple, opts.cc);
    auto cc = llvm::sys::findProgramByName(ccName);
    if (!cc) {
      diags.error({}, "no C compiler '{}' to link the library", ccName);
      ok = false;
    } else {
      // -Werror: generated C that draws a warning is a bug of dlc, not a library to ship. Without FMA
      // contraction: the initial params are the same on every machine (runtime/param_init.c).
      std::vector<std::string> args = {*cc, "-std=c99", "-O2", "-Wall", "-Werror", "-ffp-contract=off",
                                       "-fno-math-errno", "-fPIC", "-shared", "-fvisibility=hidden", "-I",
                                       dir.str().str()};
      for (const char *file : {"model_runtime.c", "checkpoint.c", "cpu_features.c", "param_init.c", "arena_memory.c",
                               "model_desc.c"})
        args.push_back(path(file));
      args.insert(args.end(), objectPaths.begin(), objectPaths.end());
      args.insert(args.end(), {"-o", tmpOut, "-lm"});
      std::vector<llvm::StringRef> argv(args.begin(), args.end());
      std::string log = path("cc.log");
      std::optional<llvm::StringRef> redirects[] = {std::nullopt, llvm::StringRef(log), llvm::StringRef(log)};
      int rc = llvm::sys::ExecuteAndWait(*cc, argv, std::nullopt, redirects, 0, 0, &error);
      if (rc != 0) {
        auto text = llvm::MemoryBuffer::getFile(log);
        diags.error({}, "linking '{}' failed ({}): {}", opts.outputPath, rc < 0 ? error : "exit " + std::to_string(rc),
                    text ? (*text)->getBuffer().str() : "");
        ok = false;
      }
    }
  }
  std::string headerPath = llvm::sys::path::parent_path(opts.outputPath).str();
  headerPath = (headerPath.empty() ? "" : headerPath + "/") + llvm::sys::path::stem(opts.outputPath).str() + ".h";
  if (ok) ok = writeFile(headerPath + ".tmp", generateHeader(g, capacity, target), diags);
  if (ok) {
    // Replace the old library and header only now that both are complete.
    if (auto ec = llvm::sys::fs::rename(tmpOut, opts.outputPath)) {
      diags.error({}, "cannot write '{}': {}", opts.outputPath, ec.message());
      ok = false;
    } else if (auto ec2 = llvm::sys::fs::rename(headerPath + ".tmp", headerPath)) {
      diags.error({}, "cannot write '{}': {}", headerPath, ec2.message());
      ok = false;
    }
  }
  llvm::sys::fs::remove(tmpOut);
  llvm::sys::fs::remove(headerPath + ".tmp");
  llvm::sys::fs::remove_directories(dir);
  return ok;
}

} // namespace dlc
