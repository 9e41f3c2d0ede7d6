//===- frontend/Builtins.h - Built-in functions and losses of .net --------===//
//
// Each built-in lowers to a few IR ops through an IRBuilder that checks
// shapes as it goes. Losses, mean and layer_norm are compositions of IR ops,
// so their gradients come from the ops' own VJP rules; pooling and
// convolution are ops of their own.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "frontend/AST.h"
#include "ir/Builder.h"

namespace dlc {

/// One call of a built-in, with its arguments evaluated.
struct BuiltinCall {
  const Expr &expr;
  std::vector<Node *> args;             ///< positional args (null for lists or errors)
  std::vector<const Expr *> argExprs;   ///< their syntax
  std::map<std::string, Node *> keywords;
  std::map<std::string, const Expr *> keywordExprs;
};

struct Builtin {
  const char *name;
  int minArgs, maxArgs;
  std::vector<const char *> keywords;
  bool isLoss;
  Node *(*lower)(IRBuilder &b, const BuiltinCall &call);
};

const Builtin *findBuiltin(std::string_view name);
/// batch_norm(x, momentum, eps): frontend/BatchNorm.cpp.
Node *lowerBatchNorm(IRBuilder &b, const BuiltinCall &call);
/// Names of the loss built-ins, for messages ("cross_entropy, square_loss, ...").
std::string lossNames();

} // namespace dlc
