//===- codegen/ParallelCodegen.cpp ----------------------------------------===//
#include "codegen/ParallelCodegen.h"

#include <algorithm>
#include <numeric>

#include <llvm/Bitcode/BitcodeReader.h>
#include <llvm/Bitcode/BitcodeWriter.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/ObjCopy/ConfigManager.h>
#include <llvm/ObjCopy/ObjCopy.h>
#include <llvm/Object/Binary.h>
#include <llvm/Object/ELFObjectFile.h>
#include <llvm/Pass.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/Program.h>
#include <llvm/Support/ThreadPool.h>
#include <llvm/Support/Threading.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Transforms/Utils/Cloning.h>

#include "codegen/CompileCache.h"
#include "codegen/Gemm.h"
#include "codegen/Target.h"
#include "ir/PhaseTimer.h"

namespace dlc {

namespace {

std::vector<unsigned> spread(const std::vector<unsigned> &sizes, unsigned partitions);

/// Functions of `sizes` instructions into `partitions` partitions, a power of
/// two chosen here from their total.
std::vector<unsigned> balance(const std::vector<unsigned> &sizes, uint64_t total, unsigned &partitions) {
  partitions = 1;
  while (partitions < kMaxPartitions && 2 * partitions <= sizes.size() &&
         total > uint64_t(partitions) * kPartitionInstructions)
    partitions *= 2;
  return spread(sizes, partitions);
}

/// Functions of `sizes` instructions into `partitions` partitions.
std::vector<unsigned> spread(const std::vector<unsigned> &sizes, unsigned partitions) {
  // Largest first, each into the partition with the fewest instructions so
  // far (ties: the lower index; equal sizes: module order): deterministic.
  std::vector<size_t> order(sizes.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return sizes[a] > sizes[b]; });
  std::vector<uint64_t> load(partitions, 0);
  std::vector<unsigned> assigned(sizes.size(), 0);
  for (size_t i : order) {
    unsigned p = unsigned(std::min_element(load.begin(), load.end()) - load.begin());
    assigned[i] = p;
    load[p] += sizes[i];
  }
  return assigned;
}

} // namespace

unsigned defaultCompileThreads() { return std::max(1u, llvm::hardware_concurrency().compute_thread_count()); }

std::vector<unsigned> partitionFunctions(const llvm::Module &m, unsigned &partitions) {
  // The model's functions are balanced over a power of two of partitions;
  // the GEMM's kernel library goes into kLibraryPartitions of its own after
  // them (it is half or more of a small model's code: on one partition the
  // first compile waited for it).
  std::vector<bool> inLibrary;
  std::vector<unsigned> modelSizes, librarySizes;
  uint64_t total = 0;
  for (const llvm::Function &f : m)
    if (!f.isDeclaration()) {
      inLibrary.push_back(isGemmLibraryFunction(f));
      (inLibrary.back() ? librarySizes : modelSizes).push_back(f.getInstructionCount());
      if (!inLibrary.back()) total += modelSizes.back();
    }
  std::vector<unsigned> model = balance(modelSizes, total, partitions);
  if (librarySizes.empty()) return model;
  unsigned libraryPartitions = std::min<unsigned>(kLibraryPartitions, unsigned(librarySizes.size()));
  std::vector<unsigned> library = spread(librarySizes, libraryPartitions);
  std::vector<unsigned> all;
  size_t nextModel = 0, nextLibrary = 0;
  for (bool lib : inLibrary) all.push_back(lib ? partitions + library[nextLibrary++] : model[nextModel++]);
  partitions += libraryPartitions;
  return all;
}


namespace {

/// A target machine like `tm` (one per thread: code generation changes it).
std::unique_ptr<llvm::TargetMachine> copyTargetMachine(const llvm::TargetMachine &tm) {
  return std::unique_ptr<llvm::TargetMachine>(tm.getTarget().createTargetMachine(
      tm.getTargetTriple().str(), tm.getTargetCPU(), tm.getTargetFeatureString(), tm.Options,
      tm.getRelocationModel(), tm.getCodeModel(), tm.getOptLevel()));
}

/// Each of the `partitions` partitions of `m` as bitcode: its functions'
/// bodies, every other function declared. `m`'s internal functions are made
/// hidden first, so that a partition can call what another defines.
std::vector<std::string> splitIntoBitcode(llvm::Module &m, const std::vector<unsigned> &assigned, unsigned partitions) {
  PhaseTimer timer("splitting into partitions");
  llvm::DenseMap<const llvm::GlobalValue *, unsigned> partitionOf;
  size_t next = 0;
  for (llvm::Function &f : m)
    if (!f.isDeclaration()) partitionOf[&f] = assigned[next++];
  for (llvm::GlobalValue &gv : m.global_values())
    if (gv.hasLocalLinkage()) {
      gv.setLinkage(llvm::GlobalValue::ExternalLinkage);
      gv.setVisibility(llvm::GlobalValue::HiddenVisibility);
    }
  std::vector<std::string> bitcode(partitions);
  for (unsigned p = 0; p < partitions; ++p) {
    llvm::ValueToValueMapTy map;
    // Functions by the plan; global variables (none today) in partition 0.
    auto part = llvm::CloneModule(m, map, [&](const llvm::GlobalValue *gv) {
      auto it = partitionOf.find(gv);
      return it != partitionOf.end() ? it->second == p : p == 0;
    });
    llvm::raw_string_ostream out(bitcode[p]);
    llvm::WriteBitcodeToFile(*part, out);
  }
  return bitcode;
}

/// One partition: read into a context of its own, optimized, compiled.
bool compilePartition(const std::string &bitcode, const llvm::TargetMachine &like, int optLevel, std::string &object,
                      std::string &error) {
  llvm::LLVMContext ctx;
  auto part = llvm::parseBitcodeFile(llvm::MemoryBufferRef(bitcode, "partition"), ctx);
  if (!part) {
    error = llvm::toString(part.takeError());
    return false;
  }
  auto tm = copyTargetMachine(like);
  optimizeModule(**part, *tm, optLevel);
  return emitObjectCode(**part, *tm, object, error);
}

} // namespace

bool compileModule(llvm::Module &m, const llvm::TargetMachine &tm, int optLevel, unsigned threads,
                   std::vector<std::string> &objects, std::string &error, const KernelLibraryCache *library) {
  // A cached library: the model's calls go to its objects. Else, for the
  // cache, the whole library: the same objects serve every later model.
  bool linked = false;
  if (library && !library->objects.empty())
    for (llvm::Function &f : m)
      if (!f.isDeclaration() && isGemmLibraryFunction(f)) {
        f.deleteBody();
        f.setVisibility(llvm::GlobalValue::HiddenVisibility);
        linked = true;
      }
  if (library && library->objects.empty()) completeGemmLibrary(m, library->gemm);
  unsigned partitions = 1;
  std::vector<unsigned> assigned = partitionFunctions(m, partitions);
  unsigned firstLibrary = partitions; // the library's partitions are the last ones
  size_t index = 0;
  for (const llvm::Function &f : m)
    if (!f.isDeclaration()) {
      if (isGemmLibraryFunction(f)) firstLibrary = std::min(firstLibrary, assigned[index]);
      ++index;
    }
  auto addLibrary = [&] {
    if (linked) objects.insert(objects.end(), library->objects.begin(), library->objects.end());
    return true;
  };
  if (partitions == 1) { // as it is, in the caller's context
    objects.assign(1, "");
    auto own = copyTargetMachine(tm);
    optimizeModule(m, *own, optLevel);
    return emitObjectCode(m, *own, objects[0], error) && addLibrary();
  }
  std::vector<std::string> bitcode = splitIntoBitcode(m, assigned, partitions);
  objects.assign(bitcode.size(), "");
  std::vector<std::string> errors(bitcode.size());
  std::vector<char> ok(bitcode.size(), 0);
  if (threads == 0) threads = defaultCompileThreads();
  if (llvm::TimePassesIsEnabled) threads = 1;
  threads = std::min<unsigned>(threads, partitions);
  if (threads <= 1) {
    for (size_t p = 0; p < partitions; ++p) ok[p] = compilePartition(bitcode[p], tm, optLevel, objects[p], errors[p]);
  } else {
    llvm::DefaultThreadPool pool(llvm::hardware_concurrency(threads));
    for (size_t p = 0; p < partitions; ++p)
      pool.async([&, p] { ok[p] = compilePartition(bitcode[p], tm, optLevel, objects[p], errors[p]); });
    pool.wait();
  }
  for (size_t p = 0; p < ok.size(); ++p)
    if (!ok[p]) {
      error = errors[p];
      return false;
    }
  if (library && library->cache && !linked && firstLibrary < partitions) {
    std::string ignored; // a cache that cannot be written costs the next model the compile
    library->cache->store(library->key,
                          packObjects(std::vector<std::string>(objects.begin() + firstLibrary, objects.end())), ignored);
  }
  return addLibrary();
}

namespace {

bool writeBytes(const std::string &path, const std::string &bytes, std::string &error) {
  std::error_code ec;
  llvm::raw_fd_ostream out(path, ec, llvm::sys::fs::OF_None);
  if (!ec) {
    out << bytes;
    out.close();
    if (!out.has_error()) return true;
    ec = out.error();
    out.clear_error();
  }
  error = "cannot write '" + path + "': " + ec.message();
  return false;
}

/// Makes the hidden symbols of the ELF object at `path` local, as they were
/// before the partitions made them global: two models' objects linked into
/// one program then share no name but their entry points'.
bool localizeHiddenSymbols(const std::string &path, std::string &error) {
  auto file = llvm::MemoryBuffer::getFile(path, /*IsText=*/false, /*RequiresNullTerminator=*/false);
  if (!file) {
    error = "cannot read '" + path + "': " + file.getError().message();
    return false;
  }
  auto binary = llvm::object::createBinary((*file)->getMemBufferRef());
  if (!binary) {
    error = "'" + path + "': " + llvm::toString(binary.takeError());
    return false;
  }
  if (!llvm::isa<llvm::object::ELFObjectFileBase>(**binary)) return true;
  llvm::objcopy::ConfigManager config;
  config.ELF.LocalizeHidden = true;
  llvm::SmallVector<char, 0> bytes;
  llvm::raw_svector_ostream out(bytes);
  if (auto err = llvm::objcopy::executeObjcopyOnBinary(config, **binary, out)) {
    error = "'" + path + "': " + llvm::toString(std::move(err));
    return false;
  }
  file->reset();
  return writeBytes(path, std::string(bytes.begin(), bytes.end()), error);
}

} // namespace

bool writeObjectFile(const std::vector<std::string> &objects, const std::string &path, const std::string &cc,
                     std::string &error) {
  if (objects.size() == 1) return writeBytes(path, objects[0], error);
  auto program = llvm::sys::findProgramByName(cc);
  if (!program) {
    error = "no C compiler '" + cc + "' to combine the object's " + std::to_string(objects.size()) + " partitions";
    return false;
  }
  llvm::SmallString<128> dir;
  if (auto ec = llvm::sys::fs::createUniqueDirectory("dlc-obj", dir)) {
    error = "cannot create a temporary directory: " + ec.message();
    return false;
  }
  std::vector<std::string> args = {*program, "-r", "-nostdlib", "-o", path};
  bool ok = true;
  for (size_t i = 0; i < objects.size() && ok; ++i) {
    args.push_back((dir + "/part" + std::to_string(i) + ".o").str());
    ok = writeBytes(args.back(), objects[i], error);
  }
  if (ok) {
    std::vector<llvm::StringRef> argv(args.begin(), args.end());
    std::string log = (dir + "/cc.log").str();
    std::optional<llvm::StringRef> redirects[] = {std::nullopt, llvm::StringRef(log), llvm::StringRef(log)};
    int rc = llvm::sys::ExecuteAndWait(*program, argv, std::nullopt, redirects, 0, 0, &error);
    if (rc != 0) {
      auto text = llvm::MemoryBuffer::getFile(log);
      error = "combining the partitions into '" + path + "' failed (" + (rc < 0 ? error : "exit " + std::to_string(rc)) +
              "): " + (text ? (*text)->getBuffer().str() : "");
      ok = false;
    }
  }
  llvm::sys::fs::remove_directories(dir);
  return ok && localizeHiddenSymbols(path, error);
}

} // namespace dlc
