//===- runtime/Dataset.h - Images and labels from IDX files ---------------===//
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace dlc {

/// Samples as floats (pixels scaled to 0..1) with integer class labels.
struct Dataset {
  int64_t count = 0;
  int64_t sampleSize = 0;      ///< floats per sample (784 for 28x28 images)
  std::vector<float> x;        ///< count * sampleSize
  std::vector<int32_t> labels; ///< count
};

/// Reads an IDX image file and its IDX label file (MNIST's format; plain or
/// gzip-compressed). On failure returns nullopt and says why in `error`:
/// a missing file, a wrong magic number, truncated data, or image and label
/// counts that differ.
std::optional<Dataset> loadIDX(const std::string &images, const std::string &labels, std::string &error);

/// The train and test sets of a named data set ("mnist", "fashion-mnist")
/// or of a directory holding train-/t10k- IDX files (optionally .gz).
bool loadNamedDataset(const std::string &name, const std::string &dataRoot, Dataset &train, Dataset &test,
                      std::string &error);

} // namespace dlc
