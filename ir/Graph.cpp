//===- ir/Graph.cpp -------------------------------------------------------===//
#include "ir/Graph.h"

namespace dlc {

const char *roleName(Role r) {
  switch (r) {
  case Role::Output: return "output";
  case Role::Loss: return "loss";
  case Role::Penalty: return "penalty";
  case Role::Grad: return "grad";
  case Role::Update: return "update";
  }
  return "?";
}

std::optional<Role> parseRole(std::string_view s) {
  for (Role r : {Role::Output, Role::Loss, Role::Penalty, Role::Grad, Role::Update})
    if (s == roleName(r)) return r;
  return std::nullopt;
}

Node *Graph::add(OpKind kind, std::vector<Node *> operands, Attrs attrs, TensorType type,
                 std::string name, SourceLoc loc) {
  auto n = std::make_unique<Node>();
  n->kind = kind;
  n->operands = std::move(operands);
  n->attrs = std::move(attrs);
  n->type = std::move(type);
  n->name = std::move(name);
  n->loc = std::move(loc);
  nodes_.push_back(std::move(n));
  return nodes_.back().get();
}

Node *Graph::result(Role r) const {
  for (const auto &res : results)
    if (res.role == r) return res.node;
  return nullptr;
}

std::vector<Node *> Graph::resultsWith(Role r) const {
  std::vector<Node *> out;
  for (const auto &res : results)
    if (res.role == r) out.push_back(res.node);
  return out;
}

std::vector<Node *> Graph::nodesOfKind(OpKind k) const {
  std::vector<Node *> out;
  for (const auto &n : nodes_)
    if (n->kind == k) out.push_back(n.get());
  return out;
}

Node *Graph::findByName(std::string_view name) const {
  for (const auto &n : nodes_)
    if (n->name == name) return n.get();
  return nullptr;
}

} // namespace dlc
