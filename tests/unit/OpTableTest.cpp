//===- tests/unit/OpTableTest.cpp - The op table is complete and consistent -===//
#include <catch2/catch.hpp>

#include <set>

#include "ir/Op.h"

using namespace dlc;

TEST_CASE("every op table row is complete and unique", "[ops]") {
  std::set<std::string> mnemonics;
  for (const OpInfo &info : allOps()) {
    INFO("op " << info.mnemonic);
    CHECK(info.infer != nullptr);
    CHECK(info.arity >= 0);
    CHECK(info.arity <= 2);
    CHECK(mnemonics.insert(info.mnemonic).second);
    // Leaves are exactly the ops without operands.
    CHECK(info.is(Leaf) == (info.arity == 0));
    // The table is indexed by kind.
    CHECK(&opInfo(info.kind) == &info);
    auto back = opKindFromMnemonic(info.mnemonic);
    REQUIRE(back);
    CHECK(*back == info.kind);
  }
  CHECK_FALSE(opKindFromMnemonic("no_such_op"));
}
