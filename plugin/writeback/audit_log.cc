#include "plugin/writeback/audit_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace sdoh::writeback {

namespace {

fhir::InstantMicros WallNow() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Issue 13: the audit log (and its rewrite) is never reached through a symlink.
fhir::Status RefuseSymlink(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
    return fhir::Status::IoError("audit log " + path +
                                 " is a symlink; sdoh-bridge does not follow symlinks there — "
                                 "replace it with a regular file or remove it");
  }
  return fhir::Status::Ok();
}

}  // namespace

AuditLog::~AuditLog() {
  if (f_ != nullptr) std::fclose(f_);
}

fhir::Status AuditLog::Open(const std::string& path, int retention_days, fhir::InstantMicros now,
                            std::string run_id) {
  run_id_ = std::move(run_id);
  for (const std::string& p : {path, path + ".tmp"}) {
    if (fhir::Status s = RefuseSymlink(p); !s.ok()) return s;
  }
  // Retention: keep lines newer than the cutoff (a line that cannot be read is dropped too).
  const fhir::InstantMicros cutoff =
      now - static_cast<fhir::InstantMicros>(retention_days) * 86400LL * 1000000LL;
  std::ifstream in(path);
  if (in) {
    std::string kept, line;
    bool dropped = false;
    while (std::getline(in, line)) {
      rapidjson::Document d;
      d.Parse(line.c_str());
      std::optional<fhir::InstantMicros> ts;
      if (!d.HasParseError() && d.IsObject() && d.HasMember("ts") && d["ts"].IsString()) {
        ts = fhir::ParseFhirDateTime(d["ts"].GetString(), fhir::TimeZone::Utc());
      }
      if (ts && *ts >= cutoff) {
        kept += line + "\n";
      } else {
        dropped = true;
      }
    }
    in.close();
    if (dropped) {
      std::string tmp = path + ".tmp";
      int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
      if (fd < 0) return fhir::Status::IoError("cannot write audit log " + tmp);
      bool ok = ::write(fd, kept.data(), kept.size()) == static_cast<ssize_t>(kept.size());
      ok = ::fsync(fd) == 0 && ok;
      ::close(fd);
      if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
        return fhir::Status::IoError("cannot rewrite audit log " + path);
      }
    }
  }
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return fhir::Status::IoError("cannot open audit log " + path);
  ::fchmod(fd, 0600);  // on the fd: never through a path
  f_ = ::fdopen(fd, "a");
  if (f_ == nullptr) {
    ::close(fd);
    return fhir::Status::IoError("cannot open audit log " + path);
  }
  return fhir::Status::Ok();
}

void AuditLog::Write(const AuditEvent& e) {
  if (f_ == nullptr) return;
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  auto str = [&](const char* key, const std::string& v) {
    if (v.empty()) return;
    w.Key(key);
    w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
  };
  w.StartObject();
  str("ts", fhir::FormatInstantUtc(WallNow()));
  str("run", run_id_);
  str("event", e.event);
  str("action", e.action);
  str("type", e.type);
  str("identifier", e.identifier);
  if (!e.patient.empty()) str("patient", "Patient/" + e.patient);
  str("need", e.need);
  str("reason", e.reason);
  if (e.http_status != 0) {
    w.Key("http_status");
    w.Int(e.http_status);
  }
  if (e.attempts != 0) {
    w.Key("attempts");
    w.Int(e.attempts);
  }
  str("server_id", e.server_id);
  str("version", e.version);
  str("issues", e.issue_codes);
  w.EndObject();
  std::fputs(sb.GetString(), f_);
  std::fputc('\n', f_);
  std::fflush(f_);
}

}  // namespace sdoh::writeback
