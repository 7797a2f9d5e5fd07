// Internal to the screening collector: what its readers take from a resource before they know
// its meaning — the top-level members in one pass, the version rank from meta, the subject, a
// status as a token safe for summaries. Inline: called once per resource on the read path.
#pragma once

#include <cctype>
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

#include <rapidjson/document.h>

#include "fhir/datetime.h"
#include "fhir/json.h"
#include "plugin/screening/input_policy.h"
#include "plugin/screening/screening.h"

namespace sdoh {

inline constexpr std::string_view kLoinc = "http://loinc.org";

// Status values go into summaries; anything outside the FHIR code lists is reported generically
// so that free text never reaches a log.
inline std::string StatusToken(std::string_view s) {
  static const char* kKnown[] = {"in-progress", "completed",  "amended",     "entered-in-error",
                                 "stopped",     "registered", "preliminary", "final",
                                 "corrected",   "cancelled",  "unknown"};
  if (s.empty()) return "status missing";
  for (const char* k : kKnown) {
    if (s == k) return std::string("status ") + k;
  }
  return "status not a known code";
}

// The top-level members the collector reads, found in one pass over the object.
struct Top {
  const rapidjson::Value* meta = nullptr;
  const rapidjson::Value* status = nullptr;
  const rapidjson::Value* subject = nullptr;
  const rapidjson::Value* code = nullptr;
  const rapidjson::Value* questionnaire = nullptr;
  const rapidjson::Value* authored = nullptr;
  const rapidjson::Value* item = nullptr;
  const rapidjson::Value* effective_dt = nullptr;
  const rapidjson::Value* effective_period = nullptr;
  const rapidjson::Value* value_cc = nullptr;
  const rapidjson::Value* has_member = nullptr;
  bool has_other_value = false;  // value[x] that is not a CodeableConcept

  explicit Top(const rapidjson::Value& r) {
    for (const auto& m : r.GetObject()) {
      std::string_view k(m.name.GetString(), m.name.GetStringLength());
      switch (k.size()) {
        case 4:
          if (k == "meta")
            meta = &m.value;
          else if (k == "code")
            code = &m.value;
          else if (k == "item")
            item = &m.value;
          break;
        case 6:
          if (k == "status") status = &m.value;
          break;
        case 7:
          if (k == "subject") subject = &m.value;
          break;
        case 8:
          if (k == "authored") authored = &m.value;
          break;
        case 9:
          if (k == "hasMember") has_member = &m.value;
          break;
        case 13:
          if (k == "questionnaire") questionnaire = &m.value;
          break;
        case 15:
          if (k == "effectivePeriod") effective_period = &m.value;
          break;
        case 17:
          if (k == "effectiveDateTime") effective_dt = &m.value;
          break;
        case 20:
          if (k == "valueCodeableConcept") value_cc = &m.value;
          break;
        default:
          break;
      }
      if (k.size() > 5 && k.compare(0, 5, "value") == 0 &&
          std::isupper(static_cast<unsigned char>(k[5])) && k != "valueCodeableConcept") {
        has_other_value = true;
      }
    }
  }
};

// A canonical decimal (no sign, no leading zero): such versionIds are kept as numbers.
inline bool CanonicalNumber(std::string_view v, int64_t* out) {
  if (v.empty() || v.size() > 18 || (v.size() > 1 && v[0] == '0')) return false;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), *out);
  return ec == std::errc() && p == v.data() + v.size();
}

inline VersionRank RankOf(const rapidjson::Value* meta, uint64_t seq, const fhir::TimeZone& tz,
                          std::string_view* vid) {
  VersionRank rank;
  rank.seq = seq;
  if (meta != nullptr && meta->IsObject()) {
    std::string_view v = fhir::json::StrMember(*meta, "versionId");
    if (vid) *vid = v;
    int64_t n = 0;
    if (CanonicalNumber(v, &n)) rank.version = n;
    if (auto t = fhir::ParseFhirDateTime(fhir::json::StrMember(*meta, "lastUpdated"), tz)) {
      rank.last_updated = *t;
    }
  }
  return rank;
}

inline SubjectCheck SubjectOf(const rapidjson::Value* subject, const InputPolicy& policy) {
  if (subject == nullptr) return {};
  return CheckSubject(fhir::json::StrMember(*subject, "reference"), policy);
}

}  // namespace sdoh
