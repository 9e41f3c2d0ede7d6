//===- tests/unit/FuzzRegressionTest.cpp - Replays the fuzz corpora -------===//
//
// Every file of fuzz/corpus/TARGET (the seeds) and fuzz/regressions/TARGET
// (each input a fuzz run ever found broken, kept after the fix) goes
// through the same check as the libFuzzer target TARGET (fuzz/Harness.h),
// in the ordinary build: a fixed bug that comes back fails here.
//
//===----------------------------------------------------------------------===//
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "fuzz/Harness.h"

namespace fs = std::filesystem;

namespace {

std::string readBytes(const fs::path &p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Replays every file under fuzz/FOLDER/TARGET; returns how many.
int replay(const char *folder) {
  int files = 0;
  for (const dlc::fuzz::Target &t : dlc::fuzz::targets()) {
    fs::path dir = fs::path(DLC_FUZZ_DIR) / folder / t.name;
    if (!fs::is_directory(dir)) continue;
    for (const auto &entry : fs::directory_iterator(dir)) {
      if (!entry.is_regular_file() || entry.path().filename().string().front() == '.') continue;
      INFO(t.name << ": " << entry.path().string());
      CHECK(t.check(readBytes(entry.path())) == "");
      ++files;
    }
  }
  return files;
}

} // namespace

TEST_CASE("every seed of the fuzz corpora passes its target's checks", "[fuzz]") {
  CHECK(replay("corpus") >= 20);
}

TEST_CASE("every input a fuzz run found passes its target's checks", "[fuzz]") {
  replay("regressions");
}
