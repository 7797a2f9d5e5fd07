#include "fhir/client/bulk_export.h"

#include <algorithm>
#include <random>
#include <thread>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "fhir/json.h"

namespace fhir::client {
namespace {

ClientError HttpError(const std::string& what, const HttpResponse& r) {
  ClientError e = ClientError::Make(ClientError::Kind::kHttp,
                                    what + " answered HTTP " + std::to_string(r.status));
  e.http_status = r.status;
  e.request_id = r.request_id;
  e.attempts = r.attempts;
  rapidjson::Document doc;
  if (!r.body.empty() &&
      json::ParseDocument(r.body, json::kNetworkMaxDepth, &doc) == json::ParseFailure::kNone &&
      doc.IsObject()) {
    e.issues = ParseOutcomeIssues(doc);
  }
  return e;
}

ClientResult<std::vector<BulkFile>> FileList(const rapidjson::Value& body, const char* name) {
  std::vector<BulkFile> out;
  auto it = body.FindMember(name);
  if (it == body.MemberEnd()) return out;
  if (!it->value.IsArray()) {
    return ClientError::Make(ClientError::Kind::kMalformedResponse,
                             std::string("bulk manifest: '") + name + "' is not an array");
  }
  for (const rapidjson::Value& f : it->value.GetArray()) {
    BulkFile file;
    file.type = std::string(json::StrMember(f, "type"));
    file.url = std::string(json::StrMember(f, "url"));
    if (file.url.empty()) {
      return ClientError::Make(ClientError::Kind::kMalformedResponse,
                               std::string("bulk manifest: an entry of '") + name + "' has no url");
    }
    if (f.IsObject()) {
      auto c = f.FindMember("count");
      if (c != f.MemberEnd() && c->value.IsInt64()) file.count = c->value.GetInt64();
    }
    out.push_back(std::move(file));
  }
  return out;
}

}  // namespace

BulkExportSupport ExportSupport(const rapidjson::Value& cs) {
  BulkExportSupport out;
  auto declares = [](const rapidjson::Value& holder, std::string_view level) {
    const rapidjson::Value* ops = json::ArrayMember(holder, "operation");
    if (ops == nullptr) return false;
    for (const rapidjson::Value& op : ops->GetArray()) {
      std::string_view name = json::StrMember(op, "name");
      std::string_view def = json::StrMember(op, "definition");
      const std::string specific = std::string(level) + "-export";
      if (name == "export" || name == specific || def.ends_with("/" + specific) ||
          (level == "system" && def.ends_with("/export"))) {
        return true;
      }
    }
    return false;
  };
  const rapidjson::Value* rests = json::ArrayMember(cs, "rest");
  if (rests == nullptr) return out;
  for (const rapidjson::Value& rest : rests->GetArray()) {
    if (json::StrMember(rest, "mode") != "server") continue;
    out.system = out.system || declares(rest, "system");
    const rapidjson::Value* resources = json::ArrayMember(rest, "resource");
    if (resources == nullptr) continue;
    for (const rapidjson::Value& r : resources->GetArray()) {
      std::string_view type = json::StrMember(r, "type");
      if (type == "Patient") out.patient = out.patient || declares(r, "patient");
      if (type == "Group") out.group = out.group || declares(r, "group");
    }
  }
  return out;
}

ClientResult<BulkManifest> ParseBulkManifest(const rapidjson::Value& body) {
  if (!body.IsObject()) {
    return ClientError::Make(ClientError::Kind::kMalformedResponse,
                             "bulk manifest: not a JSON object");
  }
  BulkManifest m;
  m.transaction_time = std::string(json::StrMember(body, "transactionTime"));
  m.request = std::string(json::StrMember(body, "request"));
  if (m.transaction_time.empty()) {
    return ClientError::Make(ClientError::Kind::kMalformedResponse,
                             "bulk manifest: 'transactionTime' missing");
  }
  auto rat = body.FindMember("requiresAccessToken");
  if (rat == body.MemberEnd() || !rat->value.IsBool()) {
    return ClientError::Make(ClientError::Kind::kMalformedResponse,
                             "bulk manifest: 'requiresAccessToken' missing or not a boolean");
  }
  m.requires_access_token = rat->value.GetBool();
  auto output = FileList(body, "output");
  if (!output.ok()) return output.error();
  auto error = FileList(body, "error");
  if (!error.ok()) return error.error();
  auto deleted = FileList(body, "deleted");
  if (!deleted.ok()) return deleted.error();
  m.output = std::move(output.value());
  m.error = std::move(error.value());
  m.deleted = std::move(deleted.value());
  return m;
}

BulkExportClient::BulkExportClient(FhirClient* client, BulkExportOptions options)
    : client_(client), options_(std::move(options)) {}

std::string BulkExportClient::OperationUrl() const {
  std::string url = client_->base_url();
  if (options_.level == "patient") {
    url += "/Patient";
  } else if (options_.level == "group") {
    url += "/Group/" + PercentEncode(options_.group_id);
  }
  return url + "/$export";
}

Params BulkExportClient::KickOffParams(bool with_type_filter) const {
  Params params;
  std::string types;
  for (const std::string& t : options_.types) types += (types.empty() ? "" : ",") + t;
  if (!types.empty()) params.emplace_back("_type", types);
  if (!options_.since.empty()) params.emplace_back("_since", options_.since);
  if (with_type_filter && options_.type_filter != "off") {
    for (const std::string& f : options_.type_filters) params.emplace_back("_typeFilter", f);
  }
  return params;
}

std::string BulkExportClient::KickOffUrl(bool with_type_filter) const {
  return OperationUrl() + "?" + EncodeParams(KickOffParams(with_type_filter));
}

std::string BulkExportClient::KickOffParameters(bool with_type_filter) const {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("resourceType");
  w.String("Parameters");
  w.Key("parameter");
  w.StartArray();
  for (const auto& [name, value] : KickOffParams(with_type_filter)) {
    w.StartObject();
    w.Key("name");
    w.String(name.c_str(), static_cast<rapidjson::SizeType>(name.size()));
    w.Key(name == "_since" ? "valueInstant" : "valueString");
    w.String(value.c_str(), static_cast<rapidjson::SizeType>(value.size()));
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

ClientResult<HttpResponse> BulkExportClient::Exchange(const std::string& method,
                                                      const std::string& url,
                                                      const Headers& headers, bool with_token,
                                                      const std::string& body, BodySink* sink) {
  const bool send_token = with_token && SameOrigin(url, client_->base_url());
  for (int auth_try = 0;; ++auth_try) {
    HttpRequest req;
    req.method = method;
    req.url = url;
    req.headers = headers;
    req.body = body;
    req.sink = sink;
    std::string authorization;
    if (send_token) {
      ClientResult<std::string> a = client_->auth().Authorization();
      if (!a.ok()) return a.error();
      authorization = a.value();
      if (!authorization.empty()) req.headers.emplace_back("Authorization", authorization);
    }
    ++requests_;
    ClientResult<HttpResponse> r = client_->transport().Execute(std::move(req), RequestKind::kRead);
    if (r.ok() && r->status == 401 && auth_try == 0 && !authorization.empty() &&
        client_->auth().OnUnauthorized(authorization)) {
      continue;
    }
    if (r.ok()) requests_ += static_cast<uint64_t>(std::max(0, r->attempts - 1));
    return r;
  }
}

ClientResult<std::string> BulkExportClient::KickOff() {
  const Headers headers = {{"Accept", "application/fhir+json"}, {"Prefer", "respond-async"}};
  bool with_filter = !options_.type_filters.empty() && options_.type_filter != "off";
  bool post = options_.kickoff == "post";
  while (true) {
    std::string url, what;
    ClientResult<HttpResponse> r = ClientError::Make(ClientError::Kind::kNetwork, "not sent");
    if (post) {
      // POST with a Parameters body (Bulk Data IG: the kick-off's parameters, same names).
      url = OperationUrl();
      what = "bulk kick-off POST " + url;
      Headers h = headers;
      h.emplace_back("Content-Type", "application/fhir+json");
      r = Exchange("POST", url, h, true, KickOffParameters(with_filter));
    } else {
      url = KickOffUrl(with_filter);
      what = "bulk kick-off GET " + url;
      r = Exchange("GET", url, headers, true);
    }
    if (!r.ok()) return r.error();
    if (r->status == 405 && !post && options_.kickoff == "auto") {
      post = true;  // the server takes the kick-off only as POST
      kickoff_posted_ = true;
      continue;
    }
    if (r->status == 400 && with_filter) {
      if (options_.type_filter == "on") {
        ClientError e = HttpError(what, r.value());
        e.message +=
            " to a kick-off with _typeFilter (fhir.bulk.type_filter is on; set it to "
            "auto to export unfiltered when the server refuses it, or off)";
        return e;
      }
      // auto: the server does not support _typeFilter (or this one): export unfiltered.
      with_filter = false;
      type_filter_dropped_ = true;
      continue;
    }
    type_filter_sent_ = with_filter;
    if (post) kickoff_posted_ = true;
    if (r->status != 202) return HttpError(what, r.value());
    std::string location(r->Header("content-location"));
    if (location.empty()) {
      return ClientError::Make(ClientError::Kind::kMalformedResponse,
                               what + ": 202 without Content-Location");
    }
    return ResolveUrl(client_->base_url(), location);
  }
}

ClientResult<std::optional<BulkManifest>> BulkExportClient::PollOnce(const std::string& status_url,
                                                                     BulkProgress* progress) {
  ClientResult<HttpResponse> r =
      Exchange("GET", status_url, {{"Accept", "application/json"}}, true);
  if (!r.ok()) return r.error();
  if (r->status == 202) {
    progress->text = std::string(r->Header("x-progress"));
    progress->wait = std::chrono::milliseconds(-1);
    std::string_view retry_after = r->Header("retry-after");
    if (!retry_after.empty()) {
      auto wait =
          ParseRetryAfter(retry_after, r->Header("date"), client_->transport().clock().WallNow());
      if (wait) progress->wait = *wait;
    }
    return std::optional<BulkManifest>();
  }
  if (r->status != 200) return HttpError("bulk status GET " + status_url, r.value());
  rapidjson::Document doc;
  std::string error;
  if (json::ParseDocument(r->body, json::kNetworkMaxDepth, &doc, &error) !=
      json::ParseFailure::kNone) {
    return ClientError::Make(
        ClientError::Kind::kMalformedResponse,
        "bulk status GET " + status_url + ": manifest is not JSON (" + error + ")");
  }
  auto m = ParseBulkManifest(doc);
  if (!m.ok()) {
    ClientError e = m.error();
    e.message = "GET " + status_url + ": " + e.message;
    return e;
  }
  return std::optional<BulkManifest>(std::move(m.value()));
}

ClientResult<BulkManifest> BulkExportClient::WaitForManifest(
    const std::string& status_url, const std::function<void(const BulkProgress&)>& on_progress) {
  const auto start = std::chrono::steady_clock::now();
  std::mt19937_64 rng(std::random_device{}());
  for (int poll = 0;; ++poll) {
    BulkProgress progress;
    auto r = PollOnce(status_url, &progress);
    if (!r.ok()) return r.error();
    if (r->has_value()) return std::move(*r.value());
    if (progress.wait.count() < 0) {
      // No usable Retry-After: exponential backoff with full jitter.
      const auto cap = std::min<std::chrono::milliseconds>(
          options_.backoff_max, options_.backoff_base * (int64_t{1} << std::min(poll, 16)));
      progress.wait = std::chrono::milliseconds(
          static_cast<int64_t>(std::uniform_real_distribution<double>(0.5, 1.0)(rng) *
                               static_cast<double>(cap.count())));
    } else if (progress.wait > options_.max_retry_after) {
      return ClientError::Make(
          ClientError::Kind::kDeadline,
          "bulk export " + status_url + ": the server asks to wait " +
              std::to_string(progress.wait.count() / 1000) +
              " s (Retry-After), more than fhir.bulk.max_retry_after_seconds (" +
              std::to_string(options_.max_retry_after.count()) +
              " s); rerun later (the export is resumed) or raise the limit");
    }
    if (on_progress) on_progress(progress);
    if (std::chrono::steady_clock::now() + progress.wait - start > options_.max_wait) {
      return ClientError::Make(ClientError::Kind::kDeadline,
                               "bulk export " + status_url + ": not complete after " +
                                   std::to_string(options_.max_wait.count()) +
                                   " s (fhir.bulk.max_wait)");
    }
    std::this_thread::sleep_for(progress.wait);
  }
}

ClientResult<std::string> BulkExportClient::Download(const std::string& url,
                                                     bool requires_access_token, BodySink* sink) {
  const Headers headers = {{"Accept", "application/fhir+ndjson"}};
  std::string current = url;
  for (int hop = 0; hop <= options_.max_redirects; ++hop) {
    // A hop to another origin never carries the token (SameOrigin check in Exchange).
    ClientResult<HttpResponse> r =
        Exchange("GET", current, headers, requires_access_token, "", sink);
    if (!r.ok()) return r.error();
    if (r->status >= 300 && r->status < 400 && r->status != 304) {
      std::string_view location = r->Header("location");
      if (location.empty())
        return HttpError("bulk file GET " + current + " (no Location)", r.value());
      current = ResolveUrl(current, location);
      continue;
    }
    if (r->status != 200) return HttpError("bulk file GET " + current, r.value());
    return std::move(r->body);
  }
  return ClientError::Make(ClientError::Kind::kPaging, "bulk file GET " + url + ": more than " +
                                                           std::to_string(options_.max_redirects) +
                                                           " redirects");
}

ClientResult<bool> BulkExportClient::Delete(const std::string& status_url) {
  ClientResult<HttpResponse> r = Exchange("DELETE", status_url, {}, true);
  if (!r.ok()) return r.error();
  if (r->status == 404 || (r->status >= 200 && r->status < 300)) return true;
  return HttpError("bulk status DELETE " + status_url, r.value());
}

}  // namespace fhir::client
