#include "plugin/screening/screening_collector.h"

#include <chrono>
#include <string>

#include "fhir/json.h"
#include "fhir/printable.h"
#include "fhir/resource_id.h"
#include "plugin/screening/collector_state.h"

namespace sdoh {

namespace json = fhir::json;
using rapidjson::Value;

ScreeningCollector::ScreeningCollector(const Catalog& catalog, ScreeningOptions options)
    : catalog_(catalog),
      pass_(catalog),
      options_(std::move(options)),
      forms_(catalog, options_.infer_forms),
      state_(std::make_unique<State>()) {}

ScreeningCollector::~ScreeningCollector() = default;

const std::vector<std::string>& ScreeningCollector::InputTypes() {
  static const std::vector<std::string> kTypes = {"Questionnaire", "Patient",
                                                  "QuestionnaireResponse", "Observation"};
  return kTypes;
}

void ScreeningCollector::AddCandidate(uint32_t patient, Candidate c,
                                      const fhir::SourceLocation& where) {
  State& st = *state_;
  PatientState& ps = st.patients[patient];
  // Issue 13 #9: another line with this id and version (the candidates of one line share its
  // seq). Other content, or other instruments (another form): neither line counts, whatever
  // their order. The same content again (a repeated line) is harmless.
  bool same_line_seen = false, same_instrument = false, differs = false, earlier_skipped = false;
  for (uint32_t k = ps.candidates; k != kNoPatient; k = st.candidates[k].next) {
    const Candidate& e = st.candidates[k];
    if (e.kind != c.kind || e.id != c.id || e.rank.seq == c.rank.seq ||
        !SameVersion(e.rank, c.rank)) {
      continue;
    }
    same_line_seen = true;
    if (e.conflict) differs = earlier_skipped = true;
    if (e.instrument == c.instrument) {
      same_instrument = true;
      if (e.content != c.content) differs = true;
    }
  }
  if (same_line_seen && (differs || !same_instrument)) {
    c.conflict = true;
    for (uint32_t k = ps.candidates; k != kNoPatient; k = st.candidates[k].next) {
      Candidate& e = st.candidates[k];
      if (e.kind == c.kind && e.id == c.id && SameVersion(e.rank, c.rank)) e.conflict = true;
    }
    SkipConflict(
        where,
        c.kind == ScreeningKind::kQuestionnaireResponse ? "QuestionnaireResponse" : "Observation",
        c.id, earlier_skipped);
  }
  c.next = ps.candidates;
  ps.candidates = static_cast<uint32_t>(st.candidates.size());
  st.candidates.push_back(c);
}

void ScreeningCollector::EvaluateFhirpath(const Value& resource, int instrument,
                                          std::vector<FhirpathOutcome>* out) {
  if (options_.ruleset == nullptr) return;
  const auto& conditions = options_.ruleset->fhirpath();
  for (size_t i = 0; i < conditions.size(); ++i) {
    const FhirpathCondition& c = conditions[i];
    if (c.instrument != instrument) continue;
    fhir::fhirpath::EvalContext ctx;
    ctx.now = std::chrono::system_clock::time_point(std::chrono::microseconds(options_.now));
    ctx.utc_offset_minutes =
        static_cast<int>(options_.time_zone.UtcOffsetSecondsAtLocal(options_.now / 1000000) / 60);
    fhir::fhirpath::EvalResult r = fhir::fhirpath::Evaluate(c.expression, resource, ctx);
    FhirpathOutcome o;
    o.index = static_cast<uint32_t>(i);
    if (!r.ok()) {
      // The engine's message is not shown: it may quote data from the resource.
      ++counts_.rule_errors["rule " + c.rule_id + ": FHIRPath evaluation error"];
      o.value = Tri::kUnknown;
    } else if (r.items.empty()) {
      o.value = Tri::kUnknown;
    } else if (r.items.size() == 1 && r.items[0].kind() == fhir::fhirpath::ValueKind::kBoolean) {
      o.value = r.items[0].boolean() ? Tri::kTrue : Tri::kFalse;
    } else {
      o.value = Tri::kTrue;
      // The matched nodes: codes of matched Codings, else how many nodes matched.
      std::string codes;
      for (const auto& item : r.items) {
        const Value* node = item.node();
        std::string_view code =
            node != nullptr ? json::StrMember(*node, "code") : std::string_view();
        if (!code.empty() && codes.size() < 200) {
          codes += (codes.empty() ? "" : " ") + std::string(code);
        }
      }
      o.detail = "fhirpath matched " + std::to_string(r.items.size()) + " node(s)" +
                 (codes.empty() ? "" : ": " + codes);
    }
    if (o.value == Tri::kTrue && o.detail.empty()) o.detail = "fhirpath true";
    out->push_back(std::move(o));
  }
}

void ScreeningCollector::Skip(const fhir::SourceLocation& where, std::string_view type,
                              std::string reason, std::string detail) {
  std::string w = std::string(where.origin) + ":" + std::to_string(where.position);
  counts_.Skip({w, std::move(reason), std::string(type) + ": " + detail});
}

void ScreeningCollector::SkipConflict(const fhir::SourceLocation& where, std::string_view type,
                                      std::string_view id, bool earlier_already_skipped) {
  if (conflict_seq_ == seq_) return;  // one report per line (a combined form's candidates)
  conflict_seq_ = seq_;
  Skip(where, type, "conflicting-versions",
       std::string(type) + "/" + std::string(id) +
           ": an earlier line has the same id, meta.versionId and meta.lastUpdated but other "
           "content; neither counts");
  // The earlier line is skipped too; it is counted once, when the conflict is first seen.
  if (!earlier_already_skipped) ++counts_.skipped["conflicting-versions"];
}

void ScreeningCollector::Trace(std::string reference, std::string instrument, std::string outcome,
                               std::string reason) {
  if (options_.only_patient.empty()) return;
  trace_.push_back({std::move(reference), std::move(instrument), std::move(outcome),
                    std::move(reason), 0, false});
}

void ScreeningCollector::OnUnreadable(std::string_view expected_type,
                                      const fhir::SourceLocation& where, std::string_view reason,
                                      const std::string& detail) {
  ++counts_.read[std::string(expected_type)];
  Skip(where, expected_type, std::string(reason), detail);
}

void ScreeningCollector::OnResource(std::string_view expected_type, const Value& resource,
                                    const fhir::SourceLocation& where) {
  // The read counter of the type, cached: stores read one type at a time.
  if (read_counter_ == nullptr || read_type_ != expected_type) {
    auto it = counts_.read.find(expected_type);
    if (it == counts_.read.end()) it = counts_.read.emplace(std::string(expected_type), 0).first;
    read_counter_ = &it->second;
    read_type_ = it->first;
  }
  ++*read_counter_;
  ++seq_;
  if (!resource.IsObject()) {
    Skip(where, expected_type, "not-an-object", "the line is JSON but not an object");
    return;
  }
  std::string_view type = json::StrMember(resource, "resourceType");
  if (type != expected_type) {
    Skip(where, expected_type, "wrong-resource-type",
         type.empty() ? "resourceType missing"
                      : "resourceType is '" + fhir::Printable(type, 64) + "', expected " +
                            std::string(expected_type));
    return;
  }
  if (json::StrMember(resource, "id").empty()) {
    Skip(where, expected_type, "missing-id", "id missing or not a string");
    return;
  }
  // The id is not shown: it may hold control characters or a path (issue 13 #6).
  if (!fhir::IsValidId(json::StrMember(resource, "id"))) {
    Skip(where, expected_type, "invalid-id", "id is not a FHIR id ([A-Za-z0-9-.]{1,64})");
    return;
  }
  if (type == "Observation") {
    AddObservation(resource, where);
  } else if (type == "QuestionnaireResponse") {
    AddQuestionnaireResponse(resource, where);
  } else if (type == "Patient") {
    AddPatient(resource, where);
  } else if (type == "Questionnaire") {
    AddQuestionnaire(resource, where);
  } else {
    counts_.Ignore(std::string(type), "type not read");
  }
}

}  // namespace sdoh
