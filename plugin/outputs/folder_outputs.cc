#include "plugin/outputs/folder_outputs.h"

#include <filesystem>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "fhir/json_writer.h"

namespace sdoh {

const std::vector<std::string>& PlannedResourceTypes() {
  static const std::vector<std::string> kTypes = {"ServiceRequest", "Task", "Flag"};
  return kTypes;
}

FolderOutputs::FolderOutputs(std::string out_dir, std::string run_id, std::string ruleset_version,
                             bool dry_run)
    : out_dir_(std::move(out_dir)),
      run_id_(std::move(run_id)),
      ruleset_version_(std::move(ruleset_version)),
      dry_run_(dry_run),
      flags_file_(Path("flags.ndjson")),
      plan_file_(Path("plan.json")) {}

std::string FolderOutputs::Path(const std::string& name) const {
  return (std::filesystem::path(out_dir_) / name).string();
}

fhir::Status FolderOutputs::Open() {
  flags_file_.set_writer_thread(writer_threads_);
  plan_file_.set_writer_thread(writer_threads_);
  if (fhir::Status s = flags_file_.Open(); !s.ok()) return s;
  if (dry_run_) {
    if (fhir::Status s = plan_file_.Open(); !s.ok()) return s;
    plan_file_.Write("{\"run\":\"" + run_id_ + "\",\"dry_run\":true,\"referrals\":[\n");
    return fhir::Status::Ok();
  }
  for (const std::string& t : PlannedResourceTypes()) {
    auto f = std::make_unique<OutputFile>(Path(t + ".ndjson"));
    f->set_writer_thread(writer_threads_);
    if (fhir::Status s = f->Open(); !s.ok()) return s;
    resource_files_[t] = std::move(f);
  }
  return fhir::Status::Ok();
}

void FolderOutputs::Prepare(PatientResult& result) const {
  result.rendered.clear();
  for (const NeedFlag& f : result.flags) {
    AppendFlagLine(f, ruleset_version_, &result.rendered);
    result.rendered += '\n';
  }
}

void FolderOutputs::OnPatient(PatientResult& result) {
  const PatientRecord& rec = result.record;
  if (rec.facts.present) ++tally_.patients_read;
  if (!rec.counted.empty()) ++tally_.patients_screened;
  if (!result.flags.empty()) ++tally_.patients_flagged;
  // The flags' lines, rendered by Prepare on the evaluating thread (or here, when the caller
  // did not prepare the result).
  if (result.rendered.empty() && !result.flags.empty()) Prepare(result);
  flags_file_.Write(result.rendered);
  for (size_t i = 0; i < result.flags.size(); ++i) {
    const NeedFlag& f = result.flags[i];
    ++tally_.flags;
    ++tally_.flags_by_need[f.need];
    if (i >= result.plans.size()) continue;
    const ReferralPlan& plan = result.plans[i];
    if (!plan.not_planned.empty()) {
      ++tally_.not_planned[plan.not_planned];
    } else if (!plan.declined_reason.empty()) {
      ++tally_.not_planned[kNotPlannedDeclined];  // the Flag only (issue 14 item 7)
    }
    for (const PlannedResource& r : plan.resources) {
      ++tally_.planned_by_type[r.type];
      if (!dry_run_) resource_files_[r.type]->WriteLine(r.json);
    }
    if (dry_run_) AddPlanEntry(plan);
  }
}

void FolderOutputs::AddPlanEntry(const ReferralPlan& plan) {
  rapidjson::StringBuffer sb;
  fhir::json::TextWriter w(sb);
  w.StartObject();
  w.Key("patient");
  w.String(("Patient/" + plan.patient_id).c_str());
  w.Key("need");
  w.String(plan.need.c_str());
  w.Key("route");
  w.String(plan.route.c_str());
  w.Key("action");
  w.String(plan.not_planned.empty() ? "create" : "none");
  if (!plan.not_planned.empty()) {
    w.Key("reason");
    w.String(plan.not_planned.c_str());
  }
  if (!plan.declined_reason.empty()) {  // CDS feedback: no ServiceRequest or Task
    w.Key("declined");
    w.StartObject();
    w.Key("reason");
    w.String(plan.declined_reason.c_str());
    w.Key("at");
    w.String(fhir::FormatInstantUtc(plan.declined_at).c_str());
    w.Key("until");
    w.String(fhir::FormatInstantUtc(plan.declined_until).c_str());
    w.EndObject();
  }
  w.Key("resources");
  w.StartArray();
  for (const PlannedResource& r : plan.resources) {
    w.StartObject();
    w.Key("type");
    w.String(r.type.c_str());
    w.Key("identifier");
    w.String(r.identifier.c_str());
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  plan_file_.Write(first_plan_ ? "" : ",\n");
  plan_file_.Write(sb.GetString());
  first_plan_ = false;
}

void FolderOutputs::ClosePlan(const std::string& plan_members) {
  if (!dry_run_ || plan_closed_) return;
  plan_file_.Write(plan_members.empty() ? "\n]}\n" : "\n],\n" + plan_members + "}\n");
  plan_closed_ = true;
}

fhir::Status FolderOutputs::Commit(const std::string& summary_json) {
  ClosePlan("");
  OutputFile summary_file(Path("summary.json"));
  if (fhir::Status s = summary_file.Open(); !s.ok()) return s;
  summary_file.WriteLine(summary_json);
  std::vector<OutputFile*> files{&flags_file_};
  if (dry_run_) files.push_back(&plan_file_);
  for (auto& [type, f] : resource_files_) files.push_back(f.get());
  files.push_back(&summary_file);
  for (OutputFile* f : files) {
    if (fhir::Status s = f->Commit(); !s.ok()) return s;
  }
  if (dry_run_) {
    // A dry run leaves no stale writeback files that could be mistaken for this run's.
    for (const std::string& t : PlannedResourceTypes()) {
      std::error_code ec;
      std::filesystem::remove(Path(t + ".ndjson"), ec);
    }
  }
  return fhir::Status::Ok();
}

}  // namespace sdoh
