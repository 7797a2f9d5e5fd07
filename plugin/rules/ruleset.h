// Rules are data: YAML rule files compiled once into condition trees over interned codes.
// See config/rules/sdoh-default.yaml for the language. Every compile error names the file,
// line and key.
#pragma once

#include <string>
#include <vector>

#include "fhir/fhirpath/engine.h"
#include "fhir/status.h"
#include "plugin/screening/screening.h"
#include "plugin/setup/catalog.h"
#include "plugin/setup/code_table.h"

namespace sdoh {

enum class PatientPredicate {
  kInterpreterNeeded,     // explicit yes in an interpreter extension
  kInterpreterNotNeeded,  // explicit no (and no explicit yes)
  kInterpreterStated,     // explicit yes or no
  kPreferredLanguageNotDefault,
};

struct Condition {
  enum class Kind {
    kAnswer,
    kAny,
    kAll,
    kNot,
    kScore,
    kIncomplete,
    kUnanswered,
    kPatient,
    kFhirpath
  };
  Kind kind = Kind::kAnswer;
  CodeId question = kNoCode;        // kAnswer
  std::vector<CodeId> answers;      // kAnswer: sorted; kUnanswered: the questions
  std::vector<Condition> children;  // kAny, kAll, kNot (1), kIncomplete (1)
  const Score* score = nullptr;     // kScore
  int above = 0;                    // kScore: true when the sum is greater
  PatientPredicate predicate{};     // kPatient
  uint32_t fhirpath = 0;            // kFhirpath: index into Ruleset::fhirpath()
};

// A compiled `fhirpath:` condition. It is evaluated once per resource as the resource is read
// (the screening's QuestionnaireResponse or panel Observation, or the Patient for patient
// rules): true when the result is `true` or any non-boolean item, false when `false`, unknown
// when empty or when evaluation fails.
struct FhirpathCondition {
  fhir::fhirpath::Expression expression;
  int instrument = -1;  // -1: evaluated on the Patient
  std::string rule_id;
};

struct Rule {
  std::string id;
  std::string need;
  int instrument = -1;    // InstrumentIndex, or -1 for patient rules
  bool possible = false;  // certainty: possible (inferred need)
  Condition when;
  std::string where;  // file:line of the rule, for messages
};

class Ruleset {
 public:
  // Loads and compiles rule files in order. Rule ids must be unique across files.
  static fhir::Result<Ruleset> Load(const std::vector<std::string>& files, Catalog& catalog);

  const std::vector<Rule>& rules() const { return rules_; }
  // "1.0.0", or the versions of several files joined with '+'.
  const std::string& version() const { return version_; }
  const std::string& id() const { return id_; }
  const std::vector<FhirpathCondition>& fhirpath() const { return fhirpath_; }

 private:
  std::vector<Rule> rules_;
  std::vector<FhirpathCondition> fhirpath_;
  std::string version_;
  std::string id_;
};

}  // namespace sdoh
