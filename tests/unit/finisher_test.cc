// ScreeningCollector's Finish in steps (issue 17): records built by Finishers on two threads,
// patients shared between them, are the records Finish builds, and the pass counts the same —
// with versions, retractions, panels, a member shared by two panels of one patient, a member
// of another subject, and Observations no counted panel reaches.
#include <algorithm>
#include <thread>

#include "plugin/screening/screening_collector.h"
#include "tests/unit/screening_test_support.h"

namespace sdoh::testing {
namespace {

constexpr const char* kHvsPanel = "88121-9";  // Hunger Vital Sign panel
constexpr const char* kFoodWorry = "88122-7";
constexpr const char* kFoodRanOut = "88123-5";
constexpr const char* kOften = "LA28397-0";
constexpr const char* kNever = "LA28398-8";

// Patients p000..p(n-1), each in one of several situations by its index.
std::vector<std::string> Population(size_t n) {
  const std::vector<Item> positive = {{"/88122-7", {kOften}}};
  const std::vector<Item> negative = {{"/88122-7", {kNever}}, {"/88123-5", {kNever}}};
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i) {
    char id[24];
    std::snprintf(id, sizeof id, "p%03zu", i);
    const std::string p = id;
    out.push_back(PatientJson(p));
    switch (i % 6) {
      case 0:  // newer QR wins; the older one is superseded
        out.push_back(Qr(p + "-a", p, kHvs, "2024-01-01", positive));
        out.push_back(Qr(p + "-b", p, kHvs, "2024-06-01", negative));
        break;
      case 1:  // a QR retracted by an entered-in-error line of it
        out.push_back(Qr(p + "-a", p, kHvs, "2024-01-01", positive));
        out.push_back(Qr(p + "-a", p, kHvs, "2024-01-01", positive, "entered-in-error"));
        break;
      case 2:  // a panel and its members; one member shared with a second panel
        out.push_back(Obs(p + "-m1", p, kFoodWorry, kOften));
        out.push_back(Obs(p + "-m2", p, kFoodRanOut, kOften));
        out.push_back(Panel(p + "-panel", p, kHvsPanel, "2024-03-01", {p + "-m1", p + "-m2"}));
        out.push_back(Panel(p + "-panel2", p, kHvsPanel, "2024-02-01", {p + "-m1"}));
        break;
      case 3: {  // a panel naming the previous patient's member (another subject) and its own
        char prev[24];
        std::snprintf(prev, sizeof prev, "p%03zu", i - 1);
        out.push_back(Obs(p + "-m1", p, kFoodWorry, kNever));
        out.push_back(Panel(p + "-panel", p, kHvsPanel, "2024-04-01",
                            {p + "-m1", std::string(prev) + "-m2"}));
        break;
      }
      case 4:  // an Observation no counted panel reaches, and a positive QR
        out.push_back(Obs(p + "-loose", p, "71802-3", "LA31993-1", {}, "final", ""));
        out.push_back(Qr(p + "-a", p, kHvs, "2024-05-01", positive));
        break;
      default:  // a Patient alone
        break;
    }
  }
  return out;
}

struct Built {
  std::vector<PatientRecord> records;
  RunCounts counts;
};

// Feeds `resources` to a fresh collector, then builds the records with Finish (threads == 0)
// or with one Finisher per thread, patient k on thread k % threads.
Built Build(Harness& h, const std::vector<std::string>& resources, size_t threads) {
  ScreeningOptions o;
  o.ruleset = &h.pipeline().ruleset;
  o.now = fhir::NowMicros();
  o.input = InputPolicyFor(h.pipeline().config, o.now);
  ScreeningCollector c(*h.pipeline().catalog, o);
  uint64_t line = 0;
  for (const std::string& r : resources) {
    rapidjson::Document d;
    d.Parse(r.c_str());
    EXPECT_FALSE(d.HasParseError()) << r;
    c.OnResource(d["resourceType"].GetString(), d, {"test", ++line});
  }
  Built out;
  if (threads == 0) {
    c.Finish([&](PatientRecord& rec) { out.records.push_back(std::move(rec)); });
  } else {
    const std::vector<uint32_t> order = c.FinishOrder();
    out.records.resize(order.size());
    std::vector<std::unique_ptr<ScreeningCollector::Finisher>> finishers;
    std::vector<ScreeningCollector::Finisher*> shares;
    for (size_t t = 0; t < threads; ++t) {
      finishers.push_back(std::make_unique<ScreeningCollector::Finisher>(c));
      shares.push_back(finishers.back().get());
    }
    std::vector<std::thread> pool;
    for (size_t t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        for (size_t k = t; k < order.size(); k += threads) {
          finishers[t]->Build(order[k], &out.records[k]);
        }
      });
    }
    for (std::thread& th : pool) th.join();
    c.FinishRest(shares);
  }
  out.counts = c.counts();
  return out;
}

TEST(FinisherTest, RecordsAndCountsOnOneToThreeThreadsMatchFinish) {
  Harness h;
  const std::vector<std::string> resources = Population(240);
  const Built one = Build(h, resources, 0);
  ASSERT_EQ(one.records.size(), 240u);
  // The population has what the comparison is about.
  EXPECT_GT(one.counts.member_observations, 0u);
  EXPECT_GT(one.counts.ignored.at("QuestionnaireResponse: superseded by a newer screening"), 0u);
  EXPECT_GT(one.counts.ignored.at("QuestionnaireResponse: conflicting-versions (a line of the same "
                                  "version does not count)"),
            0u);
  EXPECT_GT(one.counts.ignored.at("Observation: superseded by a newer screening"), 0u);
  EXPECT_GT(one.counts.ignored.at("Observation: not reached by a counted panel"), 0u);
  for (size_t threads : {1u, 2u, 3u}) {
    const Built many = Build(h, resources, threads);
    ASSERT_EQ(many.records.size(), one.records.size());
    for (size_t i = 0; i < one.records.size(); ++i) {
      const PatientRecord& a = one.records[i];
      const PatientRecord& b = many.records[i];
      ASSERT_EQ(a.id, b.id) << i;
      EXPECT_EQ(a.facts.present, b.facts.present) << a.id;
      ASSERT_EQ(a.counted.size(), b.counted.size()) << a.id;
      for (size_t s = 0; s < a.counted.size(); ++s) {
        const Screening& x = a.counted[s];
        const Screening& y = b.counted[s];
        EXPECT_EQ(x.id, y.id) << a.id;
        EXPECT_EQ(x.instrument, y.instrument) << a.id;
        EXPECT_EQ(x.when, y.when) << a.id;
        EXPECT_EQ(x.member_sources, y.member_sources) << a.id;
        EXPECT_EQ(x.source_versions, y.source_versions) << a.id;
        ASSERT_EQ(x.answers.size(), y.answers.size()) << a.id;
        for (size_t k = 0; k < x.answers.size(); ++k) {
          EXPECT_EQ(x.answers[k].question, y.answers[k].question) << a.id;
          EXPECT_EQ(x.answers[k].answer, y.answers[k].answer) << a.id;
          EXPECT_EQ(x.answers[k].source, y.answers[k].source) << a.id;
        }
      }
    }
    EXPECT_EQ(many.counts.screenings_counted, one.counts.screenings_counted) << threads;
    EXPECT_EQ(many.counts.member_observations, one.counts.member_observations) << threads;
    EXPECT_EQ(many.counts.ignored, one.counts.ignored) << threads;
    EXPECT_EQ(many.counts.read, one.counts.read) << threads;
  }
}

// Records come in id order (bytes compared unsigned, a shorter id before the longer ids it
// begins), also for ids FinishOrder cannot tell apart by their first 8 bytes: ids equal in
// those bytes, ids that begin others, ids shorter than 8 bytes, exactly 8 bytes, '-' and '.'.
TEST(FinisherTest, PatientsComeInIdOrderWhateverTheirFirstEightBytes) {
  Harness h;
  const std::vector<std::string> ids = {"patient-0002",
                                        "patient-0001b",
                                        "patient-0001",
                                        "patient-0001a",
                                        "abcdefgh",
                                        "abcdefghi",
                                        "abcdefgh0",
                                        "abc",
                                        "abcdefg",
                                        "A",
                                        "a",
                                        "Z9",
                                        "0",
                                        "9.1",
                                        "9-1",
                                        "91",
                                        "abcdefgh-",
                                        "abcdefgh.",
                                        "abcdefgg",
                                        "abcdefgi"};
  std::vector<std::string> resources;
  for (const std::string& id : ids) resources.push_back(PatientJson(id));
  for (size_t threads : {0u, 2u}) {
    const Built built = Build(h, resources, threads);
    std::vector<std::string> got;
    for (const PatientRecord& r : built.records) got.push_back(r.id);
    std::vector<std::string> want = ids;
    std::sort(want.begin(), want.end());
    EXPECT_EQ(got, want) << threads << " threads";
  }
}

TEST(RunCountsTest, MergeAddsEveryCount) {
  RunCounts a, b;
  a.Ignore("Observation", "x");
  b.Ignore("Observation", "x");
  b.Ignore("QuestionnaireResponse", "y");
  a.read["Patient"] = 2;
  b.read["Patient"] = 3;
  a.screenings_counted = 4;
  b.screenings_counted = 5;
  a.member_observations = 1;
  b.member_observations = 6;
  b.Skip({"f:1", "invalid-json", "offset 3"});
  b.rule_errors["rule r: FHIRPath evaluation error"] = 7;
  a.Merge(b);
  EXPECT_EQ(a.ignored.at("Observation: x"), 2u);
  EXPECT_EQ(a.ignored.at("QuestionnaireResponse: y"), 1u);
  EXPECT_EQ(a.read.at("Patient"), 5u);
  EXPECT_EQ(a.screenings_counted, 9u);
  EXPECT_EQ(a.member_observations, 7u);
  EXPECT_EQ(a.skipped.at("invalid-json"), 1u);
  ASSERT_EQ(a.skip_examples.size(), 1u);
  EXPECT_EQ(a.skip_examples[0].where, "f:1");
  EXPECT_EQ(a.rule_errors.at("rule r: FHIRPath evaluation error"), 7u);
}

}  // namespace
}  // namespace sdoh::testing
