//===- tools/dlc/dlc.cpp - The dlc command-line driver --------------------===//
//
// A thin shell over the library: parses flags, reads the input, runs the
// stages up to the requested --emit, prints diagnostics and picks the exit
// code (0 success, 1 any error: in the input, the flags, or I/O).
//
//===----------------------------------------------------------------------===//
#include <iostream>
#include <sstream>

#include <llvm/Support/CommandLine.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/Process.h>
#include <llvm/Support/ToolOutputFile.h>
#include <llvm/Support/raw_ostream.h>

#include "frontend/IRGen.h"
#include "frontend/Parser.h"
#include "ir/GraphTraits.h"
#include "ir/IRParser.h"
#include "ir/Printer.h"

namespace cl = llvm::cl;
using namespace dlc;

namespace {

cl::OptionCategory category("dlc options");

enum class Emit { AST, IR, Dot };
cl::opt<Emit> emit("emit", cl::desc("What to print"), cl::init(Emit::IR), cl::cat(category),
                   cl::values(clEnumValN(Emit::AST, "ast", "the syntax tree of a .net file"),
                              clEnumValN(Emit::IR, "ir", "the graph IR (text form, parses back)"),
                              clEnumValN(Emit::Dot, "dot", "the graph IR as a Graphviz picture")));

enum class Lang { Auto, Net, IR };
cl::opt<Lang> language("x", cl::desc("Input language (default: from the extension; .ir is IR)"),
                       cl::init(Lang::Auto), cl::cat(category),
                       cl::values(clEnumValN(Lang::Net, "net", "network description"),
                                  clEnumValN(Lang::IR, "ir", "graph IR text")));

cl::opt<std::string> outputFile("o", cl::desc("Output file (default: stdout)"), cl::value_desc("file"),
                                cl::init("-"), cl::cat(category));
cl::opt<std::string> inputFile(cl::Positional, cl::desc("<input file, or - for stdin>"), cl::Required,
                               cl::cat(category));

int usageError(const std::string &msg) {
  llvm::errs() << "dlc: error: " << msg << "\n";
  return 1;
}

} // namespace

int main(int argc, char **argv) {
  cl::HideUnrelatedOptions(category);
  cl::SetVersionPrinter([](llvm::raw_ostream &os) { os << "dlc version 0.1.0 (LLVM " LLVM_VERSION_STRING ")\n"; });
  cl::ParseCommandLineOptions(argc, argv,
                              "dlc - a symbolic automatic-differentiation compiler for neural networks\n");

  auto buffer = inputFile == "-" ? llvm::MemoryBuffer::getSTDIN() : llvm::MemoryBuffer::getFile(inputFile);
  if (!buffer) {
    llvm::errs() << fmt::format("{}: error: cannot read file: {}\n", inputFile.getValue(),
                                buffer.getError().message());
    return 1;
  }
  auto file = std::make_shared<SourceFile>();
  file->name = inputFile == "-" ? "<stdin>" : inputFile.getValue();
  file->text = (*buffer)->getBuffer().str();

  Lang lang = language;
  if (lang == Lang::Auto)
    lang = llvm::StringRef(inputFile).ends_with(".ir") ? Lang::IR : Lang::Net;

  DiagnosticEngine diags;
  bool color = llvm::errs().has_colors();
  auto fail = [&] {
    llvm::errs() << renderDiagnostics(diags, color);
    return 1;
  };

  std::string text;
  if (emit == Emit::AST) {
    if (lang != Lang::Net) return usageError("--emit=ast needs .net input");
    Program p = parseProgram(file, diags);
    if (diags.hasErrors()) return fail();
    text = printAST(p);
  } else {
    std::unique_ptr<Graph> g = lang == Lang::IR ? parseIR(file, diags) : compileNet(file, diags);
    if (!g) return fail();
    if (emit == Emit::IR) {
      text = printGraph(*g);
    } else {
      std::ostringstream os;
      writeDot(*g, os);
      text = os.str();
    }
  }
  llvm::errs() << renderDiagnostics(diags, color); // warnings, if any

  std::error_code ec;
  llvm::ToolOutputFile out(outputFile, ec, llvm::sys::fs::OF_Text);
  if (ec) return usageError(fmt::format("cannot write '{}': {}", outputFile.getValue(), ec.message()));
  out.os() << text;
  out.keep();
  return 0;
}
