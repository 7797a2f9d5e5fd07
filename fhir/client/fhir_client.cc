#include "fhir/client/fhir_client.h"

#include <cstdlib>

#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "fhir/json.h"

namespace fhir::client {
namespace {

constexpr std::string_view kFhirJson = "application/fhir+json";

// Result-shaping parameters that servers legitimately omit from `self`.
bool MayBeOmittedFromSelf(std::string_view name) {
  return name == "_format" || name == "_pretty" || name == "_summary" || name == "_elements" ||
         name == "_total" || name == "_count" || name == "_offset";
}

std::string TrimSlash(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

}  // namespace

std::string ToJson(const rapidjson::Value& value) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  value.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

std::string_view BundleLink(const rapidjson::Value& bundle, std::string_view relation) {
  const rapidjson::Value* links = json::ArrayMember(bundle, "link");
  if (links == nullptr) return {};
  for (const rapidjson::Value& l : links->GetArray()) {
    if (json::StrMember(l, "relation") == relation) return json::StrMember(l, "url");
  }
  return {};
}

std::set<std::string> SupportedInteractions(const rapidjson::Value& cs, std::string_view type) {
  std::set<std::string> out;
  const rapidjson::Value* rests = json::ArrayMember(cs, "rest");
  if (rests == nullptr) return out;
  for (const rapidjson::Value& rest : rests->GetArray()) {
    if (json::StrMember(rest, "mode") != "server") continue;
    const rapidjson::Value* resources = json::ArrayMember(rest, "resource");
    if (resources == nullptr) continue;
    for (const rapidjson::Value& r : resources->GetArray()) {
      if (json::StrMember(r, "type") != type) continue;
      if (const rapidjson::Value* inter = json::ArrayMember(r, "interaction")) {
        for (const rapidjson::Value& i : inter->GetArray()) {
          std::string_view code = json::StrMember(i, "code");
          if (!code.empty()) out.emplace(code);
        }
      }
    }
  }
  return out;
}

FhirClient::FhirClient(FhirClientOptions options, std::shared_ptr<RetryingTransport> transport,
                       std::shared_ptr<AuthProvider> auth)
    : options_(std::move(options)),
      transport_(std::move(transport)),
      auth_(auth ? std::move(auth) : std::make_shared<NoAuth>()) {
  options_.base_url = TrimSlash(options_.base_url);
}

ClientResult<Response> FhirClient::Send(HttpRequest request, RequestKind kind) {
  if (!ParseUrl(request.url)) {
    return ClientError::Make(ClientError::Kind::kInvalidArgument,
                             "not an absolute http(s) URL: " + request.url);
  }
  if (FindHeader(request.headers, "Accept").empty()) {
    request.headers.emplace_back("Accept", std::string(kFhirJson));
  }
  const bool same_origin = SameOrigin(request.url, options_.base_url);
  ClientResult<HttpResponse> sent = ClientError();
  for (int auth_try = 0;; ++auth_try) {
    HttpRequest attempt = request;
    std::string authorization;
    if (same_origin) {
      ClientResult<std::string> a = auth_->Authorization();
      if (!a.ok()) return a.error();
      authorization = a.value();
      if (!authorization.empty()) attempt.headers.emplace_back("Authorization", authorization);
    }
    sent = transport_->Execute(std::move(attempt), kind);
    // One renew-and-retry on 401: the token may have been revoked or expired early.
    if (sent.ok() && sent->status == 401 && auth_try == 0 && !authorization.empty() &&
        auth_->OnUnauthorized(authorization)) {
      continue;
    }
    break;
  }
  if (!sent.ok()) return sent.error();
  HttpResponse& http = sent.value();
  Response r;
  r.status = http.status;
  r.url = request.url;
  r.location = std::string(http.Header("location"));
  if (r.location.empty()) r.location = std::string(http.Header("content-location"));
  r.etag = std::string(http.Header("etag"));
  r.last_modified = std::string(http.Header("last-modified"));
  r.date = std::string(http.Header("date"));
  r.request_id = http.request_id;
  r.attempts = http.attempts;
  r.body_bytes = http.body.size();
  const bool ok_status = http.status >= 200 && http.status < 300;
  if (!http.body.empty()) {
    auto doc = std::make_shared<rapidjson::Document>();
    // Iterative and depth-limited (json::kNetworkMaxDepth): a deeply nested answer must not
    // overflow the stack here or in whoever walks the document later (issue 7).
    std::string parse_error;
    const bool parsed = json::ParseDocument(http.body, json::kNetworkMaxDepth, doc.get(),
                                            &parse_error) == json::ParseFailure::kNone;
    if (!parsed || !doc->IsObject()) {
      if (ok_status) {
        ClientError e =
            ClientError::Make(ClientError::Kind::kMalformedResponse,
                              request.method + " " + request.url + ": body is not a JSON object" +
                                  (parsed ? std::string() : " (" + parse_error + ")"));
        e.http_status = http.status;
        e.request_id = r.request_id;
        e.attempts = r.attempts;
        return e;
      }
    } else {
      r.body = std::move(doc);
    }
  }
  if (!ok_status) {
    ClientError e = ClientError::Make(
        ClientError::Kind::kHttp,
        request.method + " " + request.url + " answered HTTP " + std::to_string(http.status));
    e.http_status = http.status;
    e.request_id = r.request_id;
    e.attempts = r.attempts;
    if (r.body) e.issues = ParseOutcomeIssues(*r.body);
    return e;
  }
  return r;
}

ClientResult<Response> FhirClient::Get(std::string_view url, RequestKind kind) {
  HttpRequest req;
  req.url = ResolveUrl(options_.base_url, url);
  return Send(std::move(req), kind);
}

ClientResult<Response> FhirClient::Capabilities() { return Get(options_.base_url + "/metadata"); }

ClientResult<Response> FhirClient::SmartConfiguration() {
  HttpRequest req;
  req.url = options_.base_url + "/.well-known/smart-configuration";
  req.headers.emplace_back("Accept", "application/json");
  // Discovery is public: never send a credential (and never need a token to get one).
  ClientResult<HttpResponse> http = transport_->Execute(std::move(req), RequestKind::kRead);
  if (!http.ok()) return http.error();
  Response r;
  r.status = http->status;
  r.url = options_.base_url + "/.well-known/smart-configuration";
  r.request_id = http->request_id;
  r.attempts = http->attempts;
  if (http->status != 200) {
    ClientError e = ClientError::Make(ClientError::Kind::kHttp, "GET " + r.url + " answered HTTP " +
                                                                    std::to_string(http->status));
    e.http_status = http->status;
    return e;
  }
  auto doc = std::make_shared<rapidjson::Document>();
  if (json::ParseDocument(http->body, json::kNetworkMaxDepth, doc.get()) !=
          json::ParseFailure::kNone ||
      !doc->IsObject()) {
    return ClientError::Make(ClientError::Kind::kMalformedResponse,
                             "GET " + r.url + ": body is not a JSON object");
  }
  r.body = std::move(doc);
  return r;
}

ClientResult<Response> FhirClient::Read(std::string_view type, std::string_view id) {
  return Get(options_.base_url + "/" + std::string(type) + "/" + PercentEncode(id));
}

ClientResult<Response> FhirClient::VRead(std::string_view type, std::string_view id,
                                         std::string_view version) {
  return Get(options_.base_url + "/" + std::string(type) + "/" + PercentEncode(id) + "/_history/" +
             PercentEncode(version));
}

ClientResult<Response> FhirClient::CheckSelfLink(ClientResult<Response> page, const Params& sent) {
  if (!page.ok() || !options_.check_self_link) return page;
  const rapidjson::Document* body = page->body.get();
  if (body == nullptr || json::StrMember(*body, "resourceType") != "Bundle") {
    return ClientError::Make(ClientError::Kind::kMalformedResponse,
                             "search " + page->url + " did not answer a Bundle");
  }
  std::string_view self = BundleLink(*body, "self");
  if (self.empty()) return page;  // nothing to compare against
  std::optional<UrlParts> parts = ParseUrl(ResolveUrl(options_.base_url, self));
  std::set<std::string> kept;
  if (parts) {
    for (const auto& [name, value] : DecodeParams(parts->query)) kept.insert(name);
  }
  std::string dropped;
  for (const auto& [name, value] : sent) {
    if (MayBeOmittedFromSelf(name) || kept.count(name) != 0) continue;
    if (!dropped.empty()) dropped += ", ";
    dropped += name;
  }
  if (!dropped.empty()) {
    ClientError e =
        ClientError::Make(ClientError::Kind::kDroppedParameter,
                          "search " + page->url + ": the server ignored parameter(s) " + dropped +
                              " (absent from the Bundle's self link " + std::string(self) + ")");
    e.http_status = page->status;
    e.request_id = page->request_id;
    return e;
  }
  return page;
}

ClientResult<Response> FhirClient::Search(std::string_view type, const Params& params,
                                          SearchVia via) {
  HttpRequest req;
  if (options_.strict_handling) req.headers.emplace_back("Prefer", "handling=strict");
  if (via == SearchVia::kGet) {
    req.url = options_.base_url + "/" + std::string(type);
    if (!params.empty()) req.url += "?" + EncodeParams(params);
  } else {
    req.method = "POST";
    req.url = options_.base_url + "/" + std::string(type) + "/_search";
    req.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
    req.body = EncodeParams(params);
  }
  return CheckSelfLink(Send(std::move(req), RequestKind::kRead), params);
}

SearchPager FhirClient::Pages(std::string_view type, Params params, SearchVia via) {
  return SearchPager(this, std::string(type), std::move(params), via);
}

SearchPager::SearchPager(FhirClient* client, std::string type, Params params, SearchVia via)
    : client_(client), type_(std::move(type)), params_(std::move(params)), via_(via) {}

ClientResult<bool> SearchPager::Next() {
  ClientResult<Response> page = ClientError();
  if (!started_) {
    started_ = true;
    page = client_->Search(type_, params_, via_);
  } else {
    if (next_url_.empty()) return false;
    if (pages_ >= client_->options_.max_pages) {
      return ClientError::Make(ClientError::Kind::kPaging,
                               "search " + type_ + " has more than max_pages=" +
                                   std::to_string(client_->options_.max_pages) +
                                   " pages; stopping rather than returning a partial result as "
                                   "complete");
    }
    if (!SameOrigin(next_url_, client_->base_url())) {
      return ClientError::Make(ClientError::Kind::kPaging,
                               "search " + type_ + ": next link " + next_url_ +
                                   " is on another origin than " + client_->base_url() +
                                   "; not followed (credentials stay with the configured server)");
    }
    HttpRequest req;
    req.url = next_url_;
    if (client_->options_.strict_handling) req.headers.emplace_back("Prefer", "handling=strict");
    page = client_->Send(std::move(req), RequestKind::kRead);
  }
  if (!page.ok()) return page.error();
  if (page->body == nullptr || json::StrMember(*page->body, "resourceType") != "Bundle") {
    return ClientError::Make(ClientError::Kind::kMalformedResponse,
                             "search page " + page->url + " is not a Bundle");
  }
  ++pages_;
  current_ = std::move(page.value());
  std::string_view next = BundleLink(*current_.body, "next");
  next_url_.clear();
  if (!next.empty()) {
    std::string resolved = ResolveUrl(client_->base_url(), next);
    seen_.insert(current_.url);
    if (!seen_.insert(resolved).second) {
      return ClientError::Make(ClientError::Kind::kPaging,
                               "search " + type_ + ": next link " + resolved +
                                   " was already visited (the server's paging loops)");
    }
    next_url_ = std::move(resolved);
  }
  return true;
}

ClientResult<Response> FhirClient::Create(std::string_view type, std::string_view resource_json) {
  HttpRequest req;
  req.method = "POST";
  req.url = options_.base_url + "/" + std::string(type);
  req.headers.emplace_back("Content-Type", std::string(kFhirJson));
  req.body = std::string(resource_json);
  return Send(std::move(req), RequestKind::kUnsafeCreate);
}

ClientResult<Response> FhirClient::ConditionalCreate(std::string_view type,
                                                     std::string_view resource_json,
                                                     std::string_view criteria) {
  if (criteria.empty()) {
    return ClientError::Make(ClientError::Kind::kInvalidArgument,
                             "conditional create of " + std::string(type) + " needs criteria");
  }
  HttpRequest req;
  req.method = "POST";
  req.url = options_.base_url + "/" + std::string(type);
  req.headers.emplace_back("Content-Type", std::string(kFhirJson));
  req.headers.emplace_back("If-None-Exist", std::string(criteria));
  req.body = std::string(resource_json);
  return Send(std::move(req), RequestKind::kConditionalCreate);
}

ClientResult<Response> FhirClient::Update(std::string_view type, std::string_view id,
                                          std::string_view resource_json,
                                          std::string_view if_match_version) {
  HttpRequest req;
  req.method = "PUT";
  req.url = options_.base_url + "/" + std::string(type) + "/" + PercentEncode(id);
  req.headers.emplace_back("Content-Type", std::string(kFhirJson));
  if (!if_match_version.empty()) {
    std::string etag(if_match_version);
    if (!etag.starts_with("W/")) etag = "W/\"" + etag + "\"";
    req.headers.emplace_back("If-Match", etag);
  }
  req.body = std::string(resource_json);
  return Send(std::move(req), RequestKind::kIdempotentWrite);
}

ClientResult<BundleResult> FhirClient::Transaction(std::string_view bundle_json) {
  return PostBundle(bundle_json, "transaction");
}

ClientResult<BundleResult> FhirClient::Batch(std::string_view bundle_json) {
  return PostBundle(bundle_json, "batch");
}

ClientResult<BundleResult> FhirClient::PostBundle(std::string_view bundle_json,
                                                  std::string_view type) {
  rapidjson::Document check;
  check.Parse(bundle_json.data(), bundle_json.size());
  if (check.HasParseError() || json::StrMember(check, "resourceType") != "Bundle" ||
      json::StrMember(check, "type") != type) {
    return ClientError::Make(ClientError::Kind::kInvalidArgument,
                             "expected a Bundle of type " + std::string(type));
  }
  // Retrying a Bundle is only safe when every POST entry is conditional (ifNoneExist).
  bool all_conditional = true;
  if (const rapidjson::Value* entries = json::ArrayMember(check, "entry")) {
    for (const rapidjson::Value& e : entries->GetArray()) {
      const rapidjson::Value* request = json::Member(e, "request");
      if (request != nullptr && json::StrMember(*request, "method") == "POST" &&
          json::StrMember(*request, "ifNoneExist").empty()) {
        all_conditional = false;
      }
    }
  }
  HttpRequest req;
  req.method = "POST";
  req.url = options_.base_url;
  req.headers.emplace_back("Content-Type", std::string(kFhirJson));
  req.body = std::string(bundle_json);
  ClientResult<Response> r = Send(
      std::move(req), all_conditional ? RequestKind::kTransaction : RequestKind::kUnsafeCreate);
  if (!r.ok()) return r.error();
  BundleResult out;
  out.response = std::move(r.value());
  const rapidjson::Value* entries =
      out.response.body ? json::ArrayMember(*out.response.body, "entry") : nullptr;
  if (out.response.body == nullptr ||
      json::StrMember(*out.response.body, "resourceType") != "Bundle") {
    return ClientError::Make(ClientError::Kind::kMalformedResponse,
                             std::string(type) + " response is not a Bundle");
  }
  if (entries != nullptr) {
    for (const rapidjson::Value& e : entries->GetArray()) {
      EntryResult er;
      if (const rapidjson::Value* resp = json::Member(e, "response")) {
        er.status = std::atoi(std::string(json::StrMember(*resp, "status")).c_str());
        er.location = std::string(json::StrMember(*resp, "location"));
        er.etag = std::string(json::StrMember(*resp, "etag"));
        if (const rapidjson::Value* outcome = json::Member(*resp, "outcome")) {
          er.issues = ParseOutcomeIssues(*outcome);
        }
      }
      out.entries.push_back(std::move(er));
    }
  }
  return out;
}

}  // namespace fhir::client
