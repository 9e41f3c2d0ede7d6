//===- ir/Printer.cpp -----------------------------------------------------===//
#include "ir/Printer.h"

#include <cctype>
#include <unordered_map>

#include <fmt/format.h>

namespace dlc {

/// Characters a value name may use unquoted after `%`.
static bool isNameChar(char c) {
  return std::isalnum((unsigned char)c) || c == '_' || c == '.' || c == '/' || c == '\'';
}

static std::string spellName(const std::string &name) {
  bool allDigits = !name.empty(), plain = !name.empty();
  for (char c : name) {
    allDigits = allDigits && std::isdigit((unsigned char)c);
    plain = plain && isNameChar(c);
  }
  if (plain && !allDigits) return "%" + name;
  std::string out = "%\"";
  for (char c : name) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::vector<std::string> printedNames(const Graph &g) {
  std::vector<std::string> out;
  unsigned next = 0;
  for (const auto &n : g.nodes())
    out.push_back(n->name.empty() ? fmt::format("%{}", next++) : spellName(n->name));
  return out;
}

std::string printGraph(const Graph &g) {
  std::vector<std::string> names = printedNames(g);
  std::unordered_map<const Node *, size_t> index;
  for (size_t i = 0; i < g.nodes().size(); ++i) index[g.nodes()[i].get()] = i;
  auto ref = [&](const Node *n) {
    auto it = index.find(n);
    return it == index.end() ? std::string("%<undefined>") : names[it->second];
  };

  std::string out = fmt::format("graph {} {{\n", isIdentifier(g.name) ? g.name : "\"" + g.name + "\"");
  for (size_t i = 0; i < g.nodes().size(); ++i) {
    const Node &n = *g.nodes()[i];
    std::string line = fmt::format("  {} = {}(", names[i], n.info().mnemonic);
    for (size_t k = 0; k < n.operands.size(); ++k) line += (k ? ", " : "") + ref(n.operands[k]);
    line += ")";
    if (!n.attrs.empty()) line += " " + formatAttrs(n.attrs);
    line += " : " + n.type.str();
    if (!n.note.empty()) line += "  # " + n.note;
    out += line + "\n";
  }
  for (const auto &r : g.results) {
    if (r.of) out += fmt::format("  {} {} = {}\n", roleName(r.role), ref(r.of), ref(r.node));
    else out += fmt::format("  {} {}\n", roleName(r.role), ref(r.node));
  }
  if (!g.train.empty()) out += "  train " + formatAttrs(g.train) + "\n";
  return out + "}\n";
}

} // namespace dlc
