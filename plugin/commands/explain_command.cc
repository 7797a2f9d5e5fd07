#include "plugin/commands/explain_command.h"

#include <ostream>

#include "fhir/ndjson_folder_store.h"
#include "fhir/printable.h"
#include "fhir/resource_id.h"
#include "plugin/screening/screening_collector.h"
#include "plugin/setup/pipeline.h"

namespace sdoh {

int ExplainCommand(const ExplainOptions& options, std::ostream& out, std::ostream& err) {
  auto pipeline =
      LoadPipeline(options.config_path.empty() ? DefaultConfigPath() : options.config_path);
  if (!pipeline.ok()) {
    err << "sdoh-bridge: config error: " << pipeline.status().message() << "\n";
    return 2;
  }
  Pipeline& p = *pipeline;
  if (!options.source.empty()) p.config.source = options.source;
  if (p.config.source.find("://") != std::string::npos) {
    err << "sdoh-bridge: explain reads an NDJSON folder in this build\n";
    return 2;
  }
  int exit_code = 0;
  for (const std::string& pid : options.patients) {
    if (!fhir::IsValidId(pid)) {  // never echoed raw to the terminal (issue 13 #6)
      err << "sdoh-bridge: --patient '" << fhir::Printable(pid, 80)
          << "' is not a FHIR id ([A-Za-z0-9-.]{1,64})\n";
      return 2;
    }
    fhir::NdjsonFolderStore store(p.config.source, {p.config.max_line_bytes, p.config.max_depth});
    ScreeningOptions sopts;
    sopts.time_zone = p.config.time_zone;
    sopts.ruleset = &p.ruleset;
    sopts.now = fhir::NowMicros();
    sopts.input = InputPolicyFor(p.config, sopts.now);
    sopts.only_patient = pid;
    ScreeningCollector collector(*p.catalog, sopts);
    if (fhir::Status s = store.ReadAll(ScreeningCollector::InputTypes(), collector); !s.ok()) {
      err << "sdoh-bridge: reading " << store.Describe() << " failed: " << s.message() << "\n";
      return 1;
    }
    bool found = false;
    std::vector<RuleOutcome> outcomes;
    std::vector<NeedFlag> flags;
    PatientFacts facts;
    collector.Finish([&](PatientRecord& rec) {
      if (rec.id != pid) return;
      found = true;
      facts = rec.facts;
      flags = EvaluatePatient(p.ruleset, *p.catalog, rec, &outcomes);
    });
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
    out << "  flags:\n";
    if (flags.empty()) out << "    none\n";
    for (const NeedFlag& f : flags) out << "    " << FlagLine(f, p.ruleset.version()) << "\n";
  }
  return exit_code;
}

}  // namespace sdoh
