#include "plugin/outputs/run_summary.h"

#include <ostream>

#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include "fhir/printable.h"

namespace sdoh {

namespace {

template <typename W, typename Map>
void WriteCounts(W& w, const char* key, const Map& m) {
  w.Key(key);
  w.StartObject();
  for (const auto& [k, v] : m) {
    w.Key(k.c_str());
    w.Uint64(v);
  }
  w.EndObject();
}

std::vector<std::string> InstrumentIds(const RunSummary& s, const FormSeen& f) {
  std::vector<std::string> ids;
  for (InstrumentIndex i : f.instruments) ids.push_back(s.catalog->instruments()[i].id);
  return ids;
}

}  // namespace

std::string SummaryJson(const RunSummary& s) {
  const RunCounts& c = *s.counts;
  const PassTally& t = *s.tally;
  rapidjson::StringBuffer sb;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> w(sb);
  w.SetIndent(' ', 2);
  w.StartObject();
  w.Key("run");
  w.String(s.run_id.c_str());
  w.Key("started");
  w.String(s.started.c_str());
  w.Key("source");
  w.String(s.source.c_str());
  w.Key("dry_run");
  w.Bool(s.dry_run);
  w.Key("ruleset");
  w.StartObject();
  w.Key("id");
  w.String(s.ruleset_id.c_str());
  w.Key("version");
  w.String(s.ruleset_version.c_str());
  w.EndObject();
  WriteCounts(w, "resources_read", c.read);
  w.Key("bytes_read");
  w.Uint64(s.bytes_read);
  w.Key("patients");
  w.StartObject();
  w.Key("read");
  w.Uint64(t.patients_read);
  w.Key("with_counted_screening");
  w.Uint64(t.patients_screened);
  w.Key("flagged");
  w.Uint64(t.patients_flagged);
  w.EndObject();
  w.Key("screenings");
  w.StartObject();
  w.Key("counted");
  w.Uint64(c.screenings_counted);
  w.Key("member_observations");
  w.Uint64(c.member_observations);
  w.EndObject();
  WriteCounts(w, "ignored", c.ignored);
  WriteCounts(w, "skipped", c.skipped);
  WriteCounts(w, "rule_errors", c.rule_errors);
  w.Key("skipped_examples");
  w.StartArray();
  for (const SkipRecord& k : c.skip_examples) {
    w.StartObject();
    w.Key("where");
    w.String(k.where.c_str());
    w.Key("reason");
    w.String(k.reason.c_str());
    w.Key("detail");
    w.String(k.detail.c_str());
    w.EndObject();
  }
  w.EndArray();
  w.Key("missing_inputs");
  w.StartArray();
  for (const auto& m : c.missing_files) w.String((m + ".ndjson").c_str());
  w.EndArray();
  w.Key("unmapped_forms");
  w.StartArray();
  for (const auto& [canonical, f] : s.forms->seen()) {
    if (f.dropped == 0) continue;
    w.StartObject();
    w.Key("canonical");
    w.String(canonical.c_str());
    w.Key("count");
    w.Uint64(f.dropped);
    w.Key("questionnaire");
    w.Bool(f.questionnaire);
    w.EndObject();
  }
  w.EndArray();
  w.Key("inferred_forms");
  w.StartArray();
  for (const auto& [canonical, f] : s.forms->seen()) {
    if (f.status != FormStatus::kInferred) continue;
    w.StartObject();
    w.Key("canonical");
    w.String(canonical.c_str());
    w.Key("count");
    w.Uint64(f.responses - f.dropped);
    w.Key("instruments");
    w.StartArray();
    for (const std::string& id : InstrumentIds(s, f)) w.String(id.c_str());
    w.EndArray();
    w.Key("inferred_by");
    w.String(f.inferred_by.c_str());
    w.EndObject();
  }
  w.EndArray();
  w.Key("flags");
  w.Uint64(t.flags);
  WriteCounts(w, "flags_by_need", t.flags_by_need);
  WriteCounts(w, "resources_planned", t.planned_by_type);
  WriteCounts(w, "referrals_not_planned", t.not_planned);
  if (s.directory != nullptr) {
    w.Key("directory");
    w.StartObject();
    w.Key("source");
    w.String(s.directory->source.c_str());
    w.Key("services");
    w.Uint64(s.directory->services);
    w.Key("chosen");
    w.Uint64(s.directory->chosen);
    w.Key("fallback");
    w.Uint64(s.directory->fallback);
    w.EndObject();
  }
  w.Key("exit_code");
  w.Int(s.exit_code);
  w.EndObject();
  return sb.GetString();
}

void PrintSummary(const RunSummary& s, std::ostream& out) {
  const RunCounts& c = *s.counts;
  const PassTally& t = *s.tally;
  const uint64_t skipped = c.TotalSkipped();
  out << "sdoh-bridge " << (s.dry_run ? "dry run " : "run ") << s.run_id << "\n";
  out << "  source      " << fhir::Printable(s.source, 1024) << " (" << s.bytes_read << " bytes)\n";
  out << "  rules       " << s.ruleset_id << " " << s.ruleset_version << "\n";
  if (s.threads > 0) out << "  threads     " << s.threads << "\n";
  out << "  read       ";
  for (const auto& [type, n] : c.read) out << " " << type << " " << n;
  out << "\n";
  out << "  patients    " << t.patients_read << " read, " << t.patients_screened
      << " with a counted screening, " << t.patients_flagged << " flagged\n";
  out << "  screenings  " << c.screenings_counted << " counted, " << c.TotalIgnored()
      << " resources ignored\n";
  for (const auto& [k, v] : c.ignored) out << "      ignored  " << v << "  " << k << "\n";
  for (const auto& [canonical, f] : s.forms->seen()) {
    if (f.status != FormStatus::kInferred) continue;
    out << "  inferred    " << (f.responses - f.dropped) << "  " << canonical << " read as";
    for (const std::string& id : InstrumentIds(s, f)) out << " " << id;
    out << " (through " << f.inferred_by << "; map it in mappings/forms/)\n";
  }
  if (const uint64_t dropped = s.forms->DroppedResponses(); dropped > 0) {
    out << "  WARNING     " << dropped
        << " QuestionnaireResponse(s) of unmapped forms were not read: screenings may be missing"
           " (exit 3; `sdoh-bridge forms` drafts mappings)\n";
    for (const auto& [canonical, f] : s.forms->seen()) {
      if (f.dropped == 0) continue;
      out << "      unmapped  " << f.dropped << "  " << canonical
          << (f.questionnaire ? "  (its Questionnaire asks no configured question)"
                              : "  (no Questionnaire available)")
          << "\n";
    }
  }
  out << "  flags       " << t.flags << "\n";
  for (const auto& [k, v] : t.flags_by_need) out << "      " << k << "  " << v << "\n";
  out << "  planned    ";
  if (t.planned_by_type.empty()) out << " nothing";
  for (const auto& [k, v] : t.planned_by_type) out << " " << k << " " << v;
  out << (s.dry_run ? "  (dry run: nothing written but plan.json)" : "") << "\n";
  for (const auto& [k, v] : t.not_planned) {
    out << "      no referral  " << v << "  " << k << "\n";
  }
  if (const DirectoryTally* d = s.directory) {
    out << "  directory   " << d->services << " services in " << fhir::Printable(d->source, 1024)
        << "; performer chosen " << d->chosen << ", fallback to the route's " << d->fallback
        << "\n";
  }
  out << "  skipped     " << skipped << (skipped ? " unreadable inputs" : "") << "\n";
  for (const auto& [k, v] : c.skipped) out << "      " << k << "  " << v << "\n";
  size_t shown = 0;
  for (const SkipRecord& k : c.skip_examples) {
    if (shown++ == 10) break;
    out << "      " << fhir::Printable(k.where, 1024) << ": " << k.reason << ": "
        << fhir::Printable(k.detail) << "\n";
  }
  for (const auto& m : c.missing_files)
    out << "  note        no " << m << ".ndjson in the source\n";
  for (const auto& [k, v] : c.rule_errors) out << "  rule error  " << v << "  " << k << "\n";
  out << "  out         " << fhir::Printable(s.out_dir, 1024) << "\n";
}

}  // namespace sdoh
