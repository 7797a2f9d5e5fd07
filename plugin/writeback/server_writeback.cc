#include "plugin/writeback/server_writeback.h"

#include <algorithm>
#include <filesystem>
#include <optional>

#include "fhir/json.h"
#include "fhir/ndjson_parallel.h"
#include "plugin/writeback/failpoint.h"
#include "plugin/writeback/server_writeback_impl.h"

namespace sdoh::writeback {

namespace fs = std::filesystem;

std::string LedgerPath(const Config& c) {
  return c.writeback.ledger.empty() ? (fs::path(c.out) / "ledger.sqlite").string()
                                    : c.writeback.ledger;
}
std::string AuditPath(const Config& c) {
  return c.writeback.audit_log.empty() ? (fs::path(c.out) / "audit.jsonl").string()
                                       : c.writeback.audit_log;
}

namespace internal {

std::string IssueCodes(const std::vector<fhir::client::OutcomeIssue>& issues) {
  std::string s;
  for (const auto& i : issues) s += (s.empty() ? "" : ",") + i.severity + "/" + i.code;
  return s;
}

std::pair<std::string, std::string> IdVersion(const std::string& location) {
  std::string loc = location;
  std::string version;
  if (auto h = loc.find("/_history/"); h != std::string::npos) {
    version = loc.substr(h + 10);
    loc.resize(h);
  }
  auto slash = loc.rfind('/');
  return {slash == std::string::npos ? loc : loc.substr(slash + 1), version};
}

fhir::Status ServerWriteback::Begin(std::string* since) {
  if (fhir::Status s = RequireTaskRequesters(); !s.ok()) return s;
  if (!ctx_.dry_run) FollowWritebackPath();
  holding_ = !ctx_.dry_run && !ctx_.allow_large;
  if (!ctx_.dry_run) {
    if (fhir::Status s = OpenLedger(); !s.ok()) return s;
    if (fhir::Status s = Reconcile(); !s.ok()) return s;
  }
  ChooseSince(since);
  incremental_ = !since->empty();
  return fhir::Status::Ok();
}

// SDOHCC Task for referral management: requester 1..1. Nothing is written without one.
fhir::Status ServerWriteback::RequireTaskRequesters() const {
  for (const auto& [name, route] : cfg_.routes) {
    for (const std::string& type : route.resources) {
      if (type == "Task" && route.requester.empty()) {
        return fhir::Status::InvalidArgument(
            "referrals.routes." + name +
            ".requester: the route writes a Task, and an SDOHCC Task needs a requester "
            "(Task.requester 1..1); set it in the config");
      }
    }
  }
  return fhir::Status::Ok();
}

// Follow the writeback path `check` reports; none: the pass becomes a dry run.
void ServerWriteback::FollowWritebackPath() {
  auto cs = ctx_.client->Capabilities();
  if (cs.ok() && cs->body) {
    path_ = ComputeWritebackPath(*cs->body, ctx_.client->auth().GrantedScope());
    if (!path_.all()) path_note_ = "server allows " + path_.Describe();
  } else {
    path_note_ = "CapabilityStatement not readable (" +
                 (cs.ok() ? std::string("no body") : cs.error().ToString()) +
                 "): writing as configured";
  }
  if (path_.none()) {
    ctx_.dry_run = true;
    forced_dry_run_ = true;
  }
}

// Opens the ledger and the audit log, and binds the ledger to this server.
fhir::Status ServerWriteback::OpenLedger() {
  if (fhir::Status s = ledger_.Open(LedgerPath(cfg_), cfg_.writeback.lock_wait_seconds); !s.ok()) {
    return s;
  }
  if (fhir::Status s =
          audit_.Open(AuditPath(cfg_), cfg_.writeback.audit_retention_days, ctx_.now, ctx_.run_id);
      !s.ok()) {
    return s;
  }
  // The ledger belongs to one server (issue 13): its server ids, states and cursors mean
  // nothing on another.
  std::string previous;
  if (fhir::Status s = ledger_.Bind(cfg_.source, system_, ctx_.rebind_ledger, &previous); !s.ok()) {
    return s;
  }
  if (!previous.empty()) {
    audit_.Write({"rebind", "ledger", "", "", "", "", "rebind-ledger", 0, 0, "", "", ""});
    path_note_ += std::string(path_note_.empty() ? "" : "; ") + "ledger rebound from " + previous +
                  " (--rebind-ledger)";
  }
  return fhir::Status::Ok();
}

// A resource sent but never confirmed is looked up by identifier.
fhir::Status ServerWriteback::Reconcile() {
  for (LedgerRow row : ledger_.InState("sent")) {
    auto found = SearchAll(row.type, {{"identifier", system_ + "|" + row.identifier}});
    if (!found.ok()) {
      return fhir::Status::Unavailable("reconciling the ledger with the server failed: " +
                                       found.error().ToString());
    }
    const ServerResource* hit = nullptr;
    for (const ServerResource& r : found.value()) {
      if (r.status != "entered-in-error" && (hit == nullptr || r.last_updated < hit->last_updated))
        hit = &r;
    }
    AuditEvent ev{"reconcile", hit ? "confirmed" : "resend",
                  row.type,    row.identifier,
                  row.patient, row.need,
                  "",          0,
                  0,           "",
                  "",          ""};
    if (hit != nullptr) {
      row.state = "confirmed";
      row.server_id = hit->id;
      row.version = hit->version;
      ev.server_id = hit->Reference();
      ev.version = hit->version;
    } else {
      row.state = "planned";
    }
    if (fhir::Status s = ledger_.Upsert(row); !s.ok()) return s;
    audit_.Write(ev);
    ++counts_[hit ? "reconciled: confirmed" : "reconciled: to resend"];
    Failpoint("during-reconcile");
  }
  return fhir::Status::Ok();
}

// --since, else (an incremental pass) the oldest of the synced types' cursors less the overlap.
void ServerWriteback::ChooseSince(std::string* since) {
  if (!ctx_.since.empty()) {
    *since = ctx_.since;
  } else if (!ctx_.full && !ctx_.dry_run) {
    // One cursor per synced type; the pass starts from the oldest, and a type that has none
    // yet (never fully synced) makes it a full pass.
    std::optional<fhir::InstantMicros> oldest;
    bool all = true;
    for (const char* type : kSyncTypes) {
      auto t = fhir::ParseFhirDateTime(ledger_.Cursor(type), fhir::TimeZone::Utc());
      if (!t) {
        all = false;
        break;
      }
      if (!oldest || *t < *oldest) oldest = *t;
    }
    if (all && oldest) {
      *since = fhir::FormatInstantUtc(
          *oldest -
          static_cast<fhir::InstantMicros>(cfg_.writeback.sync_overlap_seconds) * 1000000);
    }
  }
}

ServerWriteback::ServerWriteback(const WritebackContext& ctx)
    : ctx_(ctx), cfg_(*ctx.config), system_(cfg_.identifier_system) {
  // At most kMaxLookupThreads look-ups at once whatever the cores: the EHR, not this machine,
  // bounds how many requests it takes side by side (field notes: 429s).
  constexpr size_t kMaxLookupThreads = 4;
  const size_t threads = cfg_.threads > 0 ? cfg_.threads : fhir::AvailableCores();
  if (threads > 1) {
    const size_t n = std::min(threads, kMaxLookupThreads);
    max_ahead_ = 2 * n;
    lookups_ = std::make_unique<LookupPool>(n);
  }
}

ClientResult<std::vector<ServerResource>> ServerWriteback::SearchAll(const std::string& type,
                                                                     fhir::client::Params params) {
  params.emplace_back("_count", "100");
  auto pager = ctx_.client->Pages(type, std::move(params));
  std::vector<ServerResource> out;
  while (true) {
    auto more = pager.Next();
    if (!more.ok()) return more.error();
    if (!more.value()) break;
    if (const rapidjson::Value* entries = fhir::json::ArrayMember(pager.page(), "entry")) {
      for (const auto& e : entries->GetArray()) {
        const rapidjson::Value* r = fhir::json::Member(e, "resource");
        if (r != nullptr && fhir::json::StrMember(*r, "resourceType") == type) {
          out.push_back(ParseServerResource(*r, system_));
        }
      }
    }
  }
  return out;
}

ServerWriteback::Lookups ServerWriteback::ReadView(const std::string& patient) {
  Lookups lookups;
  for (const char* type : {"ServiceRequest", "Task", "Flag"}) {
    lookups.push_back(SearchAll(type, {{"subject", "Patient/" + patient}}));
    if (!lookups.back().ok()) break;
  }
  return lookups;
}

bool ServerWriteback::TakeView(const std::string& patient, Lookups lookups, View* v) {
  struct Q {
    const char* type;
    std::vector<ServerResource>* into;
  };
  const Q qs[] = {{"ServiceRequest", &v->srs}, {"Task", &v->tasks}, {"Flag", &v->flags}};
  for (size_t i = 0; i < lookups.size(); ++i) {
    auto& r = lookups[i];
    if (!r.ok()) {
      Error("Patient/" + patient + ": reading " + qs[i].type +
            " failed: " + std::string(fhir::client::KindName(r.error().kind)) + " HTTP " +
            std::to_string(r.error().http_status));
      audit_.Write({"error", "read", qs[i].type, "", patient, "", "server-read-failed",
                    r.error().http_status, r.error().attempts, "", "",
                    IssueCodes(r.error().issues)});
      return false;
    }
    *qs[i].into = std::move(r.value());
  }
  return true;
}

}  // namespace internal

fhir::Result<std::unique_ptr<Writeback>> MakeServerWriteback(const WritebackContext& ctx) {
  if (ctx.client == nullptr || ctx.config == nullptr) {
    return fhir::Status::InvalidArgument("writeback needs a FHIR client and a config");
  }
  return std::unique_ptr<Writeback>(new internal::ServerWriteback(ctx));
}

}  // namespace sdoh::writeback
