// Builders for FHIR JSON test resources and a one-call driver that runs them through the same
// screening and rule stages as `run`, with the shipped mappings and default rules.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "plugin/screening/screening_collector.h"
#include "plugin/setup/pipeline.h"

namespace sdoh::testing {

inline const char* kAhc = "http://loinc.org/q/96777-8";
inline const char* kAhcSupp = "http://loinc.org/q/97023-6";
inline const char* kHvs = "http://loinc.org/q/88121-9";
inline const char* kPrapare = "http://loinc.org/q/93025-5";

struct Item {
  std::string link_id;
  std::vector<std::string> answers;  // LOINC answer codes
};

inline std::string Coding(const std::string& code, const std::string& system = "http://loinc.org") {
  return R"({"system":")" + system + R"(","code":")" + code + R"("})";
}

inline std::string ItemsJson(const std::vector<Item>& items) {
  std::string s = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) s += ",";
    s += R"({"linkId":")" + items[i].link_id + R"(","answer":[)";
    for (size_t j = 0; j < items[i].answers.size(); ++j) {
      if (j) s += ",";
      s += R"({"valueCoding":)" + Coding(items[i].answers[j]) + "}";
    }
    s += "]}";
  }
  return s + "]";
}

inline std::string Qr(const std::string& id, const std::string& patient, const std::string& form,
                      const std::string& authored, const std::vector<Item>& items,
                      const std::string& status = "completed") {
  std::string s = R"({"resourceType":"QuestionnaireResponse","id":")" + id + R"(","status":")" +
                  status + R"(","questionnaire":")" + form +
                  R"(","subject":{"reference":"Patient/)" + patient + R"("})";
  if (!authored.empty()) s += R"(,"authored":")" + authored + R"(")";
  return s + R"(,"item":)" + ItemsJson(items) + "}";
}

inline std::string Obs(const std::string& id, const std::string& patient, const std::string& code,
                       const std::string& answer, const std::vector<std::string>& members = {},
                       const std::string& status = "final", const std::string& effective = "") {
  std::string s = R"({"resourceType":"Observation","id":")" + id + R"(","status":")" + status +
                  R"(","code":{"coding":[)" + Coding(code) +
                  R"(]},"subject":{"reference":"Patient/)" + patient + R"("})";
  if (!effective.empty()) s += R"(,"effectiveDateTime":")" + effective + R"(")";
  if (!answer.empty()) s += R"(,"valueCodeableConcept":{"coding":[)" + Coding(answer) + "]}";
  if (!members.empty()) {
    s += R"(,"hasMember":[)";
    for (size_t i = 0; i < members.size(); ++i) {
      s += std::string(i ? "," : "") + R"({"reference":"Observation/)" + members[i] + R"("})";
    }
    s += "]";
  }
  return s + "}";
}

inline std::string Panel(const std::string& id, const std::string& patient,
                         const std::string& panel_code, const std::string& effective,
                         const std::vector<std::string>& members,
                         const std::string& status = "final") {
  return Obs(id, patient, panel_code, "", members, status, effective);
}

inline std::string PatientJson(const std::string& id, const std::string& extra = "") {
  return R"({"resourceType":"Patient","id":")" + id + R"(")" + (extra.empty() ? "" : "," + extra) +
         "}";
}

struct Outcome {
  std::map<std::string, std::map<std::string, NeedFlag>> flags;  // patient → need → flag
  RunCounts counts;
  std::map<std::string, FormSeen, std::less<>> forms;  // the collector's census of forms seen
  uint64_t dropped_forms = 0;                          // responses dropped for an unmapped form
  bool Has(const std::string& patient, const std::string& need) const {
    auto p = flags.find(patient);
    return p != flags.end() && p->second.count(need) > 0;
  }
  const NeedFlag& Get(const std::string& patient, const std::string& need) const {
    return flags.at(patient).at(need);
  }
  std::vector<std::string> Needs(const std::string& patient) const {
    std::vector<std::string> out;
    auto p = flags.find(patient);
    if (p == flags.end()) return out;
    for (const auto& [n, f] : p->second) out.push_back(n);
    return out;
  }
};

inline std::vector<std::string> EvidenceOf(const NeedFlag& f) {
  std::vector<std::string> out;
  for (const auto& [ref, v] : f.evidence) out.push_back(ref);
  return out;
}

class Harness {
 public:
  Harness() {
    auto p = LoadPipeline(std::string(SDOH_SOURCE_DIR) + "/config/sdoh-bridge.yaml");
    if (!p.ok()) {
      ADD_FAILURE() << p.status().message();
      return;
    }
    pipeline_ = std::make_unique<Pipeline>(std::move(*p));
  }
  Pipeline& pipeline() { return *pipeline_; }

  Outcome Run(const std::vector<std::string>& resources, fhir::TimeZone tz = fhir::TimeZone::Utc(),
              bool infer_forms = true) {
    Outcome out;
    ScreeningOptions o;
    o.infer_forms = infer_forms;
    o.time_zone = tz;
    o.ruleset = &pipeline_->ruleset;
    o.now = fhir::NowMicros();
    o.input = InputPolicyFor(pipeline_->config, o.now);  // the samples' EHR base is an alias
    ScreeningCollector c(*pipeline_->catalog, o);
    // Questionnaires first, as the stores read them.
    std::vector<std::string> ordered;
    for (const auto& r : resources) {
      if (r.find(R"("resourceType":"Questionnaire")") != std::string::npos) ordered.push_back(r);
    }
    for (const auto& r : resources) {
      if (r.find(R"("resourceType":"Questionnaire")") == std::string::npos) ordered.push_back(r);
    }
    uint64_t line = 0;
    for (const auto& r : ordered) {
      rapidjson::Document d;
      d.Parse(r.c_str());
      EXPECT_FALSE(d.HasParseError()) << r;
      std::string type = d.IsObject() && d.HasMember("resourceType") && d["resourceType"].IsString()
                             ? d["resourceType"].GetString()
                             : "";
      c.OnResource(type, d, {"test", ++line});
    }
    c.Finish([&](PatientRecord& rec) {
      for (NeedFlag& f : EvaluatePatient(pipeline_->ruleset, *pipeline_->catalog, rec)) {
        out.flags[rec.id][f.need] = f;
      }
    });
    out.counts = c.counts();
    out.forms = c.forms().seen();
    out.dropped_forms = c.forms().DroppedResponses();
    return out;
  }

 private:
  std::unique_ptr<Pipeline> pipeline_;
};

}  // namespace sdoh::testing
