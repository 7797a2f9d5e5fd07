#include "plugin/rules/ruleset.h"

#include <algorithm>
#include <set>

#include "plugin/setup/yaml_util.h"

namespace sdoh {

using fhir::Result;
using fhir::Status;

namespace {

struct Compiler {
  const std::string& file;
  Catalog& catalog;
  const Instrument* instrument;  // nullptr for patient rules
  std::string rule_id;
  std::vector<FhirpathCondition>* fhirpath;

  Status Error(const YAML::Node& n, const std::string& msg) const {
    return Status::InvalidArgument(Where(file, n) + ": rule '" + rule_id + "': " + msg);
  }

  Result<Condition> Compile(const YAML::Node& n) {
    if (!n.IsMap() || n.size() != 1) {
      return Error(n,
                   "a condition is a mapping with exactly one kind (answer, any, all, not, "
                   "score, incomplete, unanswered, patient, fhirpath)");
    }
    // Copies: yaml-cpp iterators hand out proxies that die with the iterator.
    const auto first = n.begin();
    const YAML::Node key = first->first;
    const YAML::Node body = first->second;
    const std::string kind = key.Scalar();
    Condition c;
    if (kind == "answer") {
      c.kind = Condition::Kind::kAnswer;
      if (instrument == nullptr) return Error(n, "'answer' needs a rule with an instrument");
      if (Status s = CheckKeys(file, body, {"question", "in"}, "answer condition"); !s.ok())
        return s;
      auto q = RequiredString(file, body, "question");
      if (!q.ok()) return q.status();
      c.question = catalog.codes().Find(*q);
      if (c.question == kNoCode || !catalog.HasQuestion(instrument->index, c.question)) {
        return Error(body["question"],
                     "question " + *q + " is not a question of instrument " + instrument->id);
      }
      auto in = StringList(file, body, "in", true);
      if (!in.ok()) return in.status();
      if (in->empty()) return Error(body, "'in' must list at least one answer code");
      for (const auto& a : *in) c.answers.push_back(catalog.codes().Intern(a));
      std::sort(c.answers.begin(), c.answers.end());
      return c;
    }
    if (kind == "any" || kind == "all") {
      c.kind = kind == "any" ? Condition::Kind::kAny : Condition::Kind::kAll;
      if (!body.IsSequence() || body.size() == 0) {
        return Error(body, "'" + kind + "' takes a non-empty list of conditions");
      }
      for (const auto& child : body) {
        auto cc = Compile(child);
        if (!cc.ok()) return cc.status();
        c.children.push_back(std::move(*cc));
      }
      return c;
    }
    if (kind == "not" || kind == "incomplete") {
      c.kind = kind == "not" ? Condition::Kind::kNot : Condition::Kind::kIncomplete;
      auto cc = Compile(body);
      if (!cc.ok()) return cc.status();
      c.children.push_back(std::move(*cc));
      return c;
    }
    if (kind == "score") {
      c.kind = Condition::Kind::kScore;
      if (instrument == nullptr) return Error(n, "'score' needs a rule with an instrument");
      if (Status s = CheckKeys(file, body, {"name", "above"}, "score condition"); !s.ok()) return s;
      auto name = RequiredString(file, body, "name");
      if (!name.ok()) return name.status();
      c.score = instrument->FindScore(*name);
      if (c.score == nullptr) {
        return Error(body["name"],
                     "instrument " + instrument->id + " has no score '" + *name + "'");
      }
      try {
        if (!body["above"]) return Error(body, "'score' needs 'above: N'");
        c.above = body["above"].as<int>();
      } catch (const YAML::Exception&) {
        return Error(body["above"], "'above' must be an integer");
      }
      return c;
    }
    if (kind == "unanswered") {
      c.kind = Condition::Kind::kUnanswered;
      if (instrument == nullptr) return Error(n, "'unanswered' needs a rule with an instrument");
      auto qs = StringList(file, n, "unanswered", true);
      if (!qs.ok()) return qs.status();
      if (qs->empty()) return Error(body, "'unanswered' must list at least one question");
      for (const auto& q : *qs) {
        CodeId id = catalog.codes().Find(q);
        if (id == kNoCode || !catalog.HasQuestion(instrument->index, id)) {
          return Error(body,
                       "question " + q + " is not a question of instrument " + instrument->id);
        }
        c.answers.push_back(id);
      }
      return c;
    }
    if (kind == "fhirpath") {
      c.kind = Condition::Kind::kFhirpath;
      if (!body.IsScalar()) return Error(body, "'fhirpath' takes an expression string");
      auto compiled = fhir::fhirpath::Compile(body.Scalar());
      if (!compiled.ok()) {
        return Error(body, "FHIRPath syntax error at position " +
                               std::to_string(compiled.error->position) + ": " +
                               compiled.error->message);
      }
      c.fhirpath = static_cast<uint32_t>(fhirpath->size());
      fhirpath->push_back({*compiled.expression, instrument ? instrument->index : -1, rule_id});
      return c;
    }
    if (kind == "patient") {
      c.kind = Condition::Kind::kPatient;
      if (!body.IsScalar()) return Error(body, "'patient' takes a predicate name");
      const std::string p = body.Scalar();
      if (p == "interpreter-needed") {
        c.predicate = PatientPredicate::kInterpreterNeeded;
      } else if (p == "interpreter-not-needed") {
        c.predicate = PatientPredicate::kInterpreterNotNeeded;
      } else if (p == "interpreter-stated") {
        c.predicate = PatientPredicate::kInterpreterStated;
      } else if (p == "preferred-language-not-default") {
        c.predicate = PatientPredicate::kPreferredLanguageNotDefault;
      } else {
        return Error(body, "unknown patient predicate '" + p +
                               "' (interpreter-needed, interpreter-not-needed, "
                               "interpreter-stated, preferred-language-not-default)");
      }
      return c;
    }
    return Error(key, "unknown condition kind '" + kind + "'");
  }
};

}  // namespace

Result<Ruleset> Ruleset::Load(const std::vector<std::string>& files, Catalog& catalog) {
  Ruleset rs;
  std::set<std::string> ids;
  if (files.empty()) return Status::InvalidArgument("no rule files configured (rules:)");
  for (const std::string& file : files) {
    auto doc = LoadYamlFile(file);
    if (!doc.ok()) return doc.status();
    const YAML::Node& root = *doc;
    if (Status s = CheckKeys(file, root, {"ruleset", "rules"}, "rule file"); !s.ok()) return s;
    YAML::Node meta = root["ruleset"];
    if (!meta.IsDefined() || !meta.IsMap()) {
      return Status::InvalidArgument(Where(file, root) +
                                     ": a rule file needs 'ruleset: {id: ..., version: ...}'");
    }
    auto rid = RequiredString(file, meta, "id");
    if (!rid.ok()) return rid.status();
    auto version = RequiredString(file, meta, "version");
    if (!version.ok()) return version.status();
    rs.id_ += (rs.id_.empty() ? "" : "+") + *rid;
    rs.version_ += (rs.version_.empty() ? "" : "+") + *version;
    YAML::Node rules = root["rules"];
    if (!rules || !rules.IsSequence()) {
      return Status::InvalidArgument(Where(file, root) + ": 'rules' must be a list");
    }
    for (const auto& r : rules) {
      if (Status s = CheckKeys(file, r, {"id", "need", "instrument", "when", "certainty"}, "rule");
          !s.ok()) {
        return s;
      }
      Rule rule;
      rule.where = Where(file, r);
      auto id = RequiredString(file, r, "id");
      if (!id.ok()) return id.status();
      rule.id = *id;
      if (!ids.insert(rule.id).second) {
        return Status::InvalidArgument(Where(file, r["id"]) + ": rule id '" + rule.id +
                                       "' is used twice");
      }
      auto need = RequiredString(file, r, "need");
      if (!need.ok()) return need.status();
      rule.need = *need;
      if (catalog.FindNeed(rule.need) == nullptr) {
        return Status::InvalidArgument(Where(file, r["need"]) + ": rule '" + rule.id + "': need '" +
                                       rule.need + "' is not defined in needs.yaml");
      }
      auto inst = RequiredString(file, r, "instrument");
      if (!inst.ok()) return inst.status();
      const Instrument* ins = nullptr;
      if (*inst != "patient") {
        ins = catalog.FindInstrument(*inst);
        if (ins == nullptr) {
          return Status::InvalidArgument(Where(file, r["instrument"]) + ": rule '" + rule.id +
                                         "': unknown instrument '" + *inst + "'");
        }
        rule.instrument = ins->index;
      }
      auto certainty = OptionalString(file, r, "certainty", "confirmed");
      if (!certainty.ok()) return certainty.status();
      if (*certainty != "confirmed" && *certainty != "possible") {
        return Status::InvalidArgument(Where(file, r["certainty"]) +
                                       ": certainty must be confirmed or possible");
      }
      rule.possible = *certainty == "possible";
      if (!r["when"]) {
        return Status::InvalidArgument(Where(file, r) + ": rule '" + rule.id + "' has no 'when'");
      }
      Compiler compiler{file, catalog, ins, rule.id, &rs.fhirpath_};
      auto cond = compiler.Compile(r["when"]);
      if (!cond.ok()) return cond.status();
      rule.when = std::move(*cond);
      rs.rules_.push_back(std::move(rule));
    }
  }
  return rs;
}

}  // namespace sdoh
