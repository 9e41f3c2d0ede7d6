//===- runtime/Dataset.cpp ------------------------------------------------===//
#include "Dataset.h"

#include <filesystem>

#include <zlib.h>

namespace dlc {

namespace {

/// The whole (possibly gzip-compressed) file; gzread reads plain files too.
std::optional<std::string> readMaybeGz(const std::string &path, std::string &error) {
  if (!std::filesystem::exists(path)) {
    error = path + ": no such file";
    return std::nullopt;
  }
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) {
    error = path + ": cannot open";
    return std::nullopt;
  }
  std::string out;
  char buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) out.append(buf, size_t(n));
  bool bad = n < 0;
  gzclose(f);
  if (bad) {
    error = path + ": corrupt gzip data";
    return std::nullopt;
  }
  return out;
}

uint32_t bigEndian(const std::string &s, size_t at) {
  return uint32_t((unsigned char)s[at]) << 24 | uint32_t((unsigned char)s[at + 1]) << 16 |
         uint32_t((unsigned char)s[at + 2]) << 8 | uint32_t((unsigned char)s[at + 3]);
}

/// Parses an IDX file of unsigned bytes; returns its dims and the offset of the data.
bool parseIDX(const std::string &bytes, const std::string &path, int wantRank, std::vector<int64_t> &dims,
              size_t &data, std::string &error) {
  if (bytes.size() < 4 || bytes[0] != 0 || bytes[1] != 0 || (unsigned char)bytes[2] != 0x08) {
    error = path + ": not an IDX file of unsigned bytes (wrong magic number)";
    return false;
  }
  int rank = (unsigned char)bytes[3];
  if (rank != wantRank) {
    error = path + ": expected an IDX file of rank " + std::to_string(wantRank) + ", got rank " + std::to_string(rank);
    return false;
  }
  if (bytes.size() < 4 + 4 * size_t(rank)) {
    error = path + ": truncated header";
    return false;
  }
  uint64_t total = 1;
  for (int i = 0; i < rank; ++i) {
    dims.push_back(bigEndian(bytes, 4 + 4 * size_t(i)));
    total *= uint64_t(dims.back());
  }
  data = 4 + 4 * size_t(rank);
  if (bytes.size() - data != total) {
    error = path + ": expected " + std::to_string(total) + " bytes of data, found " + std::to_string(bytes.size() - data);
    return false;
  }
  return true;
}

} // namespace

std::optional<Dataset> loadIDX(const std::string &images, const std::string &labels, std::string &error) {
  auto img = readMaybeGz(images, error);
  if (!img) return std::nullopt;
  auto lab = readMaybeGz(labels, error);
  if (!lab) return std::nullopt;
  std::vector<int64_t> idims, ldims;
  size_t iat, lat;
  if (!parseIDX(*img, images, 3, idims, iat, error) || !parseIDX(*lab, labels, 1, ldims, lat, error)) return std::nullopt;
  if (idims[0] != ldims[0]) {
    error = images + " holds " + std::to_string(idims[0]) + " images but " + labels + " holds " +
            std::to_string(ldims[0]) + " labels";
    return std::nullopt;
  }
  Dataset d;
  d.count = idims[0];
  d.sampleSize = idims[1] * idims[2];
  d.x.resize(size_t(d.count * d.sampleSize));
  for (size_t i = 0; i < d.x.size(); ++i) d.x[i] = float((unsigned char)(*img)[iat + i]) / 255.0f;
  d.labels.resize(size_t(d.count));
  for (size_t i = 0; i < d.labels.size(); ++i) d.labels[i] = (unsigned char)(*lab)[lat + i];
  return d;
}

bool loadNamedDataset(const std::string &name, const std::string &dataRoot, Dataset &train, Dataset &test,
                      std::string &error) {
  std::string dir = name;
  if (name == "mnist") dir = dataRoot + "/mnist";
  else if (name == "fashion-mnist") dir = "/usr/share/datasets/fashion-mnist";
  auto file = [&](const std::string &stem) {
    std::string plain = dir + "/" + stem;
    return std::filesystem::exists(plain) ? plain : plain + ".gz";
  };
  auto tr = loadIDX(file("train-images-idx3-ubyte"), file("train-labels-idx1-ubyte"), error);
  if (!tr) return false;
  auto te = loadIDX(file("t10k-images-idx3-ubyte"), file("t10k-labels-idx1-ubyte"), error);
  if (!te) return false;
  train = std::move(*tr);
  test = std::move(*te);
  return true;
}

} // namespace dlc
