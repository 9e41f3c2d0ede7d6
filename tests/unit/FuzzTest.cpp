//===- tests/unit/FuzzTest.cpp - Mutated inputs never crash the front end -===//
//
// Feeds 1,000 seeded mutations of the examples (byte flips, truncations,
// token swaps, duplicated and deleted spans) to the .net front end and their
// IR to the IR parser. Each must either succeed with no error or fail with
// at least one diagnostic; a crash or hang fails the run (ASan in CI).
//
//===----------------------------------------------------------------------===//
#include <catch2/catch.hpp>

#include <random>

#include "TestUtil.h"

using namespace dlc;
using namespace dlc::test;

namespace {

std::vector<std::pair<size_t, size_t>> tokenSpans(const std::string &s) {
  std::vector<std::pair<size_t, size_t>> spans;
  size_t i = 0;
  while (i < s.size()) {
    if (std::isspace((unsigned char)s[i])) { ++i; continue; }
    size_t j = i + 1;
    if (std::isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '%')
      while (j < s.size() && (std::isalnum((unsigned char)s[j]) || s[j] == '_' || s[j] == '.')) ++j;
    spans.push_back({i, j - i});
    i = j;
  }
  return spans;
}

std::string mutate(const std::string &in, std::mt19937 &rng) {
  std::string s = in;
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n ? n - 1 : 0)(rng); };
  int edits = 1 + int(pick(4));
  for (int e = 0; e < edits && !s.empty(); ++e) {
    switch (pick(6)) {
    case 0: s[pick(s.size())] = char(pick(256)); break;          // byte flip
    case 1: s.resize(pick(s.size())); break;                      // truncation
    case 2: {                                                     // token swap
      auto spans = tokenSpans(s);
      if (spans.size() < 2) break;
      auto a = spans[pick(spans.size())], b = spans[pick(spans.size())];
      if (a.first > b.first) std::swap(a, b);
      if (a.first + a.second > b.first) break;
      std::string ta = s.substr(a.first, a.second), tb = s.substr(b.first, b.second);
      s.replace(b.first, b.second, ta);
      s.replace(a.first, a.second, tb);
      break;
    }
    case 3: {                                                     // delete a token
      auto spans = tokenSpans(s);
      if (spans.empty()) break;
      auto t = spans[pick(spans.size())];
      s.erase(t.first, t.second);
      break;
    }
    case 4: {                                                     // duplicate a span
      size_t at = pick(s.size()), len = pick(40);
      s.insert(pick(s.size()), s.substr(at, len));
      break;
    }
    default: {                                                    // insert punctuation
      static const char punct[] = "()[]{},:=~+-*/^@.;#%\n";
      s.insert(s.begin() + long(pick(s.size())), punct[pick(sizeof(punct) - 1)]);
      break;
    }
    }
  }
  return s;
}

} // namespace

TEST_CASE("1,000 mutated inputs give a result or a diagnostic, never a crash", "[fuzz]") {
  std::mt19937 rng(20261122);
  std::vector<std::string> nets, irs;
  for (const char *name : kExamples) {
    nets.push_back(readExample(name));
    DiagnosticEngine diags;
    auto g = compile(nets.back(), diags);
    REQUIRE(g);
    irs.push_back(printGraph(*g));
  }
  int accepted = 0, rejected = 0;
  for (int i = 0; i < 1000; ++i) {
    bool useIR = i % 4 == 3;
    const auto &pool = useIR ? irs : nets;
    std::string text = mutate(pool[size_t(i) % pool.size()], rng);
    DiagnosticEngine diags;
    auto g = useIR ? parseIRText(text, diags) : compile(text, diags);
    INFO("mutation " << i << ":\n" << text);
    // Success and errors are exclusive, and every error renders.
    REQUIRE(bool(g) != diags.hasErrors());
    if (g) ++accepted;
    else {
      ++rejected;
      for (const auto &d : diags.diagnostics()) REQUIRE_FALSE(d.message.empty());
      REQUIRE_FALSE(renderDiagnostics(diags).empty());
    }
  }
  // The mutations must exercise both outcomes to mean anything.
  CHECK(rejected > 500);
  CHECK(accepted > 10);
}
