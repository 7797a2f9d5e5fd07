// Unit tests for the FHIRPath engine's public API (fhir/fhirpath/engine.h).
#include "fhir/fhirpath/engine.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "tests/fhirpath/test_util.h"

namespace fhir::fhirpath {
namespace {

using ::fhir::fhirpath::testing::Eval;
using ::fhir::fhirpath::testing::ParseResource;
using Strings = std::vector<std::string>;

constexpr char kPatient[] = R"({
  "resourceType": "Patient",
  "id": "p1",
  "active": true,
  "gender": "female",
  "birthDate": "1974-12-25",
  "_birthDate": {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
                                "valueDateTime": "1974-12-25T14:35:45-05:00"}]},
  "name": [{"use": "official", "family": "Doe", "given": ["Jane", "Q"]},
           {"use": "nickname", "given": [null, "JJ"], "_given": [{"id": "g1"}]}],
  "multipleBirthInteger": 2,
  "contained": [{"resourceType": "Observation", "id": "o1", "status": "final"}]
})";

constexpr char kObservation[] = R"({
  "resourceType": "Observation",
  "status": "final",
  "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
  "valueQuantity": {"value": 1.50, "unit": "kg", "system": "http://unitsofmeasure.org",
                    "code": "kg"},
  "effectiveDateTime": "2016-03-28T09:30:00+02:00"
})";

class EngineTest : public ::testing::Test {
 protected:
  std::unique_ptr<rapidjson::Document> patient_ = ParseResource(kPatient);
  std::unique_ptr<rapidjson::Document> observation_ = ParseResource(kObservation);
};

TEST(CompileTest, ReportsSyntaxErrorPosition) {
  auto r = Compile("2 + 2 /");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error->position, 7u);
  r = Compile("name.where(use = 'x'");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error->message.find("')'"), std::string::npos) << r.error->message;
  EXPECT_FALSE(Compile("2 + 2 /* open").ok());
  EXPECT_FALSE(Compile("@T14:34:28Z").ok());
}

TEST(CompileTest, RejectsUnknownFunctionsTypesAndArity) {
  EXPECT_FALSE(Compile("name.frobnicate()").ok());
  EXPECT_FALSE(Compile("gender.as(string1)").ok());
  EXPECT_FALSE(Compile("name.where()").ok());
  EXPECT_TRUE(Compile("gender.is(System.Anything)").ok());
}

TEST(CompileTest, CommentsEscapesAndLiterals) {
  EXPECT_EQ(Eval("2 + 2 // four\n", nullptr), Strings{"integer:4"});
  EXPECT_EQ(Eval("'a\\u0062\\'c'", nullptr), Strings{"string:ab'c"});
  EXPECT_EQ(Eval("@2015-02T", nullptr), Strings{"dateTime:2015-02T"});
  EXPECT_EQ(Eval("@T10:30", nullptr), Strings{"time:10:30"});
  EXPECT_EQ(Eval("4 days", nullptr), Strings{"Quantity:4 days"});
  EXPECT_EQ(Eval("1.50 'mg'", nullptr), Strings{"Quantity:1.50 'mg'"});
}

TEST(CompileTest, RejectsPathologicalNesting) {
  std::string deep(300, '(');
  EXPECT_FALSE(Compile(deep + "1" + std::string(300, ')')).ok());
  std::string chain = "a";
  for (int i = 0; i < 5000; ++i) chain += ".a";
  EXPECT_FALSE(Compile(chain).ok());
  EXPECT_FALSE(Compile(std::string(70000, '1')).ok());
}

TEST_F(EngineTest, NavigatesWithFhirTypes) {
  EXPECT_EQ(Eval("Patient.gender", patient_.get()), Strings{"code:female"});
  EXPECT_EQ(Eval("birthDate", patient_.get()), Strings{"date:1974-12-25"});
  EXPECT_EQ(Eval("id", patient_.get()), Strings{"id:p1"});
  EXPECT_EQ(Eval("multipleBirth", patient_.get()), Strings{"integer:2"});
  EXPECT_EQ(Eval("contained.id", patient_.get()), Strings{"id:o1"});
  EXPECT_EQ(Eval("contained.ofType(Observation).status", patient_.get()), Strings{"code:final"});
}

TEST_F(EngineTest, ChoiceElementsAndMatchedNodes) {
  auto c = Compile("Observation.value");
  ASSERT_TRUE(c.ok());
  EvalResult r = Evaluate(*c.expression, *observation_, EvalContext());
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r.items.size(), 1u);
  EXPECT_EQ(r.items[0].fhir_type(), "Quantity");
  EXPECT_EQ(r.items[0].node(), &(*observation_)["valueQuantity"]);
  EXPECT_EQ(Eval("value.value", observation_.get()), Strings{"decimal:1.50"});
  EXPECT_EQ(Eval("value is Quantity", observation_.get()), Strings{"boolean:true"});
  EXPECT_EQ(Eval("value.ofType(CodeableConcept)", observation_.get()), Strings{});
  EXPECT_EQ(Eval("effective", observation_.get()), Strings{"dateTime:2016-03-28T09:30:00+02:00"});
}

TEST_F(EngineTest, PrimitiveExtensions) {
  EXPECT_EQ(Eval("birthDate.extension('http://hl7.org/fhir/StructureDefinition/"
                 "patient-birthTime').value",
                 patient_.get()),
            Strings{"dateTime:1974-12-25T14:35:45-05:00"});
  EXPECT_EQ(Eval("name[1].given.select($this.hasValue())", patient_.get()),
            (Strings{"boolean:false", "boolean:true"}));
  EXPECT_EQ(Eval("name[1].given.first().id", patient_.get()), Strings{"string:g1"});
}

TEST_F(EngineTest, TypeTestsKnowFhirInheritance) {
  EXPECT_EQ(Eval("gender.is(code)", patient_.get()), Strings{"boolean:true"});
  EXPECT_EQ(Eval("gender.is(string)", patient_.get()), Strings{"boolean:true"});
  EXPECT_EQ(Eval("gender.as(string)", patient_.get()), Strings{});
  EXPECT_EQ(Eval("gender.is(System.String)", patient_.get()), Strings{"boolean:false"});
  EXPECT_EQ(Eval("active.type().name", patient_.get()), Strings{"string:boolean"});
  EXPECT_EQ(Eval("Patient.is(DomainResource)", patient_.get()), Strings{"boolean:true"});
}

TEST_F(EngineTest, StrictModelReportsUnknownElements) {
  EXPECT_EQ(Eval("name.given1", patient_.get())[0].rfind("error:", 0), 0u);
  EXPECT_EQ(Eval("Encounter.status", patient_.get())[0].rfind("error:", 0), 0u);
  EvalContext lenient;
  lenient.strict_model = false;
  EXPECT_EQ(Eval("name.given1", patient_.get(), lenient), Strings{});
}

TEST(ModelTest, UnknownElementsAndResourcesStayNavigable) {
  auto basic = ParseResource(R"({"resourceType": "ServiceRequest", "status": "active",
    "futureElement": {"nested": {"flag": true}}})");
  EXPECT_EQ(Eval("futureElement.nested.flag", basic.get()), Strings{"boolean:true"});
  auto plain = ParseResource(R"({"a": {"b": "x"}})");
  EXPECT_EQ(Eval("a.b", plain.get()), Strings{"string:x"});
}

TEST(EqualityTest, EqualityVersusEquivalence) {
  EXPECT_EQ(Eval("1.10 = 1.1", nullptr), Strings{"boolean:true"});
  EXPECT_EQ(Eval("1.2 / 1.8 ~ 0.67", nullptr), Strings{"boolean:true"});
  EXPECT_EQ(Eval("'a b' ~ 'A  B'", nullptr), Strings{"boolean:true"});
  EXPECT_EQ(Eval("@2012-04-15 = @2012-04-15T10:00:00", nullptr), Strings{});
  EXPECT_EQ(Eval("@2012-04-15 ~ @2012-04-15T10:00:00", nullptr), Strings{"boolean:false"});
  EXPECT_EQ(Eval("@2012-04-15T15:00:00+02:00 = @2012-04-15T16:00:00+03:00", nullptr),
            Strings{"boolean:true"});
  EXPECT_EQ(Eval("4 'g' = 4000 'mg'", nullptr), Strings{"boolean:true"});
  EXPECT_EQ(Eval("1 year = 1 'a'", nullptr), Strings{});
  EXPECT_EQ(Eval("(1 | 2) ~ (2 | 1)", nullptr), Strings{"boolean:true"});
}

TEST(ArithmeticTest, DecimalsKeepDigitsAndDatesAddCalendarUnits) {
  EXPECT_EQ(Eval("1.50 + 1.25", nullptr), Strings{"decimal:2.75"});
  EXPECT_EQ(Eval("2 / 2", nullptr), Strings{"decimal:1"});
  EXPECT_EQ(Eval("1 / 0", nullptr), Strings{});
  EXPECT_EQ(Eval("9223372036854775807 + 1", nullptr), Strings{});
  EXPECT_EQ(Eval("@2024-01-31 + 1 month", nullptr), Strings{"date:2024-02-29"});
  EXPECT_EQ(Eval("@2024-01-01T10:00:00Z + 90 minutes", nullptr),
            Strings{"dateTime:2024-01-01T11:30:00Z"});
  EXPECT_EQ(Eval("@2024-01-01 + 1 'mo'", nullptr)[0].rfind("error:", 0), 0u);
}

TEST(FunctionTest, StringFunctions) {
  EXPECT_EQ(Eval("'a,b'.split(',').join('|')", nullptr), Strings{"string:a|b"});
  EXPECT_EQ(Eval("'test'.encode('base64')", nullptr), Strings{"string:dGVzdA=="});
  EXPECT_EQ(Eval("'<x>'.escape('html')", nullptr), Strings{"string:&lt;x&gt;"});
  EXPECT_EQ(Eval("'  x '.trim()", nullptr), Strings{"string:x"});
  EXPECT_EQ(Eval("'A\nB'.matches('A.B')", nullptr), Strings{"boolean:true"});
  EXPECT_EQ(Eval("'aaa'.matches('(a+)+b')", nullptr)[0].rfind("error:", 0), 0u);
  EXPECT_EQ(Eval("'abc'.replaceMatches('(b)', '[$1]')", nullptr), Strings{"string:a[b]c"});
}

TEST(FunctionTest, BoundariesAndPrecision) {
  EXPECT_EQ(Eval("1.587.lowBoundary()", nullptr), Strings{"decimal:1.58650000"});
  EXPECT_EQ(Eval("1.587.highBoundary(2)", nullptr), Strings{"decimal:1.59"});
  EXPECT_EQ(Eval("@2014.highBoundary(6)", nullptr), Strings{"date:2014-12"});
  EXPECT_EQ(Eval("@T10:30.lowBoundary(9)", nullptr), Strings{"time:10:30:00.000"});
  EXPECT_EQ(Eval("1.58700.precision()", nullptr), Strings{"integer:5"});
}

TEST(FunctionTest, SortAggregateDefineVariable) {
  EXPECT_EQ(Eval("(3 | 1 | 2).sort(-$this)", nullptr),
            (Strings{"integer:3", "integer:2", "integer:1"}));
  EXPECT_EQ(Eval("('b' | 'a').sort()", nullptr), (Strings{"string:a", "string:b"}));
  EXPECT_EQ(Eval("(1 | 2 | 3).aggregate($this + $total, 0)", nullptr), Strings{"integer:6"});
  EXPECT_EQ(Eval("1.defineVariable('x', 5).select(%x + $this)", nullptr), Strings{"integer:6"});
  EXPECT_EQ(Eval("1.defineVariable('x', 5).defineVariable('x', 6)", nullptr)[0].rfind("error:", 0),
            0u);
}

TEST(VariableTest, BuiltInAndUserVariables) {
  EXPECT_EQ(Eval("%ucum", nullptr), Strings{"string:http://unitsofmeasure.org"});
  EXPECT_EQ(Eval("%`vs-administrative-gender`", nullptr),
            Strings{"string:http://hl7.org/fhir/ValueSet/administrative-gender"});
  EXPECT_EQ(Eval("%`ext-patient-birthTime`", nullptr),
            Strings{"string:http://hl7.org/fhir/StructureDefinition/patient-birthTime"});
  EvalContext ctx;
  ctx.variables["threshold"] = Collection{Item::Integer(10)};
  EXPECT_EQ(Eval("%threshold * 2", nullptr, ctx), Strings{"integer:20"});
  EXPECT_EQ(Eval("%missing", nullptr)[0], "error: unknown variable %missing");
}

TEST(TimeTest, NowAndTodayUseTheExplicitEvaluationTime) {
  EvalContext ctx;
  ctx.now = std::chrono::system_clock::time_point(std::chrono::milliseconds(1700000000123));
  ctx.utc_offset_minutes = 0;
  EXPECT_EQ(Eval("now()", nullptr, ctx), Strings{"dateTime:2023-11-14T22:13:20.123Z"});
  EXPECT_EQ(Eval("today()", nullptr, ctx), Strings{"date:2023-11-14"});
  EXPECT_EQ(Eval("timeOfDay()", nullptr, ctx), Strings{"time:22:13:20.123"});
  ctx.utc_offset_minutes = 150;
  EXPECT_EQ(Eval("now()", nullptr, ctx), Strings{"dateTime:2023-11-15T00:43:20.123+02:30"});
  EXPECT_EQ(Eval("today()", nullptr, ctx), Strings{"date:2023-11-15"});
}

TEST_F(EngineTest, ConcurrentEvaluationOfOneExpression) {
  auto c = Compile("name.where(use = 'official').given.join(' ') & ' ' & gender");
  ASSERT_TRUE(c.ok());
  const Expression& expr = *c.expression;
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      EvalContext ctx;
      for (int i = 0; i < 200; ++i) {
        EvalResult r = Evaluate(expr, *patient_, ctx);
        if (r.ok() && r.items.size() == 1 && r.items[0].str() == "Jane Q female") ++good;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(good.load(), 800);
}

}  // namespace
}  // namespace fhir::fhirpath
