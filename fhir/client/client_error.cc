#include "fhir/client/client_error.h"

#include "fhir/client/redact.h"
#include "fhir/json.h"

namespace fhir::client {

std::string_view KindName(ClientError::Kind kind) {
  using K = ClientError::Kind;
  switch (kind) {
    case K::kConnect:
      return "connect";
    case K::kNetwork:
      return "network";
    case K::kTimeout:
      return "timeout";
    case K::kTls:
      return "tls";
    case K::kResponseTooLarge:
      return "response-too-large";
    case K::kHttp:
      return "http";
    case K::kMalformedResponse:
      return "malformed-response";
    case K::kPaging:
      return "paging";
    case K::kDroppedParameter:
      return "dropped-parameter";
    case K::kAuth:
      return "auth";
    case K::kInvalidArgument:
      return "invalid-argument";
    case K::kDeadline:
      return "deadline";
  }
  return "unknown";
}

std::string ClientError::ToString() const {
  std::string s(KindName(kind));
  if (http_status != 0) s += " (HTTP " + std::to_string(http_status) + ")";
  s += ": " + message;
  for (const OutcomeIssue& i : issues) {
    s += "; " + i.severity + "/" + i.code;
    if (!i.diagnostics.empty()) s += ": " + i.diagnostics;
  }
  if (attempts > 1) s += " [after " + std::to_string(attempts) + " attempts]";
  if (!request_id.empty()) s += " [X-Request-Id " + request_id + "]";
  // Every printed client error passes here: a token the server echoed never leaves (issue 13).
  return RedactSecrets(s);
}

fhir::Status ClientError::ToStatus() const {
  using K = ClientError::Kind;
  switch (kind) {
    case K::kConnect:
    case K::kNetwork:
    case K::kTimeout:
    case K::kDeadline:
      return fhir::Status::Unavailable(ToString());
    case K::kTls:
    case K::kAuth:
    case K::kPaging:
    case K::kDroppedParameter:
      return fhir::Status::FailedPrecondition(ToString());
    case K::kResponseTooLarge:
    case K::kMalformedResponse:
      return fhir::Status::ParseError(ToString());
    case K::kInvalidArgument:
      return fhir::Status::InvalidArgument(ToString());
    case K::kHttp:
      if (http_status == 404 || http_status == 410) return fhir::Status::NotFound(ToString());
      if (http_status == 400 || http_status == 422)
        return fhir::Status::InvalidArgument(ToString());
      if (http_status == 409 || http_status == 412) {
        return fhir::Status::FailedPrecondition(ToString());
      }
      if (http_status >= 500 || http_status == 429) return fhir::Status::Unavailable(ToString());
      return fhir::Status::IoError(ToString());
  }
  return fhir::Status::Internal(ToString());
}

std::vector<OutcomeIssue> ParseOutcomeIssues(const rapidjson::Value& body) {
  std::vector<OutcomeIssue> out;
  if (json::StrMember(body, "resourceType") != "OperationOutcome") return out;
  const rapidjson::Value* issues = json::ArrayMember(body, "issue");
  if (issues == nullptr) return out;
  for (const rapidjson::Value& i : issues->GetArray()) {
    OutcomeIssue issue;
    issue.severity = std::string(json::StrMember(i, "severity"));
    issue.code = std::string(json::StrMember(i, "code"));
    issue.diagnostics = std::string(json::StrMember(i, "diagnostics"));
    if (issue.diagnostics.empty()) {
      if (const rapidjson::Value* details = json::Member(i, "details")) {
        issue.diagnostics = std::string(json::StrMember(*details, "text"));
      }
    }
    // Servers echo request headers in diagnostics; callers print these (issue 13 #13).
    issue.diagnostics = RedactSecrets(issue.diagnostics);
    out.push_back(std::move(issue));
  }
  return out;
}

}  // namespace fhir::client
