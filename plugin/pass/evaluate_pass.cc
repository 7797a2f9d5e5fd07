#include "plugin/pass/evaluate_pass.h"

#include <memory>

#include "plugin/pass/ordered_pool.h"

namespace sdoh {

namespace {

// Patients a thread takes at once. At most 2 x threads + 1 batches are in flight; 256 added
// ~3 MB of peak RSS at 100k patients (over the 1 KB/patient budget at two threads), 64 adds
// under 1 MB and runs as fast.
constexpr size_t kEvaluateBatch = 64;

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

void Pass::EvaluateOne(PatientResult& result, const PlanContext& ctx) const {
  const Pipeline& p = pipeline_;
  const PatientRecord& rec = result.record;
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
    for (const NeedFlag& f : result.flags) result.plans.push_back(PlanReferral(f, rec.facts, ctx));
  }
}

void Pass::Evaluate(PassSink& sink) {
  const Pipeline& p = pipeline_;
  PlanContext ctx{p.catalog.get(), &p.config,         p.ruleset.id(),      p.ruleset.version(),
                  options_.now,    options_.declines, options_.completions};
  ctx.directory = options_.directory;
  ctx.rejected = options_.rejected;
  if (options_.threads > 1 && options_.only_patient.empty()) {
    EvaluateOnThreads(sink, ctx);
    return;
  }
  collector_.Finish([&](PatientRecord& rec) {
    if (!options_.only_patient.empty() && rec.id != options_.only_patient) return;
    PatientResult result{rec, {}, {}, {}};
    EvaluateOne(result, ctx);
    sink.Prepare(result);
    sink.OnPatient(result);
  });
}

// Issue 17: each patient's record (newest wins, panel members), its rules and its referral
// plans are built on the pass's threads, a batch of patients at a time (each touches only its
// own patient's state: ScreeningCollector::Finisher); the sink gets them on this thread in
// patient-id order, as one thread would give them. One Finisher and one PlanContext per thread.
void Pass::EvaluateOnThreads(PassSink& sink, const PlanContext& ctx) {
  struct Item {
    uint32_t patient = 0;
    PatientRecord record;
    std::vector<NeedFlag> flags;
    std::vector<ReferralPlan> plans;
    std::vector<RuleOutcome> outcomes;
    std::string rendered;
  };
  const size_t threads = options_.threads;
  std::vector<std::unique_ptr<ScreeningCollector::Finisher>> finishers;
  std::vector<ScreeningCollector::Finisher*> shares;
  for (size_t i = 0; i < threads; ++i) {
    finishers.push_back(std::make_unique<ScreeningCollector::Finisher>(collector_));
    shares.push_back(finishers.back().get());
  }
  std::vector<PlanContext> contexts(threads, ctx);
  const std::vector<uint32_t> order = collector_.FinishOrder();
  {
    OrderedPool<Item> pool(
        {threads, kEvaluateBatch},
        [&](Item& item, size_t slot) {
          finishers[slot]->Build(item.patient, &item.record);
          PatientResult result{item.record, {}, {}, {}};
          EvaluateOne(result, contexts[slot]);
          sink.Prepare(result);
          item.flags = std::move(result.flags);
          item.plans = std::move(result.plans);
          item.outcomes = std::move(result.outcomes);
          item.rendered = std::move(result.rendered);
        },
        [&](Item& item) {
          PatientResult result{item.record, std::move(item.flags), std::move(item.plans),
                               std::move(item.outcomes), std::move(item.rendered)};
          sink.OnPatient(result);
          // What the sink left goes back to be freed by the thread that made it.
          item.flags = std::move(result.flags);
          item.plans = std::move(result.plans);
          item.outcomes = std::move(result.outcomes);
          item.rendered = std::move(result.rendered);
        });
    for (uint32_t patient : order) {
      Item item;
      item.patient = patient;
      pool.Add(std::move(item));
    }
    pool.Finish();
  }
  collector_.FinishRest(shares);
}

fhir::Status EvaluatePass(const Pipeline& pipeline, fhir::Store& store, const PassOptions& options,
                          PassSink& sink) {
  Pass pass(pipeline, options);
  if (fhir::Status s = pass.Read(store); !s.ok()) return s;
  pass.Evaluate(sink);
  return fhir::Status::Ok();
}

}  // namespace sdoh
