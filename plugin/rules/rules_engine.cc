#include "plugin/rules/rules_engine.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <set>

#include "plugin/screening/answer_value.h"

namespace sdoh {

const char* TriName(Tri t) {
  switch (t) {
    case Tri::kFalse:
      return "false";
    case Tri::kTrue:
      return "true";
    case Tri::kUnknown:
      return "unknown (unanswered)";
  }
  return "?";
}

namespace {

constexpr uint32_t kPatientSource = 0xFFFFFFFFu;

struct Match {
  Tri value = Tri::kFalse;
  std::vector<uint32_t> sources;  // Screening::sources indexes, or kPatientSource
  std::vector<std::string> detail;
};

struct Evaluator {
  const Catalog& catalog;
  const PatientRecord& patient;
  const Screening* screening;  // nullptr for patient rules
  bool detail;                 // build the readable detail (costly; only when it is shown)

  std::string Pair(CodeId q, CodeId a) const {
    return std::string(catalog.codes().Name(q)) + "=" + AnswerName(catalog.codes(), a);
  }

  // A score decided by bounds (issue 14 item 3): an item without exactly one scored answer
  // (unanswered, declined, several answers, an unscored code) counts as the score's lowest
  // points. True when even that lower bound is above the threshold (no answer could change
  // it); otherwise such an item makes it unknown (incomplete), never false. The stored total
  // is read only when no item of the score is present at all. Evidence: the answered items,
  // or the total.
  Match EvalScore(const Condition& c) const {
    Match m;
    const Score& sc = *c.score;
    int lowest = 0;
    bool first = true;
    for (const auto& [code, pts] : sc.points) {
      if (first || pts < lowest) lowest = pts;
      first = false;
    }
    int sum = 0, open = 0;
    bool any_present = false;
    // The items' single scored answers, in item order; `sources` only when it is the evidence.
    auto scored = [&](CodeId item, bool* present) -> const Answer* {
      int n = 0;
      const Answer* only = nullptr;
      for (const Answer& a : screening->answers) {
        if (a.question == item) {
          ++n;
          only = &a;
        }
      }
      if (n > 0) *present = true;
      return n == 1 && sc.points.find(only->answer) != sc.points.end() ? only : nullptr;
    };
    for (CodeId item : sc.items) {
      const Answer* only = scored(item, &any_present);
      if (only == nullptr) {
        ++open;
        continue;
      }
      sum += sc.points.find(only->answer)->second;
    }
    auto sources = [&] {
      std::vector<uint32_t> out;
      bool ignored = false;
      for (CodeId item : sc.items) {
        if (const Answer* only = scored(item, &ignored)) out.push_back(only->source);
      }
      return out;
    };
    const std::string above = std::to_string(c.above);
    if (!any_present && sc.total != kNoCode) {
      int n = 0;
      const Answer* only = nullptr;
      for (const Answer& a : screening->answers) {
        if (a.question == sc.total) {
          ++n;
          only = &a;
        }
      }
      std::optional<int> total = n == 1 ? IntegerAnswer(only->answer) : std::nullopt;
      if (total) {
        const std::string name = sc.name + " total " + std::string(catalog.codes().Name(sc.total));
        if (*total > c.above) {
          m.value = Tri::kTrue;
          m.sources.push_back(only->source);
          if (detail) m.detail.push_back(name + " = " + std::to_string(*total) + " > " + above);
        } else if (detail) {
          m.detail.push_back(name + " = " + std::to_string(*total) + " (no item answered)");
        }
        return m;
      }
    }
    const int lower = sum + open * lowest;
    if (lower > c.above) {
      m.value = Tri::kTrue;
      m.sources = sources();
      if (detail) {
        m.detail.push_back(open == 0 ? sc.name + " score " + std::to_string(sum) + " > " + above
                                     : sc.name + " score at least " + std::to_string(lower) +
                                           " > " + above + " (" + std::to_string(open) +
                                           " item(s) unanswered or declined, counted at " +
                                           std::to_string(lowest) + ")");
      }
    } else if (open > 0) {
      m.value = Tri::kUnknown;
      if (detail) {
        m.detail.push_back(sc.name + " score " + std::to_string(sum) + " with " +
                           std::to_string(open) + " item(s) unanswered or declined: undecided");
      }
    } else if (detail) {
      m.detail.push_back(sc.name + " score " + std::to_string(sum));
    }
    return m;
  }

  // One function per condition kind; each returns the condition's Match for this screening.
  Match Eval(const Condition& c) const {
    switch (c.kind) {
      case Condition::Kind::kAnswer:
        return EvalAnswer(c);
      case Condition::Kind::kAny:
      case Condition::Kind::kAll:
        return EvalAnyAll(c);
      case Condition::Kind::kNot:
        return EvalNot(c);
      case Condition::Kind::kIncomplete:
        return EvalIncomplete(c);
      case Condition::Kind::kScore:
        return EvalScore(c);
      case Condition::Kind::kUnanswered:
        return EvalUnanswered(c);
      case Condition::Kind::kFhirpath:
        return EvalFhirpath(c);
      case Condition::Kind::kPatient:
        return EvalPatient(c);
    }
    return Match();
  }

  Match EvalAnswer(const Condition& c) const {
    Match m;
    bool answered = false;
    for (const Answer& a : screening->answers) {
      if (a.question != c.question) continue;
      answered = true;
      if (std::binary_search(c.answers.begin(), c.answers.end(), a.answer)) {
        m.value = Tri::kTrue;
        m.sources.push_back(a.source);
        if (detail) m.detail.push_back(Pair(a.question, a.answer));
      }
    }
    if (m.value != Tri::kTrue) {
      m.value = answered ? Tri::kFalse : Tri::kUnknown;
      for (const Answer& a : screening->answers) {  // what was answered instead
        if (detail && a.question == c.question) m.detail.push_back(Pair(a.question, a.answer));
      }
    }
    return m;
  }

  Match EvalAnyAll(const Condition& c) const {
    Match m;
    bool any = c.kind == Condition::Kind::kAny;
    bool unknown = false, decided = false;
    std::vector<std::string> all_detail;
    for (const Condition& child : c.children) {
      Match cm = Eval(child);
      if (detail) all_detail.insert(all_detail.end(), cm.detail.begin(), cm.detail.end());
      if (cm.value == Tri::kUnknown) unknown = true;
      if (any && cm.value == Tri::kTrue) {
        decided = true;
        m.sources.insert(m.sources.end(), cm.sources.begin(), cm.sources.end());
        m.detail.insert(m.detail.end(), cm.detail.begin(), cm.detail.end());
      }
      if (!any && cm.value == Tri::kFalse) decided = true;
      if (!any && cm.value == Tri::kTrue) {
        m.sources.insert(m.sources.end(), cm.sources.begin(), cm.sources.end());
        m.detail.insert(m.detail.end(), cm.detail.begin(), cm.detail.end());
      }
    }
    if (any) {
      m.value = decided ? Tri::kTrue : (unknown ? Tri::kUnknown : Tri::kFalse);
    } else {
      m.value = decided ? Tri::kFalse : (unknown ? Tri::kUnknown : Tri::kTrue);
    }
    if (m.value != Tri::kTrue) {
      m.sources.clear();
      m.detail = std::move(all_detail);
    }
    return m;
  }

  Match EvalNot(const Condition& c) const {
    Match m;
    Match cm = Eval(c.children[0]);
    m.value = cm.value == Tri::kTrue    ? Tri::kFalse
              : cm.value == Tri::kFalse ? Tri::kTrue
                                        : Tri::kUnknown;
    return m;
  }

  Match EvalIncomplete(const Condition& c) const {
    Match m;
    Match cm = Eval(c.children[0]);
    if (cm.value == Tri::kUnknown) {
      m.value = Tri::kTrue;
      m.sources.push_back(0);  // the screening itself
      if (detail) m.detail.push_back("incomplete");
    }
    return m;
  }

  // True when none of the questions has an answer in this screening (issue 14 item 4b:
  // the HVS risk 88124-3 counts only when neither HVS question is answered).
  Match EvalUnanswered(const Condition& c) const {
    Match m;
    m.value = Tri::kTrue;
    for (const Answer& a : screening->answers) {
      if (std::find(c.answers.begin(), c.answers.end(), a.question) != c.answers.end()) {
        m.value = Tri::kFalse;
        if (detail) m.detail.push_back(Pair(a.question, a.answer));
      }
    }
    return m;
  }

  Match EvalFhirpath(const Condition& c) const {
    Match m;
    const std::vector<FhirpathOutcome>& outcomes =
        screening != nullptr ? screening->fhirpath : patient.facts.fhirpath;
    m.value = Tri::kUnknown;
    for (const FhirpathOutcome& o : outcomes) {
      if (o.index != c.fhirpath) continue;
      m.value = o.value;
      if (detail && !o.detail.empty()) m.detail.push_back(o.detail);
    }
    if (m.value == Tri::kTrue) m.sources.push_back(screening != nullptr ? 0 : kPatientSource);
    return m;
  }

  Match EvalPatient(const Condition& c) const {
    Match m;
    const PatientFacts& f = patient.facts;
    bool v = false;
    switch (c.predicate) {
      case PatientPredicate::kInterpreterNeeded:
        v = f.interpreter == InterpreterStatement::kNeeded;
        break;
      case PatientPredicate::kInterpreterNotNeeded:
        v = f.interpreter == InterpreterStatement::kNotNeeded;
        break;
      case PatientPredicate::kInterpreterStated:
        v = f.interpreter != InterpreterStatement::kNone;
        break;
      case PatientPredicate::kPreferredLanguageNotDefault:
        v = f.prefers_other_language;
        break;
    }
    v = v && f.present;
    m.value = v ? Tri::kTrue : Tri::kFalse;
    if (v && c.predicate != PatientPredicate::kInterpreterStated &&
        c.predicate != PatientPredicate::kInterpreterNotNeeded) {
      m.sources.push_back(kPatientSource);
      if (detail)
        m.detail.push_back(c.predicate == PatientPredicate::kInterpreterNeeded
                               ? "interpreter needed (Patient extension)"
                               : "preferred language " + f.preferred_language);
    }
    return m;
  }
};

// Appends the items of `v` to `out`, `sep` between them (none before an item while all
// appended so far are empty).
void AppendJoined(std::string* out, const std::vector<std::string>& v, const char* sep) {
  const size_t start = out->size();
  for (const auto& s : v) {
    if (out->size() > start) *out += sep;
    *out += s;
  }
}
std::string Join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  AppendJoined(&out, v, sep);
  return out;
}

}  // namespace

std::vector<NeedFlag> EvaluatePatient(const Ruleset& rules, const Catalog& catalog,
                                      const PatientRecord& patient,
                                      std::vector<RuleOutcome>* trace) {
  std::map<std::string, NeedFlag> flags;
  const std::string patient_ref = "Patient/" + patient.id;
  auto apply = [&](const Rule& rule, const Screening* s) {
    Match m = Evaluator{catalog, patient, s, trace != nullptr}.Eval(rule.when);
    if (m.value != Tri::kTrue && trace == nullptr) return;
    // A firing rule is evaluated again with its readable detail: the why of the referral.
    if (trace == nullptr) m = Evaluator{catalog, patient, s, true}.Eval(rule.when);
    std::map<std::string, std::string> versions;
    for (uint32_t src : m.sources) {
      if (src == kPatientSource) {
        versions[patient_ref] = patient.facts.version_id;
      } else if (s != nullptr && src < s->SourceCount()) {
        versions[s->SourceReference(src)] = s->source_versions[src];
      }
    }
    if (trace) {
      std::vector<std::string> evidence;
      for (const auto& [ref, v] : versions) evidence.push_back(ref);
      trace->push_back({rule.id, rule.need, s ? s->Reference() : patient_ref, m.value,
                        Join(m.detail, ", "), std::move(evidence)});
    }
    if (m.value != Tri::kTrue) return;
    NeedFlag& f = flags[rule.need];
    if (f.need.empty()) {
      f.patient_id = patient.id;
      f.need = rule.need;
      f.def = catalog.FindNeed(rule.need);
    }
    if (!rule.possible) f.possible = false;
    f.evidence.merge(versions);  // moves the nodes; what stays had a key already:
    for (auto& [ref, v] : versions) f.evidence[ref] = v;  // the newer firing's version wins
    if (std::find(f.rules.begin(), f.rules.end(), rule.id) == f.rules.end()) {
      f.rules.push_back(rule.id);
    }
    // "<rule> on <reference>: <detail, detail>", written into one string.
    size_t size = rule.id.size() + 4 +
                  (s ? std::strlen(s->TypeName()) + 1 + s->id.size() : patient_ref.size()) + 2;
    for (const std::string& d : m.detail) size += d.size() + 2;
    std::string why;
    why.reserve(size);
    why += rule.id;
    why += " on ";
    if (s != nullptr) {
      why += s->TypeName();
      why += '/';
      why += s->id;
    } else {
      why += patient_ref;
    }
    why += ": ";
    AppendJoined(&why, m.detail, ", ");
    f.why.push_back(std::move(why));
    if (s != nullptr && (!f.screened_at || *f.screened_at < s->when)) f.screened_at = s->when;
    if (f.def != nullptr && f.def->language && patient.facts.prefers_other_language) {
      f.language = patient.facts.preferred_language;
      f.language_display = patient.facts.preferred_language_display;
    }
  };
  for (const Rule& rule : rules.rules()) {
    if (rule.instrument < 0) {
      apply(rule, nullptr);
      continue;
    }
    bool any = false;
    for (const Screening& s : patient.counted) {
      if (s.instrument != rule.instrument) continue;
      any = true;
      apply(rule, &s);
    }
    if (!any && trace) {
      trace->push_back({rule.id,
                        rule.need,
                        "",
                        Tri::kFalse,
                        "no counted screening of " + catalog.instruments()[rule.instrument].id,
                        {}});
    }
  }
  std::vector<NeedFlag> out;
  for (auto& [need, f] : flags) {
    std::sort(f.rules.begin(), f.rules.end());
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace sdoh
