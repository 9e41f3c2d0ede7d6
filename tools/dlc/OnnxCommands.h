//===- tools/dlc/OnnxCommands.h - `dlc import` and `--emit=onnx` ----------===//
#pragma once

#include <string>

#include <llvm/Support/CommandLine.h>

#include "ir/Graph.h"

namespace dlc {

/// The options of the ONNX commands (shown in --help beside dlc's own).
llvm::cl::OptionCategory &onnxCategory();
/// `dlc import MODEL.onnx -o MODEL.net`.
llvm::cl::SubCommand &importSubCommand();
int importMain();
/// `dlc MODEL.net --emit=onnx -o MODEL.onnx [--checkpoint FILE]`: `g` is the
/// per-sample graph of `source` (a .net file's text, named `sourceName`).
int emitOnnx(const std::string &sourceName, const std::string &source, std::unique_ptr<Graph> g,
             const std::string &outputPath);

} // namespace dlc
