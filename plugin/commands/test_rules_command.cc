#include "plugin/commands/test_rules_command.h"

#include <algorithm>
#include <ostream>
#include <set>

#include <memory>

#include "fhir/memory_store.h"
#include "plugin/pass/evaluate_pass.h"
#include "plugin/setup/pipeline.h"
#include "plugin/setup/yaml_json.h"
#include "plugin/setup/yaml_util.h"

namespace sdoh {

namespace {

// Every flag of a case, in patient order.
struct FlagCollector : PassSink {
  void OnPatient(PatientResult& result) override {
    for (NeedFlag& f : result.flags) flags.push_back(std::move(f));
  }
  std::vector<NeedFlag> flags;
};

struct Expected {
  std::string patient;
  std::string flag;
  std::string certainty;
  bool has_evidence = false;
  std::vector<std::string> evidence;
  bool has_rules = false;
  std::vector<std::string> rules;
};

std::string Describe(const Expected& e) {
  std::string s = (e.patient.empty() ? std::string() : "Patient/" + e.patient + " ") + e.flag;
  if (!e.certainty.empty()) s += " " + e.certainty;
  return s;
}

// The expected flags of one case. Errors name file, line and key.
fhir::Status ParseExpected(const std::string& file, const YAML::Node& exp,
                           std::vector<Expected>* expected) {
  for (const auto& e : exp) {
    if (fhir::Status s = CheckKeys(file, e, {"patient", "flag", "certainty", "evidence", "rules"},
                                   "expected flag");
        !s.ok()) {
      return s;
    }
    Expected x;
    auto flag = RequiredString(file, e, "flag");
    if (!flag.ok()) return flag.status();
    x.flag = *flag;
    auto patient = OptionalString(file, e, "patient", "");
    if (!patient.ok()) return patient.status();
    x.patient = std::move(*patient);
    auto certainty = OptionalString(file, e, "certainty", "");
    if (!certainty.ok()) return certainty.status();
    x.certainty = std::move(*certainty);
    if (e["evidence"]) {
      x.has_evidence = true;
      auto evidence = StringList(file, e, "evidence", true);
      if (!evidence.ok()) return evidence.status();
      x.evidence = std::move(*evidence);
      std::sort(x.evidence.begin(), x.evidence.end());
    }
    if (e["rules"]) {
      x.has_rules = true;
      auto rules = StringList(file, e, "rules", true);
      if (!rules.ok()) return rules.status();
      x.rules = std::move(*rules);
      std::sort(x.rules.begin(), x.rules.end());
    }
    expected->push_back(std::move(x));
  }
  return fhir::Status::Ok();
}

// Each expected flag against the actual ones; what differs goes to `problems`.
void Compare(const std::vector<Expected>& expected, const std::vector<NeedFlag>& actual,
             std::vector<std::string>* problems) {
  std::vector<bool> matched(actual.size(), false);
  for (const Expected& x : expected) {
    bool found = false;
    for (size_t i = 0; i < actual.size(); ++i) {
      const NeedFlag& f = actual[i];
      if (matched[i] || f.need != x.flag) continue;
      if (!x.patient.empty() && f.patient_id != x.patient) continue;
      std::vector<std::string> ev;
      for (const auto& [ref, v] : f.evidence) ev.push_back(ref);
      std::string cert = f.possible ? "possible" : "confirmed";
      if (!x.certainty.empty() && x.certainty != cert) {
        problems->push_back(Describe(x) + ": certainty is " + cert);
        matched[i] = found = true;
        break;
      }
      if (x.has_evidence && ev != x.evidence) {
        std::string got;
        for (const auto& e : ev) got += " " + e;
        problems->push_back(Describe(x) + ": evidence is" + got);
      }
      if (x.has_rules && f.rules != x.rules) {
        std::string got;
        for (const auto& r : f.rules) got += " " + r;
        problems->push_back(Describe(x) + ": rules are" + got);
      }
      matched[i] = found = true;
      break;
    }
    if (!found) problems->push_back("missing flag " + Describe(x));
  }
  for (size_t i = 0; i < actual.size(); ++i) {
    if (!matched[i]) {
      problems->push_back("unexpected flag Patient/" + actual[i].patient_id + " " + actual[i].need);
    }
  }
}

}  // namespace

int TestRulesCommand(const TestRulesOptions& options, std::ostream& out, std::ostream& err) {
  auto pipeline = LoadCommandPipeline(options.config_path, "", "", err);
  if (!pipeline) return 2;
  Pipeline& p = *pipeline;
  int passed = 0, failed = 0;
  for (const std::string& file : options.files) {
    auto doc = LoadYamlFile(file);
    if (!doc.ok()) {
      err << "sdoh-bridge: " << doc.status().message() << "\n";
      return 2;
    }
    YAML::Node cases = (*doc)["cases"];
    if (!cases || !cases.IsSequence()) {
      err << "sdoh-bridge: " << Where(file, *doc) << ": a fixture file needs a 'cases' list\n";
      return 2;
    }
    for (const auto& c : cases) {
      if (fhir::Status s = CheckKeys(file, c, {"name", "resources", "expect"}, "case"); !s.ok()) {
        err << "sdoh-bridge: " << s.message() << "\n";
        return 2;
      }
      auto named = OptionalString(file, c, "name", Where(file, c));
      if (!named.ok()) {
        err << "sdoh-bridge: " << named.status().message() << "\n";
        return 2;
      }
      const std::string name = std::move(*named);
      std::vector<Expected> expected;
      YAML::Node exp = c["expect"];
      if (!exp || !exp.IsSequence()) {
        err << "sdoh-bridge: " << Where(file, c) << ": case '" << name
            << "' needs 'expect' (a list, [] for no flags)\n";
        return 2;
      }
      if (fhir::Status st = ParseExpected(file, exp, &expected); !st.ok()) {
        err << "sdoh-bridge: " << st.message() << "\n";
        return 2;
      }
      // The case's resources through the one evaluation `run` uses.
      std::vector<std::unique_ptr<rapidjson::Document>> docs;
      fhir::MemoryStore store(file);
      uint64_t index = 0;
      if (YAML::Node resources = c["resources"]; resources && resources.IsSequence()) {
        for (const auto& r : resources) {
          docs.push_back(std::make_unique<rapidjson::Document>());
          YamlToJson(r, *docs.back(), docs.back()->GetAllocator());
          store.Add(*docs.back(), file, ++index);
        }
      }
      PassOptions po;
      po.now = fhir::NowMicros();
      po.plan_referrals = false;
      FlagCollector collected;
      Pass pass(p, po);
      (void)pass.Read(store);  // a memory store always reads
      pass.Evaluate(collected);
      std::vector<NeedFlag>& actual = collected.flags;
      std::vector<std::string> problems;
      for (const auto& [reason, n] : pass.counts().skipped) {
        problems.push_back("input skipped (" + reason + ")");
      }
      Compare(expected, actual, &problems);
      if (problems.empty()) {
        ++passed;
        out << "PASS  " << file << ": " << name << "\n";
      } else {
        ++failed;
        out << "FAIL  " << file << ": " << name << "\n";
        for (const auto& pr : problems) out << "        " << pr << "\n";
      }
    }
  }
  out << passed << " passed, " << failed << " failed\n";
  return failed > 0 ? 1 : 0;
}

}  // namespace sdoh
