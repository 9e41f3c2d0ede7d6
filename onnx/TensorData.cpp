//===- onnx/TensorData.cpp - ONNX tensors, safetensors checkpoints --------===//
#include "onnx/TensorData.h"

#include <cstdio>
#include <cstring>
#include <fstream>

#include <fmt/format.h>

namespace dlc::onnx_import {

using ::onnx::TensorProto;

llvm::Error makeError(const std::string &message) {
  return llvm::make_error<llvm::StringError>(message, llvm::inconvertibleErrorCode());
}

llvm::Expected<std::vector<int64_t>> tensorDims(const TensorProto &t, const std::string &what) {
  std::vector<int64_t> dims(t.dims().begin(), t.dims().end());
  for (int64_t d : dims)
    if (d < 0 || d > (int64_t(1) << 40)) return makeError(fmt::format("{} has an invalid dim {}", what, d));
  return dims;
}

namespace {

template <typename T> std::vector<double> fromRaw(const std::string &raw) {
  std::vector<double> out(raw.size() / sizeof(T));
  for (size_t i = 0; i < out.size(); ++i) {
    T v;
    std::memcpy(&v, raw.data() + i * sizeof(T), sizeof(T)); // little-endian, as ONNX stores it
    out[i] = double(v);
  }
  return out;
}

size_t elementSize(int type) {
  switch (type) {
  case TensorProto::FLOAT: case TensorProto::INT32: return 4;
  case TensorProto::DOUBLE: case TensorProto::INT64: return 8;
  default: return 0;
  }
}

} // namespace

llvm::Expected<std::vector<double>> tensorValues(const TensorProto &t, const std::string &what) {
  auto dims = tensorDims(t, what);
  if (!dims) return dims.takeError();
  int64_t count = 1;
  for (int64_t d : *dims) count *= d;
  if (t.data_location() == TensorProto::EXTERNAL)
    return makeError(fmt::format("{} keeps its data in an external file, which dlc does not read", what));
  size_t size = elementSize(t.data_type());
  if (!size)
    return makeError(fmt::format("{} has element type {} ({}); dlc imports float tensors (and integer shapes)", what,
                                 TensorProto::DataType_Name(TensorProto::DataType(t.data_type())), t.data_type()));
  std::vector<double> values;
  if (t.has_raw_data()) {
    if (t.raw_data().size() != size_t(count) * size)
      return makeError(fmt::format("{} has {} bytes of data for {} elements", what, t.raw_data().size(), count));
    switch (t.data_type()) {
    case TensorProto::FLOAT: values = fromRaw<float>(t.raw_data()); break;
    case TensorProto::DOUBLE: values = fromRaw<double>(t.raw_data()); break;
    case TensorProto::INT32: values = fromRaw<int32_t>(t.raw_data()); break;
    default: values = fromRaw<int64_t>(t.raw_data()); break;
    }
  } else {
    switch (t.data_type()) {
    case TensorProto::FLOAT: values.assign(t.float_data().begin(), t.float_data().end()); break;
    case TensorProto::DOUBLE: values.assign(t.double_data().begin(), t.double_data().end()); break;
    case TensorProto::INT32: values.assign(t.int32_data().begin(), t.int32_data().end()); break;
    default: values.assign(t.int64_data().begin(), t.int64_data().end()); break;
    }
    if (values.size() != size_t(count))
      return makeError(fmt::format("{} has {} values for {} elements", what, values.size(), count));
  }
  return values;
}

void fillTensor(TensorProto &t, const std::string &name, const std::vector<int64_t> &dims,
                const std::vector<float> &values) {
  t.set_name(name);
  t.set_data_type(TensorProto::FLOAT);
  for (int64_t d : dims) t.add_dims(d);
  t.set_raw_data(std::string(reinterpret_cast<const char *>(values.data()), values.size() * sizeof(float)));
}

llvm::Expected<NamedTensor> readTensorProto(const std::string &bytes) {
  TensorProto t;
  if (!t.ParseFromString(bytes)) return makeError("not a serialized ONNX TensorProto");
  auto dims = tensorDims(t, "tensor '" + t.name() + "'");
  if (!dims) return dims.takeError();
  auto values = tensorValues(t, "tensor '" + t.name() + "'");
  if (!values) return values.takeError();
  NamedTensor out{t.name(), *dims, {}, ""};
  out.values.assign(values->begin(), values->end());
  return out;
}

llvm::Error writeCheckpoint(const std::string &path, const std::string &modelName,
                            const std::vector<NamedTensor> &params) {
  std::string header = fmt::format(R"({{"__metadata__":{{"format":"dlc","model":"{}","step":"0"}})", modelName);
  size_t at = 0;
  for (const NamedTensor &p : params) {
    header += fmt::format(R"(,"{}":{{"dtype":"F32","shape":[{}],"data_offsets":[{},{}]}})", p.name,
                          fmt::join(p.dims, ","), at, at + 4 * p.values.size());
    at += 4 * p.values.size();
  }
  header += "}";
  while (header.size() % 8) header += ' ';
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return makeError(fmt::format("cannot write '{}'", tmp));
    uint64_t len = header.size();
    unsigned char size[8];
    for (int b = 0; b < 8; ++b) size[b] = (unsigned char)((len >> (8 * b)) & 0xff);
    out.write(reinterpret_cast<const char *>(size), 8);
    out.write(header.data(), std::streamsize(header.size()));
    for (const NamedTensor &p : params)
      out.write(reinterpret_cast<const char *>(p.values.data()), std::streamsize(p.values.size() * sizeof(float)));
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      return makeError(fmt::format("writing '{}' failed; the old file, if any, is unchanged", path));
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return makeError(fmt::format("cannot replace '{}'", path));
  }
  return llvm::Error::success();
}

} // namespace dlc::onnx_import
