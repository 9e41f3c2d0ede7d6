//===- codegen/JIT.cpp ----------------------------------------------------===//
#include "codegen/JIT.h"

#include <mutex>

#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/TargetParser/Host.h>

namespace dlc {

std::unique_ptr<JIT> JIT::create(std::string &error) {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  });
  auto jtmb = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!jtmb) {
    error = llvm::toString(jtmb.takeError());
    return nullptr;
  }
  jtmb->setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
  auto jit = llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(*jtmb).create();
  if (!jit) {
    error = llvm::toString(jit.takeError());
    return nullptr;
  }
  // Let compiled code call libm (expf, tanhf, ...) from this process.
  auto gen = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess((*jit)->getDataLayout().getGlobalPrefix());
  if (!gen) {
    error = llvm::toString(gen.takeError());
    return nullptr;
  }
  (*jit)->getMainJITDylib().addGenerator(std::move(*gen));
  return std::unique_ptr<JIT>(new JIT(std::move(*jit)));
}

bool JIT::add(std::unique_ptr<llvm::Module> m, std::unique_ptr<llvm::LLVMContext> ctx, int optLevel,
              std::string &error) {
  m->setDataLayout(jit_->getDataLayout());
  m->setTargetTriple(jit_->getTargetTriple().str());
  // Host features on every function, so the optimizer vectorizes for AVX2/FMA.
  llvm::StringMap<bool> features = llvm::sys::getHostCPUFeatures();
  std::string featureString;
  for (auto &f : features) featureString += (featureString.empty() ? "" : ",") + std::string(f.second ? "+" : "-") + f.first().str();
  for (llvm::Function &f : *m) {
    if (f.isDeclaration()) continue;
    f.addFnAttr("target-cpu", llvm::sys::getHostCPUName());
    f.addFnAttr("target-features", featureString);
  }
  if (optLevel > 0) {
    auto jtmb = llvm::orc::JITTargetMachineBuilder::detectHost();
    std::unique_ptr<llvm::TargetMachine> tm;
    if (jtmb) {
      if (auto t = jtmb->createTargetMachine()) tm = std::move(*t);
      else llvm::consumeError(t.takeError());
    } else {
      llvm::consumeError(jtmb.takeError());
    }
    llvm::LoopAnalysisManager lam;
    llvm::FunctionAnalysisManager fam;
    llvm::CGSCCAnalysisManager cgam;
    llvm::ModuleAnalysisManager mam;
    llvm::PassBuilder pb(tm.get());
    pb.registerModuleAnalyses(mam);
    pb.registerCGSCCAnalyses(cgam);
    pb.registerFunctionAnalyses(fam);
    pb.registerLoopAnalyses(lam);
    pb.crossRegisterProxies(lam, fam, cgam, mam);
    static const llvm::OptimizationLevel levels[] = {llvm::OptimizationLevel::O0, llvm::OptimizationLevel::O1,
                                                     llvm::OptimizationLevel::O2, llvm::OptimizationLevel::O3};
    pb.buildPerModuleDefaultPipeline(levels[std::min(optLevel, 3)]).run(*m, mam);
  }
  if (auto err = jit_->addIRModule(llvm::orc::ThreadSafeModule(std::move(m), std::move(ctx)))) {
    error = llvm::toString(std::move(err));
    return false;
  }
  return true;
}

void *JIT::lookup(const std::string &name, std::string &error) {
  auto sym = jit_->lookup(name);
  if (!sym) {
    error = llvm::toString(sym.takeError());
    return nullptr;
  }
  return sym->toPtr<void *>();
}

} // namespace dlc
