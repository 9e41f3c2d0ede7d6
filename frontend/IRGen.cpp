//===- frontend/IRGen.cpp -------------------------------------------------===//
#include "frontend/IRGen.h"
#include "ir/Limits.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <tuple>
#include <set>
#include <unordered_map>

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/strong_components.hpp>
#include <llvm/ADT/StringRef.h>

#include "frontend/Builtins.h"
#include "frontend/Parser.h"
#include "frontend/TensorSyntax.h"
#include "ir/Dataflow.h"
#include "ir/PhaseTimer.h"
#include "ir/Verifier.h"

namespace dlc {

namespace {

struct Symbol {
  Node *node = nullptr;     ///< a value (null after an error in its definition)
  const Decl *fn = nullptr; ///< or a function
  SourceLoc loc;
};

class IRGen {
public:
  IRGen(Graph &g, DiagnosticEngine &diags) : graph_(g), diags_(diags), b_(g, diags) {}

  void run(const Program &program, const ModelDecl &model) {
    for (const Decl &f : program.functions) declareFn(f);
    for (const Decl &d : model.decls)
      if (d.kind == Decl::Kind::Fn && !d.broken) declareFn(d);
    findRecursion();
    measureExpansions();
    for (const Decl &d : model.decls) lowerDecl(d);
    finishResults(model);
  }

  void lowerTrain(const TrainDecl &t);
  void inferTask();

private:
  // ---- names --------------------------------------------------------
  bool define(const std::string &name, const SourceLoc &loc, Symbol sym) {
    if (findBuiltin(name)) {
      diags_.error(loc, "'{}' is a built-in function and cannot be redefined", name);
      return false;
    }
    auto [it, inserted] = globals_.emplace(name, sym);
    if (!inserted) {
      diags_.error(loc, "redefinition of '{}'", name);
      diags_.note(it->second.loc, "previous definition of '{}' is here", name);
      return false;
    }
    return true;
  }

  const Symbol *lookup(const std::string &name) const {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it)
      if (auto f = it->find(name); f != it->end()) return &f->second;
    if (auto f = globals_.find(name); f != globals_.end()) return &f->second;
    return nullptr;
  }

  void unknownName(const std::string &name, const SourceLoc &loc, const char *what) {
    // Suggest the closest name when it is close relative to the name's length;
    // ties go to a name with the same first letter, then the smaller name.
    std::string best;
    std::tuple<unsigned, bool, std::string> bestKey{~0u, true, ""};
    auto consider = [&](const std::string &cand) {
      unsigned d = llvm::StringRef(name).edit_distance(cand, true, 3);
      if (d == 0 || 2 * d > name.size()) return;
      std::tuple<unsigned, bool, std::string> key{d, cand[0] != name[0], cand};
      if (key < bestKey) { bestKey = key; best = cand; }
    };
    for (const auto &[n, s] : globals_) consider(n);
    for (const auto &scope : scopes_)
      for (const auto &[n, s] : scope) consider(n);
    if (best.empty()) diags_.error(loc, "unknown {} '{}'", what, name);
    else diags_.error(loc, "unknown {} '{}'; did you mean '{}'?", what, name, best);
  }

  // ---- functions ----------------------------------------------------
  void declareFn(const Decl &f) {
    if (define(f.name, f.nameLoc, Symbol{nullptr, &f, f.nameLoc})) fns_.push_back(&f);
  }

  /// Collects the callees of `e` that are user functions not shadowed by params.
  void callees(const Expr &e, const Decl &fn, std::vector<const Decl *> &out) const {
    if (e.kind == Expr::Kind::Call) {
      bool shadowed = std::find(fn.fnParams.begin(), fn.fnParams.end(), e.name) != fn.fnParams.end();
      auto it = globals_.find(e.name);
      if (!shadowed && it != globals_.end() && it->second.fn) out.push_back(it->second.fn);
    }
    for (const auto &a : e.args) callees(*a, fn, out);
  }

  /// Reports each cycle of the fn call graph (strong components, via Boost).
  void findRecursion() {
    using CallGraph = boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS>;
    CallGraph cg(fns_.size());
    std::unordered_map<const Decl *, size_t> index;
    for (size_t i = 0; i < fns_.size(); ++i) index[fns_[i]] = i;
    std::vector<bool> selfCall(fns_.size(), false);
    for (size_t i = 0; i < fns_.size(); ++i) {
      std::vector<const Decl *> called;
      callees(*fns_[i]->value, *fns_[i], called);
      for (const Decl *c : called) {
        boost::add_edge(i, index[c], cg);
        if (c == fns_[i]) selfCall[i] = true;
      }
    }
    std::vector<size_t> component(fns_.size());
    size_t n = boost::strong_components(cg, boost::make_iterator_property_map(component.begin(),
                                                   boost::get(boost::vertex_index, cg)));
    std::vector<std::vector<size_t>> members(n);
    for (size_t i = 0; i < fns_.size(); ++i) members[component[i]].push_back(i);
    for (const auto &m : members) {
      if (m.size() == 1 && !selfCall[m[0]]) continue;
      std::string cycle;
      for (size_t i : m) cycle += fns_[i]->name + " -> ";
      cycle += fns_[m[0]]->name;
      diags_.error(fns_[m[0]]->nameLoc, "function '{}' is recursive ({}); functions are inlined and "
                   "cannot call themselves", fns_[m[0]]->name, cycle);
      for (size_t i : m) recursive_.insert(fns_[i]);
    }
  }

  /// Expression nodes under `e`, fn calls not expanded (the tree is at most
  /// kMaxNesting deep, so the recursion is shallow).
  static int64_t treeSize(const Expr &e) {
    int64_t n = 1;
    for (const auto &a : e.args)
      if (a) n = std::min(n + treeSize(*a), int64_t(kMaxOps) + 1);
    return n;
  }

  /// How many expression nodes lowering visits to inline each fn, every call
  /// inside it expanded (saturating just past kMaxOps). Inlining copies a body
  /// per call, so f(x) = g(g(x)) doubles per level; knowing the size before
  /// lowering stops such a model at once instead of after kMaxOps ops of work.
  /// Callees first: a fn's size needs its callees', and the calls of the
  /// non-recursive fns form a DAG (a Kahn order, no recursion on fn chains).
  void measureExpansions() {
    std::unordered_map<const Decl *, std::vector<const Decl *>> calls;
    std::unordered_map<const Decl *, size_t> pending; // callees not yet measured
    std::unordered_map<const Decl *, std::vector<const Decl *>> callers;
    std::vector<const Decl *> ready;
    for (const Decl *f : fns_) {
      if (recursive_.count(f)) continue;
      callees(*f->value, *f, calls[f]);
      std::set<const Decl *> distinct(calls[f].begin(), calls[f].end());
      for (const Decl *c : distinct)
        if (!recursive_.count(c)) ++pending[f], callers[c].push_back(f);
      if (!pending[f]) ready.push_back(f);
    }
    while (!ready.empty()) {
      const Decl *f = ready.back();
      ready.pop_back();
      int64_t n = treeSize(*f->value);
      for (const Decl *c : calls[f]) n = std::min(n + expanded_[c], int64_t(kMaxOps) + 1);
      expanded_[f] = n;
      for (const Decl *caller : callers[f])
        if (--pending[caller] == 0) ready.push_back(caller);
    }
  }

  /// Evaluates a constant expression (numbers, consts, + - * / ^) without
  /// emitting IR; reports why when it is not constant.
  std::optional<double> constEval(const Expr &e, const char *what) {
    switch (e.kind) {
    case Expr::Kind::Number: return e.number;
    case Expr::Kind::Name:
      if (const Symbol *s = lookup(e.name); s && s->node)
        if (auto v = IRBuilder::constantValue(s->node)) return v;
      break;
    case Expr::Kind::Neg:
      if (auto v = constEval(*e.args[0], what)) return -*v;
      return std::nullopt;
    case Expr::Kind::Binary: {
      auto a = constEval(*e.args[0], what);
      if (!a) return std::nullopt;
      auto b = constEval(*e.args[1], what);
      if (!b) return std::nullopt;
      if (e.name == "+") return *a + *b;
      if (e.name == "-") return *a - *b;
      if (e.name == "*") return *a * *b;
      if (e.name == "/") return *a / *b;
      if (e.name == "^") return std::pow(*a, *b);
      break;
    }
    default: break;
    }
    diags_.error(e.loc, "{} must be a constant number", what);
    return std::nullopt;
  }

  // ---- expressions --------------------------------------------------
  Node *lowerExpr(const Expr &e) {
    switch (e.kind) {
    case Expr::Kind::Number: return b_.scalar(e.number, e.loc);
    case Expr::Kind::Name: return lowerName(e);
    case Expr::Kind::Neg: return b_.op(OpKind::Neg, {lowerExpr(*e.args[0])}, e.loc);
    case Expr::Kind::Transpose: {
      Node *x = lowerExpr(*e.args[0]);
      if (x && x->type.rank() != 2) {
        diags_.error(e.loc, "'.T' needs a matrix, got {}", shapeStr(x->shape()));
        return nullptr;
      }
      Attrs a;
      a.set("perm", Shape{Dim(1), Dim(0)});
      return b_.op(OpKind::Transpose, {x}, e.loc, a);
    }
    case Expr::Kind::Binary: return lowerBinary(e);
    case Expr::Kind::Call: return lowerCall(e);
    case Expr::Kind::List: return lowerTensorLiteral(b_, e);
    case Expr::Kind::Index: {
      Node *x = lowerExpr(*e.args[0]);
      if (x && x->type.dtype == DType::I32) return classLabelMisuse(x, e.args[0]->loc);
      return lowerIndex(b_, x, e);
    }
    }
    return nullptr;
  }

  Node *lowerName(const Expr &e) {
    const Symbol *s = lookup(e.name);
    if (!s) {
      if (findBuiltin(e.name)) diags_.error(e.loc, "'{}' is a function; call it with arguments", e.name);
      else unknownName(e.name, e.loc, "name");
      return nullptr;
    }
    if (s->fn) {
      diags_.error(e.loc, "'{}' is a function; call it with arguments", e.name);
      return nullptr;
    }
    return s->node;
  }

  Node *lowerBinary(const Expr &e) {
    Node *lhs = lowerExpr(*e.args[0]);
    if (e.name == "^") {
      auto exponent = constEval(*e.args[1], "the exponent of '^'");
      if (!exponent) return nullptr;
      Attrs a;
      a.set("exponent", *exponent);
      return b_.op(OpKind::Pow, {lhs}, e.loc, a);
    }
    Node *rhs = lowerExpr(*e.args[1]);
    if (lhs && lhs->type.dtype == DType::I32) return classLabelMisuse(lhs, e.args[0]->loc);
    if (rhs && rhs->type.dtype == DType::I32) return classLabelMisuse(rhs, e.args[1]->loc);
    static const std::pair<const char *, OpKind> ops[] = {
        {"+", OpKind::Add}, {"-", OpKind::Sub}, {"*", OpKind::Mul}, {"/", OpKind::Div}, {"@", OpKind::MatMul}};
    for (auto [spelling, kind] : ops)
      if (e.name == spelling) return b_.op(kind, {lhs, rhs}, e.loc);
    return nullptr;
  }

  Node *classLabelMisuse(Node *label, const SourceLoc &loc) {
    diags_.error(loc, "class label '{}' is an index, not a number; use it in cross_entropy(logits, {}) or one_hot({})",
                 label->name, label->name, label->name);
    return nullptr;
  }

  Node *lowerCall(const Expr &e) {
    const Symbol *s = lookup(e.name);
    if (s && s->fn) return inlineCall(e, *s->fn);
    if (s && !s->node) return nullptr; // its definition failed and was reported
    if (s) {
      diags_.error(e.loc, "'{}' is a value, not a function", e.name);
      return nullptr;
    }
    const Builtin *bi = findBuiltin(e.name);
    if (!bi) {
      unknownName(e.name, e.loc, "function");
      return nullptr;
    }
    BuiltinCall call{e, {}, {}, {}, {}};
    bool ok = true;
    for (size_t i = 0; i < e.args.size(); ++i) {
      const Expr &arg = *e.args[i];
      const std::string &key = e.argNames[i];
      // A list is a tensor literal, except reshape's target shape.
      bool isShape = arg.kind == Expr::Kind::List && std::string_view(bi->name) == "reshape";
      Node *v = isShape ? nullptr : lowerExpr(arg);
      if (!isShape && !v) ok = false;
      if (key.empty()) {
        call.args.push_back(v);
        call.argExprs.push_back(&arg);
        continue;
      }
      if (std::find_if(bi->keywords.begin(), bi->keywords.end(), [&](const char *k) { return key == k; }) ==
          bi->keywords.end()) {
        std::string allowed;
        for (const char *k : bi->keywords) allowed += (allowed.empty() ? "" : ", ") + std::string(k);
        diags_.error(e.argNameLocs[i], "'{}' has no argument '{}'{}", e.name, key,
                     allowed.empty() ? "" : " (it takes " + allowed + ")");
        return nullptr;
      }
      call.keywords[key] = v;
      call.keywordExprs[key] = &arg;
    }
    int n = int(call.args.size());
    if (n < bi->minArgs || n > bi->maxArgs) {
      const char *range = bi->maxArgs > bi->minArgs + 1 ? "{} to {}" : "{} or {}";
      std::string expected = bi->minArgs == bi->maxArgs ? std::to_string(bi->minArgs)
                                                        : fmt::format(fmt::runtime(range), bi->minArgs, bi->maxArgs);
      diags_.error(e.loc, "'{}' takes {} argument{}, got {}", e.name, expected, bi->maxArgs == 1 ? "" : "s", n);
      return nullptr;
    }
    if (!ok) return nullptr;
    for (size_t i = 0; i < call.args.size(); ++i) {
      bool isLabelArg = (bi->isLoss && i == 1 && std::string(bi->name) == "cross_entropy") ||
                        std::string(bi->name) == "one_hot";
      if (call.args[i] && call.args[i]->type.dtype == DType::I32 && !isLabelArg)
        return classLabelMisuse(call.args[i], call.argExprs[i]->loc);
    }
    return bi->lower(b_, call);
  }

  Node *inlineCall(const Expr &e, const Decl &fn) {
    if (recursive_.count(&fn)) return nullptr; // reported at the definition
    if (auto it = expanded_.find(&fn); it != expanded_.end() && it->second > int64_t(kMaxOps)) {
      diags_.error(e.loc, "inlining fn '{}' makes the graph larger than {} ops (its body, every fn call in it "
                   "inlined, has more than {} expression nodes)", fn.name, kMaxOps, kMaxOps);
      return nullptr;
    }
    if (e.args.size() != fn.fnParams.size()) {
      diags_.error(e.loc, "function '{}' takes {} argument{}, got {}", fn.name, fn.fnParams.size(),
                   fn.fnParams.size() == 1 ? "" : "s", e.args.size());
      diags_.note(fn.nameLoc, "'{}' is defined here", fn.name);
      return nullptr;
    }
    std::unordered_map<std::string, Symbol> scope;
    bool ok = true;
    for (size_t i = 0; i < e.args.size(); ++i) {
      if (!e.argNames[i].empty()) {
        diags_.error(e.args[i]->loc, "function '{}' takes positional arguments only", fn.name);
        return nullptr;
      }
      Node *v = lowerExpr(*e.args[i]);
      ok = ok && v;
      scope[fn.fnParams[i]] = Symbol{v, nullptr, fn.fnParamLocs[i]};
    }
    if (!ok) return nullptr;
    // Inlining copies the body per call: f(x) = g(g(x)) doubles per level,
    // so both the nesting and the graph's size are bounded (ir/Limits.h).
    if (scopes_.size() >= size_t(kMaxInlineDepth)) {
      diags_.error(e.loc, "fn calls nest deeper than {} (in the call of '{}')", kMaxInlineDepth, fn.name);
      return nullptr;
    }
    if (graph_.size() > kMaxOps) {
      diags_.error(e.loc, "inlining fn '{}' makes the graph larger than {} ops", fn.name, kMaxOps);
      return nullptr;
    }
    scopes_.push_back(std::move(scope));
    size_t errors = diags_.errorCount();
    Node *result = lowerExpr(*fn.value);
    scopes_.pop_back();
    if (diags_.errorCount() > errors) diags_.note(e.loc, "in the call of '{}' here", fn.name);
    return result;
  }

  // ---- declarations -------------------------------------------------
  Shape shapeOf(const ShapeSpec &s) {
    Shape out;
    for (int64_t d : s.dims) out.push_back(Dim(d));
    return out;
  }

  void lowerDecl(const Decl &d);
  Node *lowerParam(const Decl &d);
  /// Gives `n` the source name `name` unless it already has one.
  Node *nameValue(Node *n, const std::string &name) {
    if (n && n->name.empty() && !n->isLeaf()) n->name = name;
    else if (n && n->name.empty() && (n->kind == OpKind::Const || n->kind == OpKind::Literal)) n->name = name;
    return n;
  }
  void finishResults(const ModelDecl &model);

  Graph &graph_;
  DiagnosticEngine &diags_;
  IRBuilder b_;
  std::unordered_map<std::string, Symbol> globals_;
  std::vector<std::unordered_map<std::string, Symbol>> scopes_;
  std::vector<const Decl *> fns_;
  std::set<const Decl *> recursive_;
  std::unordered_map<const Decl *, int64_t> expanded_; ///< measureExpansions: inlined size per fn
  Node *loss_ = nullptr;
  const Decl *lossDecl_ = nullptr;
  std::vector<std::pair<Node *, const Decl *>> penalties_;
  std::vector<Node *> outputs_;
};

namespace {

/// A row of runtime/Initializers.def, as the front end checks it.
struct Initializer {
  const char *name;
  size_t args;
  const char *argNames;
  bool (*valid)(double a, double b);
};

const Initializer kInitializers[] = {
#define DLC_INIT(Id, name, args, argNames, valid, draw, shift, scale) \
  {name, args, argNames, [](double a, double b) { return bool(valid); }},
#include "runtime/Initializers.def"
};

/// "he, glorot, normal(mean, std), ..., ones or fill(value)".
std::string initializerList() {
  std::string list;
  for (size_t i = 0; i < std::size(kInitializers); ++i) {
    const Initializer &k = kInitializers[i];
    list += i == 0 ? "" : i + 1 == std::size(kInitializers) ? " or " : ", ";
    list += k.args ? fmt::format("{}({})", k.name, k.argNames) : k.name;
  }
  return list;
}

/// A setting of runtime/Hyperparameters.def and the optimizers that take it.
struct HyperSetting {
  const char *key;
  bool gd, sgd, adam;
  bool takenBy(const std::string &optimizer) const {
    return optimizer == "gd" ? gd : optimizer == "sgd" ? sgd : optimizer == "adam" && adam;
  }
};

const HyperSetting kHyperSettings[] = {
#define DLC_HYPER(Id, key, gd, sgd, adam, sgdDefault, adamDefault, meaning) {key, gd, sgd, adam},
#include "runtime/Hyperparameters.def"
};

std::vector<const char *> hyperKeys() {
  std::vector<const char *> keys;
  for (const HyperSetting &h : kHyperSettings) keys.push_back(h.key);
  return keys;
}

/// "lr, beta1, beta2, eps, weight_decay": the settings `optimizer` takes.
std::string settingsOf(const std::string &optimizer) {
  std::string list;
  for (const HyperSetting &h : kHyperSettings)
    if (h.takenBy(optimizer)) list += (list.empty() ? "" : ", ") + std::string(h.key);
  return list;
}

} // namespace

Node *IRGen::lowerParam(const Decl &d) {
  const CallSpec &init = d.init;
  const Initializer *kind = nullptr;
  for (const auto &k : kInitializers)
    if (init.name == k.name) kind = &k;
  if (!kind) {
    diags_.error(init.loc, "unknown initializer '{}'; expected {}", init.name.empty() ? "?" : init.name,
                 initializerList());
    return nullptr;
  }
  if (init.args.size() != kind->args) {
    diags_.error(init.loc, "initializer '{}' takes {} argument{}, got {}", kind->name, kind->args,
                 kind->args == 1 ? "" : "s", init.args.size());
    return nullptr;
  }
  std::vector<double> args;
  for (const auto &a : init.args) {
    auto v = constEval(*a, "an initializer argument");
    if (!v) return nullptr;
    args.push_back(*v);
  }
  if (!kind->valid(args.size() > 0 ? args[0] : 0, args.size() > 1 ? args[1] : 0)) {
    diags_.error(init.loc, "bad range for initializer '{}'", init.name);
    return nullptr;
  }
  Attrs a;
  a.set("init", init.name);
  if (!args.empty()) a.set("init_args", args);
  return graph_.add(OpKind::Param, {}, a, TensorType{DType::F32, shapeOf(d.shape)}, d.name, d.nameLoc);
}

void IRGen::lowerDecl(const Decl &d) {
  if (d.broken) { // reported by the parser; define the name so uses stay quiet
    if (d.kind != Decl::Kind::Fn && !lookup(d.name)) globals_.emplace(d.name, Symbol{nullptr, nullptr, d.nameLoc});
    return;
  }
  // A declared shape is checked before any use: the builtins and shape rules
  // that read it multiply its extents (ir/Limits.h).
  bool declaresShape = d.kind == Decl::Kind::Input || d.kind == Decl::Kind::Param ||
                       (d.kind == Decl::Kind::Label && !d.classes) || (d.kind == Decl::Kind::Const && d.hasShape);
  if (declaresShape) {
    if (std::string e = checkTypeLimits(TensorType{DType::F32, shapeOf(d.shape)}); !e.empty()) {
      diags_.error(d.shape.loc, "the shape of '{}': {}", d.name, e);
      define(d.name, d.nameLoc, {});
      return;
    }
  }
  switch (d.kind) {
  case Decl::Kind::Fn: return; // declared up front
  case Decl::Kind::Input:
    define(d.name, d.nameLoc,
           {graph_.add(OpKind::Input, {}, {}, TensorType{DType::F32, shapeOf(d.shape)}, d.name, d.nameLoc), nullptr, d.nameLoc});
    return;
  case Decl::Kind::Label: {
    Attrs a;
    TensorType t{DType::F32, shapeOf(d.shape)};
    if (d.classes) {
      a.set("classes", d.classes);
      t = TensorType{DType::I32, {}};
    }
    define(d.name, d.nameLoc, {graph_.add(OpKind::Label, {}, a, t, d.name, d.nameLoc), nullptr, d.nameLoc});
    return;
  }
  case Decl::Kind::Param:
    if (lookup(d.name)) { define(d.name, d.nameLoc, {}); return; }
    define(d.name, d.nameLoc, {lowerParam(d), nullptr, d.nameLoc});
    return;
  case Decl::Kind::Const: {
    Node *v = d.hasShape && d.value->kind == Expr::Kind::List
                  ? lowerShapedConstant(b_, *d.value, shapeOf(d.shape), d.shape.loc)
                  : lowerExpr(*d.value);
    if (v && d.hasShape && d.value->kind != Expr::Kind::List) { // const Z : [3, 3] = 0 fills the shape
      auto fill = IRBuilder::constantValue(v);
      if (!fill) {
        diags_.error(d.value->loc, "a const with a shape needs a constant number or a list of numbers");
        define(d.name, d.nameLoc, {});
        return;
      }
      Attrs a;
      a.set("value", *fill);
      v = graph_.add(OpKind::Const, {}, std::move(a), TensorType{DType::F32, shapeOf(d.shape)}, "", d.value->loc);
    }
    if (v && !IRBuilder::constantValue(v) && v->kind != OpKind::Literal && v->kind != OpKind::Const) {
      diags_.error(d.value->loc, "the value of const '{}' must be a constant number or a tensor literal", d.name);
      v = nullptr;
    }
    define(d.name, d.nameLoc, {nameValue(v, d.name), nullptr, d.nameLoc});
    return;
  }
  case Decl::Kind::Assign:
    define(d.name, d.nameLoc, {nameValue(lowerExpr(*d.value), d.name), nullptr, d.nameLoc});
    return;
  case Decl::Kind::Output: {
    Node *v = nullptr;
    if (d.value) {
      v = nameValue(lowerExpr(*d.value), d.name);
      define(d.name, d.nameLoc, {v, nullptr, d.nameLoc});
    } else if (const Symbol *s = lookup(d.name); s && !s->fn) {
      v = s->node;
    } else {
      unknownName(d.name, d.nameLoc, "value");
    }
    if (v) outputs_.push_back(v);
    return;
  }
  case Decl::Kind::Loss: {
    if (lossDecl_) {
      diags_.error(d.loc, "a model has one loss; add the terms into one expression");
      diags_.note(lossDecl_->loc, "the first loss is here");
      return;
    }
    lossDecl_ = &d;
    const Expr &e = *d.value;
    if (e.kind == Expr::Kind::Call && !lookup(e.name) && !findBuiltin(e.name)) {
      diags_.error(e.loc, "unknown loss function '{}'; expected {}", e.name, lossNames());
      return;
    }
    Node *v = lowerExpr(e);
    if (v && !v->type.isScalar()) {
      diags_.error(e.loc, "the loss must be a scalar per sample, got {}; reduce it, e.g. sum(...)",
                   shapeStr(v->shape()));
      return;
    }
    loss_ = v;
    return;
  }
  case Decl::Kind::Penalty: {
    Node *v = lowerExpr(*d.value);
    if (v && !v->type.isScalar()) {
      diags_.error(d.value->loc, "a penalty must be a scalar, got {}", shapeStr(v->shape()));
      return;
    }
    if (v) penalties_.push_back({v, &d});
    return;
  }
  }
}

void IRGen::finishResults(const ModelDecl &model) {
  for (Node *o : outputs_) graph_.addResult(Role::Output, o);
  Node *penalty = nullptr;
  for (auto [p, decl] : penalties_) {
    std::vector<bool> reach = reachesTo(graph_, p);
    size_t i = 0;
    for (const auto &n : graph_.nodes()) {
      if (reach[i++] && (n->kind == OpKind::Input || n->kind == OpKind::Label)) {
        diags_.error(decl->loc, "a penalty may depend on params only, but this one uses '{}'", n->name);
        break;
      }
    }
    penalty = penalty ? b_.op(OpKind::Add, {penalty, p}, decl->loc) : p;
  }
  if (loss_) graph_.addResult(Role::Loss, loss_, lossDecl_->loc);
  if (penalty) graph_.addResult(Role::Penalty, penalty);
  // The state updates batch_norm added go last; a forward-only model has no
  // entry that trains, so its state is never updated.
  auto isUpdate = [](const GraphResult &r) { return r.role == Role::Update; };
  std::vector<GraphResult> updates;
  std::copy_if(graph_.results.begin(), graph_.results.end(), std::back_inserter(updates), isUpdate);
  std::erase_if(graph_.results, isUpdate);
  if (loss_) graph_.results.insert(graph_.results.end(), updates.begin(), updates.end());
  if (!lossDecl_ || !loss_ || diags_.hasErrors()) return;
  // Training needs a loss that some param influences.
  bool dependsOnParam = false;
  for (Node *root : {loss_, penalty}) {
    if (!root) continue;
    std::vector<bool> reach = reachesTo(graph_, root);
    size_t i = 0;
    for (const auto &n : graph_.nodes())
      dependsOnParam = dependsOnParam || (reach[i++] && n->kind == OpKind::Param);
  }
  if (!dependsOnParam)
    diags_.error(lossDecl_->loc, "the loss of model '{}' does not depend on any param; there is nothing to train",
                 model.name);
}

/// The task a loss of binary labels implies, unless the train block says:
/// `hinge` takes targets -1 or +1 ("sign"), `binary_cross_entropy` 0 or 1
/// ("binary"). Class labels and other float labels need no setting.
void IRGen::inferTask() {
  if (!lossDecl_ || graph_.train.has("task")) return;
  const Expr &e = *lossDecl_->value;
  if (e.kind != Expr::Kind::Call || lookup(e.name)) return; // a user's fn of that name is not the builtin
  if (e.name == "hinge") graph_.train.set("task", std::string("sign"));
  else if (e.name == "binary_cross_entropy") graph_.train.set("task", std::string("binary"));
}

void IRGen::lowerTrain(const TrainDecl &t) {
  struct Setting { const char *key; bool isInt; double min, max; };
  static const Setting numeric[] = {
      {"batch", true, 1, 1 << 24}, {"epochs", true, 1, 1e6}, {"seed", true, 0, 4294967295.0},
      {"lr", false, 0, 1e6}, {"warmup", true, 0, 1e9}, {"val_split", false, 0, 0.99},
      {"early_stop", true, 1, 1e6}, {"kfold", true, 2, 100}};
  struct CallSetting { const char *key; std::vector<const char *> names; std::vector<const char *> args; };
  static const CallSetting calls[] = {
      {"optimizer", {"gd", "sgd", "adam"}, hyperKeys()},
      {"schedule", {"constant", "step", "cosine"}, {"every", "gamma", "min_lr"}},
      {"task", {"classify", "regress", "binary", "sign"}, {}},
  };
  for (const TrainSetting &s : t.settings) {
    auto constantArg = [&](const Expr &e) { return constEval(e, ("'" + s.key + "'").c_str()); };
    if (graph_.train.has(s.key) || (s.key == "optimizer" && graph_.train.has("optimizer"))) {
      diags_.error(s.loc, "'{}' is set twice", s.key);
      continue;
    }
    const Setting *num = nullptr;
    for (const auto &n : numeric)
      if (s.key == n.key) num = &n;
    if (num) {
      if (!s.value.name.empty() || s.value.args.size() != 1) {
        diags_.error(s.value.loc, "'{}' needs a number", s.key);
        continue;
      }
      auto v = constantArg(*s.value.args[0]);
      if (!v) continue;
      if (*v < num->min || *v > num->max || (num->isInt && *v != std::floor(*v))) {
        diags_.error(s.value.args[0]->loc, "'{}' must be {} in [{}, {}]", s.key, num->isInt ? "an integer" : "a number",
                     num->min, num->max);
        continue;
      }
      if (num->isInt) graph_.train.set(s.key, int64_t(*v));
      else graph_.train.set(s.key, *v);
      continue;
    }
    const CallSetting *call = nullptr;
    for (const auto &c : calls)
      if (s.key == c.key) call = &c;
    if (!call) {
      diags_.error(s.loc, "unknown train setting '{}'; expected optimizer, schedule, batch, epochs, seed, lr, "
                   "warmup, val_split, early_stop, kfold or task", s.key);
      continue;
    }
    if (std::find_if(call->names.begin(), call->names.end(), [&](const char *n) { return s.value.name == n; }) ==
        call->names.end()) {
      std::string names;
      for (const char *n : call->names) names += (names.empty() ? "" : ", ") + std::string(n);
      diags_.error(s.value.loc, "unknown {} '{}'; expected {}", s.key, s.value.name, names);
      continue;
    }
    graph_.train.set(s.key, s.value.name);
    for (size_t i = 0; i < s.value.args.size(); ++i) {
      const std::string &arg = s.value.argNames[i];
      bool known = std::find_if(call->args.begin(), call->args.end(), [&](const char *a) { return arg == a; }) !=
                   call->args.end();
      if (!known) {
        diags_.error(s.value.args[i]->loc, "{} arguments are named ({}= ...); '{}' is not one", s.key,
                     call->args.front(), arg.empty() ? "a positional value" : arg);
        continue;
      }
      auto setting = std::find_if(std::begin(kHyperSettings), std::end(kHyperSettings),
                                  [&](const HyperSetting &h) { return arg == h.key; });
      if (s.key == "optimizer" && !setting->takenBy(s.value.name)) {
        diags_.error(s.value.args[i]->loc, "optimizer '{}' takes no '{}'; its settings are {}", s.value.name, arg,
                     settingsOf(s.value.name));
        continue;
      }
      if (auto v = constantArg(*s.value.args[i])) graph_.train.set(arg, *v);
    }
  }
}

/// Removes unnamed constants nobody uses: literals that were consumed at
/// compile time (pad = 1, an exponent, a pool size).
void dropUnusedLiterals(Graph &g) {
  std::set<const Node *> used;
  for (const auto &n : g.nodes())
    for (const Node *o : n->operands) used.insert(o);
  for (const auto &r : g.results) used.insert(r.node);
  g.eraseIf([&](const Node *n) {
    return (n->kind == OpKind::Const || n->kind == OpKind::Literal) && n->name.empty() && !used.count(n);
  });
}

} // namespace

std::unique_ptr<Graph> generateIR(const Program &program, std::shared_ptr<const SourceFile> file,
                                  DiagnosticEngine &diags) {
  if (program.models.empty()) {
    if (!diags.hasErrors()) diags.error(SourceLoc{file, 1, 1, 1}, "no model in '{}'; expected 'model NAME {{ ... }}'", file->name);
    return nullptr;
  }
  const ModelDecl &model = program.models.front();
  for (size_t i = 1; i < program.models.size(); ++i)
    diags.error(program.models[i].loc, "a file holds one model; '{}' is the second", program.models[i].name);
  auto g = std::make_unique<Graph>(model.name);
  g->loc = model.loc;
  g->sources.push_back(file);
  IRGen gen(*g, diags);
  gen.run(program, model);
  for (const TrainDecl &t : program.trains) {
    if (t.model != model.name) {
      diags.error(t.loc, "train block names model '{}', but the model is '{}'", t.model, model.name);
      continue;
    }
    gen.lowerTrain(t);
    if (std::string e = checkTrainLimits(g->train); !e.empty()) diags.error(t.loc, "{}", e);
  }
  gen.inferTask();
  if (diags.hasErrors()) return nullptr;
  dropUnusedLiterals(*g);
  if (!verify(*g, diags)) return nullptr;
  return g;
}

std::unique_ptr<Graph> compileNet(std::shared_ptr<const SourceFile> file, DiagnosticEngine &diags) {
  PhaseTimer timer("front end (parse, names, shapes, IR)");
  Program p = parseProgram(file, diags);
  // Name and shape checks run on whatever parsed, so one run reports both
  // kinds of error; statements cut short by a syntax error are skipped.
  auto g = generateIR(p, file, diags);
  return diags.hasErrors() ? nullptr : std::move(g);
}

} // namespace dlc
