//===- codegen/JIT.cpp - LLJIT for the host -------------------------------===//
//
// The target machine is the host's (codegen/Target.h: its CPU and features);
// a module is optimized by optimizeModule at the requested level before ORC
// compiles it; the compiled functions live as long as the JIT.
//
//===----------------------------------------------------------------------===//
#include "codegen/JIT.h"

#include "codegen/Target.h"

#include <mutex>

#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/Support/TargetSelect.h>

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
  // Let compiled code call libm from this process: llvm.log and llvm.pow
  // become logf and powf (e^x and tanh are inline arithmetic, no calls).
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
  auto tm = hostTargetMachine(error);
  return tm && add(std::move(m), std::move(ctx), *tm, optLevel, error);
}

bool JIT::add(std::unique_ptr<llvm::Module> m, std::unique_ptr<llvm::LLVMContext> ctx, llvm::TargetMachine &tm,
              int optLevel, std::string &error) {
  optimizeModule(*m, tm, optLevel);
  m->setDataLayout(jit_->getDataLayout());
  if (auto err = jit_->addIRModule(llvm::orc::ThreadSafeModule(std::move(m), std::move(ctx)))) {
    error = llvm::toString(std::move(err));
    return false;
  }
  return true;
}

bool JIT::addObject(const std::string &code, std::string &error) {
  std::string name = "dlc-model-" + std::to_string(objects_++) + ".o";
  if (auto err = jit_->addObjectFile(llvm::MemoryBuffer::getMemBufferCopy(code, name))) {
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
