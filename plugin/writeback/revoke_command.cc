#include "plugin/writeback/revoke_command.h"

#include <chrono>
#include <ostream>

#include "fhir/client/client_factory.h"
#include "fhir/json.h"
#include "plugin/setup/config.h"
#include "plugin/setup/fhir_section.h"
#include "plugin/writeback/audit_log.h"
#include "plugin/writeback/ledger.h"
#include "plugin/writeback/referral_policy.h"
#include "plugin/writeback/server_writeback.h"

namespace sdoh::writeback {

int RevokeCommand(const RevokeOptions& o, std::ostream& out, std::ostream& err) {
  auto config = LoadConfig(o.config_path.empty() ? DefaultConfigPath() : o.config_path);
  if (!config.ok()) {
    err << "sdoh-bridge: config error: " << config.status().message() << "\n";
    return 2;
  }
  if (!o.source.empty()) config->source = o.source;
  if (!o.out.empty()) config->out = o.out;
  auto cc = ServerClientConfig(*config);
  if (!cc.ok()) {
    err << "sdoh-bridge: config error: " << cc.status().message() << "\n";
    return 2;
  }
  auto client = fhir::client::BuildClient(*cc);
  if (!client.ok()) {
    err << "sdoh-bridge: config error: " << client.error().message << "\n";
    return 2;
  }
  Ledger ledger;
  if (fhir::Status s = ledger.Open(LedgerPath(*config), config->writeback.lock_wait_seconds);
      !s.ok()) {
    err << "sdoh-bridge: " << s.message() << "\n";
    return s.code() == fhir::Status::Code::kFailedPrecondition ? 4 : 1;
  }
  const fhir::InstantMicros now = std::chrono::duration_cast<std::chrono::microseconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count();
  AuditLog audit;
  if (fhir::Status s = audit.Open(AuditPath(*config), config->writeback.audit_retention_days, now,
                                  "revoke-" + o.run_id);
      !s.ok()) {
    err << "sdoh-bridge: " << s.message() << "\n";
    return 1;
  }
  int failures = 0, done = 0;
  auto rows = ledger.ForRun(o.run_id);
  if (rows.empty()) {
    err << "sdoh-bridge: the ledger has nothing written by run '" << o.run_id << "'\n";
    return 1;
  }
  for (LedgerRow row : rows) {
    if (row.state != "confirmed" || row.server_id.empty()) continue;
    auto read = client->fhir->Read(row.type, row.server_id);
    if (!read.ok() || !read->body) {
      ++failures;
      err << "sdoh-bridge: revoke: reading " << row.type << "/" << row.server_id << " failed\n";
      continue;
    }
    ServerResource r = ParseServerResource(*read->body, config->identifier_system);
    std::string target = row.type == "ServiceRequest" ? "revoked"
                         : row.type == "Task"         ? "cancelled"
                                                      : "entered-in-error";
    AuditEvent ev{"retract",
                  "revoke-run",
                  row.type,
                  row.identifier,
                  row.patient,
                  row.need,
                  "revoke --run " + o.run_id,
                  0,
                  0,
                  r.Reference(),
                  "",
                  ""};
    if (r.status != target && !(row.type == "Task" && !IsOpenTask(r.status))) {
      auto res = client->fhir->Update(row.type, r.id, WithStatus(r.json, target), r.version);
      if (!res.ok()) {
        ++failures;
        ev.event = "error";
        ev.http_status = res.error().http_status;
        audit.Write(ev);
        err << "sdoh-bridge: revoke: Patient/" << row.patient << " need " << row.need << ": "
            << row.type << "/" << r.id << " failed: HTTP " << res.error().http_status << "\n";
        continue;
      }
      ev.http_status = res->status;
      ev.attempts = res->attempts;
      ++done;
    }
    audit.Write(ev);
    row.state = "revoked";
    ledger.Upsert(row);
  }
  out << "sdoh-bridge revoke " << o.run_id << ": " << done << " resource(s) revoked, cancelled "
      << "or marked entered-in-error; " << failures << " failure(s)\n";
  return failures == 0 ? 0 : 1;
}

}  // namespace sdoh::writeback
