//===- analysis/ParamValues.cpp -------------------------------------------===//
#include "analysis/ParamValues.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include <llvm/Support/JSON.h>

namespace dlc {

namespace {

// The generator and samplers of runtime/model_runtime.c, draw for draw, so
// that the `sample` column of runtime/Initializers.def means the same here.
uint64_t next_u64(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
double uniform01(uint64_t *s) { return double(next_u64(s) >> 11) * (1.0 / 9007199254740992.0); }
double normal01(uint64_t *s) {
  double u = uniform01(s), v = uniform01(s);
  if (u < 1e-300) u = 1e-300;
  return std::sqrt(-2.0 * std::log(u)) * std::cos(6.283185307179586 * v);
}
double uniform_within(double r, uint64_t *s) { return -r + 2 * r * uniform01(s); }

/// One value of the initializer `init` (zeros for none, as in the glue).
double initValue(const std::string &init, double a, double b, int64_t fan_in, int64_t fan_out, uint64_t *rng) {
  (void)a, (void)b, (void)fan_in, (void)fan_out;
#define DLC_INIT(Id, name, args, argNames, valid, sample) \
  if (init == name) return double(sample);
#include "runtime/Initializers.def"
  return 0;
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
  uint64_t rng = seed;
  for (const Node *p : g.nodesOfKind(OpKind::Param)) {
    Tensor t(knownShape(*p));
    std::string init = p->attrs.getString("init");
    std::vector<double> args = p->attrs.getFloats("init_args");
    double a = args.size() > 0 ? args[0] : 0, b = args.size() > 1 ? args[1] : 0;
    auto [fanIn, fanOut] = fans(t.shape);
    for (double &v : t.data) v = double(float(initValue(init, a, b, fanIn, fanOut, &rng)));
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
