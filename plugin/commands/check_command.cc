#include "plugin/commands/check_command.h"

#include <sstream>
#include <vector>

#include "fhir/client/bulk_export.h"
#include "fhir/client/fhir_client.h"
#include "fhir/json.h"
#include "plugin/writeback/writeback_path.h"

namespace sdoh {
namespace {

using fhir::client::ClientResult;
using fhir::client::Response;

struct Need {
  const char* type;
  std::vector<std::pair<const char*, char>> interactions;  // CapabilityStatement code, scope letter
};

const std::vector<Need>& ReadNeeds() {
  static const std::vector<Need> kNeeds = {
      {"Patient", {{"read", 'r'}, {"search-type", 's'}}},
      {"Observation", {{"read", 'r'}, {"search-type", 's'}}},
      {"QuestionnaireResponse", {{"read", 'r'}, {"search-type", 's'}}},
      {"Questionnaire", {{"read", 'r'}, {"search-type", 's'}}}};
  return kNeeds;
}

const std::vector<Need>& WriteNeeds() {
  static const std::vector<Need> kNeeds = {
      {"ServiceRequest", {{"create", 'c'}, {"update", 'u'}, {"search-type", 's'}}},
      {"Task", {{"create", 'c'}, {"update", 'u'}, {"search-type", 's'}}},
      {"Flag", {{"create", 'c'}, {"update", 'u'}, {"search-type", 's'}}}};
  return kNeeds;
}

}  // namespace

int RunCheckCommand(const fhir::client::ClientConfig& config, std::ostream& out,
                    std::ostream& err) {
  ClientResult<fhir::client::Client> built = fhir::client::BuildClient(config);
  if (!built.ok()) {
    err << "check: " << built.error().ToString() << "\n";
    return 1;
  }
  fhir::client::FhirClient& client = *built->fhir;
  out << "FHIR server: " << client.base_url() << "\n";

  ClientResult<Response> cs = client.Capabilities();
  if (!cs.ok()) {
    err << "check: cannot read the CapabilityStatement: " << cs.error().ToString() << "\n";
    return 1;
  }
  const rapidjson::Document& statement = *cs->body;
  out << "  CapabilityStatement: fhirVersion " << fhir::json::StrMember(statement, "fhirVersion");
  if (const rapidjson::Value* software = fhir::json::Member(statement, "software")) {
    out << ", software " << fhir::json::StrMember(*software, "name") << " "
        << fhir::json::StrMember(*software, "version");
  }
  out << "\n";

  ClientResult<Response> smart = client.SmartConfiguration();
  if (smart.ok()) {
    out << "  SMART configuration: token_endpoint "
        << fhir::json::StrMember(*smart->body, "token_endpoint") << "\n";
  } else {
    out << "  SMART configuration: not available (" << smart.error().ToString() << ")\n";
  }

  out << "Auth: " << built->auth->Describe() << "\n";
  bool scopes_known = false;
  std::string scopes;
  if (config.auth.type == "client_credentials" || config.auth.type == "smart_backend") {
    ClientResult<std::string> token = built->auth->Authorization();
    if (!token.ok()) {
      err << "check: cannot obtain an access token: " << token.error().ToString() << "\n";
      return 1;
    }
    scopes = built->auth->GrantedScope();
    scopes_known = !scopes.empty();
    out << "  token: obtained; scopes granted: " << (scopes.empty() ? "(not stated)" : scopes)
        << "\n";
  }

  auto report = [&](const Need& need, bool* all) {
    std::set<std::string> supported = fhir::client::SupportedInteractions(statement, need.type);
    out << "  " << need.type << ":";
    *all = true;
    for (const auto& [code, letter] : need.interactions) {
      bool ok = supported.count(code) != 0;
      bool granted = !scopes_known || ScopeGrants(scopes, need.type, letter);
      out << " " << code << "=" << (ok ? (granted ? "yes" : "no (scope)") : "no");
      if (!ok || !granted) *all = false;
    }
    out << "\n";
  };
  out << "Read (needed for screening):\n";
  bool reads_ok = true;
  for (const Need& need : ReadNeeds()) {
    bool all = false;
    report(need, &all);
    reads_ok = reads_ok && all;
  }
  out << "Write (referral writeback):\n";
  for (const Need& need : WriteNeeds()) {
    bool all = false;
    report(need, &all);
  }
  // The same computation `run` follows (plugin/writeback_path.h).
  WritebackPath path = ComputeWritebackPath(statement, scopes_known ? scopes : "");
  out << "Writeback path: " << path.Describe() << "\n";
  // `run --bulk` (issue 16): which $export levels the server declares.
  const fhir::client::BulkExportSupport bulk = fhir::client::ExportSupport(statement);
  auto yn = [](bool b) { return b ? "yes" : "no"; };
  out << "Bulk Data $export: system=" << yn(bulk.system) << " Patient=" << yn(bulk.patient)
      << " Group=" << yn(bulk.group) << " (run --bulk [--group ID])\n";
  if (!reads_ok) out << "Warning: some reads needed for screening are not available\n";
  return 0;
}

}  // namespace sdoh
