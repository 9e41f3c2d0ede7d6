//===- tests/unit/CompileCacheTest.cpp - The compile cache ------------------===//
//
// Entries round-trip; a corrupt, truncated or foreign entry is a miss (and
// removed), never loaded; a model compiled from the cache computes the same
// bits as one compiled by LLVM; concurrent writers in two processes never
// leave a torn entry; --no-cache (CompileOptions::cache) stores nothing.
//
//===----------------------------------------------------------------------===//
#include <catch2/catch.hpp>

#include <fstream>
#include <random>

#include <sys/wait.h>
#include <unistd.h>

#include <llvm/Support/FileSystem.h>
#include <llvm/Support/MemoryBuffer.h>

#include "TestUtil.h"
#include "codegen/CompileCache.h"
#include "dlc/dlc.hpp"

using namespace dlc;

namespace {

/// A fresh, empty directory under the system's temporary directory, removed
/// at the end of the test.
struct TempDir {
  std::string path;
  TempDir() {
    llvm::SmallString<128> dir;
    REQUIRE(!llvm::sys::fs::createUniqueDirectory("dlc-cache-test", dir));
    path = dir.str().str();
  }
  ~TempDir() { llvm::sys::fs::remove_directories(path); }
};

std::string readFile(const std::string &path) {
  auto b = llvm::MemoryBuffer::getFile(path, false, false);
  REQUIRE(b);
  return (*b)->getBuffer().str();
}

void writeFile(const std::string &path, const std::string &bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

/// The entry files (not temporaries) in `dir`.
std::vector<std::string> entries(const std::string &dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (llvm::sys::fs::directory_iterator it(dir, ec), end; it != end && !ec; it.increment(ec))
    if (llvm::StringRef(it->path()).ends_with(".dlco")) out.push_back(it->path());
  return out;
}

std::string payload(size_t size, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(size, '\0');
  for (char &c : s) c = char(rng());
  return s;
}

const char *kModel = R"(model cached {
  input  x : [6]
  label  y : class(3)
  param  A : [8, 6] ~ he
  param  b : [8] ~ zeros
  param  C : [3, 8] ~ glorot
  w = C @ relu(A @ x + b)
  output p = softmax(w)
  loss cross_entropy(w, y)
}
train cached {
  optimizer adam(lr = 1e-2)
  batch 4
}
)";

/// Two train steps and a forward pass on fixed data: the loss of each step,
/// the outputs and the params after, as one vector of floats.
std::vector<float> run(Model &m) {
  std::vector<float> x(4 * 6), p(4 * 3), out;
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(int(i * 7 % 11) - 5) / 5.0f;
  std::vector<int32_t> y = {0, 2, 1, 2};
  const float *in[] = {x.data()};
  const void *labels[] = {y.data()};
  float *outs[] = {p.data()};
  for (int step = 0; step < 2; ++step) {
    float loss = 0;
    REQUIRE(m.trainStep(4, in, labels, &loss) == DLC_OK);
    out.push_back(loss);
  }
  REQUIRE(m.forward(4, in, outs) == DLC_OK);
  out.insert(out.end(), p.begin(), p.end());
  std::vector<float> A(8 * 6);
  REQUIRE(m.getParam("A", A) == DLC_OK);
  out.insert(out.end(), A.begin(), A.end());
  return out;
}

CompileResult compileCached(const std::string &dir, bool cache = true) {
  CompileOptions options;
  options.cacheDir = dir;
  options.cache = cache;
  CompileResult r = compileString(kModel, options);
  INFO(r.rendered);
  REQUIRE(r);
  return r;
}

} // namespace

TEST_CASE("compile cache: an entry round-trips, and a bad one is a miss that is removed", "[cache]") {
  TempDir tmp;
  CompileCache cache(tmp.path + "/not/yet/made");
  std::string error, code = payload(5000, 1);
  REQUIRE(!cache.load("key A"));
  REQUIRE(cache.store("key A", code, error));
  REQUIRE(cache.load("key A") == code);
  REQUIRE(!cache.load("key B"));
  std::string path = cache.entryPath("key A"), good = readFile(path);

  SECTION("a flipped byte in the code") {
    std::string bad = good;
    bad[bad.size() - 100] ^= 0x10;
    writeFile(path, bad);
  }
  SECTION("a truncated entry") { writeFile(path, good.substr(0, good.size() / 2)); }
  SECTION("a truncated header") { writeFile(path, good.substr(0, 12)); }
  SECTION("an empty file") { writeFile(path, ""); }
  SECTION("another key's entry under this key's name") {
    REQUIRE(cache.store("key B", code, error));
    writeFile(path, readFile(cache.entryPath("key B")));
  }
  SECTION("trailing bytes") { writeFile(path, good + "x"); }
  CHECK(!cache.load("key A"));
  CHECK(!llvm::sys::fs::exists(path)); // removed: the next compile stores a good one
  REQUIRE(cache.store("key A", code, error));
  CHECK(cache.load("key A") == code);
}

TEST_CASE("compile cache: a cached model computes the same bits, and a corrupt entry is rebuilt", "[cache][api]") {
  TempDir tmp;
  const std::string &dir = tmp.path;
  CompileResult cold = compileCached(dir);
  CHECK(!cold.fromCache);
  REQUIRE(entries(dir).size() == 1);
  std::vector<float> want = run(*cold.model);

  CompileResult warm = compileCached(dir);
  CHECK(warm.fromCache);
  CHECK(run(*warm.model) == want);

  // Damage the entry: the next compile must not run it, and rebuilds it.
  std::string path = entries(dir)[0], good = readFile(path);
  SECTION("corrupt") {
    std::string bad = good;
    for (size_t i = good.size() - 64; i < good.size(); ++i) bad[i] = char(0xcc); // int3 over the code's end
    writeFile(path, bad);
  }
  SECTION("truncated") { writeFile(path, good.substr(0, good.size() - 1)); }
  CompileResult rebuilt = compileCached(dir);
  CHECK(!rebuilt.fromCache);
  CHECK(run(*rebuilt.model) == want);
  CHECK(readFile(path) == good); // the rebuilt entry is the same object code
  CHECK(compileCached(dir).fromCache);
}

TEST_CASE("compile cache: cache = false (--no-cache) neither loads nor stores", "[cache][api]") {
  TempDir tmp;
  const std::string &dir = tmp.path;
  CompileResult r = compileCached(dir, false);
  CHECK(!r.fromCache);
  CHECK(entries(dir).empty());
  compileCached(dir); // stores
  CHECK(!compileCached(dir, false).fromCache);
}

TEST_CASE("compile cache: concurrent writers in two processes never leave a torn entry", "[cache]") {
  TempDir tmp;
  CompileCache cache(tmp.path);
  const std::string key = "one key, two writers";
  const std::string codes[2] = {payload(1 << 18, 2), payload(1 << 18, 3)};
  pid_t writers[2];
  for (int w = 0; w < 2; ++w) {
    writers[w] = fork();
    REQUIRE(writers[w] >= 0);
    if (writers[w] == 0) { // a writer: stores its code over and over, then leaves without Catch2's teardown
      std::string error;
      bool ok = true;
      for (int i = 0; i < 150 && ok; ++i) ok = cache.store(key, codes[w], error);
      _exit(ok ? 0 : 1);
    }
  }
  // Meanwhile this process reads: every load is a whole entry of one writer.
  int loads = 0, torn = 0, missing = 0;
  for (int i = 0; i < 300; ++i) {
    std::optional<std::string> got = cache.load(key);
    if (!got) ++missing;
    else if (*got != codes[0] && *got != codes[1]) ++torn;
    else ++loads;
  }
  for (pid_t pid : writers) {
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  }
  INFO(loads << " whole entries, " << missing << " misses");
  CHECK(torn == 0);
  std::optional<std::string> last = cache.load(key);
  REQUIRE(last);
  CHECK((*last == codes[0] || *last == codes[1]));
  // No temporary file is left behind.
  std::error_code ec;
  int files = 0;
  for (llvm::sys::fs::directory_iterator it(cache.directory(), ec), end; it != end && !ec; it.increment(ec)) ++files;
  CHECK(files == 1);
}

TEST_CASE("compile cache: two processes compiling one model into an empty cache both succeed", "[cache][api]") {
  TempDir tmp;
  const std::string &dir = tmp.path;
  pid_t children[2];
  for (pid_t &child : children) {
    child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      CompileOptions options;
      options.cacheDir = dir;
      CompileResult r = compileString(kModel, options);
      _exit(r ? 0 : 1);
    }
  }
  for (pid_t pid : children) {
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  }
  REQUIRE(entries(dir).size() == 1);
  CompileResult warm = compileCached(dir);
  CHECK(warm.fromCache);
  CHECK(run(*warm.model) == run(*compileCached(dir, false).model));
}
