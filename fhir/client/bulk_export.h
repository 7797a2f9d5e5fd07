// A FHIR Bulk Data Access client (SMART Bulk Data IG STU 2, issue 16): kick-off of a system-,
// Patient- or Group-level `$export` with `Prefer: respond-async`, polling of the status URL
// (Retry-After as seconds or HTTP date, capped; backoff with jitter otherwise; X-Progress),
// the completion manifest (output, error, deleted, requiresAccessToken), file downloads and the
// final DELETE of the status URL.
//
// Token rule: kick-off and status requests carry the Authorization of the FHIR client (same
// origin as the base only, as every FhirClient request). A file download carries it only when
// the manifest says `requiresAccessToken: true` AND the URL is on the base's origin; a redirect
// (followed here, never by the transport) to another origin never carries it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "fhir/client/fhir_client.h"

namespace fhir::client {

struct BulkExportOptions {
  std::string level = "system";  // system | patient | group
  std::string group_id;          // with level "group"
  std::vector<std::string> types = {"Patient", "QuestionnaireResponse", "Observation",
                                    "Questionnaire"};
  std::vector<std::string> type_filters;      // "_typeFilter" values, dropped if the server refuses
  std::string type_filter = "auto";           // auto | on | off: whether type_filters are sent
  std::string kickoff = "auto";               // auto (GET, POST after a 405) | get | post
  std::string since;                          // FHIR instant; empty: everything
  std::chrono::seconds max_retry_after{600};  // fhir.bulk.max_retry_after_seconds
  std::chrono::seconds max_wait{6 * 3600};    // whole export
  std::chrono::milliseconds backoff_base{1000};
  std::chrono::milliseconds backoff_max{60'000};
  int max_redirects = 5;
};

struct BulkFile {
  std::string type;
  std::string url;
  int64_t count = -1;  // -1: not given
};

struct BulkManifest {
  std::string transaction_time;
  std::string request;
  bool requires_access_token = false;
  std::vector<BulkFile> output, error, deleted;
};

// Which `$export` levels a CapabilityStatement declares: `rest.operation` (system) and the
// Patient / Group resources' `operation`, by name (export, patient-export, group-export) or by
// the Bulk Data OperationDefinition canonical.
struct BulkExportSupport {
  bool system = false;
  bool patient = false;
  bool group = false;
};
BulkExportSupport ExportSupport(const rapidjson::Value& capability_statement);

// Parses a completion manifest; kMalformedResponse names the missing or wrong field.
ClientResult<BulkManifest> ParseBulkManifest(const rapidjson::Value& body);

// What a 202 status answer said: X-Progress and how long to wait (-1 ms: no usable Retry-After).
struct BulkProgress {
  std::string text;  // X-Progress, may be empty
  std::chrono::milliseconds wait{0};
};

class BulkExportClient {
 public:
  // REQUIRES: client outlives this object. Thread-safe for Download.
  BulkExportClient(FhirClient* client, BulkExportOptions options);

  // The GET kick-off URL for the options (without _typeFilter when `with_type_filter` is false
  // or type_filter is "off").
  std::string KickOffUrl(bool with_type_filter) const;
  // The POST kick-off's body: a Parameters resource with the same parameters.
  std::string KickOffParameters(bool with_type_filter) const;
  // Sends the kick-off (GET, or POST with kickoff "post" or in "auto" after a 405 to the GET);
  // returns the status URL (Content-Location of the 202). With type_filter "auto" a 400 answer
  // to a kick-off with _typeFilter is retried once without it (type_filter_dropped() then
  // true); with "on" it is an error naming fhir.bulk.type_filter.
  ClientResult<std::string> KickOff();
  // Polls until the manifest (200) or an error. `on_progress` is called after every 202.
  ClientResult<BulkManifest> WaitForManifest(
      const std::string& status_url,
      const std::function<void(const BulkProgress&)>& on_progress = nullptr);
  // One status request: the manifest when complete, else nullopt with `progress` set.
  ClientResult<std::optional<BulkManifest>> PollOnce(const std::string& status_url,
                                                     BulkProgress* progress);
  // Downloads one file (following redirects; token per the rule above). On a 404/410 answer the
  // error has kind kHttp with that status: the link may have expired (poll the status again).
  // With `sink`, a 2xx body goes to it as it arrives (the returned string is then empty unless
  // the transport could not stream).
  ClientResult<std::string> Download(const std::string& url, bool requires_access_token,
                                     BodySink* sink = nullptr);
  // DELETE of the status URL (done or cancelled); a 404 counts as done.
  ClientResult<bool> Delete(const std::string& status_url);

  bool type_filter_dropped() const { return type_filter_dropped_; }
  bool type_filter_sent() const { return type_filter_sent_; }  // the accepted kick-off had one
  bool kickoff_posted() const { return kickoff_posted_; }
  uint64_t requests() const { return requests_; }

 private:
  // GET/DELETE through the retrying transport with Authorization when `with_token` and the URL
  // is on the base's origin (one renewal after a 401).
  ClientResult<HttpResponse> Exchange(const std::string& method, const std::string& url,
                                      const Headers& headers, bool with_token,
                                      const std::string& body = "", BodySink* sink = nullptr);
  std::string OperationUrl() const;  // [base][/Patient|/Group/id]/$export
  Params KickOffParams(bool with_type_filter) const;

  FhirClient* client_;
  BulkExportOptions options_;
  bool type_filter_dropped_ = false;
  bool type_filter_sent_ = false;
  bool kickoff_posted_ = false;
  std::atomic<uint64_t> requests_{0};
};

}  // namespace fhir::client
