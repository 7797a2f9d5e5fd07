// Secrets out of every message the client builds (issue 13 #13): a server that echoes the
// request's `Authorization: Bearer …` in an OperationOutcome or a token endpoint's error must
// not get the token printed to stderr, a log or a summary.
#pragma once

#include <string>
#include <string_view>

namespace fhir::client {

// `text` with the value after `Bearer`/`Basic`, after an `Authorization` name (header or JSON
// key), and after `access_token`, `refresh_token`, `id_token`, `client_secret` and
// `client_assertion` (query, form or JSON) replaced by "[redacted]". Case-insensitive;
// idempotent; everything else is kept.
std::string RedactSecrets(std::string_view text);

}  // namespace fhir::client
