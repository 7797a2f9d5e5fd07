#include "plugin/service/prefetch_fetcher.h"

#include <cctype>
#include <set>

#include "fhir/client/auth.h"
#include "fhir/client/fhir_client.h"
#include "fhir/json.h"

namespace sdoh::service {

namespace {

using fhir::client::FhirClient;
using fhir::client::Params;

std::string Trimmed(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

std::string Describe(const fhir::client::ClientError& e) {
  std::string out = e.ToString();
  return out;
}

// Every page of `type?params`, the entries' resources copied into one searchset Bundle.
fhir::Result<std::unique_ptr<rapidjson::Document>> SearchAll(FhirClient& client,
                                                             const std::string& type,
                                                             const Params& params) {
  auto bundle = std::make_unique<rapidjson::Document>();
  bundle->SetObject();
  auto& a = bundle->GetAllocator();
  bundle->AddMember("resourceType", "Bundle", a);
  bundle->AddMember("type", "searchset", a);
  rapidjson::Value entries(rapidjson::kArrayType);
  auto pager = client.Pages(type, params);
  while (true) {
    auto more = pager.Next();
    if (!more.ok()) {
      return fhir::Status::Unavailable("fhirServer search " + type + ": " + Describe(more.error()));
    }
    if (!more.value()) break;
    const rapidjson::Value* page_entries = fhir::json::ArrayMember(pager.page(), "entry");
    if (page_entries == nullptr) continue;
    for (const auto& e : page_entries->GetArray()) {
      const rapidjson::Value* r = e.IsObject() ? fhir::json::Member(e, "resource") : nullptr;
      if (r == nullptr || !r->IsObject()) continue;
      rapidjson::Value entry(rapidjson::kObjectType);
      entry.AddMember("resource", rapidjson::Value(*r, a), a);
      entries.PushBack(entry, a);
    }
  }
  bundle->AddMember("entry", entries, a);
  return bundle;
}

// FHIR id: [A-Za-z0-9\-\.]{1,64} (never a path, so it cannot leave Observation/).
bool ValidId(const std::string& id) {
  if (id.empty() || id.size() > 64 || id == "." || id == "..") return false;
  for (char c : id) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') return false;
  }
  return true;
}

template <typename Fn>
void ForEachResource(const rapidjson::Value& bundle, Fn fn) {
  const rapidjson::Value* entries = fhir::json::ArrayMember(bundle, "entry");
  if (entries == nullptr) return;
  for (const auto& e : entries->GetArray()) {
    const rapidjson::Value* r = e.IsObject() ? fhir::json::Member(e, "resource") : nullptr;
    if (r != nullptr && r->IsObject()) fn(*r);
  }
}

}  // namespace

PrefetchFetcher::PrefetchFetcher(PrefetchFetcherOptions options, const Catalog* catalog)
    : options_(std::move(options)), catalog_(catalog) {
  for (auto& s : options_.allowed_servers) s = Trimmed(s);
}

bool PrefetchFetcher::Allowed(const std::string& fhir_server) const {
  std::string s = Trimmed(fhir_server);
  for (const auto& a : options_.allowed_servers) {
    if (a == s) return true;
  }
  return false;
}

fhir::Result<std::shared_ptr<fhir::client::Client>> PrefetchFetcher::ClientFor(
    const std::string& base) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = clients_.find(base);
  if (it != clients_.end()) return it->second;
  fhir::client::ClientConfig cc = options_.client;
  cc.base_url = base;
  cc.auth = fhir::client::AuthConfig{};  // the hook call's own token is used per call
  auto built = fhir::client::BuildClient(cc);
  if (!built.ok()) return fhir::Status::InvalidArgument("fhirServer: " + built.error().message);
  auto client = std::make_shared<fhir::client::Client>(std::move(built.value()));
  clients_[base] = client;
  return client;
}

fhir::Status PrefetchFetcher::Fetch(HookCall* call) {
  const std::string base = Trimmed(call->fhir_server);
  if (!Allowed(base)) {
    return fhir::Status::FailedPrecondition("fhirServer is not in the service's allow-list");
  }
  auto shared = ClientFor(base);
  if (!shared.ok()) return shared.status();
  std::shared_ptr<fhir::client::AuthProvider> auth;
  if (call->access_token.empty()) {
    auth = std::make_shared<fhir::client::NoAuth>();
  } else {
    auth = std::make_shared<fhir::client::BearerAuth>(call->access_token);
  }
  fhir::client::FhirClientOptions fo;
  fo.base_url = base;
  fo.max_pages = options_.client.max_pages;
  FhirClient client(fo, (*shared)->transport, auth);
  const std::string& id = call->patient_id;
  const std::string subject = "Patient/" + id;
  const std::string count = std::to_string(options_.client.page_size);

  auto keep = [&](std::unique_ptr<rapidjson::Document> doc) {
    call->fetched.push_back(std::move(doc));
    return call->fetched.back().get();
  };
  if (!call->patient) {
    auto r = client.Read("Patient", id);
    if (!r.ok())
      return fhir::Status::Unavailable("fhirServer read Patient: " + Describe(r.error()));
    if (!r->body || fhir::json::StrMember(*r->body, "id") != id) {
      return fhir::Status::Unavailable("fhirServer read Patient: not the patient asked for");
    }
    auto doc = std::make_unique<rapidjson::Document>();
    doc->CopyFrom(*r->body, doc->GetAllocator());
    call->patient = keep(std::move(doc));
  }
  if (!call->qr) {
    auto b = SearchAll(client, "QuestionnaireResponse", {{"subject", subject}, {"_count", count}});
    if (!b.ok()) return b.status();
    call->qr = keep(std::move(*b));
  }
  if (!call->obs) {
    // Every Observation of the patient, as `run` reads them: panels, their members at any
    // depth, and whatever else (ignored by the collector, as in `run`).
    auto b = SearchAll(client, "Observation", {{"subject", subject}, {"_count", count}});
    if (!b.ok()) return b.status();
    call->obs = keep(std::move(*b));
  }
  if (!call->open) {
    auto b =
        SearchAll(client, "ServiceRequest",
                  {{"subject", subject}, {"status", "draft,active,on-hold"}, {"_count", count}});
    if (!b.ok()) return b.status();
    call->open = keep(std::move(*b));
  }
  // Members a panel or group names but the prefetch lacks (issue 14 item 6: an EHR that
  // prefetched with the one-level `_include=Observation:has-member` sends a PRAPARE panel and
  // its groups without the items). Read by id, level by level, at most kMaxMemberReads.
  constexpr size_t kMaxMemberReads = 500;
  size_t member_reads = 0;
  for (std::vector<std::string> missing = call->MissingMembers(); !missing.empty();
       missing = call->MissingMembers()) {
    for (const std::string& ref : missing) {
      const std::string mid = ref.substr(ref.find('/') + 1);
      if (!ValidId(mid)) {
        return fhir::Status::Unavailable(
            "fhirServer read Observation: a hasMember reference "
            "is not a valid id");
      }
      if (++member_reads > kMaxMemberReads) {
        return fhir::Status::Unavailable("fhirServer read Observation: more than " +
                                         std::to_string(kMaxMemberReads) + " missing members");
      }
      auto r = client.Read("Observation", mid);
      if (!r.ok() || !r->body || fhir::json::StrMember(*r->body, "id") != mid) {
        // Gone or not readable: the screening cannot be evaluated whole.
        return fhir::Status::Unavailable(
            "fhirServer read Observation (a hasMember of the prefetch): " +
            (r.ok() ? std::string("not the resource asked for") : Describe(r.error())));
      }
      auto doc = std::make_unique<rapidjson::Document>();
      doc->CopyFrom(*r->body, doc->GetAllocator());
      call->members.push_back(keep(std::move(doc)));
    }
  }
  // Questionnaires of mapped forms that neither the call nor the catalog carries (their items'
  // codes say which LOINC question a linkId is; README "Reading answers" rule a).
  std::set<std::string> present, wanted;
  ForEachResource(*call->qr, [&](const rapidjson::Value& r) {
    std::string type(fhir::json::StrMember(r, "resourceType"));
    if (type == "Questionnaire") {
      present.insert(std::string(fhir::json::StrMember(r, "url")));
    } else if (type == "QuestionnaireResponse") {
      std::string canonical(fhir::json::StrMember(r, "questionnaire"));
      if (canonical.empty()) return;
      std::string url = canonical.substr(0, canonical.find('|'));
      if (catalog_->FindForm(url) != nullptr && catalog_->FindQuestionnaire(canonical) == nullptr) {
        wanted.insert(url);
      }
    }
  });
  for (const std::string& url : wanted) {
    if (present.count(url)) continue;
    auto b = SearchAll(client, "Questionnaire", {{"url", url}, {"_count", count}});
    if (!b.ok()) return b.status();
    const rapidjson::Value* bundle = keep(std::move(*b));
    ForEachResource(*bundle,
                    [&](const rapidjson::Value& q) { call->questionnaires.push_back(&q); });
  }
  return fhir::Status::Ok();
}

}  // namespace sdoh::service
