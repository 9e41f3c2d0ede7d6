//===- python/dlc_module.cpp - `import dlc`: the C++ API for NumPy --------===//
//
//   import dlc, numpy as np
//   m = dlc.compile("examples/mnist_mlp.net", batch=64)
//   loss = m.train_step(x, y)          # x: float32 [n, 784], y: int32 [n]
//   p = m.forward(x)                   # float32 [n, 10]
//   m.params["A1"][:] = 0              # a view of the model's own memory
//
// One class drives both a JIT-compiled model (dlc::Model) and a library
// built by `dlc model.net -o model.so` (through its dlc_api table). Arrays
// are checked against the tensor table before any call: a wrong dtype or
// shape raises ValueError naming the tensor.
//
//===----------------------------------------------------------------------===//
#include <dlfcn.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "dlc/dlc.hpp"
#include "frontend/IRGen.h"
#include "frontend/Parser.h"
#include "ir/Printer.h"
#include "passes/Pass.h"

namespace py = pybind11;

namespace {

py::handle compileErrorType; // dlc.CompileError (a ValueError), owned by the module

class PyModel {
public:
  /// A JIT-compiled model and the source it came from (for ir()).
  PyModel(std::unique_ptr<dlc::Model> m, std::string source, std::string name)
      : jit_(std::move(m)), source_(std::move(source)), sourceName_(std::move(name)) {
    tensors_.assign(jit_->tensors().begin(), jit_->tensors().end());
    maxBatch_ = jit_->maxBatch();
    hasLoss_ = jit_->hasLoss();
  }
  /// A library's instance.
  PyModel(void *lib, const dlc_api *api, dlc_model *m) : lib_(lib), api_(api), handle_(m) {
    tensors_.assign(api->tensors, api->tensors + api->tensor_count);
    maxBatch_ = api->max_batch;
    hasLoss_ = api->has_loss != 0;
  }
  ~PyModel() {
    if (handle_) api_->destroy(handle_);
    // The library stays loaded: arrays handed out may still point into it.
  }

  py::object forward(py::args args);
  py::tuple lossAndGrad(py::object x, py::object y);
  float trainStep(py::object x, py::object y);
  py::dict params(py::object self);
  py::dict state() const;
  void setState(const std::string &name, py::array values);
  void setParam(const std::string &name, py::array values);
  void save(const std::string &path) { check(jit_ ? jit_->save(path) : api_->save(handle_, path.c_str()), "save"); }
  void load(const std::string &path) { check(jit_ ? jit_->load(path) : api_->load(handle_, path.c_str()), "load"); }
  void setHyper(const std::string &key, double value) {
    check(jit_ ? jit_->setHyper(key, value) : api_->set_hyper(handle_, key.c_str(), value), "set_hyper");
  }
  std::string ir(const std::string &stage) const;
  int64_t maxBatch() const { return maxBatch_; }
  std::vector<std::string> names(dlc_role role) const {
    std::vector<std::string> out;
    for (const auto &t : tensors_)
      if (t.role == role) out.push_back(t.name);
    return out;
  }

private:
  const char *lastError() const { return jit_ ? jit_->lastError() : api_->last_error(handle_); }
  void check(dlc_status s, const char *what) const {
    if (s == DLC_OK) return;
    std::string msg = fmt::format("{}: {}", what, lastError());
    if (s == DLC_ERR_IO) throw py::value_error(msg); // pybind11 has no OSError helper; ValueError says what failed
    throw std::runtime_error(msg);
  }
  std::vector<int64_t> sampleDims(const dlc_tensor_info &t) const {
    std::vector<int64_t> d;
    for (int r = 0; r < t.rank; ++r)
      if (t.dims[r] >= 0) d.push_back(t.dims[r]);
    return d;
  }
  int64_t count(const dlc_tensor_info &t) const {
    int64_t n = 1;
    for (int64_t d : sampleDims(t)) n *= d;
    return n;
  }
  /// Checks one array against its tensor; returns it C-contiguous. n is the
  /// batch (set by the first array, checked against the others).
  py::array checked(py::handle obj, const dlc_tensor_info &t, int64_t &n) const;
  /// The arrays for the tensors of `role`: one array, or a list/tuple of them.
  std::vector<py::array> arraysFor(py::object given, dlc_role role, int64_t &n) const;

  std::unique_ptr<dlc::Model> jit_;
  void *lib_ = nullptr;
  const dlc_api *api_ = nullptr;
  dlc_model *handle_ = nullptr;
  std::string source_, sourceName_;
  std::vector<dlc_tensor_info> tensors_;
  int64_t maxBatch_ = 0;
  bool hasLoss_ = false;
};

const char *roleName(dlc_role r) {
  switch (r) {
  case DLC_ROLE_INPUT: return "input";
  case DLC_ROLE_LABEL: return "label";
  case DLC_ROLE_PARAM: return "param";
  case DLC_ROLE_STATE: return "state";
  default: return "output";
  }
}

py::array PyModel::checked(py::handle obj, const dlc_tensor_info &t, int64_t &n) const {
  if (!py::isinstance<py::array>(obj))
    throw py::value_error(fmt::format("{} '{}': expected a NumPy array, got {}", roleName(t.role), t.name,
                                      std::string(py::str(obj.get_type().attr("__name__")))));
  py::array a = py::reinterpret_borrow<py::array>(obj);
  bool isInt = t.dtype == DLC_I32;
  py::dtype want = isInt ? py::dtype::of<int32_t>() : py::dtype::of<float>();
  if (!a.dtype().is(want))
    throw py::value_error(fmt::format("{} '{}': expected dtype {}, got {}", roleName(t.role), t.name,
                                      isInt ? "int32" : "float32", std::string(py::str(a.dtype()))));
  std::vector<int64_t> dims = sampleDims(t);
  std::vector<int64_t> got(a.shape(), a.shape() + a.ndim());
  bool ok = got.size() == dims.size() + 1 && std::equal(dims.begin(), dims.end(), got.begin() + 1);
  std::string want_shape = fmt::format("(n{}{})", dims.empty() ? "" : ", ", fmt::join(dims, ", "));
  if (!ok)
    throw py::value_error(fmt::format("{} '{}': expected shape {}, got ({})", roleName(t.role), t.name, want_shape,
                                      fmt::join(got, ", ")));
  if (n < 0) n = got[0];
  if (got[0] != n)
    throw py::value_error(fmt::format("{} '{}': batch of {}, but another array has {}", roleName(t.role), t.name, got[0], n));
  if (n < 1 || n > maxBatch_)
    throw py::value_error(fmt::format("{} '{}': batch of {} outside 1..{} (compile with a larger batch=)",
                                      roleName(t.role), t.name, n, maxBatch_));
  return py::array::ensure(a, py::array::c_style);
}

std::vector<py::array> PyModel::arraysFor(py::object given, dlc_role role, int64_t &n) const {
  std::vector<const dlc_tensor_info *> want;
  for (const auto &t : tensors_)
    if (t.role == role) want.push_back(&t);
  std::vector<py::handle> items;
  if (py::isinstance<py::list>(given) || py::isinstance<py::tuple>(given))
    for (py::handle h : given) items.push_back(h);
  else
    items.push_back(given);
  if (items.size() != want.size())
    throw py::value_error(fmt::format("expected {} {} array(s), got {}", want.size(), roleName(role), items.size()));
  std::vector<py::array> out;
  for (size_t i = 0; i < items.size(); ++i) out.push_back(checked(items[i], *want[i], n));
  return out;
}

py::object PyModel::forward(py::args args) {
  int64_t n = -1;
  py::object given = args.size() == 1 ? py::object(args[0]) : py::object(args);
  std::vector<py::array> inputs = arraysFor(given, DLC_ROLE_INPUT, n);
  std::vector<const float *> in;
  for (auto &a : inputs) in.push_back(static_cast<const float *>(a.data()));
  std::vector<py::array_t<float>> outs;
  std::vector<float *> out;
  for (const auto &t : tensors_) {
    if (t.role != DLC_ROLE_OUTPUT) continue;
    std::vector<py::ssize_t> shape{py::ssize_t(n)};
    for (int64_t d : sampleDims(t)) shape.push_back(py::ssize_t(d));
    outs.emplace_back(shape);
    out.push_back(outs.back().mutable_data());
  }
  {
    py::gil_scoped_release release;
    dlc_status s = jit_ ? jit_->forward(n, in, out) : api_->forward(handle_, n, in.data(), out.data());
    if (s != DLC_OK) {
      py::gil_scoped_acquire again;
      check(s, "forward");
    }
  }
  if (outs.size() == 1) return outs[0];
  py::tuple t(outs.size());
  for (size_t i = 0; i < outs.size(); ++i) t[i] = outs[i];
  return t;
}

py::tuple PyModel::lossAndGrad(py::object x, py::object y) {
  if (!hasLoss_) throw py::value_error("the model has no loss");
  int64_t n = -1;
  std::vector<py::array> inputs = arraysFor(x, DLC_ROLE_INPUT, n), labels = arraysFor(y, DLC_ROLE_LABEL, n);
  std::vector<const float *> in;
  std::vector<const void *> lab;
  for (auto &a : inputs) in.push_back(static_cast<const float *>(a.data()));
  for (auto &a : labels) lab.push_back(a.data());
  float loss = 0;
  check(jit_ ? jit_->lossAndGrad(n, in, lab, &loss) : api_->loss_and_grad(handle_, n, in.data(), lab.data(), &loss),
        "loss_and_grad");
  py::dict grads;
  for (const auto &t : tensors_) {
    if (t.role != DLC_ROLE_PARAM) continue;
    std::vector<py::ssize_t> shape;
    for (int64_t d : sampleDims(t)) shape.push_back(py::ssize_t(d));
    py::array_t<float> g(shape);
    std::span<float> buf(g.mutable_data(), size_t(count(t)));
    check(jit_ ? jit_->getGrad(t.name, buf) : api_->get_grad(handle_, t.name, buf.data(), int64_t(buf.size())), "grad");
    grads[py::str(t.name)] = g;
  }
  return py::make_tuple(loss, grads);
}

float PyModel::trainStep(py::object x, py::object y) {
  if (!hasLoss_) throw py::value_error("the model has no loss, so it cannot be trained");
  int64_t n = -1;
  std::vector<py::array> inputs = arraysFor(x, DLC_ROLE_INPUT, n), labels = arraysFor(y, DLC_ROLE_LABEL, n);
  std::vector<const float *> in;
  std::vector<const void *> lab;
  for (auto &a : inputs) in.push_back(static_cast<const float *>(a.data()));
  for (auto &a : labels) lab.push_back(a.data());
  float loss = 0;
  dlc_status s;
  {
    py::gil_scoped_release release;
    s = jit_ ? jit_->trainStep(n, in, lab, &loss) : api_->train_step(handle_, n, in.data(), lab.data(), &loss);
  }
  check(s, "train_step");
  return loss;
}

/// The model state (batch norm's running statistics) by name, as copies.
py::dict PyModel::state() const {
  py::dict out;
  for (const auto &t : tensors_) {
    if (t.role != DLC_ROLE_STATE) continue;
    std::vector<py::ssize_t> shape;
    for (int64_t d : sampleDims(t)) shape.push_back(py::ssize_t(d));
    py::array_t<float> a(shape);
    std::span<float> buf(a.mutable_data(), size_t(count(t)));
    check(jit_ ? jit_->getState(t.name, buf) : api_->get_state(handle_, t.name, buf.data(), int64_t(buf.size())),
          "state");
    out[py::str(t.name)] = a;
  }
  return out;
}

void PyModel::setState(const std::string &name, py::array values) {
  auto a = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(values);
  if (!a) throw py::value_error(fmt::format("set_state '{}': expected a float array", name));
  std::span<const float> buf(a.data(), size_t(a.size()));
  check(jit_ ? jit_->setState(name, buf) : api_->set_state(handle_, name.c_str(), buf.data(), int64_t(buf.size())),
        "set_state");
}

py::dict PyModel::params(py::object self) {
  py::dict out;
  for (const auto &t : tensors_) {
    if (t.role != DLC_ROLE_PARAM) continue;
    std::vector<py::ssize_t> shape;
    for (int64_t d : sampleDims(t)) shape.push_back(py::ssize_t(d));
    if (jit_) { // a view: `self` keeps the model (and so the memory) alive
      float *data = jit_->paramData(t.name, count(t));
      if (!data) check(DLC_ERR_NAME, "params");
      out[py::str(t.name)] = py::array_t<float>(shape, data, self);
    } else { // the C ABI reads params by copy; write them back with set_param
      py::array_t<float> a(shape);
      check(api_->get_param(handle_, t.name, a.mutable_data(), count(t)), "params");
      out[py::str(t.name)] = a;
    }
  }
  return out;
}

void PyModel::setParam(const std::string &name, py::array values) {
  for (const auto &t : tensors_) {
    if (t.role != DLC_ROLE_PARAM || name != t.name) continue;
    if (!values.dtype().is(py::dtype::of<float>()))
      throw py::value_error(fmt::format("param '{}': expected dtype float32, got {}", name, std::string(py::str(values.dtype()))));
    std::vector<int64_t> dims = sampleDims(t), got(values.shape(), values.shape() + values.ndim());
    if (dims != got)
      throw py::value_error(fmt::format("param '{}': expected shape ({}), got ({})", name, fmt::join(dims, ", "), fmt::join(got, ", ")));
    py::array a = py::array::ensure(values, py::array::c_style);
    std::span<const float> v(static_cast<const float *>(a.data()), size_t(count(t)));
    check(jit_ ? jit_->setParam(name, v) : api_->set_param(handle_, name.c_str(), v.data(), int64_t(v.size())), "set_param");
    return;
  }
  throw py::value_error(fmt::format("no param named '{}'", name));
}

std::string PyModel::ir(const std::string &stage) const {
  if (!jit_) throw py::value_error("ir() needs a model compiled from source (a library has no IR)");
  static const std::set<std::string> stages = {"ast", "ir", "grad", "opt"};
  if (!stages.count(stage)) throw py::value_error(fmt::format("unknown stage '{}' (ast, ir, grad or opt)", stage));
  auto file = std::make_shared<dlc::SourceFile>();
  file->name = sourceName_;
  file->text = source_;
  dlc::DiagnosticEngine diags;
  if (stage == "ast") return dlc::printAST(dlc::parseProgram(file, diags));
  std::unique_ptr<dlc::Graph> g = dlc::compileNet(file, diags);
  dlc::PassContext ctx(diags);
  if (g && stage != "ir" && !dlc::runPipeline(g, stage == "grad" ? dlc::gradPipeline() : dlc::defaultPipeline(), ctx))
    g.reset();
  if (!g) throw std::runtime_error(dlc::renderDiagnostics(diags));
  std::string remarks;
  for (const std::string &r : ctx.remarks) remarks += "# " + r + "\n";
  return remarks + dlc::printGraph(*g);
}

std::unique_ptr<PyModel> compile(const std::string &source, int64_t batch, uint64_t seed, const std::string &optimizer,
                                 int optLevel) {
  dlc::CompileOptions options;
  options.maxBatch = batch;
  options.seed = seed;
  options.optimizer = optimizer;
  options.optLevel = optLevel;
  std::string text = source, name = "<string>";
  std::error_code ec;
  if (source.find('\n') == std::string::npos && std::filesystem::is_regular_file(source, ec)) {
    std::ifstream in(source);
    std::stringstream ss;
    ss << in.rdbuf();
    text = ss.str();
    name = source;
  }
  options.sourceName = name;
  dlc::CompileResult r = dlc::compileString(text, options);
  if (!r) {
    PyErr_SetString(compileErrorType.ptr(), r.rendered.c_str());
    throw py::error_already_set();
  }
  return std::make_unique<PyModel>(std::move(r.model), text, name);
}

std::unique_ptr<PyModel> loadLibrary(const std::string &path, uint64_t seed) {
  std::string p = path.find('/') == std::string::npos ? "./" + path : path;
  void *lib = dlopen(p.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) throw py::value_error(fmt::format("cannot load '{}': {}", path, dlerror()));
  auto get = reinterpret_cast<const dlc_api *(*)()>(dlsym(lib, "dlc_get_api"));
  if (!get) throw py::value_error(fmt::format("'{}' is not a dlc model library (no dlc_get_api)", path));
  const dlc_api *api = get();
  if (!api || api->abi_version != DLC_ABI_VERSION)
    throw py::value_error(fmt::format("'{}' has ABI version {}, this module {}", path, api ? api->abi_version : -1,
                                      DLC_ABI_VERSION));
  dlc_model *m = nullptr;
  if (api->create(seed, &m) != DLC_OK) throw std::runtime_error(api->last_error(nullptr));
  return std::make_unique<PyModel>(lib, api, m);
}

} // namespace

PYBIND11_MODULE(dlc, mod) {
  // Python loads extension modules (and so libdlc) with RTLD_LOCAL, but JIT
  // code finds the runtime (the thread pool) among the process's global
  // symbols: promote libdlc to global.
  Dl_info info;
  if (dladdr(reinterpret_cast<void *>(&dlc::compileString), &info) && info.dli_fname)
    dlopen(info.dli_fname, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
  mod.doc() = "dlc: compile .net models to fused native code and train them from NumPy";
  compileErrorType = py::exception<std::invalid_argument>(mod, "CompileError", PyExc_ValueError).release();
  py::class_<PyModel>(mod, "Model")
      .def("forward", &PyModel::forward, "Outputs for a batch of inputs (float32 [n, ...] each)")
      .def("loss_and_grad", &PyModel::lossAndGrad, py::arg("x"), py::arg("y"),
           "(loss, {param: gradient}) on a batch; y: int32 class indices or float32 targets")
      .def("train_step", &PyModel::trainStep, py::arg("x"), py::arg("y"), "One optimizer step; returns the loss before it")
      .def_property_readonly("params", [](py::object self) { return self.cast<PyModel &>().params(self); },
                             "{name: float32 array}: views of the model's memory (copies for a library)")
      .def("set_param", &PyModel::setParam, py::arg("name"), py::arg("values"))
      .def_property_readonly("state", &PyModel::state, "The model state (batch norm's running statistics), copies by name")
      .def("set_state", &PyModel::setState, py::arg("name"), py::arg("values"))
      .def("set_hyper", &PyModel::setHyper, py::arg("key"), py::arg("value"))
      .def("save", &PyModel::save, py::arg("path"), "Writes a safetensors checkpoint (atomically)")
      .def("load", &PyModel::load, py::arg("path"), "Reads a checkpoint (checked before anything changes)")
      .def("ir", &PyModel::ir, py::arg("stage") = "ir", "The dump of a stage: ast, ir, grad or opt")
      .def_property_readonly("max_batch", &PyModel::maxBatch)
      .def_property_readonly("inputs", [](const PyModel &m) { return m.names(DLC_ROLE_INPUT); })
      .def_property_readonly("labels", [](const PyModel &m) { return m.names(DLC_ROLE_LABEL); })
      .def_property_readonly("outputs", [](const PyModel &m) { return m.names(DLC_ROLE_OUTPUT); });
  mod.def("compile", &compile, py::arg("source"), py::arg("batch") = 0, py::arg("seed") = 0,
          py::arg("optimizer") = "", py::arg("opt_level") = 2,
          "Compiles .net source text or a .net file (JIT); raises CompileError with the diagnostics");
  mod.def("load_library", &loadLibrary, py::arg("path"), py::arg("seed") = 0,
          "An instance of a library built by `dlc model.net -o model.so`");
}
