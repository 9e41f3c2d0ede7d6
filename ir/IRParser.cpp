//===- ir/IRParser.cpp ----------------------------------------------------===//
//
//   file    := 'graph' NAME '{' stmt* '}'
//   stmt    := VALUE '=' MNEMONIC '(' [VALUE {',' VALUE}] ')' [attrs] ':' type [COMMENT]
//            | ROLE VALUE | ROLE VALUE '=' VALUE   (grad %param = %gradient, update %state = %value)
//            | 'train' attrs
//   attrs   := '{' [NAME '=' attr {',' NAME '=' attr}] '}'
//   attr    := INT | FLOAT | 'true' | 'false' | NAME | STRING | '[' [attr {',' attr}] ']'
//   type    := DTYPE '[' [dim {',' dim}] ']'        dim := INT | NAME
//
//===----------------------------------------------------------------------===//
#include "ir/IRParser.h"
#include "ir/Limits.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <unordered_map>

#include "ir/Verifier.h"

namespace dlc {

namespace {

enum class Tok { Name, Value, Int, Float, String, Punct, Comment, End, Bad };

struct Token {
  Tok kind;
  std::string text; // spelling; the unquoted name for Value/String
  uint32_t line, col, length;
  int64_t ival = 0;
  double fval = 0;
};

class IRLexer {
public:
  IRLexer(const SourceFile &f) : src_(f.text) {}

  Token next() {
    skipSpace();
    Token t{Tok::End, "", line_, col_, 1};
    if (pos_ >= src_.size()) return t;
    size_t start = pos_;
    char c = src_[pos_];
    if (c == '#') {
      while (pos_ < src_.size() && src_[pos_] != '\n') advance();
      t.kind = Tok::Comment;
      t.text = trim(src_.substr(start + 1, pos_ - start - 1));
    } else if (c == '%') {
      advance();
      t.kind = Tok::Value;
      if (pos_ < src_.size() && src_[pos_] == '"') {
        if (!readQuoted(t.text)) t.kind = Tok::Bad;
        t.text = "\"" + t.text; // marks a quoted (never numbered) name
      } else {
        while (pos_ < src_.size() && isNameChar(src_[pos_])) t.text += src_[pos_], advance();
        if (t.text.empty()) t.kind = Tok::Bad;
      }
    } else if (c == '"') {
      t.kind = readQuoted(t.text) ? Tok::String : Tok::Bad;
    } else if (std::isdigit((unsigned char)c) || c == '-' || c == '+' || c == '.') {
      lexNumber(t);
    } else if (std::isalpha((unsigned char)c) || c == '_') {
      while (pos_ < src_.size() && (std::isalnum((unsigned char)src_[pos_]) || src_[pos_] == '_'))
        advance();
      t.kind = Tok::Name;
      t.text = std::string(src_.substr(start, pos_ - start));
      if (t.text == "nan" || t.text == "inf") { t.kind = Tok::Float; t.fval = t.text == "nan" ? NAN : INFINITY; }
    } else {
      advance();
      t.kind = std::string_view("(){}[],=:").find(c) != std::string_view::npos ? Tok::Punct : Tok::Bad;
      t.text = std::string(1, c);
    }
    t.length = uint32_t(std::max<size_t>(1, pos_ - start));
    if (t.text.empty() && t.kind != Tok::Comment) t.text = std::string(src_.substr(start, pos_ - start));
    return t;
  }

private:
  static bool isNameChar(char c) {
    return std::isalnum((unsigned char)c) || c == '_' || c == '.' || c == '/' || c == '\'';
  }
  static std::string trim(std::string_view s) {
    while (!s.empty() && std::isspace((unsigned char)s.front())) s.remove_prefix(1);
    while (!s.empty() && std::isspace((unsigned char)s.back())) s.remove_suffix(1);
    return std::string(s);
  }
  void advance() {
    if (src_[pos_] == '\n') { ++line_; col_ = 1; }
    else ++col_;
    ++pos_;
  }
  void skipSpace() {
    while (pos_ < src_.size() && std::isspace((unsigned char)src_[pos_])) advance();
  }
  bool readQuoted(std::string &out) {
    advance(); // opening quote
    while (pos_ < src_.size() && src_[pos_] != '"' && src_[pos_] != '\n') {
      if (src_[pos_] == '\\' && pos_ + 1 < src_.size()) {
        advance();
        out += src_[pos_] == 'n' ? '\n' : src_[pos_];
      } else {
        out += src_[pos_];
      }
      advance();
    }
    if (pos_ >= src_.size() || src_[pos_] != '"') return false;
    advance();
    return true;
  }
  void lexNumber(Token &t) {
    size_t start = pos_;
    if (src_[pos_] == '-' || src_[pos_] == '+') advance();
    if (src_.substr(pos_, 3) == "inf") {
      for (int i = 0; i < 3; ++i) advance();
      t.kind = Tok::Float;
      t.fval = src_[start] == '-' ? -INFINITY : INFINITY;
      return;
    }
    bool isFloat = false;
    while (pos_ < src_.size()) {
      char c = src_[pos_];
      if (std::isdigit((unsigned char)c)) { advance(); continue; }
      if (c == '.' || c == 'e' || c == 'E') { isFloat = true; advance(); continue; }
      if ((c == '-' || c == '+') && (src_[pos_ - 1] == 'e' || src_[pos_ - 1] == 'E')) { advance(); continue; }
      break;
    }
    std::string s(src_.substr(start, pos_ - start));
    if (!s.empty() && s[0] == '+') s.erase(0, 1);
    t.text = s;
    const char *b = s.data(), *e = s.data() + s.size();
    if (isFloat) {
      auto r = std::from_chars(b, e, t.fval);
      t.kind = (r.ec == std::errc() && r.ptr == e) ? Tok::Float : Tok::Bad;
    } else {
      auto r = std::from_chars(b, e, t.ival);
      t.kind = (r.ec == std::errc() && r.ptr == e) ? Tok::Int : Tok::Bad;
    }
  }

  std::string_view src_;
  size_t pos_ = 0;
  uint32_t line_ = 1, col_ = 1;
};

class IRParser {
public:
  IRParser(std::shared_ptr<const SourceFile> file, DiagnosticEngine &diags)
      : file_(file), lex_(*file), diags_(diags) {
    tok_ = lex_.next();
  }

  std::unique_ptr<Graph> parse() {
    skipComments();
    if (!isName("graph")) {
      error(tok_, "expected 'graph' at the start of IR text");
      return nullptr;
    }
    take();
    auto g = std::make_unique<Graph>(tok_.kind == Tok::Name || tok_.kind == Tok::String ? tok_.text : "");
    g->sources.push_back(file_);
    if (g->name.empty()) { error(tok_, "expected a graph name"); return nullptr; }
    if (std::string e = checkNameLimits(g->name, "the graph"); !e.empty()) { error(tok_, "{}", e); return nullptr; }
    take();
    if (!expectPunct("{")) return nullptr;
    graph_ = g.get();
    while (true) {
      skipComments();
      if (tok_.kind == Tok::End) { error(tok_, "expected '}}' to close graph '{}'", g->name); break; }
      if (isPunct("}")) { take(); break; }
      uint32_t line = tok_.line;
      if (!parseStatement()) {
        if (diags_.errorCount() > DiagnosticEngine::kMaxErrors) break;
        while (tok_.kind != Tok::End && tok_.line == line) take(); // recover at the next line
      }
    }
    skipComments();
    if (tok_.kind != Tok::End) error(tok_, "unexpected text after the graph");
    if (diags_.hasErrors()) return nullptr;
    if (!verify(*g, diags_)) return nullptr;
    return g;
  }

private:
  template <typename... Args>
  void error(const Token &t, fmt::format_string<Args...> f, Args &&...args) {
    diags_.error(SourceLoc{file_, t.line, t.col, t.length}, f, std::forward<Args>(args)...);
  }
  SourceLoc locOf(const Token &t) const { return SourceLoc{file_, t.line, t.col, t.length}; }
  void take() { tok_ = lex_.next(); }
  void skipComments() { while (tok_.kind == Tok::Comment) take(); }
  bool isPunct(const char *p) const { return tok_.kind == Tok::Punct && tok_.text == p; }
  bool isName(const char *n) const { return tok_.kind == Tok::Name && tok_.text == n; }
  bool expectPunct(const char *p) {
    if (isPunct(p)) { take(); return true; }
    error(tok_, "expected '{}', found '{}'", p, tok_.kind == Tok::End ? "end of file" : tok_.text);
    return false;
  }

  bool parseStatement() {
    if (tok_.kind == Tok::Value) return parseOp();
    if (isName("train")) {
      Token at = tok_;
      take();
      if (!parseAttrs(graph_->train)) return false;
      if (std::string e = checkTrainLimits(graph_->train); !e.empty()) {
        error(at, "{}", e);
        return false;
      }
      return true;
    }
    if (tok_.kind == Tok::Name) {
      if (auto role = parseRole(tok_.text)) {
        SourceLoc loc = locOf(tok_);
        take();
        Node *n = parseUse();
        if (!n) return false;
        Node *of = nullptr;
        if (isPunct("=")) { // grad %param = %gradient, update %state = %value
          take();
          of = n;
          n = parseUse();
          if (!n) return false;
        }
        graph_->addResult(*role, n, loc, of);
        return true;
      }
    }
    error(tok_, "expected a value definition, a result (output, loss, penalty, grad, update) or 'train'");
    return false;
  }

  Node *parseUse() {
    if (tok_.kind != Tok::Value) {
      error(tok_, "expected a value like %x");
      return nullptr;
    }
    auto it = values_.find(tok_.text);
    if (it == values_.end()) {
      error(tok_, "use of undefined value %{}", displayName(tok_.text));
      take();
      return nullptr;
    }
    take();
    return it->second;
  }

  static std::string displayName(const std::string &key) {
    return key.size() && key[0] == '"' ? key.substr(1) : key;
  }

  // VALUE '=' MNEMONIC '(' operands ')' [attrs] ':' type [COMMENT]
  bool parseOp() {
    Token def = tok_;
    take();
    if (!expectPunct("=")) return false;
    if (tok_.kind != Tok::Name) { error(tok_, "expected an op name"); return false; }
    Token opTok = tok_;
    auto kind = opKindFromMnemonic(tok_.text);
    if (!kind) { error(tok_, "unknown op '{}'", tok_.text); return false; }
    take();
    if (!expectPunct("(")) return false;
    std::vector<Node *> operands;
    if (!isPunct(")")) {
      do {
        if (isPunct(",")) take();
        Node *n = parseUse();
        if (!n) return false;
        operands.push_back(n);
      } while (isPunct(","));
    }
    if (!expectPunct(")")) return false;
    Attrs attrs;
    if (isPunct("{") && !parseAttrs(attrs)) return false;
    if (!expectPunct(":")) return false;
    TensorType type;
    if (!parseType(type)) return false;
    if (values_.count(def.text)) {
      error(def, "value %{} is defined twice", displayName(def.text));
      return false;
    }
    bool numbered = !def.text.empty() && def.text[0] != '"' &&
                    def.text.find_first_not_of("0123456789") == std::string::npos;
    std::string name = numbered ? "" : displayName(def.text);
    Node *n = graph_->add(*kind, std::move(operands), std::move(attrs), type, name, locOf(opTok));
    if (tok_.kind == Tok::Comment && tok_.line == def.line) {
      n->note = tok_.text;
      take();
    }
    values_[def.text] = n;
    return true;
  }

  bool parseAttrs(Attrs &attrs) {
    if (!expectPunct("{")) return false;
    if (isPunct("}")) { take(); return true; }
    while (true) {
      if (tok_.kind != Tok::Name) { error(tok_, "expected an attribute name"); return false; }
      std::string key = tok_.text;
      take();
      if (!expectPunct("=")) return false;
      AttrValue v;
      if (!parseAttrValue(v)) return false;
      attrs.set(key, std::move(v));
      if (isPunct(",")) { take(); continue; }
      return expectPunct("}");
    }
  }

  bool parseAttrValue(AttrValue &out) {
    Token t = tok_;
    switch (t.kind) {
    case Tok::Int: take(); out = t.ival; return true;
    case Tok::Float: take(); out = t.fval; return true;
    case Tok::String: take(); out = t.text; return true;
    case Tok::Name:
      take();
      if (t.text == "true" || t.text == "false") out = (t.text == "true");
      else out = t.text;
      return true;
    default: break;
    }
    if (!isPunct("[")) { error(tok_, "expected an attribute value"); return false; }
    take();
    Shape dims;
    std::vector<double> floats;
    bool anyFloat = false, anySymbol = false;
    while (!isPunct("]")) {
      if (tok_.kind == Tok::Int) { dims.push_back(Dim(tok_.ival)); floats.push_back(double(tok_.ival)); }
      else if (tok_.kind == Tok::Float) { anyFloat = true; floats.push_back(tok_.fval); }
      else if (tok_.kind == Tok::Name) { anySymbol = true; dims.push_back(Dim::symbol(tok_.text)); }
      else { error(tok_, "expected a number or a dim in a list"); return false; }
      take();
      if (isPunct(",")) take();
      else if (!isPunct("]")) { error(tok_, "expected ',' or ']'"); return false; }
    }
    take();
    if (anyFloat && anySymbol) {
      error(t, "a list mixes dims and floats");
      return false;
    }
    if (anyFloat) out = floats;
    else out = dims;
    return true;
  }

  bool parseType(TensorType &type) {
    if (tok_.kind != Tok::Name || !parseDType(tok_.text)) {
      error(tok_, "expected a type like f32[128, 784]");
      return false;
    }
    type.dtype = *parseDType(tok_.text);
    take();
    if (!expectPunct("[")) return false;
    while (!isPunct("]")) {
      if (tok_.kind == Tok::Int && tok_.ival >= 1) type.shape.push_back(Dim(tok_.ival));
      else if (tok_.kind == Tok::Name) type.shape.push_back(Dim::symbol(tok_.text));
      else { error(tok_, "expected a dim (an extent of at least 1 or a symbol like N)"); return false; }
      if (type.rank() > kMaxRank) { error(tok_, "a shape has at most {} dims (the rank limit, DLC_MAX_RANK)", kMaxRank); return false; }
      take();
      if (isPunct(",")) take();
      else if (!isPunct("]")) { error(tok_, "expected ',' or ']' in a shape"); return false; }
    }
    take();
    return true;
  }

  std::shared_ptr<const SourceFile> file_;
  IRLexer lex_;
  DiagnosticEngine &diags_;
  Token tok_;
  Graph *graph_ = nullptr;
  std::unordered_map<std::string, Node *> values_;
};

} // namespace

std::unique_ptr<Graph> parseIR(std::shared_ptr<const SourceFile> file, DiagnosticEngine &diags) {
  IRParser p(std::move(file), diags);
  return p.parse();
}

} // namespace dlc
