//===- frontend/ASTPrinter.cpp - `dlc --emit=ast` -------------------------===//
#include "frontend/AST.h"

#include "ir/Attributes.h"

namespace dlc {

namespace {

std::string printExpr(const Expr &e) {
  auto args = [&](size_t from) {
    std::string out;
    for (size_t i = from; i < e.args.size(); ++i) {
      out += " ";
      if (i < e.argNames.size() && !e.argNames[i].empty()) out += e.argNames[i] + "=";
      out += printExpr(*e.args[i]);
    }
    return out;
  };
  switch (e.kind) {
  case Expr::Kind::Number: return e.isInteger ? fmt::format("{}", int64_t(e.number)) : formatFloat(e.number);
  case Expr::Kind::Name: return e.name;
  case Expr::Kind::Call: return "(call " + e.name + args(0) + ")";
  case Expr::Kind::Binary: return "(" + e.name + args(0) + ")";
  case Expr::Kind::Neg: return "(neg" + args(0) + ")";
  case Expr::Kind::Transpose: return "(transpose" + args(0) + ")";
  case Expr::Kind::List: return "(list" + args(0) + ")";
  case Expr::Kind::Index: {
    std::string items;
    for (const IndexItem &it : e.index) {
      items += " ";
      if (it.hasStart || !it.isSlice) items += std::to_string(it.start);
      if (it.isSlice) items += ":" + (it.hasEnd ? std::to_string(it.end) : std::string());
    }
    return "(index" + args(0) + items + ")";
  }
  }
  return "?";
}

std::string printShape(const ShapeSpec &s) {
  std::string out = "[";
  for (size_t i = 0; i < s.dims.size(); ++i) out += (i ? ", " : "") + std::to_string(s.dims[i]);
  return out + "]";
}

std::string printCallSpec(const CallSpec &c) {
  std::string out = c.name;
  if (c.hasParens) out += "(";
  for (size_t i = 0; i < c.args.size(); ++i) {
    if (i) out += ", ";
    if (!c.argNames[i].empty()) out += c.argNames[i] + "=";
    out += printExpr(*c.args[i]);
  }
  if (c.hasParens) out += ")";
  return out;
}

std::string printDecl(const Decl &d) {
  auto loc = fmt::format("{}:{}", d.loc.line, d.loc.col);
  switch (d.kind) {
  case Decl::Kind::Input: return fmt::format("input {} {}  @{}", d.name, printShape(d.shape), loc);
  case Decl::Kind::Label:
    return d.classes ? fmt::format("label {} class({})  @{}", d.name, d.classes, loc)
                     : fmt::format("label {} {}  @{}", d.name, printShape(d.shape), loc);
  case Decl::Kind::Param:
    return fmt::format("param {} {} ~ {}  @{}", d.name, printShape(d.shape), printCallSpec(d.init), loc);
  case Decl::Kind::Const:
    return fmt::format("const {}{} = {}  @{}", d.name, d.hasShape ? " " + printShape(d.shape) : "",
                       printExpr(*d.value), loc);
  case Decl::Kind::Fn: {
    std::string ps;
    for (size_t i = 0; i < d.fnParams.size(); ++i) ps += (i ? ", " : "") + d.fnParams[i];
    return fmt::format("fn {}({}) = {}  @{}", d.name, ps, printExpr(*d.value), loc);
  }
  case Decl::Kind::Output:
    return d.value ? fmt::format("output {} = {}  @{}", d.name, printExpr(*d.value), loc)
                   : fmt::format("output {}  @{}", d.name, loc);
  case Decl::Kind::Loss: return fmt::format("loss {}  @{}", printExpr(*d.value), loc);
  case Decl::Kind::Penalty: return fmt::format("penalty {}  @{}", printExpr(*d.value), loc);
  case Decl::Kind::Assign: return fmt::format("{} = {}  @{}", d.name, printExpr(*d.value), loc);
  }
  return "?";
}

} // namespace

std::string printAST(const Program &p) {
  std::string out;
  for (const Decl &f : p.functions) out += printDecl(f) + "\n";
  for (const ModelDecl &m : p.models) {
    out += fmt::format("model {}  @{}:{}\n", m.name, m.loc.line, m.loc.col);
    for (const Decl &d : m.decls) out += "  " + printDecl(d) + "\n";
  }
  for (const TrainDecl &t : p.trains) {
    out += fmt::format("train {}  @{}:{}\n", t.model, t.loc.line, t.loc.col);
    for (const TrainSetting &s : t.settings) out += "  " + s.key + " " + printCallSpec(s.value) + "\n";
  }
  return out;
}

} // namespace dlc
