//===- fuzz/FuzzMain.cpp - One libFuzzer target per check ------------------===//
//
// Compiled once per target with DLC_FUZZ_CHECK naming the check of
// fuzz/Harness.h; a broken invariant aborts, which libFuzzer records as a
// finding (with the input) like a crash.
//
//===----------------------------------------------------------------------===//
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "fuzz/Harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string broken = dlc::fuzz::DLC_FUZZ_CHECK(std::string_view(reinterpret_cast<const char *>(data), size));
  if (!broken.empty()) {
    std::fprintf(stderr, "dlc fuzz finding: %s\n", broken.c_str());
    std::abort();
  }
  return 0;
}
