#include "fhir/client/rest_store.h"

#include <algorithm>
#include <map>
#include <set>

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
  SearchPager pager = client_->Pages(type, params);
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

Status RestStore::ReadAll(const std::vector<std::string>& types, ResourceVisitor& visitor) {
  auto without_since = [&](const std::string& type) {
    return std::find(options_.types_without_since.begin(), options_.types_without_since.end(),
                     type) != options_.types_without_since.end();
  };
  auto forward = [&](const std::string& type) {
    return [this, &visitor, &type](const rapidjson::Value& r, const SourceLocation& where) {
      ++stats_.resources;
      visitor.OnResource(type, r, where);
    };
  };
  const bool refetch = options_.refetch_changed_patients && !options_.since.empty();
  if (!refetch) {
    for (const std::string& type : types) {
      Params params;
      if (!without_since(type) && !options_.since.empty()) {
        params.emplace_back("_lastUpdated", "ge" + options_.since);
      }
      if (Status s = ReadSearch(type, std::move(params), visitor, forward(type)); !s.ok()) {
        return s;
      }
    }
    return Status::Ok();
  }

  // 1. What changed: only its patients (and its own ids) are kept.
  std::set<std::string> patients;
  std::map<std::string, std::set<std::string>> changed;  // type -> ids
  for (const std::string& type : types) {
    if (without_since(type)) continue;
    auto collect = [&](const rapidjson::Value& r, const SourceLocation& where) {
      std::string pid = PatientOf(type, r);
      std::string_view id = json::StrMember(r, "id");
      if (pid.empty() || !IsFhirId(id)) {
        ++stats_.resources;
        visitor.OnResource(type, r, where);  // counted (skipped or ignored) as usual
        return;
      }
      patients.insert(std::move(pid));
      changed[type].insert(std::string(id));
    };
    if (Status s = ReadSearch(type, {{"_lastUpdated", "ge" + options_.since}}, visitor, collect);
        !s.ok()) {
      return s;
    }
  }
  changed_patients_ = patients.size();

  // 2. Each changed patient in full, type by type in the caller's order. `seen` keeps every
  // resource to the visitor once; `members` the hasMember targets of what was passed on.
  const size_t chunk = static_cast<size_t>(std::max(1, options_.patients_per_search));
  std::set<std::string> seen;
  std::set<std::string> members;
  std::vector<std::string> fresh;  // ids of Observations passed on by the latest searches
  auto pass_on = [&](const std::string& type) {
    return [&, type](const rapidjson::Value& r, const SourceLocation& where) {
      std::string key = type + "/" + std::string(json::StrMember(r, "id"));
      if (!seen.insert(key).second) return;
      if (type == "Observation") {
        fresh.emplace_back(json::StrMember(r, "id"));
        if (const rapidjson::Value* hm = json::ArrayMember(r, "hasMember")) {
          for (const rapidjson::Value& m : hm->GetArray()) {
            std::string_view ref = json::StrMember(m, "reference");
            if (size_t h = ref.find("/_history/"); h != std::string_view::npos) {
              ref = ref.substr(0, h);
            }
            size_t at = ref.rfind("Observation/");
            if (at == std::string_view::npos || (at > 0 && ref[at - 1] != '/')) continue;
            std::string_view mid = ref.substr(at + 12);
            if (IsFhirId(mid)) members.insert(std::string(mid));
          }
        }
      }
      ++stats_.resources;
      visitor.OnResource(type, r, where);
    };
  };
  // One search per `chunk` values of `values` (comma-joined, each through `format`).
  auto search_in_chunks = [&](const std::string& type, const std::string& param,
                              const std::vector<std::string>& values, auto format) -> Status {
    for (size_t i = 0; i < values.size(); i += chunk) {
      std::string value;
      for (size_t k = i; k < values.size() && k < i + chunk; ++k) {
        if (!value.empty()) value += ',';
        value += format(values[k]);
      }
      if (Status s = ReadSearch(type, {{param, value}}, visitor, pass_on(type)); !s.ok()) return s;
    }
    return Status::Ok();
  };
  auto same = [](const std::string& v) { return v; };
  const std::vector<std::string> ids(patients.begin(), patients.end());
  for (const std::string& type : types) {
    if (without_since(type)) {
      if (Status s = ReadSearch(type, {}, visitor, forward(type)); !s.ok()) return s;
      continue;
    }
    Status s = type == "Patient" ? search_in_chunks(type, "_id", ids, same)
                                 : search_in_chunks(type, "subject", ids, [](const std::string& v) {
                                     return "Patient/" + v;
                                   });
    if (!s.ok()) return s;
    // A changed resource the subject search did not return (its subject is written as an
    // absolute URL the server does not match): by id.
    std::vector<std::string> missing;
    for (const std::string& id : changed[type]) {
      if (!seen.count(type + "/" + id)) missing.push_back(id);
    }
    if (Status s2 = search_in_chunks(type, "_id", missing, same); !s2.ok()) return s2;
    if (type != "Observation") continue;
    // Panels up from every changed Observation (Observation?has-member=), then members down
    // from every panel, until nothing new turns up (bounded: panels nest a few levels).
    std::vector<std::string> up(changed[type].begin(), changed[type].end());
    for (int depth = 0; depth < 8 && !up.empty(); ++depth) {
      fresh.clear();
      if (Status s3 = search_in_chunks(type, "has-member", up,
                                       [](const std::string& v) { return "Observation/" + v; });
          !s3.ok()) {
        return s3;
      }
      up = std::move(fresh);  // new panels: their panels too
      fresh.clear();
    }
    std::set<std::string> asked;
    for (int depth = 0; depth < 8; ++depth) {
      std::vector<std::string> down;
      for (const std::string& m : members) {
        if (!seen.count("Observation/" + m) && asked.insert(m).second) down.push_back(m);
      }
      if (down.empty()) break;
      if (Status s4 = search_in_chunks(type, "_id", down, same); !s4.ok()) return s4;
    }
  }
  return Status::Ok();
}

}  // namespace fhir::client
