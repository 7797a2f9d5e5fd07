#include "fhir/client/bulk_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "fhir/json.h"

namespace fhir::client {
namespace {

namespace fs = std::filesystem;

constexpr const char* kStateFile = "export.state";

Status WriteFile0600(const std::string& path, std::string_view data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Status::IoError(path + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return Status::IoError(path + ": " + std::strerror(err));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    return Status::IoError(path + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

// Writes `data` to `path` so that `path` exists only complete (".part" then rename).
Status WriteWhole(const std::string& path, std::string_view data) {
  const std::string part = path + ".part";
  if (Status s = WriteFile0600(part, data); !s.ok()) return s;
  if (std::rename(part.c_str(), path.c_str()) != 0) {
    return Status::IoError(path + ": rename: " + std::strerror(errno));
  }
  return Status::Ok();
}

// Collects the patients a `_since` export touched; what cannot be tied to a patient goes on.
class ChangeCollector : public ResourceVisitor {
 public:
  explicit ChangeCollector(ResourceVisitor& next) : next_(next) {}
  void OnResource(std::string_view type, const rapidjson::Value& r,
                  const SourceLocation& where) override {
    std::string pid = RestStore::PatientOf(type, r);
    std::string_view id = json::StrMember(r, "id");
    if (pid.empty() || id.empty()) {
      next_.OnResource(type, r, where);
      return;
    }
    patients.insert(std::move(pid));
    ids[std::string(type)].insert(std::string(id));
  }
  void OnUnreadable(std::string_view type, const SourceLocation& where, std::string_view reason,
                    const std::string& detail) override {
    next_.OnUnreadable(type, where, reason, detail);
  }
  std::set<std::string> patients;
  std::map<std::string, std::set<std::string>> ids;

 private:
  ResourceVisitor& next_;
};

}  // namespace

BulkStore::BulkStore(FhirClient* client, BulkStoreOptions options)
    : client_(client), options_(std::move(options)), exporter_(client, options_.export_options) {}

std::string BulkStore::Describe() const {
  const BulkExportOptions& o = options_.export_options;
  std::string level = o.level == "group" ? "Group/" + o.group_id : o.level;
  return "bulk export (" + level + ") " + client_->base_url();
}

void BulkStore::ClearSpool() {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(options_.spool_dir, ec)) fs::remove(e.path(), ec);
}

Status BulkStore::StartOrResume() {
  std::error_code ec;
  fs::create_directories(options_.spool_dir, ec);
  if (ec) return Status::IoError(options_.spool_dir + ": " + ec.message());
  ::chmod(options_.spool_dir.c_str(), 0700);
  const std::string state_path = (fs::path(options_.spool_dir) / kStateFile).string();
  const std::string kickoff = exporter_.KickOffUrl(true);
  std::string saved_kickoff, saved_status;
  if (options_.resume != nullptr) {
    auto loaded = options_.resume->Load();
    if (!loaded.ok()) return loaded.status();
    resume_state_ = std::move(loaded.value());
    saved_kickoff = resume_state_.kickoff;
    saved_status = resume_state_.status_url;
  } else {
    std::ifstream in(state_path);
    std::getline(in, saved_kickoff);
    std::getline(in, saved_status);
  }
  if (!saved_status.empty() && saved_kickoff == kickoff) {
    BulkProgress progress;
    auto r = exporter_.PollOnce(saved_status, &progress);
    if (r.ok()) {
      status_url_ = saved_status;  // the same export: resume it
    } else if (r.error().kind != ClientError::Kind::kHttp) {
      return r.error().ToStatus();
    }
  } else if (!saved_status.empty()) {
    (void)exporter_.Delete(saved_status);  // another export's job: no longer wanted
  }
  if (status_url_.empty()) {
    ClearSpool();
    auto started = exporter_.KickOff();
    if (!started.ok()) return started.error().ToStatus();
    status_url_ = started.value();
    if (options_.resume != nullptr) {
      resume_state_.kickoff = kickoff;
      resume_state_.status_url = status_url_;
      resume_state_.consumed.clear();
      if (Status s = options_.resume->SaveExport(resume_state_); !s.ok()) return s;
    } else if (Status s = WriteWhole(state_path, kickoff + "\n" + status_url_ + "\n"); !s.ok()) {
      return s;
    }
  }
  auto manifest = exporter_.WaitForManifest(status_url_, [this](const BulkProgress& p) {
    if (!options_.progress) return;
    std::fprintf(stderr, "\rbulk export: %s (next poll in %lld s)\033[K",
                 p.text.empty() ? "in progress" : p.text.c_str(),
                 static_cast<long long>((p.wait.count() + 999) / 1000));
    std::fflush(stderr);
  });
  if (!manifest.ok()) return manifest.error().ToStatus();
  manifest_ = std::move(manifest.value());
  entries_.clear();
  auto add = [&](const char* kind, const std::vector<BulkFile>& files) {
    for (const BulkFile& f : files) {
      std::string path = (fs::path(options_.spool_dir) /
                          (std::string(kind) + "-" + std::to_string(entries_.size()) + ".ndjson"))
                             .string();
      entries_.push_back({kind, f, std::move(path)});
    }
  };
  add("output", manifest_.output);
  add("deleted", manifest_.deleted);
  add("error", manifest_.error);
  return Status::Ok();
}

Status BulkStore::RefreshLinks() {
  auto fresh = exporter_.WaitForManifest(status_url_);
  if (!fresh.ok()) return fresh.error().ToStatus();
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<const BulkFile*> files;
  for (const auto* list : {&fresh->output, &fresh->deleted, &fresh->error}) {
    for (const BulkFile& f : *list) files.push_back(&f);
  }
  if (files.size() != entries_.size()) {
    return Status::FailedPrecondition("bulk export " + status_url_ +
                                      ": the manifest changed while its files were downloaded");
  }
  for (size_t i = 0; i < files.size(); ++i) entries_[i].file.url = files[i]->url;
  return Status::Ok();
}

// A download's body straight into its 0600 ".part" file (started over when a retry begins
// again); closed with fsync.
class FileSink : public BodySink {
 public:
  explicit FileSink(std::string path) : path_(std::move(path)) {}
  ~FileSink() override {
    if (fd_ >= 0) ::close(fd_);
  }
  bool Begin() override {
    if (fd_ >= 0) ::close(fd_);
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    began_ = true;
    if (fd_ < 0) error_ = Status::IoError(path_ + ": " + std::strerror(errno));
    return fd_ >= 0;
  }
  bool Write(std::string_view chunk) override {
    while (!chunk.empty()) {
      ssize_t n = ::write(fd_, chunk.data(), chunk.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        error_ = Status::IoError(path_ + ": " + std::strerror(errno));
        return false;
      }
      chunk.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  Status Close() {
    if (fd_ < 0) return error_;
    const bool ok = ::fsync(fd_) == 0;
    const int err = errno;
    const bool closed = ::close(fd_) == 0;
    fd_ = -1;
    if (!ok || !closed) return Status::IoError(path_ + ": " + std::strerror(ok ? errno : err));
    return Status::Ok();
  }
  bool began() const { return began_; }
  const Status& error() const { return error_; }

 private:
  std::string path_;
  int fd_ = -1;
  bool began_ = false;
  Status error_;
};

Status BulkStore::DownloadOne(size_t index) {
  const std::string& path = entries_[index].path;
  const std::string part = path + ".part";
  for (int attempt = 1;; ++attempt) {
    std::string url;
    {
      std::lock_guard<std::mutex> lock(mu_);
      url = entries_[index].file.url;
    }
    FileSink sink(part);
    auto body = exporter_.Download(url, manifest_.requires_access_token, &sink);
    if (!sink.error().ok()) return sink.error();
    if (body.ok()) {
      // Streamed into the .part file; a transport that does not stream gave the body instead.
      if (Status s = sink.began() ? sink.Close() : WriteFile0600(part, body.value()); !s.ok()) {
        return s;
      }
      if (options_.resume != nullptr) {
        // Recorded as consumed before the rename: a spooled file is always one the ledger
        // lists (one listed but missing after a crash is fetched again).
        std::lock_guard<std::mutex> lock(mu_);
        resume_state_.consumed.push_back(fs::path(path).filename().string());
        if (Status s = options_.resume->SaveExport(resume_state_); !s.ok()) return s;
      }
      if (std::rename(part.c_str(), path.c_str()) != 0) {
        return Status::IoError(path + ": rename: " + std::strerror(errno));
      }
      return Status::Ok();
    }
    const ClientError& e = body.error();
    const bool maybe_expired =
        e.kind == ClientError::Kind::kHttp && (e.http_status == 404 || e.http_status == 410);
    const bool transient = e.kind == ClientError::Kind::kNetwork ||
                           e.kind == ClientError::Kind::kTimeout ||
                           (e.kind == ClientError::Kind::kHttp && e.http_status >= 500);
    if (attempt >= options_.file_attempts || !(maybe_expired || transient)) {
      return e.ToStatus();
    }
    if (maybe_expired) {
      // An expired link: the status URL hands out fresh ones (Bulk Data IG, "Expires").
      if (Status s = RefreshLinks(); !s.ok()) return s;
    }
  }
}

Status BulkStore::DownloadAll() {
  std::vector<size_t> todo;
  for (size_t i = 0; i < entries_.size(); ++i) {
    std::error_code ec;
    const std::string name = fs::path(entries_[i].path).filename().string();
    const bool consumed = options_.resume == nullptr ||
                          std::find(resume_state_.consumed.begin(), resume_state_.consumed.end(),
                                    name) != resume_state_.consumed.end();
    if (consumed && fs::exists(entries_[i].path, ec)) {
      ++files_resumed_;
    } else {
      todo.push_back(i);
    }
  }
  std::atomic<size_t> next{0};
  std::atomic<uint64_t> done{0};
  std::mutex status_mu;
  Status first_error;
  auto worker = [&] {
    while (true) {
      size_t k = next++;
      if (k >= todo.size()) return;
      {
        std::lock_guard<std::mutex> lock(status_mu);
        if (!first_error.ok()) return;
      }
      Status s = DownloadOne(todo[k]);
      std::lock_guard<std::mutex> lock(status_mu);
      if (!s.ok()) {
        if (first_error.ok()) first_error = s;
        return;
      }
      ++done;
      if (options_.progress) {
        std::fprintf(stderr, "\rbulk export: downloaded %llu/%zu files\033[K",
                     static_cast<unsigned long long>(done.load()), todo.size());
        std::fflush(stderr);
      }
    }
  };
  const int n =
      std::max(1, std::min<int>(options_.parallel_downloads, static_cast<int>(todo.size())));
  std::vector<std::thread> threads;
  for (int i = 1; i < n; ++i) threads.emplace_back(worker);
  worker();
  for (std::thread& t : threads) t.join();
  if (options_.progress) std::fprintf(stderr, "\n");
  files_downloaded_ = done.load();
  return first_error;
}

Status BulkStore::ReadDeletedAndErrors() {
  class Lister : public ResourceVisitor {
   public:
    explicit Lister(BulkStore* store) : store_(store) {}
    void OnResource(std::string_view type, const rapidjson::Value& r,
                    const SourceLocation&) override {
      if (type == "OperationOutcome") {
        ++store_->error_count_;
        if (store_->first_error_.empty()) {
          auto issues = ParseOutcomeIssues(r);
          if (!issues.empty()) store_->first_error_ = issues.front().diagnostics;
        }
        return;
      }
      const rapidjson::Value* entries = json::ArrayMember(r, "entry");
      if (entries == nullptr) return;
      for (const rapidjson::Value& e : entries->GetArray()) {
        auto req = e.FindMember("request");
        if (req == e.MemberEnd()) continue;
        std::string_view url = json::StrMember(req->value, "url");
        if (!url.empty()) store_->deleted_.emplace_back(url);
      }
    }
    void OnUnreadable(std::string_view, const SourceLocation&, std::string_view,
                      const std::string&) override {
      ++store_->error_count_;
    }

   private:
    BulkStore* store_;
  };
  Lister lister(this);
  StoreStats ignored;
  for (const Entry& e : entries_) {
    if (e.kind == "output") continue;
    const std::string type = e.kind == "error" ? "OperationOutcome" : "Bundle";
    if (Status s = ReadNdjsonFile(e.path, type, options_.ndjson, lister, &ignored); !s.ok()) {
      return s;
    }
  }
  return Status::Ok();
}

Status BulkStore::ReadOutput(const std::vector<std::string>& types, ResourceVisitor& visitor) {
  for (const std::string& type : types) {
    for (const Entry& e : entries_) {
      if (e.kind != "output" || e.file.type != type) continue;
      if (Status s = ReadNdjsonFile(e.path, type, options_.ndjson, visitor, &stats_); !s.ok()) {
        return s;
      }
    }
  }
  return Status::Ok();
}

std::string BulkStore::PatientOfDeleted(const std::string& reference) {
  const size_t slash = reference.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == reference.size()) return "";
  const std::string type = reference.substr(0, slash);
  const std::string id = reference.substr(slash + 1);
  if (type == "Patient") return id;
  if (type == "Questionnaire" || id.find('/') != std::string::npos) return "";
  // The manifest names only Type/id: the patient is in the resource's earlier versions (instance
  // history; a deleted resource's versions stay readable on a FHIR server that keeps history).
  auto history = client_->Get(type + "/" + PercentEncode(id) + "/_history");
  if (!history.ok() || !history->body) return "";
  const rapidjson::Value* entries = json::ArrayMember(*history->body, "entry");
  if (entries == nullptr) return "";
  for (const rapidjson::Value& e : entries->GetArray()) {
    auto r = e.FindMember("resource");
    if (r == e.MemberEnd() || !r->value.IsObject()) continue;
    if (json::StrMember(r->value, "resourceType") != type ||
        json::StrMember(r->value, "id") != id) {
      continue;
    }
    std::string pid = RestStore::PatientOf(type, r->value);
    if (!pid.empty()) return pid;
  }
  return "";
}

void BulkStore::Finish() {
  if (!status_url_.empty()) (void)exporter_.Delete(status_url_);
  if (options_.resume != nullptr) {
    // Read whole: nothing to resume (the transaction time is committed by the caller).
    resume_state_.kickoff.clear();
    resume_state_.status_url.clear();
    resume_state_.consumed.clear();
    (void)options_.resume->SaveExport(resume_state_);
  }
  std::error_code ec;
  fs::remove_all(options_.spool_dir, ec);
}

Status BulkStore::ReadAll(const std::vector<std::string>& types, ResourceVisitor& visitor) {
  if (options_.spool_dir.empty()) return Status::InvalidArgument("bulk store: no spool folder");
  if (Status s = StartOrResume(); !s.ok()) return s;
  if (Status s = DownloadAll(); !s.ok()) return s;
  if (Status s = ReadDeletedAndErrors(); !s.ok()) return s;
  const bool incremental = !options_.export_options.since.empty() && options_.completion != nullptr;
  if (!incremental) {
    if (Status s = ReadOutput(types, visitor); !s.ok()) return s;
  } else {
    // What changed tells which patients to read whole; Questionnaires come in full from the
    // completion (RestStore's types_without_since), never twice.
    std::vector<std::string> changed_types;
    for (const std::string& t : types) {
      if (t != "Questionnaire") changed_types.push_back(t);
    }
    ChangeCollector changes(visitor);
    if (Status s = ReadOutput(changed_types, changes); !s.ok()) return s;
    // A deleted resource: its patient is read in full like a changed one, so a need that rested
    // only on a deleted screening is retracted (its evidence answers 410) as a full pass would.
    for (const std::string& d : deleted_) {
      const std::string pid = PatientOfDeleted(d);
      if (!pid.empty()) {
        changes.patients.insert(pid);
        ++deleted_patients_found_;
      } else if (!d.starts_with("Questionnaire/")) {
        ++deleted_without_patient_;
      }
    }
    changed_patients_ = changes.patients.size();
    if (Status s = options_.completion->ReadPatients(changes.patients, changes.ids, types, visitor);
        !s.ok()) {
      return s;
    }
    stats_.resources += options_.completion->stats().resources;
    stats_.bytes += options_.completion->stats().bytes;
  }
  Finish();
  return Status::Ok();
}

}  // namespace fhir::client
