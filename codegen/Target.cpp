//===- codegen/Target.cpp -------------------------------------------------===//
#include "codegen/Target.h"

#include <cstdio>
#include <cstdlib>
#include <mutex>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include <fmt/format.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/PassTimingInfo.h>
#include <llvm/Pass.h>
#include <llvm/MC/MCSubtargetInfo.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/CommandLine.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/TargetParser/Host.h>

#include "ir/PhaseTimer.h"

namespace dlc {

std::string defaultLibraryCPU(const std::string &triple) {
  llvm::Triple t(triple.empty() ? llvm::sys::getProcessTriple() : llvm::Triple::normalize(triple));
  return t.getArch() == llvm::Triple::x86_64 ? "x86-64-v3" : "generic";
}

bool isHostTriple(const std::string &triple) {
  llvm::Triple t(llvm::Triple::normalize(triple)), host(llvm::sys::getProcessTriple());
  return triple.empty() || (t.getArch() == host.getArch() && t.getOS() == host.getOS() &&
                            t.getEnvironment() == host.getEnvironment());
}

std::unique_ptr<llvm::TargetMachine> createTargetMachine(const TargetSpec &spec, std::string &error) {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeAllTargetInfos();
    llvm::InitializeAllTargets();
    llvm::InitializeAllTargetMCs();
    llvm::InitializeAllAsmPrinters();
    // Loop strength reduction was a fifth of the back end's time on mnist's
    // train step (28 of 140 ms) and changed no step time measurably: the
    // kernels' loops already step pointers. (A process-wide LLVM option.)
    auto &options = llvm::cl::getRegisteredOptions();
    if (auto it = options.find("disable-lsr"); it != options.end()) it->second->addOccurrence(0, "disable-lsr", "true");
  });
  std::string host = llvm::sys::getProcessTriple();
  std::string triple = spec.triple.empty() ? host : llvm::Triple::normalize(spec.triple);
  const llvm::Target *target = llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target) return nullptr;
  std::string cpu = spec.cpu, features;
  if (cpu == "native") {
    if (!isHostTriple(triple)) {
      error = fmt::format("--cpu=native is the CPU of this host ({}), not of {}; name a CPU of {}", host, triple,
                          triple);
      return nullptr;
    }
    // Asked once per process (cpuid traps to the hypervisor on a virtual machine).
    static const std::pair<std::string, std::string> hostCpu = [] {
      std::string names;
      for (auto &f : llvm::sys::getHostCPUFeatures())
        names += (names.empty() ? "" : ",") + std::string(f.second ? "+" : "-") + f.first().str();
      return std::pair(llvm::sys::getHostCPUName().str(), names);
    }();
    cpu = hostCpu.first, features = hostCpu.second;
  }
  std::unique_ptr<llvm::MCSubtargetInfo> info(target->createMCSubtargetInfo(triple, "", ""));
  if (!info || !info->isCPUStringValid(cpu)) {
    error = fmt::format("unknown CPU '{}' for {} (`llc -march={} -mcpu=help` lists them)", cpu, triple,
                        llvm::Triple(triple).getArchName().str());
    return nullptr;
  }
  llvm::TargetOptions options;
  return std::unique_ptr<llvm::TargetMachine>(target->createTargetMachine(
      triple, cpu, features, options, llvm::Reloc::PIC_, std::nullopt, llvm::CodeGenOptLevel::Aggressive));
}

std::unique_ptr<llvm::TargetMachine> hostTargetMachine(std::string &error) { return createTargetMachine({}, error); }

uint64_t requiredCpuFeatures(const llvm::TargetMachine &tm) {
  if (!tm.getTargetTriple().isX86()) return 0;
  const llvm::MCSubtargetInfo *info = tm.getMCSubtargetInfo();
  uint64_t mask = 0, bit = 1;
#define DLC_CPU_FEATURE(Id, name, leaf, subleaf, reg, bit_, xcr0) \
  mask |= info->checkFeatures("+" name) ? bit : 0;                \
  bit <<= 1;
#include "runtime/CpuFeatures.def"
  return mask;
}

std::string cpuFeatureNames(uint64_t mask) {
  static const char *const names[] = {
#define DLC_CPU_FEATURE(Id, name, leaf, subleaf, reg, bit, xcr0) name,
#include "runtime/CpuFeatures.def"
  };
  std::string list;
  for (size_t i = 0; i < std::size(names); ++i)
    if (mask >> i & 1) list += (list.empty() ? "" : ", ") + std::string(names[i]);
  return list;
}

namespace {

/// /sys/devices/system/cpu/cpu0/cache/index*/ {level, type, size}.
CacheSizes sysfsCacheSizes() {
  CacheSizes c;
  for (int i = 0; i < 8; ++i) {
    std::string dir = fmt::format("/sys/devices/system/cpu/cpu0/cache/index{}/", i);
    auto read = [&](const char *leaf) {
      auto text = llvm::MemoryBuffer::getFile(dir + leaf);
      return text ? llvm::StringRef((*text)->getBuffer()).trim().str() : std::string();
    };
    std::string level = read("level"), type = read("type"), size = read("size");
    if (level.empty()) break;
    if (type == "Instruction" || size.empty()) continue;
    int64_t bytes = std::atoll(size.c_str()) * (size.back() == 'K' ? 1024 : size.back() == 'M' ? 1 << 20 : 1);
    (level == "1" ? c.l1d : level == "2" ? c.l2 : c.l3) = bytes;
  }
  return c;
}

CacheSizes cpuidCacheSizes() {
  CacheSizes c;
#if defined(__x86_64__) || defined(__i386__)
  // Deterministic cache parameters: Intel's leaf 4, AMD's 0x8000001D.
  unsigned a, b, cx, d;
  for (unsigned leaf : {4u, 0x8000001Du})
    for (unsigned sub = 0; sub < 8 && __get_cpuid_count(leaf, sub, &a, &b, &cx, &d); ++sub) {
      unsigned type = a & 31, level = a >> 5 & 7;
      if (type == 0) break;
      if (type == 2) continue; // instructions
      int64_t bytes = int64_t((b >> 22) + 1) * (((b >> 12) & 1023) + 1) * ((b & 4095) + 1) * (int64_t(cx) + 1);
      (level == 1 ? c.l1d : level == 2 ? c.l2 : c.l3) = bytes;
    }
  // AMD's older leaves (all that some hypervisors fill in): KiB, and L3 in 512 KiB units.
  if (c.l1d == 0 && __get_cpuid(0x80000005, &a, &b, &cx, &d)) c.l1d = int64_t(cx >> 24) << 10;
  if (c.l2 == 0 && __get_cpuid(0x80000006, &a, &b, &cx, &d)) {
    c.l2 = int64_t(cx >> 16) << 10;
    c.l3 = int64_t(d >> 18) << 19;
  }
#endif
  return c;
}

} // namespace

CacheSizes hostCacheSizes() {
  static const CacheSizes sizes = [] { // once per process: they do not change
    CacheSizes s = sysfsCacheSizes(), c = cpuidCacheSizes();
    return CacheSizes{s.l1d ? s.l1d : c.l1d, s.l2 ? s.l2 : c.l2, s.l3 ? s.l3 : c.l3};
  }();
  return sizes;
}

GemmConfig gemmConfigFor(const llvm::TargetMachine &tm, bool runsHere) {
  bool avx512 = tm.getTargetTriple().isX86() && tm.getMCSubtargetInfo()->checkFeatures("+avx512f");
  if (!runsHere && !avx512) return portableGemmConfig();
  GemmConfig g = deriveGemmConfig(avx512 ? 16 : 8, runsHere ? hostCacheSizes() : CacheSizes{});
  // DLC_GEMM_BLOCKS=KC,MC,NC replaces the derived blocks of code that runs
  // here (to measure other blockings; the compile cache's key has the blocks).
  if (const char *spec = std::getenv("DLC_GEMM_BLOCKS"); spec && runsHere) {
    if (auto tuned = withBlocks(g, spec)) return *tuned;
    static std::once_flag warned;
    std::call_once(warned, [&] {
      std::fprintf(stderr, "dlc: warning: DLC_GEMM_BLOCKS='%s' is not KC,MC,NC within the limits of docs/codegen.md; "
                           "using %s\n", spec, g.describe().c_str());
    });
  }
  return g;
}

const char *const kLoopPipeline =
    "function(sroa,early-cse,instcombine<no-verify-fixpoint>,simplifycfg,loop-mssa(licm),indvars,"
    "loop-vectorize,instcombine<no-verify-fixpoint>,simplifycfg)";

void optimizeModule(llvm::Module &m, llvm::TargetMachine &tm, int level) {
  m.setDataLayout(tm.createDataLayout());
  m.setTargetTriple(tm.getTargetTriple().str());
  for (llvm::Function &f : m) {
    if (f.isDeclaration()) continue;
    f.addFnAttr("target-cpu", tm.getTargetCPU());
    f.addFnAttr("target-features", tm.getTargetFeatureString());
  }
  if (level <= 0) return;
  PhaseTimer timer("LLVM optimization");
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  // -time-passes: the new pass manager times its passes only through an
  // instrumentation (the legacy one, code generation, times itself); the
  // handler prints its table when it goes out of scope.
  llvm::PassInstrumentationCallbacks callbacks;
  llvm::TimePassesHandler timing(llvm::TimePassesIsEnabled);
  timing.setOutStream(llvm::errs());
  timing.registerCallbacks(callbacks);
  llvm::PassBuilder pb(&tm, llvm::PipelineTuningOptions(), std::nullopt, &callbacks);
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  if (level >= 3) {
    pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3).run(m, mam);
    return;
  }
  // -O1/-O2: the passes the emitted loop nests need, not the whole default
  // pipeline (which spends 2/3 of its time on work that finds nothing here:
  // the hot loops are already blocked and vectorized by hand). mnist's
  // train step: 0.32 s in default<O2>, 0.06 s here, the same step time.
  llvm::ModulePassManager mpm;
  if (auto err = pb.parsePassPipeline(mpm, kLoopPipeline)) llvm::report_fatal_error(std::move(err));
  mpm.run(m, mam);
}

namespace {

bool emitObject(llvm::Module &m, llvm::TargetMachine &tm, llvm::raw_pwrite_stream &out, std::string &error) {
  PhaseTimer timer("LLVM code generation (object file)");
  llvm::legacy::PassManager pm;
  if (tm.addPassesToEmitFile(pm, out, nullptr, llvm::CodeGenFileType::ObjectFile)) {
    error = "the target cannot emit object files";
    return false;
  }
  pm.run(m);
  return true;
}

} // namespace

bool emitObjectFile(llvm::Module &m, llvm::TargetMachine &tm, const std::string &path, std::string &error) {
  std::error_code ec;
  llvm::raw_fd_ostream out(path, ec, llvm::sys::fs::OF_None);
  if (ec) {
    error = "cannot write '" + path + "': " + ec.message();
    return false;
  }
  if (!emitObject(m, tm, out, error)) return false;
  out.flush();
  return true;
}

bool emitObjectCode(llvm::Module &m, llvm::TargetMachine &tm, std::string &code, std::string &error) {
  llvm::SmallVector<char, 0> bytes;
  llvm::raw_svector_ostream out(bytes);
  if (!emitObject(m, tm, out, error)) return false;
  code.assign(bytes.begin(), bytes.end());
  return true;
}

} // namespace dlc
