// Typed errors of the FHIR REST client: what failed (transport, HTTP status with the server's
// OperationOutcome issues, paging, auth, ...) and a ClientResult<T> that carries a value or one.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <rapidjson/document.h>

#include "fhir/status.h"

namespace fhir::client {

// One OperationOutcome.issue as the server sent it.
struct OutcomeIssue {
  std::string severity;     // fatal | error | warning | information
  std::string code;         // IssueType: invalid, not-found, conflict, processing, ...
  std::string diagnostics;  // free text (or details.text), secrets redacted (redact.h)
};

struct ClientError {
  enum class Kind {
    kConnect,           // connection could not be established (request never sent)
    kNetwork,           // connection reset / closed / partial response (request may have been sent)
    kTimeout,           // connect or total timeout
    kTls,               // certificate or handshake failure
    kResponseTooLarge,  // response exceeded max_response_bytes
    kHttp,              // the server answered a non-2xx status (see http_status, issues)
    kMalformedResponse,  // the body was not the JSON / resource expected
    kPaging,             // repeated next link, max pages exceeded, next link on another origin
    kDroppedParameter,   // the server ignored a search parameter (absent from Bundle self link)
    kAuth,               // token could not be obtained / key could not be used
    kInvalidArgument,    // caller error (bad URL, bad resource)
    kDeadline,           // the per-call deadline or retry budget ran out
  };

  Kind kind = Kind::kNetwork;
  int http_status = 0;               // for kHttp (and the last status seen otherwise, or 0)
  std::vector<OutcomeIssue> issues;  // from an OperationOutcome body, when there was one
  std::string message;               // what happened, naming the URL (never a secret)
  std::string request_id;            // X-Request-Id sent
  int attempts = 0;                  // how many times the request was sent

  static ClientError Make(Kind kind, std::string message) {
    ClientError e;
    e.kind = kind;
    e.message = std::move(message);
    return e;
  }
  // "HTTP 412 on PUT http://.../Patient/1: error/conflict: version mismatch" and the like,
  // with bearer tokens and Authorization values redacted (redact.h).
  std::string ToString() const;
  // A fhir::Status for layers that speak Status (the Store interface).
  fhir::Status ToStatus() const;
};

std::string_view KindName(ClientError::Kind kind);

// Reads the issues of an OperationOutcome (empty when `body` is not one).
std::vector<OutcomeIssue> ParseOutcomeIssues(const rapidjson::Value& body);

// A value or a ClientError. REQUIRES: value() only when ok(), error() only when !ok().
template <typename T>
class ClientResult {
 public:
  ClientResult(T value) : v_(std::move(value)) {}            // NOLINT: implicit by design
  ClientResult(ClientError error) : v_(std::move(error)) {}  // NOLINT
  bool ok() const { return v_.index() == 0; }
  const T& value() const& { return std::get<0>(v_); }
  T& value() & { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const T* operator->() const { return &std::get<0>(v_); }
  T* operator->() { return &std::get<0>(v_); }
  const ClientError& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, ClientError> v_;
};

struct Done {};  // the value of a call that returns nothing but success

}  // namespace fhir::client
