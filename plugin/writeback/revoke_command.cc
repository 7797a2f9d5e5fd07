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
  auto client = BuildServerClient(*config, err);
  if (!client) return 2;
  Ledger ledger;
  if (fhir::Status s = ledger.Open(LedgerPath(*config), config->writeback.lock_wait_seconds);
      !s.ok()) {
    err << "sdoh-bridge: " << s.message() << "\n";
    return s.code() == fhir::Status::Code::kFailedPrecondition ? 4 : 1;
  }
  // The ledger's server ids mean something on its own server only (issue 13).
  if (fhir::Status s = ledger.Bind(config->source, config->identifier_system, false); !s.ok()) {
    err << "sdoh-bridge: " << s.message() << "\n";
    return s.code() == fhir::Status::Code::kInvalidArgument ? 2 : 1;
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
  int failures = 0, done = 0, already = 0, not_ours = 0, final_state = 0;
  std::string ledger_error;
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
    const std::string target = row.type == "ServiceRequest" ? "revoked"
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
                  row.type + "/" + row.server_id,
                  "",
                  ""};
    // Issue 13: the resource at that id must be the one the ledger recorded, and not closed.
    std::string skip = NotAsRecorded(r, row.identifier, row.patient);
    if (skip.empty() && r.status != target && IsFinal(r)) skip = "final (" + r.status + ")";
    if (!skip.empty()) {
      ++(skip.rfind("final", 0) == 0 ? final_state : not_ours);
      ev.event = "skip";
      ev.reason = skip;
      audit.Write(ev);
      out << "  skipped " << row.type << "/" << row.server_id << ": " << skip << "\n";
      continue;
    }
    if (r.status == target) {
      ++already;
    } else {
      const std::string json =
          row.type == "Task"
              ? CancelledTask(r.json, "Referral revoked by sdoh-bridge: revoke --run " + o.run_id)
              : WithStatus(r.json, target);
      auto res = client->fhir->Update(row.type, r.id, json, r.version);
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
    if (fhir::Status s = ledger.Upsert(row); !s.ok()) {
      // Issue 13: nothing more is changed on the server once the ledger cannot record it.
      ledger_error = s.message();
      audit.Write(
          {"error", "ledger-write", "", "", "", "", "ledger-write-failed", 0, 0, "", "", ""});
      break;
    }
  }
  out << "sdoh-bridge revoke " << o.run_id << ": " << done << " resource(s) revoked, cancelled "
      << "or marked entered-in-error; " << already << " already so; " << not_ours
      << " skipped (not as the ledger recorded them); " << final_state
      << " skipped (final on the server, left as is); " << failures << " failure(s)\n";
  if (!ledger_error.empty()) {
    out << "  stopped: the ledger could not be written; nothing more was changed\n";
    err << "sdoh-bridge: revoke stopped: the ledger could not be written (" << ledger_error
        << ")\n";
    return 1;
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace sdoh::writeback
