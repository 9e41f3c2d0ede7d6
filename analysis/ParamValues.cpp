//===- analysis/ParamValues.cpp -------------------------------------------===//
#include "analysis/ParamValues.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>
#include <tuple>

#include <llvm/Support/JSON.h>

#include "runtime/model_runtime.h"

namespace dlc {

namespace {

/// The initializer of a param's `init` attribute; zeros for none (as codegen/Descriptor.cpp).
dlc_init_kind initKind(const std::string &init) {
#define DLC_INIT(Id, name, args, argNames, valid, draw, shift, scale) \
  if (init == name) return DLC_INIT_##Id;
#include "runtime/Initializers.def"
  return DLC_INIT_Zeros;
}

/// Fan-in and fan-out as codegen/Descriptor.cpp computes them.
std::pair<int64_t, int64_t> fans(const std::vector<int64_t> &s) {
  int64_t total = 1;
  for (int64_t d : s) total *= d;
  if (s.size() < 2) return {total, total};
  int64_t receptive = total / (s[0] * s[1]);
  return {s[1] * receptive, s[0] * receptive};
}

std::vector<int64_t> knownShape(const Node &n) {
  std::vector<int64_t> s;
  for (const Dim &d : n.shape()) s.push_back(d.isKnown() ? d.value() : 1);
  return s;
}

} // namespace

ParamValues initialParams(const Graph &g, uint64_t seed) {
  ParamValues out;
  uint64_t draws = 0; // the glue's order: the params in the graph's order, each from where the last stopped
  for (const Node *p : g.nodesOfKind(OpKind::Param)) {
    Tensor t(knownShape(*p));
    std::vector<double> args = p->attrs.getFloats("init_args");
    dlc_rt_tensor record{};
    record.init = initKind(p->attrs.getString("init"));
    record.init_a = args.size() > 0 ? args[0] : 0, record.init_b = args.size() > 1 ? args[1] : 0;
    record.count = int64_t(t.data.size());
    std::tie(record.fan_in, record.fan_out) = fans(t.shape);
    std::vector<float> values(t.data.size());
    draws += dlc_rt_init_param(&record, values.data(), seed, draws); // the same code as a model's create
    std::copy(values.begin(), values.end(), t.data.begin());
    out[p->name] = std::move(t);
  }
  return out;
}

bool readCheckpointParams(const Graph &g, const std::string &path, ParamValues &values, std::string &error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = "cannot read checkpoint '" + path + "'";
    return false;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string bytes = ss.str();
  uint64_t headerSize = 0;
  if (bytes.size() < 8) {
    error = "'" + path + "' is not a safetensors checkpoint (too short)";
    return false;
  }
  for (int i = 7; i >= 0; --i) headerSize = (headerSize << 8) | uint8_t(bytes[size_t(i)]);
  if (headerSize > bytes.size() - 8) {
    error = "'" + path + "' is not a safetensors checkpoint (bad header size)";
    return false;
  }
  auto header = llvm::json::parse(llvm::StringRef(bytes.data() + 8, size_t(headerSize)));
  const llvm::json::Object *top = header ? header->getAsObject() : nullptr;
  if (!top) {
    if (!header) llvm::consumeError(header.takeError());
    error = "'" + path + "' has a safetensors header that is not a JSON object";
    return false;
  }
  const size_t dataStart = 8 + size_t(headerSize);
  for (const Node *p : g.nodesOfKind(OpKind::Param)) {
    const llvm::json::Object *entry = top->getObject(p->name);
    std::vector<int64_t> shape = knownShape(*p);
    if (!entry) {
      error = "checkpoint '" + path + "' has no param '" + p->name + "'";
      return false;
    }
    std::vector<int64_t> stored;
    if (const llvm::json::Array *dims = entry->getArray("shape"))
      for (const llvm::json::Value &d : *dims) stored.push_back(d.getAsInteger().value_or(-1));
    const llvm::json::Array *offsets = entry->getArray("data_offsets");
    std::optional<llvm::StringRef> dtype = entry->getString("dtype");
    int64_t count = 1;
    for (int64_t d : shape) count *= d;
    int64_t begin = offsets && offsets->size() == 2 ? (*offsets)[0].getAsInteger().value_or(-1) : -1;
    int64_t end = offsets && offsets->size() == 2 ? (*offsets)[1].getAsInteger().value_or(-1) : -1;
    if (!dtype || *dtype != "F32" || stored != shape || begin < 0 || end - begin != 4 * count ||
        dataStart + size_t(end) > bytes.size()) {
      error = "param '" + p->name + "' in checkpoint '" + path + "' has the wrong dtype, shape or data range";
      return false;
    }
    Tensor t(shape);
    for (int64_t i = 0; i < count; ++i) {
      float f;
      std::memcpy(&f, bytes.data() + dataStart + size_t(begin + 4 * i), 4);
      t.data[size_t(i)] = double(f);
    }
    values[p->name] = std::move(t);
  }
  return true;
}

} // namespace dlc
