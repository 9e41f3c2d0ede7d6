//===- train/Dataset.cpp ------------------------------------------------===//
#include "train/Dataset.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <filesystem>
#include <map>
#include <numeric>
#include <random>
#include <sstream>

#include <zlib.h>

#include <fmt/format.h>

#include "train/NumpyData.h"

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

bool endsWith(const std::string &s, const std::string &suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
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

void Dataset::append(const Dataset &from, int64_t s) {
  x.insert(x.end(), from.x.begin() + s * sampleSize, from.x.begin() + (s + 1) * sampleSize);
  if (targetSize > 0)
    targets.insert(targets.end(), from.targets.begin() + s * targetSize, from.targets.begin() + (s + 1) * targetSize);
  else
    labels.push_back(from.labels[size_t(s)]);
  ++count;
}

std::optional<Dataset> loadCSV(const std::string &path, std::string &error, int64_t targetColumns) {
  auto text = readMaybeGz(path, error);
  if (!text) return std::nullopt;
  Dataset d;
  d.targetSize = targetColumns;
  const size_t labelColumns = size_t(std::max<int64_t>(targetColumns, 1));
  std::istringstream in(*text);
  std::string line;
  int64_t columns = -1;
  for (int64_t lineNo = 1; std::getline(in, line); ++lineNo) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    std::vector<double> row;
    size_t at = 0;
    bool header = false;
    while (true) {
      size_t end = std::min(line.find(',', at), line.size());
      size_t b = line.find_first_not_of(" \t", at), e = line.find_last_not_of(" \t", end == 0 ? 0 : end - 1);
      std::string field = b < end && e != std::string::npos && e >= b ? line.substr(b, e - b + 1) : "";
      double v = 0;
      auto [ptr, ec] = std::from_chars(field.data(), field.data() + field.size(), v);
      bool numeric = !field.empty() && ptr == field.data() + field.size() &&
                     (ec == std::errc() || ec == std::errc::result_out_of_range);
      if (numeric && !(ec == std::errc() && std::fabs(v) <= std::numeric_limits<float>::max())) {
        // nan, inf and 1e39 are numbers, but not features a float model can train on.
        error = path + ":" + std::to_string(lineNo) + ":" + std::to_string(at + 1) + ": '" + field +
                "' is not a finite float";
        return std::nullopt;
      }
      if (!numeric) {
        if (columns < 0 && d.count == 0 && !field.empty()) header = true; // a header row names the columns
        else {
          error = path + ":" + std::to_string(lineNo) + ":" + std::to_string(at + 1) + ": '" + field +
                  "' is not a number";
          return std::nullopt;
        }
      }
      row.push_back(v);
      if (end == line.size()) break;
      at = end + 1;
    }
    if (header) {
      columns = int64_t(row.size());
      continue;
    }
    if (columns < 0) columns = int64_t(row.size());
    if (int64_t(row.size()) != columns) {
      error = path + ":" + std::to_string(lineNo) + ":1: expected " + std::to_string(columns) + " columns, found " +
              std::to_string(row.size());
      return std::nullopt;
    }
    if (size_t(columns) < labelColumns + 1) {
      error = path + ":" + std::to_string(lineNo) + ":1: a row needs at least one feature and " +
              (targetColumns > 0 ? std::to_string(targetColumns) + " target columns" : std::string("a label"));
      return std::nullopt;
    }
    if (targetColumns > 0) {
      d.x.insert(d.x.end(), row.begin(), row.end() - targetColumns);
      d.targets.insert(d.targets.end(), row.end() - targetColumns, row.end());
      ++d.count;
      continue;
    }
    double label = row.back();
    if (label < 0 || label != std::floor(label) || label > 1e6) {
      error = path + ":" + std::to_string(lineNo) + ":" + std::to_string(line.rfind(',') + 2) +
              ": the label (last column) must be a class index, an integer >= 0";
      return std::nullopt;
    }
    for (size_t i = 0; i + 1 < row.size(); ++i) d.x.push_back(float(row[i]));
    d.labels.push_back(int32_t(label));
    ++d.count;
  }
  if (d.count == 0) {
    error = path + ": no samples";
    return std::nullopt;
  }
  d.sampleSize = columns - int64_t(labelColumns);
  return d;
}

namespace {

/// A data set from an .npz archive's arrays `xName` and `yName`.
std::optional<Dataset> fromArrays(const std::map<std::string, NumpyArray> &arrays, const std::string &path,
                                  const std::string &xName, const std::string &yName, int64_t targetColumns,
                                  std::string &error) {
  auto fail = [&](const std::string &why) -> std::optional<Dataset> {
    error = path + ": " + why;
    return std::nullopt;
  };
  auto xi = arrays.find(xName), yi = arrays.find(yName);
  if (xi == arrays.end() || yi == arrays.end()) {
    std::string names;
    for (const auto &[name, a] : arrays) names += (names.empty() ? "" : ", ") + name;
    return fail(fmt::format("needs arrays '{}' and '{}'; it has {}", xName, yName, names.empty() ? "none" : names));
  }
  const NumpyArray &x = xi->second, &y = yi->second;
  if (x.shape.empty() || y.shape.empty()) return fail(fmt::format("'{}' and '{}' need a first axis of samples", xName, yName));
  if (x.rows() != y.rows())
    return fail(fmt::format("'{}' has {} samples but '{}' has {}", xName, x.rows(), yName, y.rows()));
  if (x.rows() == 0) return fail(fmt::format("'{}' has no samples", xName));
  Dataset d;
  d.count = x.rows();
  d.sampleSize = x.rowSize();
  d.targetSize = targetColumns;
  for (size_t i = 0; i < x.values.size(); ++i) {
    if (!std::isfinite(x.values[i]))
      return fail(fmt::format("'{}' holds {} (sample {}); data must be finite", xName, x.values[i], i / size_t(d.sampleSize) + 1));
    d.x.push_back(float(x.values[i]));
  }
  if (targetColumns > 0) {
    if (y.rowSize() != targetColumns)
      return fail(fmt::format("'{}' has {} values per sample, but the model's label takes {} targets", yName,
                              y.rowSize(), targetColumns));
    for (double v : y.values) {
      if (!std::isfinite(v)) return fail(fmt::format("'{}' holds {}; targets must be finite", yName, v));
      d.targets.push_back(float(v));
    }
    return d;
  }
  if (y.rowSize() != 1) return fail(fmt::format("'{}' needs one class label per sample, shape ({},)", yName, y.rows()));
  for (size_t i = 0; i < y.values.size(); ++i) {
    double v = y.values[i];
    if (v < 0 || v != std::floor(v) || v > 1e6)
      return fail(fmt::format("'{}' holds {} (sample {}); a class label is an integer >= 0", yName, v, i + 1));
    d.labels.push_back(int32_t(v));
  }
  return d;
}

bool loadNpzDataset(const std::string &path, Dataset &train, Dataset &test, std::string &error, int64_t targetColumns) {
  auto arrays = loadNpz(path, error);
  if (!arrays) return false;
  auto tr = fromArrays(*arrays, path, "x", "y", targetColumns, error);
  if (!tr) return false;
  bool hasTest = arrays->count("x_test") || arrays->count("y_test");
  if (hasTest) {
    auto te = fromArrays(*arrays, path, "x_test", "y_test", targetColumns, error);
    if (!te) return false;
    if (te->sampleSize != tr->sampleSize) {
      error = fmt::format("{}: 'x_test' has {} values per sample, but 'x' has {}", path, te->sampleSize, tr->sampleSize);
      return false;
    }
    test = std::move(*te);
  } else {
    test = tr->emptyLike();
  }
  train = std::move(*tr);
  return true;
}

} // namespace

void standardize(Dataset &train, Dataset &test) {
  const int64_t f = train.sampleSize;
  std::vector<double> mean(size_t(f), 0), var(size_t(f), 0);
  for (int64_t i = 0; i < train.count; ++i)
    for (int64_t j = 0; j < f; ++j) mean[size_t(j)] += train.x[size_t(i * f + j)];
  for (double &m : mean) m /= double(std::max<int64_t>(train.count, 1));
  for (int64_t i = 0; i < train.count; ++i)
    for (int64_t j = 0; j < f; ++j) var[size_t(j)] += std::pow(train.x[size_t(i * f + j)] - mean[size_t(j)], 2);
  for (Dataset *d : {&train, &test}) {
    if (d->sampleSize != f) continue;
    for (int64_t i = 0; i < d->count; ++i)
      for (int64_t j = 0; j < f; ++j) {
        double sd = std::sqrt(var[size_t(j)] / double(std::max<int64_t>(train.count, 1)));
        float &x = d->x[size_t(i * f + j)];
        x = sd > 0 ? float((x - mean[size_t(j)]) / sd) : 0.0f;
      }
  }
}

void kFoldSplit(const Dataset &all, int64_t k, int64_t fold, uint64_t seed, Dataset &train, Dataset &val) {
  std::vector<int64_t> order(size_t(all.count));
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), std::mt19937_64(seed ^ 0xf01d));
  for (Dataset *d : {&train, &val}) *d = all.emptyLike();
  for (int64_t i = 0; i < all.count; ++i) (i * k / all.count == fold ? val : train).append(all, order[size_t(i)]);
}

int64_t addLabelNoise(Dataset &data, double share, uint64_t seed) {
  if (data.count == 0 || share <= 0 || data.targetSize > 0) return 0;
  int32_t classes = *std::max_element(data.labels.begin(), data.labels.end()) + 1;
  if (classes < 2) return 0;
  std::vector<int64_t> order(size_t(data.count));
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(seed ^ 0x401'5e);
  std::shuffle(order.begin(), order.end(), rng);
  int64_t changed = std::min(data.count, int64_t(std::llround(share * double(data.count))));
  for (int64_t i = 0; i < changed; ++i) {
    int32_t &label = data.labels[size_t(order[size_t(i)])];
    int32_t other = int32_t(rng() % uint64_t(classes - 1)); // one of the classes other than `label`
    label = other >= label ? other + 1 : other;
  }
  return changed;
}

void keepFirst(Dataset &data, int64_t count) {
  if (count < 0 || count >= data.count) return;
  data.count = count;
  data.x.resize(size_t(count * data.sampleSize));
  if (data.targetSize > 0) data.targets.resize(size_t(count * data.targetSize));
  else data.labels.resize(size_t(count));
}

bool loadNamedDataset(const std::string &name, const std::string &dataRoot, Dataset &train, Dataset &test,
                      std::string &error, int64_t targetColumns) {
  if (endsWith(name, ".npz")) return loadNpzDataset(name, train, test, error, targetColumns);
  if (endsWith(name, ".csv")) {
    auto tr = loadCSV(name, error, targetColumns);
    if (!tr) return false;
    std::string testPath = name.substr(0, name.size() - 4) + ".test.csv";
    if (std::filesystem::exists(testPath)) {
      auto te = loadCSV(testPath, error, targetColumns);
      if (!te) return false;
      if (te->sampleSize != tr->sampleSize) {
        error = testPath + ": " + std::to_string(te->sampleSize) + " features per row, but " + name + " has " +
                std::to_string(tr->sampleSize);
        return false;
      }
      test = std::move(*te);
    } else {
      test = tr->emptyLike();
    }
    train = std::move(*tr);
    return true;
  }
  if (targetColumns > 0) {
    error = name + ": IDX data sets hold class labels, but the model's label takes " + std::to_string(targetColumns) +
            " float targets per sample (give a CSV file)";
    return false;
  }
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
