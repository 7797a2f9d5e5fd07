// URL helpers the client needs: origin (scheme, host, port) for the token-origin rule,
// resolving a relative `next` link, and form/query encoding. Not a general URL parser:
// http(s) URLs only, no userinfo.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fhir::client {

using Params = std::vector<std::pair<std::string, std::string>>;

struct UrlParts {
  std::string scheme;  // lower-case "http" | "https"
  std::string host;    // lower-case, brackets kept for IPv6
  int port = 0;        // explicit or the scheme's default
  std::string path;    // starts with "/" (may be "/")
  std::string query;   // without "?", may be empty
};

// nullopt when `url` is not an absolute http(s) URL with a host.
std::optional<UrlParts> ParseUrl(std::string_view url);

// "https://host:443": scheme, host and port (default port made explicit). Empty if unparsable.
std::string Origin(std::string_view url);
// True when both URLs parse and have the same scheme, host and port (RFC 6454).
bool SameOrigin(std::string_view a, std::string_view b);

// Resolves `ref` (absolute URL, "/absolute-path?q", "?q" or "relative/path?q") against `base`
// (an absolute URL; treated as a folder, i.e. "http://h/fhir" + "Patient?x" =
// "http://h/fhir/Patient?x").
std::string ResolveUrl(std::string_view base, std::string_view ref);

// RFC 3986 percent-encoding of everything except unreserved characters.
std::string PercentEncode(std::string_view s);
std::string PercentDecode(std::string_view s);  // '+' becomes a space (form encoding)
// "a=1&b=x%20y" (application/x-www-form-urlencoded and query strings alike).
std::string EncodeParams(const Params& params);
// Decoded name/value pairs of a query string or form body.
Params DecodeParams(std::string_view query);

}  // namespace fhir::client
