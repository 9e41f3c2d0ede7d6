//===- ir/Verifier.cpp ----------------------------------------------------===//
#include "ir/Verifier.h"

#include <unordered_map>
#include <unordered_set>

#include "ir/Dataflow.h"
#include "ir/Limits.h"
#include "ir/Printer.h"
#include "ir/ShapeRules.h"

namespace dlc {

namespace {

void verifyLeaf(const Node &n, const std::string &id, DiagnosticEngine &diags) {
  switch (n.kind) {
  case OpKind::Label:
    if (n.type.dtype == DType::I32 && n.attrs.getInt("classes") <= 0)
      diags.error(n.loc, "class label {} needs a positive 'classes' attribute", id);
    return;
  case OpKind::Const:
    if (!n.attrs.has("value")) diags.error(n.loc, "const {} needs a 'value' attribute", id);
    break;
  case OpKind::Literal: {
    auto count = numElements(n.shape());
    if (!count || int64_t(n.attrs.getFloats("values").size()) != *count)
      diags.error(n.loc, "literal {} needs a 'values' attribute of {} elements", id, shapeStr(n.shape()));
    break;
  }
  case OpKind::DropoutMask: {
    double p = n.attrs.getFloat("p", -1);
    if (!(p >= 0 && p < 1) || !n.attrs.has("salt"))
      diags.error(n.loc, "dropout_mask {} needs 0 <= p < 1 and a 'salt' attribute", id);
    break;
  }
  case OpKind::DimSize:
    if (n.attrs.getString("symbol").empty() || !n.type.isScalar())
      diags.error(n.loc, "dim {} needs a 'symbol' attribute and a scalar type", id);
    break;
  default: break;
  }
  if (n.type.dtype != DType::F32)
    diags.error(n.loc, "{} {} must be f32, is {}", n.info().mnemonic, id, n.type.str());
}

/// A grad names the param or input it is the gradient of, an update the
/// state it replaces (once), with the same type; other results name nothing.
void verifyResultTarget(const GraphResult &r, const std::string &id,
                        const std::unordered_map<const Node *, size_t> &position,
                        std::unordered_set<const Node *> &updated, DiagnosticEngine &diags) {
  const SourceLoc &loc = r.loc.valid() ? r.loc : r.node->loc;
  bool wantsTarget = r.role == Role::Grad || r.role == Role::Update;
  if (!wantsTarget) {
    if (r.of) diags.error(loc, "{} result {} names a value it is for; only grad and update do", roleName(r.role), id);
    return;
  }
  if (!r.of) {
    if (r.role == Role::Update) diags.error(loc, "update {} needs the state it replaces: update %state = {}", id, id);
    return;
  }
  if (!position.count(r.of) || r.of->type != r.node->type) {
    if (r.role == Role::Grad) diags.error(loc, "gradient {} does not match the type of what it is the gradient of", id);
    else diags.error(loc, "update {} does not match the type of the state it replaces", id);
    return;
  }
  if (r.role == Role::Update && r.of->kind != OpKind::State)
    diags.error(loc, "update {} replaces a {}, not a state", id, r.of->info().mnemonic);
  else if (r.role == Role::Update && !updated.insert(r.of).second)
    diags.error(loc, "state {} is updated twice", r.of->name.empty() ? id : r.of->name);
}

} // namespace

bool verify(const Graph &g, DiagnosticEngine &diags) {
  unsigned before = diags.errorCount();
  if (g.size() > kMaxOps) {
    diags.error({}, "graph '{}' has {} ops, above the limit of {}", g.name, g.size(), kMaxOps);
    return false;
  }
  if (std::string e = checkNameLimits(g.name, "the model"); !e.empty()) diags.error({}, "{}", e);
  std::unordered_map<const Node *, size_t> position;
  std::unordered_set<std::string> names;
  std::vector<std::string> printed = printedNames(g);
  size_t index = 0;
  for (const auto &up : g.nodes()) {
    const Node &n = *up;
    const std::string &id = printed[index];
    if (!n.name.empty() && !names.insert(n.name).second)
      diags.error(n.loc, "value name {} is defined twice", id);
    if (std::string e = checkNameLimits(n.name, "the value"); !e.empty()) diags.error(n.loc, "{}", e);
    std::string typeError = checkTypeLimits(n.type);
    if (!typeError.empty()) diags.error(n.loc, "{}: {}", id.size() > 40 ? id.substr(0, 40) + "..." : id, typeError);
    bool operandsOk = int(n.operands.size()) == n.info().arity;
    if (!operandsOk)
      diags.error(n.loc, "{} ({}) has {} operand(s); '{}' takes {}", id, n.info().mnemonic,
                  n.operands.size(), n.info().mnemonic, n.info().arity);
    for (const Node *op : n.operands) {
      if (!op || !position.count(op)) {
        diags.error(n.loc, "{} uses a value that is not defined before it", id);
        operandsOk = false;
      }
    }
    if (n.isLeaf()) {
      verifyLeaf(n, id, diags);
    } else if (operandsOk && typeError.empty()) {
      std::vector<TensorType> types;
      for (const Node *op : n.operands) types.push_back(op->type);
      TypeOrError t = inferType(n.kind, types, n.attrs);
      if (!t.ok())
        diags.error(n.loc, "{}: {}", id, t.error);
      else if (t.type != n.type)
        diags.error(n.loc, "{} is declared {} but '{}' gives {}", id, n.type.str(),
                    n.info().mnemonic, t.type.str());
    }
    position[&n] = index++;
  }
  std::unordered_set<const Node *> updated;
  for (const auto &r : g.results) {
    if (!r.node || !position.count(r.node)) {
      diags.error({}, "{} result refers to a value that is not in graph '{}'", roleName(r.role), g.name);
      continue;
    }
    verifyResultTarget(r, printed[position[r.node]], position, updated, diags);
    bool scalarRole = r.role == Role::Loss || r.role == Role::Penalty;
    if (scalarRole && (!r.node->type.isScalar() || r.node->type.dtype != DType::F32))
      diags.error(r.loc.valid() ? r.loc : r.node->loc, "{} must be an f32 scalar, {} is {}",
                  roleName(r.role), printed[position[r.node]], r.node->type.str());
  }
  if (!topologicalOrder(g))
    diags.error({}, "graph '{}' has a cycle", g.name);
  return diags.errorCount() == before;
}

} // namespace dlc
