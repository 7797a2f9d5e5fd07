// The engine's guards against runaway expressions (issue 3, "Bad input").
#include <gtest/gtest.h>

#include "fhir/fhirpath/engine.h"
#include "tests/fhirpath/test_util.h"

namespace fhir::fhirpath {
namespace {

using ::fhir::fhirpath::testing::Eval;

bool IsErrorContaining(const std::vector<std::string>& r, const std::string& text) {
  return r.size() == 1 && r[0].rfind("error:", 0) == 0 && r[0].find(text) != std::string::npos;
}

TEST(LimitsTest, CollectionSizeLimit) {
  EvalContext ctx;
  ctx.limits.max_collection_size = 50;
  auto r =
      Eval("(1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10).select((1|2|3|4|5|6|7|8|9|10).select($this))",
           nullptr, ctx);
  EXPECT_TRUE(IsErrorContaining(r, "collection size limit (50)")) << r[0];
}

TEST(LimitsTest, StepLimitStopsExponentialRepeat) {
  EvalContext ctx;
  ctx.limits.max_steps = 100000;
  // Every round doubles the string; repeat() keeps finding new items.
  auto r = Eval("'a'.repeat($this + $this)", nullptr, ctx);
  EXPECT_TRUE(IsErrorContaining(r, "limit")) << r[0];
}

TEST(LimitsTest, StringLengthLimit) {
  EvalContext ctx;
  ctx.limits.max_string_length = 1000;
  auto r = Eval("'aaaaaaaaaa'.repeat(iif($this.length() < 5000, $this & $this, {}))", nullptr, ctx);
  EXPECT_TRUE(IsErrorContaining(r, "string length limit")) << r[0];
}

TEST(LimitsTest, DepthLimit) {
  EvalContext ctx;
  ctx.limits.max_depth = 20;
  std::string expr = "1";
  for (int i = 0; i < 30; ++i) expr = "(" + expr + " + 1)";
  auto r = Eval(expr, nullptr, ctx);
  EXPECT_TRUE(IsErrorContaining(r, "depth limit (20)")) << r[0];
  ctx.limits.max_depth = 1000;
  EXPECT_EQ(Eval(expr, nullptr, ctx), std::vector<std::string>{"integer:31"});
}

TEST(LimitsTest, RegexCostScreen) {
  // Found by fuzz_fhirpath: exponential backtracking and a back-reference that overflows
  // inside libstdc++'s regex compiler.
  EXPECT_TRUE(IsErrorContaining(
      Eval("'aaaaaaaaaaaaaaaaaaaaaaaa'.matches('.*???+a?????t')", nullptr), "nested quantifiers"));
  EXPECT_TRUE(IsErrorContaining(Eval("'a'.matches('(a)\\\\55555555555555555555')", nullptr),
                                "back-reference"));
  EXPECT_TRUE(IsErrorContaining(Eval("'a'.matches('a{99999}')", nullptr), "repeat count"));
  EXPECT_EQ(Eval("'abab'.matches('(ab)+')", nullptr), std::vector<std::string>{"boolean:true"});
  EXPECT_EQ(Eval("'x1'.matches('^[a-z]\\\\d?$')", nullptr),
            std::vector<std::string>{"boolean:true"});
}

TEST(LimitsTest, RepeatOverCyclicProjectionTerminates) {
  // repeat() stops when no new items appear.
  EXPECT_EQ(Eval("(1 | 2).repeat(($this + 1) mod 3)", nullptr).size(), 3u);
}

}  // namespace
}  // namespace fhir::fhirpath
