//===- train/NumpyData.cpp ------------------------------------------------===//
//
// The .npy format (numpy.lib.format): the magic "\x93NUMPY", a version byte
// pair, a little-endian header length (2 bytes in version 1, 4 in 2 and 3),
// and a Python dict literal {'descr': '<f4', 'fortran_order': False,
// 'shape': (N, 784), } padded with spaces; then the values. A zip archive
// (.npz) is read from its central directory, so sizes are known even when
// the local headers defer them.
//
//===----------------------------------------------------------------------===//
#include "train/NumpyData.h"

#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <zlib.h>

namespace dlc {

namespace {

uint64_t littleEndian(const std::string &s, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = v << 8 | uint8_t(s[at + size_t(i)]);
  return v;
}

/// The text after `'key':` in the header dict, up to the next top-level comma.
std::optional<std::string> headerField(const std::string &header, const std::string &key) {
  size_t at = header.find("'" + key + "'");
  if (at == std::string::npos) return std::nullopt;
  at = header.find(':', at);
  if (at == std::string::npos) return std::nullopt;
  size_t end = at + 1;
  int depth = 0;
  for (; end < header.size(); ++end) {
    char c = header[end];
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if ((c == ',' && depth == 0) || c == '}') break;
  }
  std::string v = header.substr(at + 1, end - at - 1);
  size_t b = v.find_first_not_of(" "), e = v.find_last_not_of(" ");
  return b == std::string::npos ? "" : v.substr(b, e - b + 1);
}

struct DType {
  char kind; ///< 'f' float, 'i' signed, 'u' unsigned, 'b' bool
  int bytes;
};

std::optional<DType> parseDescr(const std::string &descr) {
  if (descr.size() < 5 || descr.front() != '\'' || descr.back() != '\'') return std::nullopt;
  std::string d = descr.substr(1, descr.size() - 2);
  if (d.size() < 3 || (d[0] != '<' && d[0] != '|' && d[0] != '=')) return std::nullopt;
  char kind = d[1];
  int bytes = std::atoi(d.c_str() + 2);
  bool ok = (kind == 'f' && (bytes == 4 || bytes == 8)) ||
            ((kind == 'i' || kind == 'u') && (bytes == 1 || bytes == 2 || bytes == 4 || bytes == 8)) ||
            (kind == 'b' && bytes == 1);
  if (!ok || (bytes > 1 && d[0] == '|')) return std::nullopt;
  return DType{kind, bytes};
}

double valueAt(const char *p, DType t) {
  switch (t.kind) {
  case 'f': {
    if (t.bytes == 4) {
      float f;
      std::memcpy(&f, p, 4);
      return f;
    }
    double d;
    std::memcpy(&d, p, 8);
    return d;
  }
  case 'i': {
    int64_t v = 0;
    std::memcpy(&v, p, size_t(t.bytes));
    int shift = 64 - 8 * t.bytes; // sign-extend
    return double(shift ? (v << shift) >> shift : v);
  }
  default: {
    uint64_t v = 0;
    std::memcpy(&v, p, size_t(t.bytes));
    return double(v);
  }
  }
}

/// Inflates a raw deflate stream of a known size.
std::optional<std::string> inflateRaw(const std::string &in, size_t size, std::string &error) {
  std::string out(size, '\0');
  z_stream z{};
  if (inflateInit2(&z, -MAX_WBITS) != Z_OK) {
    error = "zlib: cannot start inflating";
    return std::nullopt;
  }
  z.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(in.data()));
  z.avail_in = uInt(in.size());
  z.next_out = reinterpret_cast<Bytef *>(out.data());
  z.avail_out = uInt(out.size());
  int rc = inflate(&z, Z_FINISH);
  size_t produced = size - z.avail_out;
  inflateEnd(&z);
  if (rc != Z_STREAM_END || produced != size) {
    error = "corrupt compressed data";
    return std::nullopt;
  }
  return out;
}

} // namespace

int64_t NumpyArray::rowSize() const {
  int64_t n = 1;
  for (size_t i = 1; i < shape.size(); ++i) n *= shape[i];
  return n;
}

std::optional<NumpyArray> parseNpy(const std::string &bytes, const std::string &where, std::string &error) {
  auto bad = [&](const std::string &why) -> std::optional<NumpyArray> {
    error = where + ": " + why;
    return std::nullopt;
  };
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0) return bad("not a .npy array (wrong magic)");
  int major = uint8_t(bytes[6]);
  size_t lengthBytes = major == 1 ? 2 : 4;
  if (major < 1 || major > 3) return bad(fmt::format("unknown .npy version {}", major));
  size_t start = 8 + lengthBytes;
  if (bytes.size() < start) return bad("truncated header");
  size_t headerLength = size_t(littleEndian(bytes, 8, int(lengthBytes)));
  if (headerLength > bytes.size() - start) return bad("truncated header");
  std::string header = bytes.substr(start, headerLength);
  auto descr = headerField(header, "descr"), order = headerField(header, "fortran_order"),
       shape = headerField(header, "shape");
  if (!descr || !order || !shape) return bad("the header lacks descr, fortran_order or shape");
  auto type = parseDescr(*descr);
  if (!type) return bad("dtype " + *descr + " is not supported (little-endian float, int, uint or bool)");
  if (*order != "False") return bad("a Fortran-order array is not supported (save np.ascontiguousarray(a))");
  NumpyArray a;
  a.dtype = descr->substr(1, descr->size() - 2);
  a.integral = type->kind != 'f';
  if (shape->size() < 2 || shape->front() != '(' || shape->back() != ')') return bad("malformed shape " + *shape);
  std::stringstream dims(shape->substr(1, shape->size() - 2));
  std::string dim;
  uint64_t count = 1;
  while (std::getline(dims, dim, ',')) {
    if (dim.find_first_not_of(" ") == std::string::npos) continue;
    char *end = nullptr;
    long long d = std::strtoll(dim.c_str(), &end, 10);
    if (d < 0 || (*end != '\0' && std::string(end).find_first_not_of(" L") != std::string::npos))
      return bad("malformed shape " + *shape);
    if (d > 0 && count > (uint64_t(1) << 40) / uint64_t(d)) return bad("the array is too large: shape " + *shape);
    count *= uint64_t(d);
    a.shape.push_back(d);
  }
  size_t data = start + headerLength, need = size_t(count) * size_t(type->bytes);
  if (bytes.size() - data != need)
    return bad(fmt::format("shape {} of {} needs {} bytes of data, found {}", *shape, a.dtype, need, bytes.size() - data));
  a.values.resize(size_t(count));
  for (size_t i = 0; i < size_t(count); ++i) a.values[i] = valueAt(bytes.data() + data + i * size_t(type->bytes), *type);
  return a;
}

std::optional<std::map<std::string, NumpyArray>> loadNpz(const std::string &path, std::string &error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = path + ": no such file";
    return std::nullopt;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string zip = ss.str();
  auto bad = [&](const std::string &why) -> std::optional<std::map<std::string, NumpyArray>> {
    error = path + ": " + why;
    return std::nullopt;
  };
  // The end-of-central-directory record: the last "PK\5\6" in the last 64 KiB + 22 bytes.
  size_t eocd = std::string::npos;
  for (size_t i = zip.size() >= 22 ? zip.size() - 22 : std::string::npos; i != std::string::npos && zip.size() - i < 65558;
       --i) {
    if (zip.compare(i, 4, "PK\x05\x06") == 0) {
      eocd = i;
      break;
    }
    if (i == 0) break;
  }
  if (eocd == std::string::npos) return bad("not an .npz file (no zip directory)");
  size_t entries = size_t(littleEndian(zip, eocd + 10, 2)), at = size_t(littleEndian(zip, eocd + 16, 4));
  std::map<std::string, NumpyArray> arrays;
  for (size_t e = 0; e < entries; ++e) {
    if (at + 46 > zip.size() || zip.compare(at, 4, "PK\x01\x02") != 0) return bad("corrupt zip directory");
    int method = int(littleEndian(zip, at + 10, 2));
    size_t packed = size_t(littleEndian(zip, at + 20, 4)), size = size_t(littleEndian(zip, at + 24, 4));
    size_t nameLength = size_t(littleEndian(zip, at + 28, 2)), extra = size_t(littleEndian(zip, at + 30, 2)),
           comment = size_t(littleEndian(zip, at + 32, 2)), local = size_t(littleEndian(zip, at + 42, 4));
    if (at + 46 + nameLength > zip.size()) return bad("corrupt zip directory");
    std::string name = zip.substr(at + 46, nameLength);
    const uint32_t crc = uint32_t(littleEndian(zip, at + 16, 4));
    at += 46 + nameLength + extra + comment;
    if (packed == 0xffffffff || size == 0xffffffff) return bad(name + ": zip64 entries (over 4 GiB) are not supported");
    if (local + 30 > zip.size() || zip.compare(local, 4, "PK\x03\x04") != 0) return bad(name + ": corrupt zip entry");
    size_t dataAt = local + 30 + size_t(littleEndian(zip, local + 26, 2)) + size_t(littleEndian(zip, local + 28, 2));
    if (dataAt > zip.size() || packed > zip.size() - dataAt) return bad(name + ": truncated zip entry");
    std::string stored = zip.substr(dataAt, packed), bytes;
    if (method == 0) bytes = stored;
    else if (method == 8) {
      auto inflated = inflateRaw(stored, size, error);
      if (!inflated) return bad(name + ": " + error);
      bytes = std::move(*inflated);
    } else {
      return bad(fmt::format("{}: zip compression method {} is not supported (stored or deflate)", name, method));
    }
    if (uint32_t(crc32(0, reinterpret_cast<const Bytef *>(bytes.data()), uInt(bytes.size()))) != crc)
      return bad(name + ": checksum mismatch (a corrupt archive)");
    std::string key = name.size() > 4 && name.ends_with(".npy") ? name.substr(0, name.size() - 4) : name;
    auto array = parseNpy(bytes, path + ": " + key, error);
    if (!array) return std::nullopt;
    arrays[key] = std::move(*array);
  }
  return arrays;
}

} // namespace dlc
