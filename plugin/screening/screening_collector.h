// Screening normalisation (DESIGN "screening" stage): consumes Patient, Questionnaire,
// QuestionnaireResponse and Observation resources in any order, keeps compact per-patient
// state, and at Finish() applies the screening semantics — what counts, version and
// entered-in-error retraction, panel membership, newest wins per (patient, instrument) — then
// hands each patient's record to a callback in patient-id order.
//
// Memory: per patient, a fixed-size record and its screening candidates reduced to code pairs
// (ids interned, answers in arenas); per stored Observation (only those with a question code or
// hasMember), a 40-byte record. Full Screenings are built at Finish() for the winners only.
// Resources themselves are never retained. Not thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "fhir/datetime.h"
#include "fhir/store.h"
#include "plugin/pass/run_counts.h"
#include "plugin/rules/ruleset.h"
#include "plugin/screening/form_inference.h"
#include "plugin/screening/input_policy.h"
#include "plugin/screening/pass_catalog.h"
#include "plugin/screening/screening.h"
#include "plugin/setup/catalog.h"

namespace sdoh {

struct ScreeningOptions {
  fhir::TimeZone time_zone = fhir::TimeZone::Utc();
  size_t max_item_depth = 32;        // QR item nesting beyond this is skipped as too-deep
  size_t max_member_depth = 8;       // hasMember chains beyond this are not followed
  std::string only_patient;          // when set, keep state for this patient only (explain)
  const Ruleset* ruleset = nullptr;  // its fhirpath conditions are evaluated as resources are read
  fhir::InstantMicros now = 0;       // evaluation time for FHIRPath now()/today()
  bool infer_forms = true;           // config forms.infer (plugin/screening/form_inference.h)
  InputPolicy input;  // ids, subjects and dates accepted (InputPolicyFor(config, now))
  // Read the patient's postal code and communication language (PatientFacts) for the service
  // directory (issue 15 item 3); off when no `directory:` is configured.
  bool directory_facts = false;
};

// One line of the explain trace: what happened to a resource of the patient and why.
struct TraceEvent {
  std::string reference;
  std::string instrument;
  std::string outcome;  // counted | superseded | ignored | skipped | member | inferred
  std::string reason;
  fhir::InstantMicros when = 0;
  bool has_when = false;
};

class ScreeningCollector : public fhir::ResourceVisitor {
 public:
  // REQUIRES: `catalog` outlives the collector. The collector never changes it: what arrives
  // with the data lives in its own PassCatalog.
  ScreeningCollector(const Catalog& catalog, ScreeningOptions options);
  ~ScreeningCollector() override;

  // The order of types a store should read: Questionnaires first (they resolve QR linkIds).
  static const std::vector<std::string>& InputTypes();

  void OnResource(std::string_view expected_type, const rapidjson::Value& resource,
                  const fhir::SourceLocation& where) override;
  void OnUnreadable(std::string_view expected_type, const fhir::SourceLocation& where,
                    std::string_view reason, const std::string& detail) override;

  // Applies the screening semantics and calls `fn` once per patient (sorted by id) that has a
  // Patient resource or any counted screening. Call once, after all input was read.
  void Finish(const std::function<void(PatientRecord&)>& fn);

  // Finish in steps, for a pass that builds the records on several threads (issue 17): call
  // FinishOrder() once (the patients, sorted by id); build each patient's record exactly once
  // with a Finisher (one per thread, any thread); then FinishRest() with every Finisher, on the
  // thread that called FinishOrder(). Finish(fn) is these steps on one thread, and what each
  // record holds and what is counted is the same either way. Not with `only_patient` (its trace
  // is one list in order): such a pass calls Finish.
  class Finisher;
  std::vector<uint32_t> FinishOrder();
  void FinishRest(const std::vector<Finisher*>& finishers);

  RunCounts& counts() { return counts_; }
  // The catalog with this pass's overlay (answer code names, Questionnaires from the data).
  const PassCatalog& pass_catalog() const { return pass_; }
  // Every form this pass met: mapped, inferred, or unmapped with its dropped responses.
  const FormInference& forms() const { return forms_; }
  const std::vector<TraceEvent>& trace() const { return trace_; }

 private:
  struct State;
  void AddPatient(const rapidjson::Value& r, const fhir::SourceLocation& where);
  void AddQuestionnaire(const rapidjson::Value& r, const fhir::SourceLocation& where);
  void AddQuestionnaireResponse(const rapidjson::Value& r, const fhir::SourceLocation& where);
  void AddObservation(const rapidjson::Value& r, const fhir::SourceLocation& where);
  struct Candidate;
  void AddCandidate(uint32_t patient, Candidate c, const fhir::SourceLocation& where);
  void SkipConflict(const fhir::SourceLocation& where, std::string_view type, std::string_view id,
                    bool earlier_already_skipped);
  void Skip(const fhir::SourceLocation& where, std::string_view type, std::string reason,
            std::string detail);
  void Trace(std::string reference, std::string instrument, std::string outcome,
             std::string reason);
  bool Wanted(std::string_view patient_id) const {
    return options_.only_patient.empty() || patient_id == options_.only_patient;
  }
  inline uint32_t PatientIndex(std::string_view patient_id);  // collector_state.h
  void EvaluateFhirpath(const rapidjson::Value& resource, int instrument,
                        std::vector<FhirpathOutcome>* out);

  // qr_reader.cc
  struct ResponseLine;
  bool ReadAnswers(const rapidjson::Value* items, const Catalog::LinkMap* qmap,
                   const StringMap<CodeId>* local_ids, const fhir::SourceLocation& where);
  void AddResponseCandidates(const rapidjson::Value& r, const ResponseLine& line,
                             const std::vector<InstrumentIndex>& instruments,
                             const fhir::SourceLocation& where);
  // observation_reader.cc
  struct ObservationLine;
  void AddPanel(const ObservationLine& line, const Instrument& panel);
  void AddMemberObservation(const ObservationLine& line, CodeId question);
  void AddStandaloneCandidates();
  // newest_wins.cc
  struct FinishScratch;
  void BuildRecord(uint32_t patient, FinishScratch& scratch, PatientRecord* rec);
  void ReadFacts(uint32_t patient, PatientRecord* rec);
  void DropNotCounting(FinishScratch& scratch);
  void PickNewest(FinishScratch& scratch);
  Screening CountedScreening(uint32_t patient, Candidate& c, FinishScratch& scratch);
  void AddMembers(uint32_t patient, const Candidate& c, Screening* s, FinishScratch& scratch);

  const Catalog& catalog_;
  PassCatalog pass_;
  ScreeningOptions options_;
  FormInference forms_;  // per pass: inferred forms and the census of forms seen
  RunCounts counts_;
  std::vector<TraceEvent> trace_;
  std::unique_ptr<State> state_;
  uint64_t seq_ = 0;
  uint64_t conflict_seq_ = 0;  // the last line reported as conflicting-versions
  uint32_t last_patient_ = 0xFFFFFFFFu;
  uint64_t* read_counter_ = nullptr;
  std::string_view read_type_;
  std::vector<Answer> scratch_answers_;
  std::vector<std::pair<const rapidjson::Value*, size_t>> scratch_items_;
  std::vector<uint32_t> scratch_members_;
};

// One thread's share of ScreeningCollector's Finish steps: its scratch and what it counted
// (added to the collector's counts by FinishRest). REQUIRES: the collector outlives it.
class ScreeningCollector::Finisher {
 public:
  explicit Finisher(ScreeningCollector& collector);
  ~Finisher();
  Finisher(const Finisher&) = delete;
  Finisher& operator=(const Finisher&) = delete;

  // The record of `patient`, one of FinishOrder()'s indexes; each index once, by one Finisher.
  void Build(uint32_t patient, PatientRecord* rec);

 private:
  friend class ScreeningCollector;
  ScreeningCollector& collector_;
  std::unique_ptr<FinishScratch> scratch_;
  RunCounts counts_;
};

}  // namespace sdoh
