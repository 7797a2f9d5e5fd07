#include "fhir/client/rest_store.h"

#include <algorithm>
#include <map>
#include <set>

#include "fhir/client/page_prefetcher.h"
#include "fhir/json.h"

namespace fhir::client {

namespace {

bool IsFhirId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

// The id of an Observation reference ("Observation/<id>", a full URL ending so, or with
// "/_history/<v>"); "" when it is not one or the id is outside the FHIR id grammar.
std::string_view ObservationIdOf(std::string_view ref) {
  if (size_t h = ref.find("/_history/"); h != std::string_view::npos) ref = ref.substr(0, h);
  size_t at = ref.rfind("Observation/");
  if (at == std::string_view::npos || (at > 0 && ref[at - 1] != '/')) return {};
  std::string_view id = ref.substr(at + 12);
  return IsFhirId(id) ? id : std::string_view();
}

}  // namespace

RestStore::RestStore(FhirClient* client, RestStoreOptions options)
    : client_(client), options_(std::move(options)) {}

std::string RestStore::Describe() const {
  std::string d = "FHIR server " + client_->base_url() + " (auth " + client_->auth().Describe() +
                  ", _count=" + std::to_string(options_.page_size);
  if (!options_.since.empty()) {
    d += ", _lastUpdated=ge" + options_.since;
    if (options_.refetch_changed_patients) {
      d += ", " + std::to_string(changed_patients_) + " changed patients read in full";
    }
  }
  return d + ")";
}

std::string RestStore::PatientOf(std::string_view type, const rapidjson::Value& resource) {
  if (type == "Patient") {
    std::string_view id = json::StrMember(resource, "id");
    return IsFhirId(id) ? std::string(id) : std::string();
  }
  const rapidjson::Value* subject = json::Member(resource, "subject");
  if (subject == nullptr) return "";
  std::string_view ref = json::StrMember(*subject, "reference");
  if (size_t h = ref.find("/_history/"); h != std::string_view::npos) ref = ref.substr(0, h);
  size_t p = ref.rfind("Patient/");
  if (p == std::string_view::npos || (p > 0 && ref[p - 1] != '/')) return "";
  std::string_view id = ref.substr(p + 8);
  return IsFhirId(id) ? std::string(id) : std::string();
}

template <typename OnResource>
Status RestStore::ReadSearch(const std::string& type, Params params, ResourceVisitor& visitor,
                             OnResource&& on_resource) {
  params.emplace_back("_count", std::to_string(options_.page_size));
  PagePrefetcher pager(client_->Pages(type, params), options_.pages_ahead);
  for (;;) {
    ClientResult<bool> more = pager.Next();
    if (!more.ok()) return more.error().ToStatus();
    if (!more.value()) break;
    const rapidjson::Document& page = pager.page();
    const Response& response = pager.response();
    stats_.bytes += response.body_bytes;
    if (first_page_server_time_.empty()) {
      if (const rapidjson::Value* meta = json::Member(page, "meta")) {
        first_page_server_time_ = std::string(json::StrMember(*meta, "lastUpdated"));
      }
      if (first_page_server_time_.empty()) first_page_server_time_ = response.date;
    }
    const rapidjson::Value* entries = json::ArrayMember(page, "entry");
    if (entries == nullptr) continue;
    uint64_t index = 0;
    for (const rapidjson::Value& entry : entries->GetArray()) {
      ++index;
      SourceLocation where{response.url, index};
      if (const rapidjson::Value* search = json::Member(entry, "search")) {
        if (json::StrMember(*search, "mode") == "outcome") continue;
      }
      const rapidjson::Value* resource = json::Member(entry, "resource");
      if (resource == nullptr || !resource->IsObject()) {
        visitor.OnUnreadable(
            type, where, "missing-resource",
            response.url + " entry " + std::to_string(index) + ": no resource object");
        continue;
      }
      on_resource(*resource, where);
    }
  }
  return Status::Ok();
}

bool RestStore::WithoutSince(const std::string& type) const {
  return std::find(options_.types_without_since.begin(), options_.types_without_since.end(),
                   type) != options_.types_without_since.end();
}

void RestStore::PassOn(const std::string& type, const rapidjson::Value& resource,
                       const SourceLocation& where, ResourceVisitor& visitor) {
  ++stats_.resources;
  visitor.OnResource(type, resource, where);
}

Status RestStore::ReadEachType(const std::vector<std::string>& types, ResourceVisitor& visitor) {
  for (const std::string& type : types) {
    Params params;
    if (!WithoutSince(type) && !options_.since.empty()) {
      params.emplace_back("_lastUpdated", "ge" + options_.since);
    }
    auto forward = [&](const rapidjson::Value& r, const SourceLocation& where) {
      PassOn(type, r, where, visitor);
    };
    if (Status s = ReadSearch(type, std::move(params), visitor, forward); !s.ok()) return s;
  }
  return Status::Ok();
}

struct RestStore::Changes {
  std::set<std::string> patients;
  std::map<std::string, std::set<std::string>> ids;  // type -> ids
};

Status RestStore::ReadChanges(const std::vector<std::string>& types, ResourceVisitor& visitor,
                              Changes* changes) {
  for (const std::string& type : types) {
    if (WithoutSince(type)) continue;
    auto collect = [&](const rapidjson::Value& r, const SourceLocation& where) {
      std::string pid = PatientOf(type, r);
      std::string_view id = json::StrMember(r, "id");
      if (pid.empty() || !IsFhirId(id)) {
        PassOn(type, r, where, visitor);  // counted (skipped or ignored) as usual
        return;
      }
      changes->patients.insert(std::move(pid));
      changes->ids[type].insert(std::string(id));
    };
    if (Status s = ReadSearch(type, {{"_lastUpdated", "ge" + options_.since}}, visitor, collect);
        !s.ok()) {
      return s;
    }
  }
  return Status::Ok();
}

// Phase 2: each changed patient in full, type by type in the caller's order. `seen_` keeps
// every resource to the visitor once; `members_` the hasMember targets of what was passed on.
class RestStore::PatientRefetch {
 public:
  // REQUIRES: store, visitor and changes outlive it.
  PatientRefetch(RestStore* store, ResourceVisitor& visitor, Changes& changes)
      : store_(store),
        visitor_(visitor),
        changes_(changes),
        chunk_(static_cast<size_t>(std::max(1, store->options_.patients_per_search))),
        patients_(changes.patients.begin(), changes.patients.end()) {}

  Status ReadType(const std::string& type) {
    if (store_->WithoutSince(type)) {
      auto forward = [&](const rapidjson::Value& r, const SourceLocation& where) {
        store_->PassOn(type, r, where, visitor_);
      };
      return store_->ReadSearch(type, {}, visitor_, forward);
    }
    Status s = type == "Patient" ? SearchInChunks(type, "_id", patients_, Same)
                                 : SearchInChunks(type, "subject", patients_, PatientReference);
    if (!s.ok()) return s;
    // A changed resource the subject search did not return (its subject is written as an
    // absolute URL the server does not match): by id.
    std::vector<std::string> missing;
    for (const std::string& id : changes_.ids[type]) {
      if (!seen_.count(type + "/" + id)) missing.push_back(id);
    }
    if (Status s2 = SearchInChunks(type, "_id", missing, Same); !s2.ok()) return s2;
    if (type != "Observation") return Status::Ok();
    return ReadPanels(type);
  }

 private:
  static std::string Same(const std::string& v) { return v; }
  static std::string PatientReference(const std::string& v) { return "Patient/" + v; }
  static std::string ObservationReference(const std::string& v) { return "Observation/" + v; }

  // Panels up from every changed Observation (Observation?has-member=), then members down
  // from every panel, until nothing new turns up (bounded: panels nest a few levels).
  Status ReadPanels(const std::string& type) {
    std::vector<std::string> up(changes_.ids[type].begin(), changes_.ids[type].end());
    for (int depth = 0; depth < 8 && !up.empty(); ++depth) {
      fresh_.clear();
      if (Status s = SearchInChunks(type, "has-member", up, ObservationReference); !s.ok()) {
        return s;
      }
      up = std::move(fresh_);  // new panels: their panels too
      fresh_.clear();
    }
    std::set<std::string> asked;
    for (int depth = 0; depth < 8; ++depth) {
      std::vector<std::string> down;
      for (const std::string& m : members_) {
        if (!seen_.count("Observation/" + m) && asked.insert(m).second) down.push_back(m);
      }
      if (down.empty()) break;
      if (Status s = SearchInChunks(type, "_id", down, Same); !s.ok()) return s;
    }
    return Status::Ok();
  }

  // One search per `chunk_` values of `values` (comma-joined, each through `format`).
  template <typename Format>
  Status SearchInChunks(const std::string& type, const std::string& param,
                        const std::vector<std::string>& values, Format format) {
    auto pass_on = [&](const rapidjson::Value& r, const SourceLocation& where) {
      Found(type, r, where);
    };
    for (size_t i = 0; i < values.size(); i += chunk_) {
      std::string value;
      for (size_t k = i; k < values.size() && k < i + chunk_; ++k) {
        if (!value.empty()) value += ',';
        value += format(values[k]);
      }
      if (Status s = store_->ReadSearch(type, {{param, value}}, visitor_, pass_on); !s.ok()) {
        return s;
      }
    }
    return Status::Ok();
  }

  // A resource of a phase-2 search: to the visitor unless seen; an Observation's id goes to
  // `fresh_` and its hasMember targets to `members_`.
  void Found(const std::string& type, const rapidjson::Value& r, const SourceLocation& where) {
    std::string key = type + "/" + std::string(json::StrMember(r, "id"));
    if (!seen_.insert(key).second) return;
    if (type == "Observation") {
      fresh_.emplace_back(json::StrMember(r, "id"));
      if (const rapidjson::Value* hm = json::ArrayMember(r, "hasMember")) {
        for (const rapidjson::Value& m : hm->GetArray()) {
          std::string_view mid = ObservationIdOf(json::StrMember(m, "reference"));
          if (!mid.empty()) members_.insert(std::string(mid));
        }
      }
    }
    store_->PassOn(type, r, where, visitor_);
  }

  RestStore* store_;
  ResourceVisitor& visitor_;
  Changes& changes_;
  const size_t chunk_;
  const std::vector<std::string> patients_;  // the changed patients' ids
  std::set<std::string> seen_;
  std::set<std::string> members_;
  std::vector<std::string> fresh_;  // ids of Observations passed on by the latest searches
};

Status RestStore::ReadAll(const std::vector<std::string>& types, ResourceVisitor& visitor) {
  if (!options_.refetch_changed_patients || options_.since.empty()) {
    return ReadEachType(types, visitor);
  }
  Changes changes;
  if (Status s = ReadChanges(types, visitor, &changes); !s.ok()) return s;
  changed_patients_ = changes.patients.size();
  PatientRefetch refetch(this, visitor, changes);
  for (const std::string& type : types) {
    if (Status s = refetch.ReadType(type); !s.ok()) return s;
  }
  return Status::Ok();
}

Status RestStore::ReadPatients(const std::set<std::string>& patients,
                               const std::map<std::string, std::set<std::string>>& ids,
                               const std::vector<std::string>& types, ResourceVisitor& visitor) {
  Changes changes{patients, ids};
  changed_patients_ = changes.patients.size();
  PatientRefetch refetch(this, visitor, changes);
  for (const std::string& type : types) {
    if (Status s = refetch.ReadType(type); !s.ok()) return s;
  }
  return Status::Ok();
}

}  // namespace fhir::client
