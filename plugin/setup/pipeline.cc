#include "plugin/setup/pipeline.h"

#include <ostream>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "fhir/json_writer.h"

namespace sdoh {

fhir::Result<Pipeline> LoadPipeline(const std::string& config_path) {
  auto config = LoadConfig(config_path);
  if (!config.ok()) return config.status();
  auto catalog = Catalog::Load(config->mappings);
  if (!catalog.ok()) return catalog.status();
  // Routes are data (the config's referrals.routes): every need goes to one of them.
  for (const auto& [name, def] : (*catalog)->needs()) {
    if (!config->routes.count(def.route)) {
      std::string known;
      for (const auto& [route, rc] : config->routes) known += (known.empty() ? "" : ", ") + route;
      return fhir::Status::InvalidArgument(
          config->mappings + "/needs.yaml: need '" + name + "' goes to route '" + def.route +
          "', which " + config->path + " does not configure (referrals.routes: " + known + ")");
    }
  }
  auto ruleset = Ruleset::Load(config->rules, **catalog);
  if (!ruleset.ok()) return ruleset.status();
  Pipeline p{std::move(*config), std::move(*catalog), std::move(*ruleset)};
  return p;
}

std::optional<Pipeline> LoadCommandPipeline(const std::string& config_path,
                                            const std::string& source, const std::string& out,
                                            std::ostream& err) {
  auto pipeline = LoadPipeline(config_path.empty() ? DefaultConfigPath() : config_path);
  if (!pipeline.ok()) {
    err << "sdoh-bridge: config error: " << pipeline.status().message() << "\n";
    return std::nullopt;
  }
  if (!source.empty()) pipeline->config.source = source;
  if (!out.empty()) pipeline->config.out = out;
  return std::move(*pipeline);
}

std::string FlagLine(const NeedFlag& flag, const std::string& ruleset_version) {
  std::string line;
  AppendFlagLine(flag, ruleset_version, &line);
  return line;
}

void AppendFlagLine(const NeedFlag& flag, const std::string& ruleset_version, std::string* out) {
  // The thread's buffer, writer and reference text, reused line after line (issue 17).
  thread_local rapidjson::StringBuffer sb;
  thread_local fhir::json::TextWriter w(sb);
  thread_local std::string patient;
  sb.Clear();
  w.Reset(sb);
  auto str = [&](const std::string& s) {
    w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  };
  w.StartObject();
  w.Key("patient");
  str(patient.assign("Patient/").append(flag.patient_id));
  w.Key("flag");
  str(flag.need);
  w.Key("route");
  str(flag.def ? flag.def->route : "none");
  w.Key("certainty");
  w.String(flag.possible ? "possible" : "confirmed");
  w.Key("evidence");
  w.StartArray();
  for (const auto& [ref, v] : flag.evidence) str(ref);
  w.EndArray();
  w.Key("rules");
  w.StartArray();
  for (const auto& r : flag.rules) str(r);
  w.EndArray();
  w.Key("ruleset");
  str(ruleset_version);
  if (flag.stale) {  // issue 14 item 1: kept, but no new referral until a rescreen
    w.Key("stale");
    w.Bool(true);
  }
  w.EndObject();
  out->append(sb.GetString(), sb.GetSize());
}

}  // namespace sdoh
