//===- train/Dataset.h - Labelled samples for training --------------------===//
//
// The data `dlc train` and `dlc eval` read: IDX files (MNIST's format, plain
// or gzip) and CSV files, loaded as float samples with integer class labels
// or float targets; standardization, and the fixed shuffles behind K-fold
// cross-validation.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace dlc {

/// Samples as floats (IDX pixels scaled to 0..1, CSV values as written) with
/// integer class labels, or with float targets (regression, binary labels).
struct Dataset {
  int64_t count = 0;
  int64_t sampleSize = 0;      ///< floats per sample (784 for 28x28 images)
  std::vector<float> x;        ///< count * sampleSize
  std::vector<int32_t> labels; ///< count class labels, when targetSize is 0
  int64_t targetSize = 0;      ///< > 0: that many float targets per sample instead of a class label
  std::vector<float> targets;  ///< count * targetSize

  /// The bytes of one sample's label as a model's label buffer holds them
  /// (an int32 class, or targetSize floats).
  size_t labelBytes() const { return targetSize > 0 ? sizeof(float) * size_t(targetSize) : sizeof(int32_t); }
  const void *labelOf(int64_t s) const {
    return targetSize > 0 ? static_cast<const void *>(targets.data() + s * targetSize) : labels.data() + s;
  }
  /// An empty set shaped like this one.
  Dataset emptyLike() const { return Dataset{0, sampleSize, {}, {}, targetSize, {}}; }
  /// Appends sample `s` of `from` (shaped like this set).
  void append(const Dataset &from, int64_t s);
};

/// Reads an IDX image file and its IDX label file (MNIST's format; plain or
/// gzip-compressed). On failure returns nullopt and says why in `error`:
/// a missing file, a wrong magic number, truncated data, or image and label
/// counts that differ.
std::optional<Dataset> loadIDX(const std::string &images, const std::string &labels, std::string &error);

/// Reads a CSV file of numbers: each row is one sample, its features then
/// its class label (an integer >= 0) in the last column, or, with
/// `targetColumns` k > 0, k float targets in the last k columns. A first row
/// that is not numeric is a header and skipped; blank lines are skipped.
/// Errors say file:line:column: a field that is not a number, a row with
/// another number of columns, a label that is not a non-negative integer, no
/// rows.
std::optional<Dataset> loadCSV(const std::string &path, std::string &error, int64_t targetColumns = 0);

/// Standardizes every feature to mean 0 and standard deviation 1 using the
/// statistics of `train`, applied to both sets (constant features become 0).
void standardize(Dataset &train, Dataset &test);

/// Fold `fold` of `k` (0-based) of a fixed shuffle of `all`: `val` gets that
/// fold's samples, `train` the others. Every sample is in exactly one fold.
void kFoldSplit(const Dataset &all, int64_t k, int64_t fold, uint64_t seed, Dataset &train, Dataset &val);

/// Label noise: replaces the labels of round(share * count) samples, chosen
/// by a seeded shuffle, with a different class drawn uniformly from the
/// others (classes 0..max label). Returns how many labels changed.
int64_t addLabelNoise(Dataset &data, double share, uint64_t seed);

/// Keeps the first `count` samples (all of them when there are fewer).
void keepFirst(Dataset &data, int64_t count);

/// The train and test sets of a named data set ("mnist": the IDX files in
/// DATAROOT/mnist; "fashion-mnist": Debian's /usr/share/datasets/fashion-mnist),
/// of a directory holding train-/t10k- IDX files (optionally .gz), or of a
/// CSV file (a file NAME.test.csv beside NAME.csv is the test set, else the
/// test set is empty). `targetColumns` > 0 reads float targets (CSV only).
bool loadNamedDataset(const std::string &name, const std::string &dataRoot, Dataset &train, Dataset &test,
                      std::string &error, int64_t targetColumns = 0);

} // namespace dlc
