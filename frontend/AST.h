//===- frontend/AST.h - Syntax tree of a .net file ------------------------===//
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ir/Diagnostics.h"

namespace dlc {

/// One item of `x[...]`: an index `i`, or a slice `a:b` with either end optional.
struct IndexItem {
  SourceLoc loc;
  bool isSlice = false;
  bool hasStart = false, hasEnd = false;
  int64_t start = 0, end = 0; ///< as written (negative counts from the end)
};

struct Expr {
  enum class Kind {
    Number,    ///< 0.5
    Name,      ///< v1
    Call,      ///< relu(x), conv2d(x, K, pad = 1)
    Binary,    ///< a + b, A @ v, x ^ 2  (op is the operator spelling)
    Neg,       ///< -x
    Transpose, ///< x.T
    List,      ///< [8, 14, 14] (shape arguments), [[1, 2], [3, 4]] (a tensor literal)
    Index,     ///< x[1:3], x[0], x[:, 2:] (args[0] is x; the items are in `index`)
  };
  Kind kind;
  SourceLoc loc; ///< the operator, the name, or the literal
  double number = 0;
  bool isInteger = false;
  std::string name; ///< Name: the name; Call: the callee; Binary: the operator
  std::vector<std::unique_ptr<Expr>> args;
  std::vector<std::string> argNames; ///< Call: keyword of each arg ("" if positional)
  std::vector<SourceLoc> argNameLocs; ///< Call: where each keyword is written
  std::vector<IndexItem> index;       ///< Index: one item per axis, from axis 0
  int height = 1; ///< levels of the tree below and including this node (at most kMaxNesting)
};
using ExprPtr = std::unique_ptr<Expr>;

/// `name` or `name(args)` in an initializer or a train setting.
struct CallSpec {
  std::string name;
  SourceLoc loc;
  bool hasParens = false;
  std::vector<ExprPtr> args;
  std::vector<std::string> argNames;
};

struct ShapeSpec {
  std::vector<int64_t> dims;
  SourceLoc loc;
};

struct Decl {
  enum class Kind { Input, Label, Param, Const, Fn, Output, Loss, Penalty, Assign };
  Kind kind;
  SourceLoc loc;     ///< the keyword (or the name, for an assignment)
  std::string name;  ///< empty for loss and penalty
  SourceLoc nameLoc;
  ShapeSpec shape;   ///< input, label, param; const when hasShape
  bool hasShape = false; ///< const W : [2, 3] = ...
  int64_t classes = 0; ///< label y : class(10)
  CallSpec init;     ///< param ... ~ init
  std::vector<std::string> fnParams;
  std::vector<SourceLoc> fnParamLocs;
  ExprPtr value;     ///< const, fn body, output (optional), loss, penalty, assignment
  bool broken = false; ///< a syntax error cut it short; only its name is known
};

struct ModelDecl {
  std::string name;
  SourceLoc loc;
  std::vector<Decl> decls;
};

struct TrainSetting {
  std::string key;
  SourceLoc loc;
  CallSpec value; ///< `adam(lr = 1e-3)`, or a bare number in value.args[0]
};

struct TrainDecl {
  std::string model;
  SourceLoc loc;
  std::vector<TrainSetting> settings;
};

struct Program {
  std::vector<ModelDecl> models;
  std::vector<TrainDecl> trains;
  std::vector<Decl> functions; ///< top-level fn definitions
};

/// A readable dump of the syntax tree (`dlc --emit=ast`).
std::string printAST(const Program &p);

} // namespace dlc
