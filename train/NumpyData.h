//===- train/NumpyData.h - NumPy .npy arrays and .npz archives ------------===//
//
// The reader behind `--data FILE.npz`: an .npz file is a zip archive of .npy
// arrays (np.savez stores them, np.savez_compressed deflates them with zlib).
// Little-endian numbers of the usual dtypes, C order; anything else is an
// error naming the file, the array and what was found.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace dlc {

/// One array: its shape and its values (as doubles; whether the dtype was
/// an integer type is kept, for class labels).
struct NumpyArray {
  std::vector<int64_t> shape;
  std::vector<double> values;
  bool integral = false;
  std::string dtype; ///< the header's descr, e.g. "<f4"

  int64_t rows() const { return shape.empty() ? 1 : shape[0]; }
  int64_t rowSize() const; ///< the product of the dims after the first
};

/// Parses the bytes of one .npy file; `where` names it in errors.
std::optional<NumpyArray> parseNpy(const std::string &bytes, const std::string &where, std::string &error);

/// Reads every array of an .npz archive, by name without the ".npy".
std::optional<std::map<std::string, NumpyArray>> loadNpz(const std::string &path, std::string &error);

} // namespace dlc
