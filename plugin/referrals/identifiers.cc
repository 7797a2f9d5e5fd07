#include "plugin/referrals/identifiers.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstring>

#include "fhir/json.h"

namespace sdoh {

namespace {

constexpr size_t kNeedKeyHex = 16;
constexpr size_t kEvidenceHex = 32;
constexpr std::string_view kFlagPrefix = "flag-";
constexpr std::string_view kServiceRequestPrefix = "sr-";
constexpr std::string_view kTaskPrefix = "task-";
constexpr std::string_view kLegacyTaskSuffix = "-task";

// The 32-byte SHA-256 of `data`.
void Sha256(std::string_view data, unsigned char* out) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  // Fetched once: EVP_sha256() makes OpenSSL 3 look the implementation up on every call.
  static EVP_MD* const fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  const EVP_MD* md = fetched ? fetched : EVP_sha256();
  // One context a thread, reset per digest: EVP_Digest allocates and frees one on every call
  // (three digests per referral, issue 17).
  struct Context {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    ~Context() { EVP_MD_CTX_free(ctx); }
  };
  thread_local Context c;
  if (c.ctx == nullptr || EVP_DigestInit_ex2(c.ctx, md, nullptr) != 1 ||
      EVP_DigestUpdate(c.ctx, data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(c.ctx, digest, &len) != 1) {
    EVP_Digest(data.data(), data.size(), digest, &len, md, nullptr);
  }
  std::memcpy(out, digest, 32);
}

// Appends the first `digits` (at most 64) hex digits of a 32-byte digest to `out`.
void AppendHexDigits(const unsigned char* digest, size_t digits, std::string* out) {
  static const char* kHex = "0123456789abcdef";
  digits = std::min<size_t>(digits, 64);
  const size_t at = out->size();
  out->resize(at + digits);
  char* p = out->data() + at;
  for (size_t i = 0; i < digits; ++i) {
    p[i] = kHex[i % 2 == 0 ? digest[i / 2] >> 4 : digest[i / 2] & 15];
  }
}
// The first `digits` (at most 64) hex digits of a 32-byte digest.
std::string HexDigits(const unsigned char* digest, size_t digits) {
  std::string out;
  AppendHexDigits(digest, digits, &out);
  return out;
}

// Length-prefixed fields ("<bytes>:<field>;" each), so that no field can run into the next.
class Fields {
 public:
  Fields() { text_.reserve(128); }  // one allocation for most keys, not one per doubling
  Fields& Add(std::string_view field) { return Add(field, {}, {}); }
  // One field written in three parts (a + b + c), as Add(a + b + c) would write it.
  Fields& Add(std::string_view a, std::string_view b, std::string_view c) {
    text_ += std::to_string(a.size() + b.size() + c.size());
    text_ += ':';
    text_ += a;
    text_ += b;
    text_ += c;
    text_ += ';';
    return *this;
  }
  // The first `digits` (at most 64) hex digits of the SHA-256 of the fields.
  std::string Hex(size_t digits) const {
    std::string out;
    AppendHex(digits, &out);
    return out;
  }
  // The same digits appended to `out`.
  void AppendHex(size_t digits, std::string* out) const {
    unsigned char digest[32];
    Sha256(text_, digest);
    AppendHexDigits(digest, digits, out);
  }

 private:
  std::string text_;
};

// Appends the need key K of (patient, need) to `out`.
void AppendNeedKey(std::string_view patient_id, std::string_view need, std::string* out) {
  Fields().Add("need").Add(patient_id).Add(need).AppendHex(kNeedKeyHex, out);
}
std::string NeedKey(std::string_view patient_id, std::string_view need) {
  std::string key;
  AppendNeedKey(patient_id, need, &key);
  return key;
}

bool IsHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// The catalog need whose key for `patient_id` is `key`, or nullptr.
const std::string* NeedOfKey(std::string_view key, std::string_view patient_id,
                             const Catalog& catalog) {
  for (const auto& [name, def] : catalog.needs()) {
    if (NeedKey(patient_id, name) == key) return &name;
  }
  return nullptr;
}

// "<need>-<32 hex>" (format 1 ServiceRequest) → need, when the need is in the catalog.
std::optional<std::string> LegacyServiceRequestNeed(std::string_view value,
                                                    const Catalog& catalog) {
  if (value.size() < kEvidenceHex + 2) return std::nullopt;
  std::string_view hex = value.substr(value.size() - kEvidenceHex);
  if (value[value.size() - kEvidenceHex - 1] != '-' || !IsHex(hex)) return std::nullopt;
  std::string_view need = value.substr(0, value.size() - kEvidenceHex - 1);
  if (catalog.FindNeed(need) == nullptr) return std::nullopt;
  return std::string(need);
}

}  // namespace

std::string FollowUpIdentifier(std::string_view task_value, std::string_view kind) {
  return "followup-" + Fields().Add("followup").Add(task_value).Add(kind).Hex(kEvidenceHex) + "-" +
         std::string(kind);
}

std::string OutreachTaskIdentifier(std::string_view patient_id, std::string_view last_screened) {
  return "outreach-" +
         Fields().Add("outreach").Add(patient_id).Add(last_screened).Hex(kEvidenceHex);
}

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[32];
  Sha256(data, digest);
  return HexDigits(digest, 64);
}

std::string ServiceRequestIdentifier(const NeedFlag& flag) {
  Fields evidence;
  evidence.Add("referral").Add(flag.patient_id).Add(flag.need);
  for (const auto& [ref, version] : flag.evidence) {  // std::map: sorted by reference
    if (version.empty()) {
      evidence.Add(ref);
    } else {
      evidence.Add(ref, "/_history/", version);
    }
  }
  // Built in place: one allocation for the value (issue 17).
  std::string value;
  value.reserve(kServiceRequestPrefix.size() + kNeedKeyHex + 1 + kEvidenceHex);
  value += kServiceRequestPrefix;
  AppendNeedKey(flag.patient_id, flag.need, &value);
  value += '-';
  evidence.AppendHex(kEvidenceHex, &value);
  return value;
}

namespace {
std::string Concat(std::string_view a, std::string_view b) {
  std::string out;
  out.reserve(a.size() + b.size());
  out += a;
  out += b;
  return out;
}
}  // namespace

std::string TaskIdentifier(std::string_view service_request_identifier) {
  if (service_request_identifier.starts_with(kServiceRequestPrefix)) {
    return Concat(kTaskPrefix, service_request_identifier.substr(kServiceRequestPrefix.size()));
  }
  return Concat(service_request_identifier, kLegacyTaskSuffix);
}

std::string FlagIdentifier(std::string_view patient_id, std::string_view need) {
  std::string value;
  value.reserve(kFlagPrefix.size() + kNeedKeyHex);
  value += kFlagPrefix;
  AppendNeedKey(patient_id, need, &value);
  return value;
}

std::string FlagIdentifierOf(std::string_view service_request_identifier) {
  return Concat(kFlagPrefix,
                service_request_identifier.substr(kServiceRequestPrefix.size(), kNeedKeyHex));
}

std::optional<ReferralIdentity> ParseIdentifier(std::string_view value, std::string_view patient_id,
                                                const Catalog& catalog) {
  ReferralIdentity id;
  // Format 2.
  if (value.starts_with(kFlagPrefix)) {
    std::string_view key = value.substr(kFlagPrefix.size());
    if (key.size() == kNeedKeyHex && IsHex(key)) {
      if (const std::string* need = NeedOfKey(key, patient_id, catalog)) {
        id.kind = IdentifierKind::kFlag;
        id.need = *need;
        return id;
      }
    }
  }
  for (bool task : {false, true}) {
    std::string_view prefix = task ? kTaskPrefix : kServiceRequestPrefix;
    if (!value.starts_with(prefix)) continue;
    std::string_view rest = value.substr(prefix.size());
    if (rest.size() != kNeedKeyHex + 1 + kEvidenceHex || rest[kNeedKeyHex] != '-' ||
        !IsHex(rest.substr(0, kNeedKeyHex)) || !IsHex(rest.substr(kNeedKeyHex + 1))) {
      continue;
    }
    if (const std::string* need = NeedOfKey(rest.substr(0, kNeedKeyHex), patient_id, catalog)) {
      id.kind = task ? IdentifierKind::kTask : IdentifierKind::kServiceRequest;
      id.need = *need;
      id.service_request = std::string(kServiceRequestPrefix) + std::string(rest);
      return id;
    }
  }
  // Format 1.
  id.legacy = true;
  if (value.ends_with(kLegacyTaskSuffix)) {
    std::string_view sr = value.substr(0, value.size() - kLegacyTaskSuffix.size());
    if (auto need = LegacyServiceRequestNeed(sr, catalog)) {
      id.kind = IdentifierKind::kTask;
      id.need = std::move(*need);
      id.service_request = std::string(sr);
      return id;
    }
  }
  if (auto need = LegacyServiceRequestNeed(value, catalog)) {
    id.kind = IdentifierKind::kServiceRequest;
    id.need = std::move(*need);
    id.service_request = std::string(value);
    return id;
  }
  // A format-1 Flag: "<need>-<patient id>" for exactly this patient.
  if (value.size() > patient_id.size() + 1 && value.ends_with(patient_id) &&
      value[value.size() - patient_id.size() - 1] == '-') {
    std::string_view need = value.substr(0, value.size() - patient_id.size() - 1);
    if (catalog.FindNeed(need) != nullptr) {
      id.kind = IdentifierKind::kFlag;
      id.need = std::string(need);
      return id;
    }
  }
  return std::nullopt;
}

std::string RulesetTagCode(std::string_view ruleset_id, std::string_view version) {
  std::string code(ruleset_id);
  code += '|';
  code += version;
  return code;
}

std::optional<std::pair<std::string, std::string>> RulesetOf(const rapidjson::Value& resource) {
  if (const rapidjson::Value* meta = fhir::json::Member(resource, "meta");
      meta != nullptr && meta->IsObject()) {
    if (const rapidjson::Value* tags = fhir::json::ArrayMember(*meta, "tag")) {
      for (const rapidjson::Value& tag : tags->GetArray()) {
        if (!tag.IsObject() || fhir::json::StrMember(tag, "system") != kRulesetTagSystem) continue;
        std::string_view code = fhir::json::StrMember(tag, "code");
        size_t bar = code.rfind('|');
        if (bar == std::string_view::npos) continue;
        return std::make_pair(std::string(code.substr(0, bar)), std::string(code.substr(bar + 1)));
      }
    }
  }
  // Format 1: "Rule set <id> <version>. Why: ..." in the note.
  if (const rapidjson::Value* notes = fhir::json::ArrayMember(resource, "note")) {
    for (const rapidjson::Value& n : notes->GetArray()) {
      std::string_view text = fhir::json::StrMember(n, "text");
      size_t at = text.find("Rule set ");
      if (at == std::string_view::npos) continue;
      std::string_view rest = text.substr(at + 9);
      rest = rest.substr(0, rest.find(". "));
      size_t space = rest.rfind(' ');
      if (space == std::string_view::npos) continue;
      return std::make_pair(std::string(rest.substr(0, space)),
                            std::string(rest.substr(space + 1)));
    }
  }
  return std::nullopt;
}

}  // namespace sdoh
