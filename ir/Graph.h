//===- ir/Graph.h - The tensor-graph IR -----------------------------------===//
//
// A Graph is a list of Nodes in program order. Each Node is one op and the
// single SSA value it defines: its kind (a row of the op table), operands,
// attributes, result type, an optional source name (`v1`, `dL/dA1`) and the
// source location it came from. Results (outputs, the loss, the penalty,
// gradients) are role-tagged references to nodes.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ir/Attributes.h"
#include "ir/Diagnostics.h"
#include "ir/Op.h"
#include "ir/Types.h"

namespace dlc {

class Node {
public:
  OpKind kind;
  std::vector<Node *> operands;
  Attrs attrs;
  TensorType type;
  std::string name; ///< source name; empty for temporaries (printed as %0, %1, ...)
  SourceLoc loc;
  /// A remark printed after the op (`# dL/dv1 = A2^T dL/dw`); parses back.
  std::string note;

  const OpInfo &info() const { return opInfo(kind); }
  bool isLeaf() const { return info().is(Leaf); }
  /// An input, label, param or state: a leaf whose value the caller or the
  /// runtime puts in the arena (no kernel computes it).
  bool isSupplied() const {
    return kind == OpKind::Input || kind == OpKind::Label || kind == OpKind::Param || kind == OpKind::State;
  }
  const Shape &shape() const { return type.shape; }
};

/// What a graph result is for. A Grad result is the gradient of its `of`
/// (a param or an input); an Update result is the new value of its `of` (a
/// state), written by the training entries after the loss.
enum class Role { Output, Loss, Penalty, Grad, Update };
const char *roleName(Role r);
std::optional<Role> parseRole(std::string_view s);

struct GraphResult {
  Role role;
  Node *node;
  SourceLoc loc;      ///< where the result was declared, if anywhere
  Node *of = nullptr; ///< Grad: the param (or input) this is the gradient of; Update: the state it replaces
};

class Graph {
public:
  explicit Graph(std::string name = "main") : name(std::move(name)) {}
  Graph(const Graph &) = delete;
  Graph &operator=(const Graph &) = delete;

  std::string name;
  /// Where the model was declared (its name in the .net file), if anywhere.
  SourceLoc loc;
  /// Settings of the model's train block (optimizer, lr, batch, ...).
  Attrs train;

  /// Appends a node whose type is given (leaves, or a type already checked).
  Node *add(OpKind kind, std::vector<Node *> operands, Attrs attrs, TensorType type,
            std::string name = "", SourceLoc loc = {});

  const std::vector<std::unique_ptr<Node>> &nodes() const { return nodes_; }
  size_t size() const { return nodes_.size(); }

  std::vector<GraphResult> results;
  void addResult(Role r, Node *n, SourceLoc loc = {}, Node *of = nullptr) {
    results.push_back({r, n, std::move(loc), of});
  }
  /// The first result with this role, or null.
  Node *result(Role r) const;
  std::vector<Node *> resultsWith(Role r) const;

  /// All nodes of kind k, in order (e.g. every Param).
  std::vector<Node *> nodesOfKind(OpKind k) const;
  Node *findByName(std::string_view name) const;

  /// Removes nodes for which `dead` is true; the caller guarantees no live
  /// node or result uses them.
  template <typename Pred> void eraseIf(Pred dead) {
    std::vector<std::unique_ptr<Node>> kept;
    for (auto &n : nodes_)
      if (!dead(n.get())) kept.push_back(std::move(n));
    nodes_ = std::move(kept);
  }

  /// Keeps source files alive for the locations of the nodes.
  std::vector<std::shared_ptr<const SourceFile>> sources;

private:
  std::vector<std::unique_ptr<Node>> nodes_;
};

} // namespace dlc
