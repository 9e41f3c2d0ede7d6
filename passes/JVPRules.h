//===- passes/JVPRules.h - One Jacobian-vector product rule per op --------===//
//
// Forward mode: given the tangents t_i = dx_i of an op's operands, a rule
// returns the tangent dy of its result. The rules sit beside the VJP rules
// (VJPRules.cpp) and are checked against finite differences the same way.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <vector>

#include "passes/VJPRules.h"

namespace dlc {

/// dy for `y` given one tangent per operand (null: that operand's tangent is
/// zero); null when dy is zero (leaves, NoGrad ops, all tangents null).
using JVPRule = Node *(*)(GradBuilder &gb, const Node *y, const std::vector<Node *> &t);

/// The rule of an op kind (every row of the op table has one).
JVPRule jvpRule(OpKind kind);

} // namespace dlc
