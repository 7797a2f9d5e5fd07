// The rules stage (pure): a patient's counted screenings and facts in, need flags out, each
// with its evidence, the rules that fired and a readable why. No I/O; run, explain, dry run,
// CDS Hooks and tests share this one evaluation.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "fhir/datetime.h"
#include "plugin/rules/ruleset.h"
#include "plugin/screening/screening.h"
#include "plugin/setup/catalog.h"

namespace sdoh {

const char* TriName(Tri t);

struct NeedFlag {
  std::string patient_id;
  std::string need;
  const NeedDef* def = nullptr;
  bool possible = true;                            // false once any confirmed rule fired
  std::map<std::string, std::string> evidence;     // "Type/id" → meta.versionId (may be empty)
  std::vector<std::string> rules;                  // sorted, unique
  std::vector<std::string> why;                    // one line per firing: rule, screening, answers
  std::optional<fhir::InstantMicros> screened_at;  // newest screening among the evidence
  bool stale = false;    // screened_at older than screening.max_age_days (set by the pass)
  std::string language;  // interpreter: preferred language tag
  std::string language_display;
};

// One rule applied to one screening (or to the patient): for explain.
struct RuleOutcome {
  std::string rule_id;
  std::string need;
  std::string screening;  // reference, or "Patient/<id>" for patient rules, or "" when none
  Tri value = Tri::kFalse;
  std::string detail;  // the answers or score that decided it
  std::vector<std::string> evidence;
};

// Evaluates every rule for one patient. Flags come back sorted by need.
// `trace`, when given, receives one outcome per (rule, screening), including rules with no
// counted screening of their instrument.
std::vector<NeedFlag> EvaluatePatient(const Ruleset& rules, const Catalog& catalog,
                                      const PatientRecord& patient,
                                      std::vector<RuleOutcome>* trace = nullptr);

}  // namespace sdoh
