//===- frontend/Parser.cpp ------------------------------------------------===//
//
// Statements end at a newline or ';' (newlines inside ( ) and [ ] are
// spaces). Grammar, one rule above each parse function.
//
//===----------------------------------------------------------------------===//
#include "frontend/Parser.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "ir/Attributes.h"
#include "ir/Limits.h"

namespace dlc {

namespace {

class Parser {
public:
  Parser(std::shared_ptr<const SourceFile> file, DiagnosticEngine &diags)
      : lex_(file, diags), diags_(diags) {
    tok_ = lex_.next();
  }

  // file := { model | train | fn | NEWLINE }
  Program parseFile() {
    Program p;
    while (!tok_.is(TokenKind::End) && !tooManyErrors()) {
      if (skipSeparators()) continue;
      if (tok_.isIdent("model")) {
        if (auto m = parseModel()) p.models.push_back(std::move(*m));
      } else if (tok_.isIdent("train")) {
        if (auto t = parseTrain()) p.trains.push_back(std::move(*t));
      } else if (tok_.isIdent("fn")) {
        Decl d;
        if (parseFn(d)) p.functions.push_back(std::move(d));
        else recoverStatement();
      } else {
        errorHere("expected 'model', 'train' or 'fn' at the top level");
        recoverTopLevel();
      }
    }
    return p;
  }

private:
  static constexpr int kMaxDepth = kMaxNesting;

  bool tooManyErrors() const { return diags_.errorCount() > DiagnosticEngine::kMaxErrors; }
  /// Consumes the current token. Inside ( ) and [ ] newlines are spaces.
  void take() {
    if (tok_.isPunct("(") || tok_.isPunct("[")) ++nesting_;
    if ((tok_.isPunct(")") || tok_.isPunct("]")) && nesting_ > 0) --nesting_;
    do tok_ = lex_.next();
    while (nesting_ > 0 && tok_.is(TokenKind::Newline));
  }
  bool isSeparator() const { return tok_.is(TokenKind::Newline) || tok_.isPunct(";"); }
  bool skipSeparators() {
    bool any = false;
    while (isSeparator() || tok_.is(TokenKind::Error)) { take(); any = true; }
    return any;
  }
  std::string describe(const Token &t) const {
    switch (t.kind) {
    case TokenKind::End: return "end of file";
    case TokenKind::Newline: return "end of line";
    default: return "'" + t.text + "'";
    }
  }
  void errorHere(const std::string &expected) {
    if (tok_.is(TokenKind::Error)) return; // the lexer already said why
    SourceLoc loc = tok_.loc;
    if (tok_.is(TokenKind::Newline)) loc.length = 1;
    diags_.error(loc, "{}, found {}", expected, describe(tok_));
  }
  bool expectPunct(const char *p, const char *context) {
    if (tok_.isPunct(p)) { take(); return true; }
    errorHere(fmt::format("expected '{}' {}", p, context));
    return false;
  }
  bool expectIdent(std::string &out, SourceLoc &loc, const char *what) {
    if (tok_.is(TokenKind::Ident)) {
      out = tok_.text;
      loc = tok_.loc;
      take();
      return true;
    }
    errorHere(fmt::format("expected {}", what));
    return false;
  }
  /// Skips to the end of the current statement (not past a closing '}').
  void recoverStatement() {
    nesting_ = 0;
    while (!tok_.is(TokenKind::End) && !isSeparator() && !tok_.isPunct("}")) tok_ = lex_.next();
  }
  void recoverTopLevel() {
    nesting_ = 0;
    while (!tok_.is(TokenKind::End) && !tok_.isIdent("model") && !tok_.isIdent("train") &&
           !tok_.isIdent("fn"))
      tok_ = lex_.next();
  }
  bool atStatementEnd() const { return isSeparator() || tok_.isPunct("}") || tok_.is(TokenKind::End); }
  bool expectStatementEnd() {
    if (atStatementEnd()) return true;
    errorHere("expected end of statement");
    return false;
  }

  // model := 'model' NAME '{' { item } '}'
  std::optional<ModelDecl> parseModel() {
    ModelDecl m;
    m.loc = tok_.loc;
    take();
    SourceLoc nameLoc;
    if (!expectIdent(m.name, nameLoc, "a model name")) { recoverTopLevel(); return std::nullopt; }
    while (tok_.is(TokenKind::Newline)) take();
    if (!expectPunct("{", "to open the model body")) { recoverTopLevel(); return std::nullopt; }
    while (!tooManyErrors()) {
      if (skipSeparators()) continue;
      if (tok_.isPunct("}")) { take(); break; }
      if (tok_.is(TokenKind::End)) {
        diags_.error(tok_.loc, "expected '}}' to close model '{}'", m.name);
        diags_.note(m.loc, "model '{}' starts here", m.name);
        break;
      }
      Decl d;
      if (parseItem(d) && expectStatementEnd()) {
        m.decls.push_back(std::move(d));
      } else {
        // Keep the name, so that later uses of it are not reported again.
        if (!d.name.empty()) {
          d.broken = true;
          m.decls.push_back(std::move(d));
        }
        recoverStatement();
      }
    }
    return m;
  }

  // item := input NAME ':' shape | label NAME ':' (shape | class '(' INT ')')
  //       | param NAME ':' shape '~' init | const NAME [':' shape] '=' expr | fn ...
  //       | output NAME ['=' expr] | loss expr | penalty expr | NAME '=' expr
  bool parseItem(Decl &d) {
    d.loc = tok_.loc;
    if (!tok_.is(TokenKind::Ident)) {
      errorHere("expected a declaration or 'name = expression'");
      return false;
    }
    std::string kw = tok_.text;
    if (kw == "fn") return parseFn(d);
    if (kw == "loss" || kw == "penalty") {
      d.kind = kw == "loss" ? Decl::Kind::Loss : Decl::Kind::Penalty;
      take();
      d.value = parseExpr();
      return d.value != nullptr;
    }
    static const std::pair<const char *, Decl::Kind> named[] = {
        {"input", Decl::Kind::Input}, {"label", Decl::Kind::Label}, {"param", Decl::Kind::Param},
        {"const", Decl::Kind::Const}, {"output", Decl::Kind::Output}};
    for (auto [word, kind] : named) {
      if (kw != word) continue;
      d.kind = kind;
      take();
      if (!expectIdent(d.name, d.nameLoc, fmt::format("a name after '{}'", word).c_str())) return false;
      switch (kind) {
      case Decl::Kind::Input: return expectPunct(":", "before the shape") && parseShape(d.shape);
      case Decl::Kind::Label: return expectPunct(":", "before the label type") && parseLabelType(d);
      case Decl::Kind::Param:
        return expectPunct(":", "before the shape") && parseShape(d.shape) &&
               expectPunct("~", "before the initializer (e.g. ~ he)") && parseCallSpec(d.init, "an initializer");
      case Decl::Kind::Const:
        if (tok_.isPunct(":")) { // const W : [2, 3] = ...
          take();
          if (!parseShape(d.shape)) return false;
          d.hasShape = true;
        }
        if (!expectPunct("=", "after the constant's name")) return false;
        d.value = parseExpr();
        return d.value != nullptr;
      case Decl::Kind::Output:
        if (!tok_.isPunct("=")) return true;
        take();
        d.value = parseExpr();
        return d.value != nullptr;
      default: return false;
      }
    }
    // NAME '=' expr
    d.kind = Decl::Kind::Assign;
    d.name = kw;
    d.nameLoc = tok_.loc;
    take();
    if (!tok_.isPunct("=")) {
      errorHere(fmt::format("expected '=' after '{}' (or a declaration: input, label, param, const, fn, "
                            "output, loss, penalty)", kw));
      return false;
    }
    take();
    d.value = parseExpr();
    return d.value != nullptr;
  }

  // fn := 'fn' NAME '(' [NAME {',' NAME}] ')' '=' expr
  bool parseFn(Decl &d) {
    d.kind = Decl::Kind::Fn;
    d.loc = tok_.loc;
    take();
    if (!expectIdent(d.name, d.nameLoc, "a function name")) return false;
    if (!expectPunct("(", "to start the parameter list")) return false;
    while (!tok_.isPunct(")")) {
      std::string p;
      SourceLoc loc;
      if (!expectIdent(p, loc, "a parameter name")) return false;
      if (std::find(d.fnParams.begin(), d.fnParams.end(), p) != d.fnParams.end()) {
        diags_.error(loc, "parameter '{}' of fn '{}' is named twice", p, d.name);
        return false;
      }
      d.fnParams.push_back(p);
      d.fnParamLocs.push_back(loc);
      if (tok_.isPunct(",")) take();
      else if (!tok_.isPunct(")")) { errorHere("expected ',' or ')' in the parameter list"); return false; }
    }
    take();
    if (!expectPunct("=", "before the function body")) return false;
    d.value = parseExpr();
    return d.value != nullptr;
  }

  // shape := '[' [INT {',' INT}] ']'
  bool parseShape(ShapeSpec &s) {
    s.loc = tok_.loc;
    if (!expectPunct("[", "to start a shape like [128, 784]")) return false;
    while (!tok_.isPunct("]")) {
      if (!tok_.is(TokenKind::Number) || !tok_.isInteger || tok_.number < 1 || tok_.number > (1 << 30)) {
        errorHere("expected a positive integer extent in the shape");
        return false;
      }
      s.dims.push_back(int64_t(tok_.number));
      if (int64_t(s.dims.size()) > kMaxRank) {
        errorHere(fmt::format("a shape has at most {} dims (the rank limit, DLC_MAX_RANK)", kMaxRank));
        return false;
      }
      take();
      if (tok_.isPunct(",")) take();
      else if (!tok_.isPunct("]")) { errorHere("expected ',' or ']' in the shape"); return false; }
    }
    s.loc.length = tok_.loc.col >= s.loc.col && tok_.loc.line == s.loc.line ? tok_.loc.col - s.loc.col + 1 : 1;
    take();
    return true;
  }

  // label-type := shape | 'class' '(' INT ')'
  bool parseLabelType(Decl &d) {
    if (!tok_.isIdent("class")) return parseShape(d.shape);
    d.shape.loc = tok_.loc;
    take();
    if (!expectPunct("(", "after 'class'")) return false;
    if (!tok_.is(TokenKind::Number) || !tok_.isInteger || tok_.number < 2 || tok_.number > (1 << 30)) {
      errorHere("expected the number of classes (an integer >= 2)");
      return false;
    }
    d.classes = int64_t(tok_.number);
    take();
    return expectPunct(")", "after the number of classes");
  }

  // callspec := NAME ['(' [arg {',' arg}] ')']   |  NUMBER
  bool parseCallSpec(CallSpec &c, const char *what) {
    c.loc = tok_.loc;
    if (tok_.is(TokenKind::Number) || tok_.isPunct("-")) { // a bare value: `batch 128`
      auto e = parseExpr();
      if (!e) return false;
      c.args.push_back(std::move(e));
      c.argNames.push_back("");
      return true;
    }
    if (!expectIdent(c.name, c.loc, what)) return false;
    if (!tok_.isPunct("(")) return true;
    c.hasParens = true;
    take();
    return parseArgs(c.args, c.argNames);
  }

  // args := [arg {',' arg}] ')'      arg := [NAME '='] expr
  bool parseArgs(std::vector<ExprPtr> &args, std::vector<std::string> &names,
                 std::vector<SourceLoc> *nameLocs = nullptr) {
    while (!tok_.isPunct(")")) {
      std::string key;
      SourceLoc keyLoc;
      if (tok_.is(TokenKind::Ident)) {
        Token save = tok_;
        take();
        if (tok_.isPunct("=")) {
          key = save.text;
          keyLoc = save.loc;
          take();
        } else {
          // Not a keyword: the name starts an expression.
          auto e = parseExprFrom(parseAfterIdent(save));
          if (!e) return false;
          args.push_back(std::move(e));
          names.push_back("");
          if (nameLocs) nameLocs->push_back(SourceLoc{});
          if (!finishArg()) return false;
          continue;
        }
      }
      auto e = parseExpr();
      if (!e) return false;
      args.push_back(std::move(e));
      names.push_back(key);
      if (nameLocs) nameLocs->push_back(keyLoc);
      if (!finishArg()) return false;
    }
    take();
    return true;
  }
  bool finishArg() {
    if (tok_.isPunct(",")) { take(); return true; }
    if (tok_.isPunct(")")) return true;
    errorHere("expected ',' or ')' in the argument list");
    return false;
  }

  // train := 'train' NAME '{' { NAME callspec } '}'
  std::optional<TrainDecl> parseTrain() {
    TrainDecl t;
    t.loc = tok_.loc;
    take();
    SourceLoc nameLoc;
    if (!expectIdent(t.model, nameLoc, "the name of the model to train")) { recoverTopLevel(); return std::nullopt; }
    while (tok_.is(TokenKind::Newline)) take();
    if (!expectPunct("{", "to open the train block")) { recoverTopLevel(); return std::nullopt; }
    while (!tooManyErrors()) {
      if (skipSeparators()) continue;
      if (tok_.isPunct("}")) { take(); break; }
      if (tok_.is(TokenKind::End)) { diags_.error(tok_.loc, "expected '}}' to close the train block"); break; }
      TrainSetting s;
      if (expectIdent(s.key, s.loc, "a setting (optimizer, batch, epochs, ...)") &&
          parseCallSpec(s.value, "a value") && expectStatementEnd())
        t.settings.push_back(std::move(s));
      else
        recoverStatement();
    }
    return t;
  }

  // ---- expressions ----------------------------------------------------
  // expr := term { ('+' | '-') term }
  // term := unary { ('*' | '/' | '@') unary }
  // unary := '-' unary | power
  // power := postfix ['^' unary]
  // postfix := primary { '.' 'T' | '[' item {',' item} ']' }
  // item := INTEGER | [INTEGER] ':' [INTEGER]             (an index or a slice; INTEGER may be negative)
  // primary := NUMBER | NAME | NAME '(' args | '(' expr ')' | list
  // list := '[' [element {',' element}] ']'      element := ['-'] NUMBER | list

  ExprPtr makeName(const Token &t) {
    auto e = std::make_unique<Expr>();
    e->kind = Expr::Kind::Name;
    e->name = t.text;
    e->loc = t.loc;
    return e;
  }
  ExprPtr makeBinary(const Token &op, ExprPtr l, ExprPtr r) {
    auto e = std::make_unique<Expr>();
    e->kind = Expr::Kind::Binary;
    e->name = op.text;
    e->loc = op.loc;
    e->args.push_back(std::move(l));
    e->args.push_back(std::move(r));
    return sealed(std::move(e));
  }
  /// Sets the height of a node whose operands are complete; null (with an
  /// error) past kMaxNesting, so that every later recursion over the tree
  /// (name resolution, IR generation, printing) stays shallow. `a + a + ...`
  /// nests to the left without any parenthesis, hence the check on the tree.
  ExprPtr sealed(ExprPtr e) {
    for (const ExprPtr &a : e->args) e->height = std::max(e->height, a->height + 1);
    if (e->height > kMaxNesting) {
      diags_.error(e->loc, "expression nested too deeply (more than {} levels of operators, calls and parentheses)",
                   kMaxNesting);
      return nullptr;
    }
    return e;
  }

  struct DepthGuard {
    int &d;
    explicit DepthGuard(int &d) : d(d) { ++d; }
    ~DepthGuard() { --d; }
  };

  ExprPtr parseExpr() { return parseExprFrom(nullptr); }

  /// Parses an expression whose first primary (a name) may already be read.
  ExprPtr parseExprFrom(ExprPtr first) {
    DepthGuard g(depth_);
    if (depth_ > kMaxDepth) {
      errorHere("expression nested too deeply");
      return nullptr;
    }
    ExprPtr lhs = parseTerm(std::move(first));
    while (lhs && (tok_.isPunct("+") || tok_.isPunct("-"))) {
      Token op = tok_;
      take();
      ExprPtr rhs = parseTerm(nullptr);
      if (!rhs) return nullptr;
      lhs = makeBinary(op, std::move(lhs), std::move(rhs));
    }
    return lhs;
  }

  ExprPtr parseTerm(ExprPtr first) {
    ExprPtr lhs = first ? parsePowerFrom(parsePostfix(std::move(first))) : parseUnary();
    while (lhs && (tok_.isPunct("*") || tok_.isPunct("/") || tok_.isPunct("@"))) {
      Token op = tok_;
      take();
      ExprPtr rhs = parseUnary();
      if (!rhs) return nullptr;
      lhs = makeBinary(op, std::move(lhs), std::move(rhs));
    }
    return lhs;
  }

  ExprPtr parseUnary() {
    DepthGuard g(depth_);
    if (depth_ > kMaxDepth) {
      errorHere("expression nested too deeply");
      return nullptr;
    }
    if (tok_.isPunct("-")) {
      SourceLoc loc = tok_.loc;
      take();
      ExprPtr operand = parseUnary();
      if (!operand) return nullptr;
      auto e = std::make_unique<Expr>();
      e->kind = Expr::Kind::Neg;
      e->loc = loc;
      e->args.push_back(std::move(operand));
      return sealed(std::move(e));
    }
    return parsePowerFrom(parsePostfix(parsePrimary()));
  }

  ExprPtr parsePowerFrom(ExprPtr base) {
    if (!base || !tok_.isPunct("^")) return base;
    Token op = tok_;
    take();
    ExprPtr exponent = parseUnary();
    if (!exponent) return nullptr;
    return makeBinary(op, std::move(base), std::move(exponent));
  }

  ExprPtr parsePostfix(ExprPtr e) {
    while (e && (tok_.isPunct(".") || tok_.isPunct("["))) {
      if (tok_.isPunct("[")) {
        e = parseIndex(std::move(e));
        continue;
      }
      SourceLoc loc = tok_.loc;
      take();
      if (!tok_.isIdent("T")) {
        errorHere("expected 'T' after '.' (x.T is the transpose)");
        return nullptr;
      }
      take();
      auto t = std::make_unique<Expr>();
      t->kind = Expr::Kind::Transpose;
      t->loc = loc;
      t->args.push_back(std::move(e));
      e = sealed(std::move(t));
    }
    return e;
  }

  /// NAME or NAME '(' args, with NAME already read.
  ExprPtr parseAfterIdent(const Token &name) {
    if (!tok_.isPunct("(")) return makeName(name);
    DepthGuard g(depth_); // f(g(h(...))) recurses here, not through parseExpr
    if (depth_ > kMaxDepth) {
      errorHere("expression nested too deeply");
      return nullptr;
    }
    take();
    auto e = std::make_unique<Expr>();
    e->kind = Expr::Kind::Call;
    e->name = name.text;
    e->loc = name.loc;
    if (!parseArgs(e->args, e->argNames, &e->argNameLocs)) return nullptr;
    return sealed(std::move(e));
  }

  ExprPtr parsePrimary() {
    if (tok_.is(TokenKind::Number)) {
      auto e = std::make_unique<Expr>();
      e->kind = Expr::Kind::Number;
      e->number = tok_.number;
      e->isInteger = tok_.isInteger;
      e->loc = tok_.loc;
      take();
      return e;
    }
    if (tok_.is(TokenKind::Ident)) {
      Token name = tok_;
      take();
      return parseAfterIdent(name);
    }
    if (tok_.isPunct("(")) {
      take();
      ExprPtr e = parseExpr();
      if (!e) return nullptr;
      if (!expectPunct(")", "to close '('")) return nullptr;
      return e;
    }
    if (tok_.isPunct("[")) return parseList();
    errorHere("expected an expression");
    return nullptr;
  }

  ExprPtr parseList() {
    DepthGuard g(depth_);
    if (depth_ > kMaxDepth) {
      errorHere("list nested too deeply");
      return nullptr;
    }
    auto e = std::make_unique<Expr>();
    e->kind = Expr::Kind::List;
    e->loc = tok_.loc;
    take();
    while (!tok_.isPunct("]")) {
      ExprPtr item;
      if (tok_.isPunct("[")) {
        item = parseList();
      } else {
        std::optional<double> number;
        SourceLoc loc = tok_.loc;
        bool isInteger = false;
        if (!parseSignedNumber(number, isInteger)) {
          errorHere("expected a number or a list in the list");
          return nullptr;
        }
        item = std::make_unique<Expr>();
        item->kind = Expr::Kind::Number;
        item->number = *number;
        item->isInteger = isInteger;
        item->loc = loc;
      }
      if (!item) return nullptr;
      e->args.push_back(std::move(item));
      if (tok_.isPunct(",")) take();
      else if (!tok_.isPunct("]")) { errorHere("expected ',' or ']' in the list"); return nullptr; }
    }
    take();
    return sealed(std::move(e));
  }

  /// ['-'] NUMBER; false (nothing consumed but a '-') when there is none.
  bool parseSignedNumber(std::optional<double> &out, bool &isInteger) {
    bool negative = tok_.isPunct("-");
    if (negative) take();
    if (!tok_.is(TokenKind::Number)) return false;
    out = negative ? -tok_.number : tok_.number;
    isInteger = tok_.isInteger;
    take();
    return true;
  }

  /// x '[' item {',' item} ']' with x already parsed.
  ExprPtr parseIndex(ExprPtr base) {
    auto e = std::make_unique<Expr>();
    e->kind = Expr::Kind::Index;
    e->loc = tok_.loc;
    e->args.push_back(std::move(base));
    take();
    auto bound = [&](bool &has, int64_t &value) {
      if (tok_.isPunct(":") || tok_.isPunct(",") || tok_.isPunct("]")) return true;
      std::optional<double> v;
      bool isInteger = false;
      Token first = tok_;
      if (!parseSignedNumber(v, isInteger)) {
        errorHere("expected an integer index or slice bound");
        return false;
      }
      if (!isInteger || std::fabs(*v) > 1e15) {
        diags_.error(first.loc, "an index or slice bound must be an integer, got {}", formatFloat(*v));
        return false;
      }
      has = true;
      value = int64_t(*v);
      return true;
    };
    while (true) {
      IndexItem item;
      item.loc = tok_.loc;
      if (!bound(item.hasStart, item.start)) return nullptr;
      if (tok_.isPunct(":")) {
        take();
        item.isSlice = true;
        if (!bound(item.hasEnd, item.end)) return nullptr;
      } else if (!item.hasStart) {
        errorHere("expected an index (x[2]) or a slice (x[1:3], x[:2], x[1:])");
        return nullptr;
      }
      e->index.push_back(item);
      if (tok_.isPunct(",")) { take(); continue; }
      if (!expectPunct("]", "to close the index")) return nullptr;
      return sealed(std::move(e));
    }
  }

  Lexer lex_;
  DiagnosticEngine &diags_;
  Token tok_;
  int depth_ = 0;   ///< expression nesting, against stack exhaustion
  int nesting_ = 0; ///< open ( and [
};

} // namespace

Program parseProgram(std::shared_ptr<const SourceFile> file, DiagnosticEngine &diags) {
  Parser p(std::move(file), diags);
  return p.parseFile();
}

} // namespace dlc
