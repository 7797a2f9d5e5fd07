#include "fhir/client/rest_store.h"

#include "fhir/json.h"

namespace fhir::client {

RestStore::RestStore(FhirClient* client, RestStoreOptions options)
    : client_(client), options_(std::move(options)) {}

std::string RestStore::Describe() const {
  std::string d = "FHIR server " + client_->base_url() + " (auth " + client_->auth().Describe() +
                  ", _count=" + std::to_string(options_.page_size);
  if (!options_.since.empty()) d += ", _lastUpdated=ge" + options_.since;
  return d + ")";
}

Status RestStore::ReadAll(const std::vector<std::string>& types, ResourceVisitor& visitor) {
  for (const std::string& type : types) {
    Params params = {{"_count", std::to_string(options_.page_size)}};
    bool since_applies = true;
    for (const std::string& t : options_.types_without_since) {
      if (t == type) since_applies = false;
    }
    if (since_applies && !options_.since.empty()) {
      params.emplace_back("_lastUpdated", "ge" + options_.since);
    }
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
        ++stats_.resources;
        visitor.OnResource(type, *resource, where);
      }
    }
  }
  return Status::Ok();
}

}  // namespace fhir::client
