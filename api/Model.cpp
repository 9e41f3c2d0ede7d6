//===- api/Model.cpp - The C++ host API over the JIT ------------------===//
//
// Compiles through the same stages as the driver (front end, default pass
// pipeline, lowering), JIT-compiles the entry points, and runs them through
// the same C glue as a built library, with the tables built in memory.
//
//===----------------------------------------------------------------------===//
#include "dlc/dlc.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "codegen/CompileCache.h"
#include "codegen/Descriptor.h"
#include "codegen/Gemm.h"
#include "codegen/JIT.h"
#include "codegen/Lowering.h"
#include "codegen/ParallelCodegen.h"
#include "codegen/Target.h"
#include "frontend/IRGen.h"
#include "ir/PhaseTimer.h"
#include "runtime/model_runtime.h"

static_assert(dlc::kGemmMaxThreads == DLC_MAX_THREADS, "one packing workspace per pool thread");
#include "passes/Pass.h"

namespace dlc {

struct Model::Impl {
  std::unique_ptr<JIT> jit;
  std::vector<std::string> names; ///< owns the strings of `infos`
  std::vector<dlc_tensor_info> infos;
  std::vector<dlc_rt_tensor> tensors;
  double hyperDefaults[DLC_HYPER_SETTINGS];
  dlc_api api{};
  dlc_rt_model desc{};
  dlc_model *model = nullptr;
  std::string modelName;
  std::string targetTriple, targetCpu; ///< what the JIT compiled for (desc's target_triple, target_cpu)

  ~Impl() { dlc_rt_destroy(model); }
  int count(dlc_role role) const {
    int k = 0;
    for (const auto &t : infos) k += t.role == role;
    return k;
  }
  dlc_status sizeError(const char *what, size_t got, int want) {
    // The glue never sees these calls, so lastError() reports this message.
    last = std::string(what) + ": expected " + std::to_string(want) + " pointers, got " + std::to_string(got);
    return DLC_ERR_SIZE;
  }
  std::string last;

  /// Fills the tables the glue runs on (api, desc and what they point to) from `d`.
  void bindTables(const ModelDescription &d);
  /// Points desc at the JIT-compiled entry points; false, with the reason, if one is missing.
  bool bindEntryPoints(std::string &error);
};

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

const dlc_api &Model::api() const { return impl_->api; }
std::span<const dlc_tensor_info> Model::tensors() const { return impl_->infos; }
int64_t Model::maxBatch() const { return impl_->api.max_batch; }
int64_t Model::arenaBytes() const { return impl_->desc.arena_size * int64_t(sizeof(float)); }
bool Model::hasLoss() const { return impl_->api.has_loss != 0; }

dlc_status Model::forward(int64_t n, std::span<const float *const> inputs, std::span<float *const> outputs) {
  if (inputs.size() != size_t(impl_->count(DLC_ROLE_INPUT))) return impl_->sizeError("forward: inputs", inputs.size(), impl_->count(DLC_ROLE_INPUT));
  if (outputs.size() != size_t(impl_->count(DLC_ROLE_OUTPUT))) return impl_->sizeError("forward: outputs", outputs.size(), impl_->count(DLC_ROLE_OUTPUT));
  impl_->last.clear();
  return dlc_rt_forward(impl_->model, n, inputs.data(), outputs.data());
}

dlc_status Model::lossAndGrad(int64_t n, std::span<const float *const> inputs, std::span<const void *const> labels,
                              float *loss) {
  if (inputs.size() != size_t(impl_->count(DLC_ROLE_INPUT))) return impl_->sizeError("loss_and_grad: inputs", inputs.size(), impl_->count(DLC_ROLE_INPUT));
  if (labels.size() != size_t(impl_->count(DLC_ROLE_LABEL))) return impl_->sizeError("loss_and_grad: labels", labels.size(), impl_->count(DLC_ROLE_LABEL));
  impl_->last.clear();
  return dlc_rt_loss_and_grad(impl_->model, n, inputs.data(), labels.data(), loss);
}

dlc_status Model::trainStep(int64_t n, std::span<const float *const> inputs, std::span<const void *const> labels,
                            float *loss) {
  if (inputs.size() != size_t(impl_->count(DLC_ROLE_INPUT))) return impl_->sizeError("train_step: inputs", inputs.size(), impl_->count(DLC_ROLE_INPUT));
  if (labels.size() != size_t(impl_->count(DLC_ROLE_LABEL))) return impl_->sizeError("train_step: labels", labels.size(), impl_->count(DLC_ROLE_LABEL));
  impl_->last.clear();
  return dlc_rt_train_step(impl_->model, n, inputs.data(), labels.data(), loss);
}

dlc_status Model::getParam(const std::string &name, std::span<float> out) const {
  impl_->last.clear();
  return dlc_rt_get_param(impl_->model, name.c_str(), out.data(), int64_t(out.size()));
}
dlc_status Model::setParam(const std::string &name, std::span<const float> values) {
  impl_->last.clear();
  return dlc_rt_set_param(impl_->model, name.c_str(), values.data(), int64_t(values.size()));
}
float *Model::paramData(const std::string &name, int64_t count) {
  impl_->last.clear();
  return dlc_rt_param_data(impl_->model, name.c_str(), count);
}
dlc_status Model::getState(const std::string &name, std::span<float> out) const {
  impl_->last.clear();
  return dlc_rt_get_state(impl_->model, name.c_str(), out.data(), int64_t(out.size()));
}
dlc_status Model::setState(const std::string &name, std::span<const float> values) {
  impl_->last.clear();
  return dlc_rt_set_state(impl_->model, name.c_str(), values.data(), int64_t(values.size()));
}
dlc_status Model::getGrad(const std::string &name, std::span<float> out) const {
  impl_->last.clear();
  return dlc_rt_get_grad(impl_->model, name.c_str(), out.data(), int64_t(out.size()));
}
dlc_status Model::setHyper(const std::string &key, double value) {
  impl_->last.clear();
  return dlc_rt_set_hyper(impl_->model, key.c_str(), value);
}
dlc_status Model::save(const std::string &path) const {
  impl_->last.clear();
  return dlc_rt_save(impl_->model, path.c_str());
}
dlc_status Model::load(const std::string &path) {
  impl_->last.clear();
  return dlc_rt_load(impl_->model, path.c_str());
}
int64_t Model::step() const { return dlc_rt_step(impl_->model); }
dlc_status Model::setStep(int64_t step) {
  impl_->last.clear();
  return dlc_rt_set_step(impl_->model, step);
}
std::span<float> Model::gradients() {
  float *data = nullptr;
  int64_t count = 0;
  if (dlc_rt_gradients(impl_->model, &data, &count) != DLC_OK) return {};
  return {data, size_t(count)};
}
std::span<float> Model::modelState() {
  float *data = nullptr;
  int64_t count = 0;
  if (dlc_rt_model_state(impl_->model, &data, &count) != DLC_OK) return {};
  return {data, size_t(count)};
}
std::span<float> Model::trainingState() {
  float *data = nullptr;
  int64_t count = 0;
  if (dlc_rt_training_state(impl_->model, &data, &count) != DLC_OK) return {};
  return {data, size_t(count)};
}
dlc_status Model::applyUpdate() {
  impl_->last.clear();
  return dlc_rt_apply_update(impl_->model);
}
double Model::hyper(const std::string &key) const { return dlc_rt_get_hyper(impl_->model, key.c_str()); }
const char *Model::lastError() const {
  return impl_->last.empty() ? dlc_rt_last_error(impl_->model) : impl_->last.c_str();
}

namespace {

void collect(const DiagnosticEngine &diags, CompileResult &r) {
  for (const Diagnostic &d : diags.diagnostics()) {
    static const char *sev[] = {"error", "warning", "note"};
    r.messages.push_back({sev[int(d.severity)], d.loc.file ? d.loc.file->name : "", d.loc.line, d.loc.col, d.message});
  }
  r.rendered = renderDiagnostics(diags);
}

CompileResult failWith(const std::string &file, const std::string &text) {
  CompileResult r;
  r.messages.push_back({"error", file, 0, 0, text});
  r.rendered = file + ": error: " + text + "\n";
  return r;
}

} // namespace

namespace {

/// Applies CompileOptions::optimizer ("sgd", "momentum", "nesterov", "adam")
/// to the train block; false for an unknown name.
bool overrideOptimizer(Graph &g, const std::string &o) {
  if (o != "sgd" && o != "momentum" && o != "nesterov" && o != "adam") return false;
  if (o != g.train.getString("optimizer", "sgd") && !(o != "adam" && g.train.getString("optimizer", "sgd") == "sgd"))
    g.train.erase("lr"); // the block's rate was for another optimizer: the new one's default
  g.train.set("optimizer", std::string(o == "adam" ? "adam" : "sgd"));
  if (o != "adam") {
    g.train.set("momentum", o == "sgd" ? 0.0 : 0.9);
    g.train.set("nesterov", o == "nesterov" ? 1.0 : 0.0);
  }
  return true;
}

} // namespace

namespace {

/// The model's object files for this host: from the compile cache when it
/// holds the key, else lowered, optimized and compiled on
/// options.compileThreads threads (then stored; a cache that cannot be
/// written only costs the next run the compile).
std::optional<std::vector<std::string>> objectCode(const Graph &g, const ModelLayout &layout,
                                                   const CompileOptions &options, llvm::TargetMachine &tm,
                                                   DiagnosticEngine &diags, bool &fromCache, bool &kernelsFromCache,
                                                   std::string &error) {
  std::optional<CompileCache> cache;
  std::string key;
  if (options.cache) {
    cache.emplace(options.cacheDir);
    key = compileCacheKey(g, layout, "dlc_jit", tm, options.optLevel);
    if (std::optional<std::string> code = cache->load(key))
      if (auto objects = unpackObjects(*code)) {
        fromCache = true;
        return objects;
      }
  }
  llvm::LLVMContext ctx;
  auto module = lowerModel(g, layout, "dlc_jit", ctx, diags);
  if (!module) return std::nullopt;
  // The GEMM's kernel library, when the model calls it: its objects from the
  // kernel cache, else all of it compiled with the model and stored there
  // (codegen/ParallelCodegen.h).
  std::optional<CompileCache> kernels;
  std::optional<KernelLibraryCache> library;
  bool callsGemm = std::any_of(module->begin(), module->end(),
                               [](const llvm::Function &f) { return !f.isDeclaration() && isGemmLibraryFunction(f); });
  if (options.kernelCache && callsGemm) {
    kernels.emplace(options.cacheDir);
    library = KernelLibraryCache{&*kernels, kernelLibraryCacheKey(layout.gemm, tm, options.optLevel), layout.gemm, {}};
    if (std::optional<std::string> code = kernels->load(library->key))
      if (auto objects = unpackObjects(*code)) library->objects = std::move(*objects);
  }
  kernelsFromCache = library && !library->objects.empty();
  std::vector<std::string> objects;
  if (!compileModule(*module, tm, options.optLevel, options.compileThreads, objects, error, library ? &*library : nullptr))
    return std::nullopt;
  std::string ignored;
  if (cache) cache->store(key, packObjects(objects), ignored);
  return objects;
}

} // namespace

void Model::Impl::bindTables(const ModelDescription &d) {
  modelName = d.name;
  names.reserve(d.tensors.size());
  for (const TensorDescription &t : d.tensors) {
    names.push_back(t.name);
    dlc_tensor_info info{};
    info.role = t.api.role;
    info.dtype = t.dtype();
    info.rank = int(t.dims.size());
    for (size_t i = 0; i < t.dims.size() && i < DLC_MAX_RANK; ++i) info.dims[i] = t.dims[i];
    infos.push_back(info);
    tensors.push_back(t.record);
  }
  for (size_t i = 0; i < infos.size(); ++i) infos[i].name = names[i].c_str();
  std::copy(std::begin(d.hyperDefaults), std::end(d.hyperDefaults), hyperDefaults);

  api.abi_version = DLC_ABI_VERSION;
  api.model_name = modelName.c_str();
  api.max_batch = d.capacity;
  api.has_loss = d.lossOffset >= 0;
  api.tensor_count = int(infos.size());
  api.tensors = infos.data();
  api.destroy = dlc_rt_destroy;
  api.forward = dlc_rt_forward;
  api.loss_and_grad = dlc_rt_loss_and_grad;
  api.train_step = dlc_rt_train_step;
  api.get_param = dlc_rt_get_param;
  api.set_param = dlc_rt_set_param;
  api.get_grad = dlc_rt_get_grad;
  api.set_hyper = dlc_rt_set_hyper;
  api.save = dlc_rt_save;
  api.load = dlc_rt_load;
  api.last_error = dlc_rt_last_error;
  api.gradients = dlc_rt_gradients;
  api.training_state = dlc_rt_training_state;
  api.apply_update = dlc_rt_apply_update;
  api.get_step = dlc_rt_step;
  api.set_step = dlc_rt_set_step;
  api.get_state = dlc_rt_get_state;
  api.set_state = dlc_rt_set_state;
  api.model_state = dlc_rt_model_state;

  desc.api = &api;
  desc.tensors = tensors.data();
  desc.arena_size = d.arenaSize;
  desc.optimizer = d.optimizer;
  desc.loss_offset = d.lossOffset;
  desc.dropout_key_offset = d.dropoutKeyOffset;
  desc.hyper_default = hyperDefaults;
}

bool Model::Impl::bindEntryPoints(std::string &error) {
  using Entry = void (*)(float *, int64_t);
  desc.forward = reinterpret_cast<Entry>(jit->lookup("dlc_jit_forward", error));
  if (api.has_loss) {
    desc.loss_and_grad = reinterpret_cast<Entry>(jit->lookup("dlc_jit_loss_and_grad", error));
    using Step = void (*)(float *, int64_t, const float *);
    desc.train_step = reinterpret_cast<Step>(jit->lookup("dlc_jit_train_step", error));
    desc.update = reinterpret_cast<Step>(jit->lookup("dlc_jit_update", error));
  }
  return desc.forward && (!api.has_loss || (desc.loss_and_grad && desc.train_step && desc.update));
}

CompileResult compileSource(const std::string &name, const std::string &text, const CompileOptions &options) {
  try {
    // A lambda has the access of this friend of Model (it constructs one).
    return [&]() -> CompileResult {
      CompileResult result;
      auto file = std::make_shared<SourceFile>();
      file->name = name;
      file->text = text;
      DiagnosticEngine diags;
      std::unique_ptr<Graph> g = compileNet(file, diags);
      PassContext ctx(diags);
      std::vector<std::string> pipeline = defaultPipeline();
      if (options.remat == "memory") pipeline.push_back("remat");
      else if (!options.remat.empty()) return failWith(name, "remat must be empty or \"memory\"");
      if (g && !runPipeline(g, pipeline, ctx)) g.reset();
      if (!g) {
        collect(diags, result);
        return result;
      }
      if (options.optLevel < 0 || options.optLevel > 3) return failWith(name, "optLevel must be 0..3");
      if (options.maxBatch < 0) return failWith(name, "maxBatch must be positive");
      int64_t capacity = options.maxBatch > 0 ? options.maxBatch : g->train.getInt("batch", 64);
      if (!options.optimizer.empty() && !overrideOptimizer(*g, options.optimizer))
        return failWith(name, "unknown optimizer '" + options.optimizer + "' (sgd, momentum, nesterov or adam)");
      Optimizer opt = g->train.getString("optimizer") == "adam" ? Optimizer::Adam : Optimizer::SGD;
      std::string error;
      auto tm = createTargetMachine({"", options.cpu.empty() ? "native" : options.cpu}, error);
      if (!tm) return failWith(name, error);
      GemmConfig gemm = gemmConfigFor(*tm, /*runsHere=*/true);
      if (!checkLayoutLimits(*g, capacity, diags, gemm)) {
        collect(diags, result);
        return result;
      }
      ModelLayout layout = planLayout(*g, capacity, opt, gemm);
      std::optional<std::vector<std::string>> code =
          objectCode(*g, layout, options, *tm, diags, result.fromCache, result.kernelsFromCache, error);
      if (!code && diags.hasErrors()) {
        collect(diags, result);
        return result;
      }
      auto impl = std::make_unique<Model::Impl>();
      {
        PhaseTimer linking("JIT link and symbol lookup");
        if (code) impl->jit = JIT::create(error);
        if (!code || !impl->jit) return failWith(name, "JIT: " + error);
        for (const std::string &object : *code)
          if (!impl->jit->addObject(object, error)) return failWith(name, "JIT: " + error);
        impl->bindTables(describeModel(*g, layout));
        impl->targetTriple = tm->getTargetTriple().str(), impl->targetCpu = tm->getTargetCPU().str();
        impl->desc.target_triple = impl->targetTriple.c_str(), impl->desc.target_cpu = impl->targetCpu.c_str();
        impl->desc.cpu_features = requiredCpuFeatures(*tm); // create refuses a CPU lacking them
        if (!impl->bindEntryPoints(error)) return failWith(name, "JIT: " + error);
      }
      {
        PhaseTimer creating("model creation (arena, initializers)");
        if (dlc_rt_create(&impl->desc, options.seed, &impl->model) != DLC_OK)
          return failWith(name, dlc_rt_last_error(nullptr));
      }
      collect(diags, result); // warnings, if any
      result.model.reset(new Model(std::move(impl)));
      return result;
    }();
  } catch (const std::exception &e) { // a compiler bug: an error for the host, never an abort
    return failWith(name, std::string("internal: ") + e.what());
  }
}

CompileResult compileString(const std::string &source, const CompileOptions &options) {
  return compileSource(options.sourceName, source, options);
}

CompileResult compileFile(const std::string &path, const CompileOptions &options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return failWith(path, "cannot read file");
  std::stringstream ss;
  ss << in.rdbuf();
  return compileSource(path, ss.str(), options);
}

} // namespace dlc
