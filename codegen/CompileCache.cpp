//===- codegen/CompileCache.cpp -------------------------------------------===//
#include "codegen/CompileCache.h"

#include <cstring>

#include <dlfcn.h>

#include <fmt/format.h>
#include <llvm/ADT/StringExtras.h>
#include <llvm/Config/llvm-config.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/Path.h>
#include <llvm/Support/Process.h>
#include <llvm/Support/SHA256.h>
#include <llvm/Support/raw_ostream.h>

#include "ir/PhaseTimer.h"
#include "ir/Printer.h"

namespace dlc {

namespace {

constexpr char kMagic[8] = {'D', 'L', 'C', 'C', 'A', 'C', 'H', 'E'};
constexpr uint32_t kFormat = 2; // 2: the code is a list of object files
constexpr size_t kDigestSize = 32;

/// The binary that holds this code generator (the dlc driver, libdlc.so or a
/// test): its path, size and modification time, so that a rebuilt dlc never
/// loads code an older build generated.
std::string buildIdentity() {
  Dl_info info{};
  if (!dladdr(reinterpret_cast<void *>(&buildIdentity), &info) || !info.dli_fname) return "unknown build";
  llvm::sys::fs::file_status st;
  if (llvm::sys::fs::status(info.dli_fname, st)) return info.dli_fname;
  return fmt::format("{} {} {}", info.dli_fname, st.getSize(),
                     st.getLastModificationTime().time_since_epoch().count());
}

std::string sha256(llvm::StringRef bytes) {
  auto digest = llvm::SHA256::hash(llvm::arrayRefFromStringRef(bytes));
  return std::string(digest.begin(), digest.end());
}

void putU32(std::string &out, uint32_t v) { out.append(reinterpret_cast<const char *>(&v), sizeof v); }
void putU64(std::string &out, uint64_t v) { out.append(reinterpret_cast<const char *>(&v), sizeof v); }

/// Reads an entry's fields in order; any read past the end fails.
struct Reader {
  llvm::StringRef rest;
  bool bytes(size_t n, llvm::StringRef &out) {
    if (rest.size() < n) return false;
    out = rest.take_front(n);
    rest = rest.drop_front(n);
    return true;
  }
  template <class T> bool number(T &v) {
    llvm::StringRef b;
    if (!bytes(sizeof v, b)) return false;
    std::memcpy(&v, b.data(), sizeof v);
    return true;
  }
};

} // namespace

std::string packObjects(const std::vector<std::string> &objects) {
  std::string code;
  putU64(code, objects.size());
  for (const std::string &object : objects) {
    putU64(code, object.size());
    code += object;
  }
  return code;
}

std::optional<std::vector<std::string>> unpackObjects(llvm::StringRef code) {
  Reader r{code};
  uint64_t count = 0;
  if (!r.number(count) || count > code.size()) return std::nullopt;
  std::vector<std::string> objects;
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t size = 0;
    llvm::StringRef object;
    if (!r.number(size) || !r.bytes(size, object)) return std::nullopt;
    objects.push_back(object.str());
  }
  if (!r.rest.empty()) return std::nullopt;
  return objects;
}

std::string defaultCacheDirectory() {
  if (auto dir = llvm::sys::Process::GetEnv("DLC_CACHE_DIR"); dir && !dir->empty()) return *dir;
  if (auto xdg = llvm::sys::Process::GetEnv("XDG_CACHE_HOME"); xdg && !xdg->empty()) return *xdg + "/dlc";
  if (auto home = llvm::sys::Process::GetEnv("HOME"); home && !home->empty()) return *home + "/.cache/dlc";
  return "";
}

std::string compileCacheKey(const Graph &g, const ModelLayout &layout, const std::string &prefix,
                            const llvm::TargetMachine &tm, int optLevel) {
  static const std::string build = buildIdentity();
  // The GEMM's blocks follow the host's caches, not only the CPU: they are in the key.
  return fmt::format("dlc {} (LLVM {}) {}\ntarget {} cpu {} features {}\ngemm {}\n-O{} capacity {} optimizer {} prefix {}\n{}",
                     DLC_VERSION, LLVM_VERSION_STRING, build, tm.getTargetTriple().str(), tm.getTargetCPU().str(),
                     tm.getTargetFeatureString().str(), layout.gemm.describe(), optLevel, layout.capacity,
                     layout.optimizer == Optimizer::Adam ? "adam" : "sgd", prefix, printGraph(g));
}

std::string kernelLibraryCacheKey(const GemmConfig &gemm, const llvm::TargetMachine &tm, int optLevel) {
  static const std::string build = buildIdentity();
  return fmt::format("dlc {} (LLVM {}) {}\ntarget {} cpu {} features {}\n-O{}\nGEMM kernel library {}\n", DLC_VERSION,
                     LLVM_VERSION_STRING, build, tm.getTargetTriple().str(), tm.getTargetCPU().str(),
                     tm.getTargetFeatureString().str(), optLevel, gemm.describe());
}

CompileCache::CompileCache(std::string directory)
    : dir_(directory.empty() ? defaultCacheDirectory() : std::move(directory)) {}

std::string CompileCache::entryPath(const std::string &key) const {
  return dir_ + "/" + llvm::toHex(sha256(key), /*LowerCase=*/true) + ".dlco";
}

std::optional<std::string> CompileCache::load(const std::string &key) const {
  PhaseTimer timer("compile cache: load");
  if (dir_.empty()) return std::nullopt;
  std::string path = entryPath(key);
  auto file = llvm::MemoryBuffer::getFile(path, /*IsText=*/false, /*RequiresNullTerminator=*/false);
  if (!file) return std::nullopt; // no entry
  Reader r{(*file)->getBuffer()};
  llvm::StringRef magic, storedKey, digest, code;
  uint32_t format = 0, reserved = 0;
  uint64_t keySize = 0, codeSize = 0;
  bool good = r.bytes(sizeof kMagic, magic) && magic == llvm::StringRef(kMagic, sizeof kMagic) && r.number(format) &&
              format == kFormat && r.number(reserved) && r.number(keySize) && r.bytes(keySize, storedKey) &&
              storedKey == key && r.number(codeSize) && r.bytes(kDigestSize, digest) && r.bytes(codeSize, code) &&
              r.rest.empty() && sha256(code) == digest;
  if (!good) {
    // Corrupt, truncated, or another key's (a hash collision): never run it.
    // Removing it may race with a writer's rename; then the good entry goes
    // and the next compile stores it again.
    file->reset();
    llvm::sys::fs::remove(path);
    return std::nullopt;
  }
  return code.str();
}

bool CompileCache::store(const std::string &key, const std::string &code, std::string &error) const {
  PhaseTimer timer("compile cache: store");
  if (dir_.empty()) {
    error = "no cache directory (set DLC_CACHE_DIR)";
    return false;
  }
  if (auto ec = llvm::sys::fs::create_directories(dir_)) {
    error = fmt::format("cannot create the cache directory '{}': {}", dir_, ec.message());
    return false;
  }
  std::string entry(kMagic, sizeof kMagic);
  putU32(entry, kFormat);
  putU32(entry, 0);
  putU64(entry, key.size());
  entry += key;
  putU64(entry, code.size());
  entry += sha256(code);
  entry += code;
  std::string path = entryPath(key);
  int fd = -1;
  llvm::SmallString<256> temp;
  if (auto ec = llvm::sys::fs::createUniqueFile(path + ".tmp-%%%%%%%%", fd, temp)) {
    error = fmt::format("cannot write to the cache directory '{}': {}", dir_, ec.message());
    return false;
  }
  {
    llvm::raw_fd_ostream out(fd, /*shouldClose=*/true);
    out << entry;
    out.close();
    if (out.has_error()) {
      error = fmt::format("cannot write '{}': {}", temp.str().str(), out.error().message());
      out.clear_error();
      llvm::sys::fs::remove(temp);
      return false;
    }
  }
  if (auto ec = llvm::sys::fs::rename(temp, path)) {
    error = fmt::format("cannot write '{}': {}", path, ec.message());
    llvm::sys::fs::remove(temp);
    return false;
  }
  return true;
}

} // namespace dlc
