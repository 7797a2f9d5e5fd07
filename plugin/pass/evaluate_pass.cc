#include "plugin/pass/evaluate_pass.h"

namespace sdoh {

namespace {

ScreeningOptions CollectorOptions(const Pipeline& p, const PassOptions& o) {
  ScreeningOptions s;
  s.time_zone = p.config.time_zone;
  s.ruleset = &p.ruleset;
  s.now = o.now;
  s.only_patient = o.only_patient;
  s.infer_forms = p.config.infer_forms;
  s.input = InputPolicyFor(p.config, o.now);  // issue 13 #6-#8
  for (const std::string& base : o.local_bases) s.input.AddLocalBase(base);
  s.directory_facts = o.directory != nullptr;
  return s;
}

}  // namespace

Pass::Pass(const Pipeline& pipeline, PassOptions options)
    : pipeline_(pipeline),
      options_(std::move(options)),
      collector_(*pipeline.catalog, CollectorOptions(pipeline, options_)) {}

fhir::Status Pass::Read(fhir::Store& store) {
  fhir::ResourceVisitor& visitor = options_.reader ? options_.reader(collector_) : collector_;
  return store.ReadAll(ScreeningCollector::InputTypes(), visitor);
}

void Pass::Evaluate(PassSink& sink) {
  const Pipeline& p = pipeline_;
  PlanContext ctx{p.catalog.get(), &p.config,         p.ruleset.id(),      p.ruleset.version(),
                  options_.now,    options_.declines, options_.completions};
  ctx.directory = options_.directory;
  ctx.rejected = options_.rejected;
  collector_.Finish([&](PatientRecord& rec) {
    if (!options_.only_patient.empty() && rec.id != options_.only_patient) return;
    PatientResult result{rec, {}, {}, {}};
    std::vector<RuleOutcome>* outcomes = options_.rule_outcomes ? &result.outcomes : nullptr;
    if (options_.evaluate_window) {
      const auto [start, end] = *options_.evaluate_window;
      PatientRecord in_window;
      in_window.id = rec.id;
      in_window.facts = rec.facts;
      for (const Screening& s : rec.counted) {
        if (s.when >= start && s.when < end) in_window.counted.push_back(s);
      }
      result.flags = EvaluatePatient(p.ruleset, *p.catalog, in_window, outcomes);
    } else {
      result.flags = EvaluatePatient(p.ruleset, *p.catalog, rec, outcomes);
    }
    // An old screening never becomes a new order (issue 14 item 1): the flag stays, marked.
    for (NeedFlag& f : result.flags) f.stale = IsStale(f, p.config, options_.now);
    if (options_.plan_referrals) {
      result.plans.reserve(result.flags.size());
      for (const NeedFlag& f : result.flags)
        result.plans.push_back(PlanReferral(f, rec.facts, ctx));
    }
    sink.OnPatient(result);
  });
}

fhir::Status EvaluatePass(const Pipeline& pipeline, fhir::Store& store, const PassOptions& options,
                          PassSink& sink) {
  Pass pass(pipeline, options);
  if (fhir::Status s = pass.Read(store); !s.ok()) return s;
  pass.Evaluate(sink);
  return fhir::Status::Ok();
}

}  // namespace sdoh
