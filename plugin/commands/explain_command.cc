#include "plugin/commands/explain_command.h"

#include <algorithm>
#include <ostream>

#include "fhir/printable.h"
#include "fhir/resource_id.h"
#include "plugin/commands/run_job.h"
#include "plugin/pass/directory_source.h"
#include "plugin/pass/evaluate_pass.h"
#include "plugin/pass/source.h"
#include "plugin/referrals/referral_planner.h"
#include "plugin/setup/pipeline.h"
#include "plugin/writeback/feedback_store.h"
#include "plugin/writeback/ledger.h"
#include "plugin/writeback/server_writeback.h"

namespace sdoh {

namespace {

// The one patient explain asks for.
struct ExplainSink : PassSink {
  void OnPatient(PatientResult& result) override {
    found = true;
    facts = result.record.facts;
    flags = std::move(result.flags);
    outcomes = std::move(result.outcomes);
    plans = std::move(result.plans);
  }
  bool found = false;
  PatientFacts facts;
  std::vector<NeedFlag> flags;
  std::vector<RuleOutcome> outcomes;
  std::vector<ReferralPlan> plans;
};

// The patient's feedback and the declines in force (none when the ledger file does not exist).
bool LoadFeedback(const Config& config, bool server, fhir::InstantMicros now,
                  const std::string& pid, Declines* declines,
                  std::vector<writeback::FeedbackRow>* feedback, std::ostream& err) {
  auto fb = writeback::FeedbackStore::Open(writeback::LedgerPath(config), false);
  if (!fb.ok()) {
    if (fb.status().code() == fhir::Status::Code::kNotFound) return true;
    err << "sdoh-bridge: " << fb.status().message() << "\n";
    return false;
  }
  auto loaded =
      (*fb)->LoadDeclines(server ? config.source : "", config.writeback.declined_days, now, pid);
  auto rows = (*fb)->ForPatient(pid);
  if (!loaded.ok() || !rows.ok()) {
    err << "sdoh-bridge: " << (!loaded.ok() ? loaded.status().message() : rows.status().message())
        << "\n";
    return false;
  }
  *declines = std::move(*loaded);
  *feedback = std::move(*rows);
  return true;
}

void PrintFeedback(const std::vector<writeback::FeedbackRow>& feedback, std::ostream& out) {
  if (feedback.empty()) return;
  out << "  CDS feedback (ledger):\n";
  for (const writeback::FeedbackRow& r : feedback) {
    out << "    " << fhir::Printable(r.outcome_at, 64) << "  " << r.need << "  " << r.outcome;
    if (!r.reason.empty()) out << " (" << fhir::Printable(r.reason, 64) << ")";
    if (!r.accepted_suggestions.empty()) {
      out << " suggestions " << r.accepted_suggestions.size();
    }
    out << "  card " << fhir::Printable(r.card, 64) << "\n";
  }
}

// What the pass plans for one flag, and why not more (issue 14): stale, declined, drafts.
void DescribeReferral(const NeedFlag& f, const ReferralPlan& plan, const Config& config,
                      fhir::InstantMicros now, std::ostream& out) {
  if (plan.not_planned == kNotPlannedStale) {
    out << "stale — screened " << ScreenedDaysAgo(f, now) << " days ago: rescreen (limit "
        << config.screening.max_age_days << " days; no new referral, our Flag goes "
        << "inactive)";
  } else if (!plan.declined_reason.empty()) {
    out << "declined through CDS feedback (" << fhir::Printable(plan.declined_reason, 64) << ") on "
        << fhir::FormatInstantUtc(plan.declined_at) << ": no new referral until "
        << fhir::FormatInstantUtc(plan.declined_until) << " (writeback.declined_days "
        << config.writeback.declined_days << "); the chart Flag stays";
  } else if (!plan.not_planned.empty()) {
    out << "none (" << plan.not_planned << ")";
  } else if (std::none_of(plan.resources.begin(), plan.resources.end(),
                          [](const PlannedResource& r) { return r.type == "ServiceRequest"; })) {
    out << "no referral (route " << plan.route << ": chart Flag only)";
  } else if (!plan.draft_reason.empty()) {
    out << "draft proposal, no Task ("
        << (plan.draft_reason == "possible" ? "possible need: confirm before ordering"
            : plan.draft_reason == "review" ? "route requires review"
                                            : "route requires an active Consent")
        << ")";
  } else {
    out << "active order";
  }
}

// Issue 15 item 3: the service directory's candidates for one referral and why one won.
void DescribeDirectory(const ReferralPlan& plan, const RouteConfig* route, std::ostream& out) {
  const DirectoryChoice& c = plan.directory;
  if (!c.consulted) return;
  if (!c.service.empty()) {
    out << "      performer: " << c.service << " (directory: " << c.why << ")";
    if (!c.organization.empty()) out << "; Task owner " << c.organization;
    out << "\n";
  } else {
    out << "      performer: "
        << (route != nullptr && !route->performer.empty() ? route->performer : std::string("none"))
        << " (route's; directory: " << c.why << ")\n";
  }
  for (size_t i = 0; i < c.candidates.size(); ++i) {
    const CandidateVerdict& v = c.candidates[i];
    out << "        "
        << (v.service == c.service ? "CHOSEN   "
            : v.eligible           ? "eligible "
                                   : "excluded ")
        << v.service;
    if (!v.eligible) out << " — " << v.excluded;
    out << ":";
    for (size_t j = 0; j < v.reasons.size(); ++j) out << (j ? "; " : " ") << v.reasons[j];
    out << "\n";
  }
  if (c.other_category > 0) {
    out << "        (" << c.other_category << " other service(s) do not list the category)\n";
  }
}

}  // namespace

int ExplainCommand(const ExplainOptions& options, std::ostream& out, std::ostream& err) {
  auto pipeline = LoadCommandPipeline(options.config_path, options.source, "", err);
  if (!pipeline) return 2;
  Pipeline& p = *pipeline;
  int exit_code = 0;
  for (const std::string& pid : options.patients) {
    if (!fhir::IsValidId(pid)) {  // never echoed raw to the terminal (issue 13 #6)
      err << "sdoh-bridge: --patient '" << fhir::Printable(pid, 80)
          << "' is not a FHIR id ([A-Za-z0-9-.]{1,64})\n";
      return 2;
    }
    auto source = Source::Open(p.config);
    if (!source.ok()) {
      err << "sdoh-bridge: config error: " << source.status().message() << "\n";
      return 2;
    }
    fhir::Store& store = (*source)->store();
    PassOptions po;
    po.now = fhir::NowMicros();
    po.only_patient = pid;
    po.rule_outcomes = true;
    // CDS feedback recorded in the ledger file (issue 14 item 7), as `run` reads it.
    Declines declines;
    std::vector<writeback::FeedbackRow> feedback;
    if (!LoadFeedback(p.config, (*source)->is_server(), po.now, pid, &declines, &feedback, err)) {
      return 1;
    }
    po.declines = &declines;
    // The service directory and the performers that rejected before (issue 15 item 3).
    std::unique_ptr<Directory> directory;
    RejectedPerformers rejected;
    if (LoadDirectoryInputs(p.config, &directory, &rejected, err) != 0) return 1;
    po.directory = directory.get();
    po.rejected = &rejected;
    Pass pass(p, po);
    if (fhir::Status s = pass.Read(store); !s.ok()) {
      err << "sdoh-bridge: reading " << store.Describe() << " failed: " << s.message() << "\n";
      return 1;
    }
    ExplainSink sink;
    pass.Evaluate(sink);
    const bool found = sink.found;
    const std::vector<RuleOutcome>& outcomes = sink.outcomes;
    const std::vector<NeedFlag>& flags = sink.flags;
    const PatientFacts& facts = sink.facts;
    const ScreeningCollector& collector = pass.collector();
    out << "Patient/" << pid << "\n";
    if (!found) {
      out << "  not found in " << store.Describe() << " (no Patient resource and no screening)\n";
      exit_code = 3;
      continue;
    }
    out << "  patient resource: " << (facts.present ? "present" : "absent")
        << (facts.present && !facts.active ? ", inactive" : "")
        << (facts.deceased ? ", deceased (no referrals)" : "") << "\n";
    out << "  interpreter statement: "
        << (facts.interpreter == InterpreterStatement::kNeeded      ? "needed (explicit)"
            : facts.interpreter == InterpreterStatement::kNotNeeded ? "not needed (explicit)"
                                                                    : "none")
        << "; preferred language: "
        << (facts.prefers_other_language ? fhir::Printable(facts.preferred_language) : "default")
        << "\n";
    out << "  screenings and observations:\n";
    for (const TraceEvent& t : collector.trace()) {
      if (t.outcome == "read") continue;
      out << "    " << t.outcome << "  " << fhir::Printable(t.reference);
      if (!t.instrument.empty()) out << "  [" << t.instrument << "]";
      if (t.has_when) out << "  " << fhir::FormatInstantUtc(t.when);
      if (!t.reason.empty()) out << "  — " << t.reason;
      out << "\n";
    }
    out << "  rules (" << p.ruleset.id() << " " << p.ruleset.version() << "):\n";
    for (const RuleOutcome& o : outcomes) {
      out << "    " << (o.value == Tri::kTrue ? "FIRED " : "no    ") << o.rule_id << " → "
          << o.need;
      if (!o.screening.empty()) out << " on " << o.screening;
      out << ": " << TriName(o.value);
      if (!o.detail.empty()) out << " (" << fhir::Printable(o.detail, 400) << ")";
      if (o.value == Tri::kTrue && !o.evidence.empty()) {
        out << " evidence";
        for (const auto& e : o.evidence) out << " " << e;
      }
      out << "\n";
    }
    const fhir::InstantMicros now = po.now;
    PrintFeedback(feedback, out);
    out << "  flags:\n";
    if (flags.empty()) out << "    none\n";
    for (const NeedFlag& f : flags) out << "    " << FlagLine(f, p.ruleset.version()) << "\n";
    // What would be ordered, and why not (issue 14): stale screenings, drafts for review.
    if (!flags.empty()) out << "  referrals:\n";
    for (size_t i = 0; i < flags.size(); ++i) {
      const NeedFlag& f = flags[i];
      const ReferralPlan& plan = sink.plans[i];
      out << "    " << f.need << ": ";
      DescribeReferral(f, plan, p.config, now, out);
      if (f.screened_at && plan.not_planned != kNotPlannedStale) {
        out << "; screened " << ScreenedDaysAgo(f, now) << " days ago";
      }
      out << "\n";
      auto route = p.config.routes.find(plan.route);
      DescribeDirectory(plan, route != p.config.routes.end() ? &route->second : nullptr, out);
      if (f.def != nullptr && f.def->sensitive) {
        // Details a ServiceRequest note of a sensitive need leaves out (issue 14 item 8).
        for (const std::string& why : f.why) out << "      why: " << why << "\n";
      }
    }
  }
  return exit_code;
}

}  // namespace sdoh
