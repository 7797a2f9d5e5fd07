// The catalog: everything loaded from mappings/ — instruments (questions, panel codes, form
// canonicals, scores), local forms (canonical → instruments, linkId → LOINC), needs (route,
// domain, referral template) and where interpreter data lives on a Patient. Data, not code:
// a new instrument, form or referral code is a YAML edit.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "fhir/status.h"
#include "plugin/setup/code_table.h"

namespace sdoh {

using InstrumentIndex = uint8_t;

// Hash maps keyed by std::string that accept std::string_view lookups without allocating.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
};
template <typename V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;
inline constexpr int kMaxInstruments = 63;

struct Score {
  std::string name;
  std::vector<CodeId> items;
  std::unordered_map<CodeId, int> points;  // answer code → points
  // The question that carries the stored total (HITS 95614-4), or kNoCode. Read only when no
  // item of the score is answered at all (issue 14 item 3).
  CodeId total = kNoCode;
};

struct Instrument {
  InstrumentIndex index = 0;
  std::string id;
  std::string title;
  std::vector<std::string> panel_codes;  // LOINC codes of its Observation panel
  std::vector<CodeId> questions;
  std::vector<Score> scores;
  const Score* FindScore(std::string_view name) const;
};

// A form (Questionnaire canonical, without |version) and how its items map to questions.
struct Form {
  std::string canonical;
  std::vector<InstrumentIndex> instruments;
  StringMap<CodeId> link_ids;  // local linkId → LOINC question (rule 3b)
  std::string defined_in;      // mapping file, for messages
};

struct Coding {
  std::string system;
  std::string code;
  std::string display;
};

struct NeedDef {
  std::string name;
  std::string route;  // a route of the config's referrals.routes
  bool sensitive = false;
  // Language access (needs.yaml `language: true`): the Flag's text names the language, its
  // category is "contact", the Patient's preferred language sets it, the report's interpreter
  // table counts it.
  bool language = false;
  std::string card_indicator = "info";  // CDS Hooks card indicator: info | warning | critical
  Coding domain;                        // SDOHCC domain category; display = the CodeSystem display
  std::string domain_text;              // ServiceRequest category.text (the domain in words)
  std::string neutral_text;  // sensitive needs: the only wording a non-care-team reader sees
  // An extra SDOHCC domain category on the ServiceRequest when this rule fired (rule id →
  // coding), e.g. PRAPARE 76501-6 → intimate-partner-violence (issue 14 item 8).
  std::map<std::string, Coding> rule_categories;
  std::string flag_text;
  std::string flag_text_possible;
  bool has_service = false;
  Coding service;  // ServiceRequest.code coding (empty code: sent as text only)
  std::string service_text;
  bool service_unverified = false;  // the code is marked UNVERIFIED in needs.yaml
  std::string service_value_set;
  // ServiceRequest.reasonCode when the need has no evidence Observation (issue 14 item 9).
  Coding reason;
  std::string reason_text;
  bool reason_unverified = false;
};

struct InterpreterSettings {
  std::string required_extension;
  std::string needed_extension;
  std::string answer_system;
  std::string yes_code;
  std::string no_code;
  std::string unknown_code;
  std::string language_system;
  std::string default_language;
};

// Immutable after Load (and after Ruleset::Load has interned the rules' codes): shared, const,
// by every thread, pass and CDS call. What arrives with the data of one pass or call (codes,
// Questionnaires) lives in that pass's PassCatalog (plugin/screening/pass_catalog.h).
// linkId → LOINC item code of one Questionnaire (rule 3a).
using LinkMap = StringMap<CodeId>;

// Questionnaires' linkId maps by url and version.
class QuestionnaireIndex {
 public:
  // Adds (or replaces) the map of `url` at `version`.
  void Put(std::string_view url, std::string_view version, LinkMap map);
  // The map for `canonical` (may carry |version): the exact version when known, else the last
  // version of the url added; nullptr when the url has none.
  const LinkMap* Find(std::string_view canonical) const;

 private:
  StringMap<std::vector<std::pair<std::string, LinkMap>>> by_url_;
};

class Catalog {
 public:
  // Loads instruments/*.yaml, forms/*.yaml, needs.yaml and interpreter.yaml from `dir`, and any
  // Questionnaire JSON in questionnaires/*.json. Errors name file, line and key.
  static fhir::Result<std::unique_ptr<Catalog>> Load(const std::string& dir);

  // REQUIRES: loading only (Ruleset::Load interns its codes before the catalog is shared).
  CodeTable& codes() { return codes_; }
  const CodeTable& codes() const { return codes_; }
  const std::vector<Instrument>& instruments() const { return instruments_; }
  const Instrument* FindInstrument(std::string_view id) const;
  // The instrument whose panel code is `loinc`, or nullptr.
  const Instrument* InstrumentForPanel(std::string_view loinc) const;
  // The form for a canonical (any |version is stripped), or nullptr when unmapped.
  const Form* FindForm(std::string_view canonical) const;
  bool HasQuestion(InstrumentIndex i, CodeId question) const;
  // True when `question` belongs to any instrument (a question worth keeping).
  bool IsQuestion(CodeId question) const;

  // Questionnaires (rule 3a) from mappings/questionnaires/: linkId → LOINC item code, by
  // canonical and version.
  using LinkMap = sdoh::LinkMap;
  // The linkId map of the Questionnaire for `canonical` (may carry |version): the exact version
  // when known, else any version of that url; nullptr when none was loaded.
  const LinkMap* FindQuestionnaire(std::string_view canonical) const;

  const NeedDef* FindNeed(std::string_view need) const;
  const std::map<std::string, NeedDef>& needs() const { return needs_; }
  const std::string& domain_system() const { return domain_system_; }
  const InterpreterSettings& interpreter() const { return interpreter_; }

 private:
  void AddQuestionnaire(std::string_view url, std::string_view version, LinkMap map);
  fhir::Status LoadInstrument(const std::string& path);
  fhir::Status LoadForm(const std::string& path);
  fhir::Status LoadNeeds(const std::string& path);
  fhir::Status LoadInterpreter(const std::string& path);
  fhir::Status LoadQuestionnaireJson(const std::string& path);

  CodeTable codes_;
  std::vector<Instrument> instruments_;
  StringMap<InstrumentIndex> panel_to_instrument_;
  StringMap<Form> forms_;
  std::vector<uint64_t> question_bits_;  // by CodeId: bit i set when instrument i asks it
  QuestionnaireIndex questionnaires_;
  std::map<std::string, NeedDef> needs_;
  std::string domain_system_;
  InterpreterSettings interpreter_;
};

// Strips a trailing "|version" from a canonical.
std::string_view StripCanonicalVersion(std::string_view canonical);
// True for a LOINC-shaped code: 1-7 digits, '-', one check digit (e.g. "71802-3").
bool IsLoincShaped(std::string_view s);

}  // namespace sdoh
