// A FHIR R4 REST client for unattended work (issue 4): capabilities, read/vread, search by GET
// or POST with strict handling and a check that no parameter was dropped, a page iterator
// that cannot loop, create, conditional create, If-Match update, transaction and batch.
// Server errors become ClientError{kHttp, status, OperationOutcome issues}.
// The Authorization header is sent only to the configured base's origin; redirects are not
// followed; a `next` link on another origin is an error.
#pragma once

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include "fhir/client/auth.h"
#include "fhir/client/client_error.h"
#include "fhir/client/http_transport.h"
#include "fhir/client/retry_policy.h"
#include "fhir/client/url.h"

namespace fhir::client {

struct FhirClientOptions {
  std::string base_url;         // e.g. "https://ehr.example.org/fhir" (a trailing '/' is dropped)
  int max_pages = 10000;        // a search that would need more fails with kPaging
  bool strict_handling = true;  // send "Prefer: handling=strict" on searches
  bool check_self_link = true;  // fail with kDroppedParameter when self lacks a sent parameter
};

// One HTTP exchange's outcome that the caller may need besides the body.
struct Response {
  int status = 0;
  std::string location;  // Location / Content-Location
  std::string etag;      // e.g. W/"3"
  std::string last_modified;
  std::string date;  // server's Date header (sync watermarks)
  std::string request_id;
  int attempts = 1;
  std::shared_ptr<rapidjson::Document> body;  // parsed JSON body; null when there was none
  std::string url;                            // the URL requested
  size_t body_bytes = 0;                      // size of the (decoded) body
};

// A transaction/batch response entry.
struct EntryResult {
  int status = 0;  // from "201 Created"
  std::string location;
  std::string etag;
  std::vector<OutcomeIssue> issues;  // response.outcome, when present
};

struct BundleResult {
  Response response;
  std::vector<EntryResult> entries;  // in request order
};

enum class SearchVia { kGet, kPost };

class FhirClient;

// Iterates the pages of one search, following `next` links (absolute or relative to the base).
// Fails (kPaging) on a link already visited, on more than max_pages pages, and on a next link
// on another origin. Not thread-safe; the client must outlive it.
class SearchPager {
 public:
  // Fetches the next page. True with page() set; false when there are no more pages.
  ClientResult<bool> Next();
  const rapidjson::Document& page() const { return *current_.body; }
  const Response& response() const { return current_; }
  // The page Next() just fetched, moved out (page() and response() are then empty until the
  // next call). For a reader that keeps pages beyond the next fetch (PagePrefetcher).
  Response TakeResponse() { return std::move(current_); }
  int pages_read() const { return pages_; }

 private:
  friend class FhirClient;
  SearchPager(FhirClient* client, std::string type, Params params, SearchVia via);

  FhirClient* client_;
  std::string type_;
  Params params_;
  SearchVia via_;
  bool started_ = false;
  std::string next_url_;
  std::set<std::string> seen_;
  int pages_ = 0;
  Response current_;
};

class FhirClient {
 public:
  FhirClient(FhirClientOptions options, std::shared_ptr<RetryingTransport> transport,
             std::shared_ptr<AuthProvider> auth);

  const std::string& base_url() const { return options_.base_url; }
  AuthProvider& auth() { return *auth_; }
  RetryingTransport& transport() { return *transport_; }

  ClientResult<Response> Capabilities();        // GET [base]/metadata
  ClientResult<Response> SmartConfiguration();  // GET [base]/.well-known/smart-configuration
  ClientResult<Response> Read(std::string_view type, std::string_view id);
  ClientResult<Response> VRead(std::string_view type, std::string_view id,
                               std::string_view version);
  // First page of a search. With kPost, parameters go in a form body to [base]/Type/_search.
  ClientResult<Response> Search(std::string_view type, const Params& params,
                                SearchVia via = SearchVia::kGet);
  SearchPager Pages(std::string_view type, Params params, SearchVia via = SearchVia::kGet);

  // POST [base]/Type. Never retried after the request may have reached the server.
  ClientResult<Response> Create(std::string_view type, std::string_view resource_json);
  // POST with If-None-Exist: `criteria` is a query string, e.g. "identifier=sys|123".
  // 201 = created, 200 = it existed. Retried like a read.
  ClientResult<Response> ConditionalCreate(std::string_view type, std::string_view resource_json,
                                           std::string_view criteria);
  // PUT [base]/Type/id; with `if_match_version` ("3" or W/"3") a stale version gives kHttp 412.
  ClientResult<Response> Update(std::string_view type, std::string_view id,
                                std::string_view resource_json,
                                std::string_view if_match_version = {});
  // POST [base] of a Bundle of type transaction / batch; per-entry results.
  ClientResult<BundleResult> Transaction(std::string_view bundle_json);
  ClientResult<BundleResult> Batch(std::string_view bundle_json);

  // GET of an absolute URL or one relative to the base (paging links, Location headers).
  // Authorization only when it is on the base's origin.
  ClientResult<Response> Get(std::string_view url, RequestKind kind = RequestKind::kRead);

  // The core: adds Accept, User-Agent (transport), Authorization (same origin only), retries,
  // renews the token once after a 401, parses the JSON body, maps non-2xx to kHttp.
  ClientResult<Response> Send(HttpRequest request, RequestKind kind);

 private:
  ClientResult<BundleResult> PostBundle(std::string_view bundle_json, std::string_view type);
  ClientResult<Response> CheckSelfLink(ClientResult<Response> page, const Params& sent);

  FhirClientOptions options_;
  std::shared_ptr<RetryingTransport> transport_;
  std::shared_ptr<AuthProvider> auth_;
  friend class SearchPager;
};

// The link URL with this relation ("self", "next") in a Bundle, or "".
std::string_view BundleLink(const rapidjson::Value& bundle, std::string_view relation);
// Interactions (read, vread, search-type, create, update, ...) the CapabilityStatement's
// server rest entry declares for `type`; empty when the type is absent.
std::set<std::string> SupportedInteractions(const rapidjson::Value& capability_statement,
                                            std::string_view type);
// Serialises a JSON value (for passing DOM resources to Create/Update).
std::string ToJson(const rapidjson::Value& value);

}  // namespace fhir::client
