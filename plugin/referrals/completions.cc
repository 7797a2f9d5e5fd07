#include "plugin/referrals/completions.h"

#include <cstdio>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace sdoh {

namespace {

constexpr fhir::InstantMicros kDay = 86400LL * 1000000;
constexpr const char* kSuffix = " — referral completed ";

void SetString(rapidjson::Value& obj, const char* key, const std::string& value,
               rapidjson::Document::AllocatorType& a) {
  obj.RemoveMember(key);
  obj.AddMember(rapidjson::Value(key, a), rapidjson::Value(value.c_str(), a), a);
}

// Civil date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
std::string CivilDate(int64_t days) {
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const int64_t doe = days - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const int64_t m = mp < 10 ? mp + 3 : mp - 9;
  const int64_t y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04lld-%02lld-%02lld", static_cast<long long>(y),
                static_cast<long long>(m), static_cast<long long>(d));
  return buf;
}

}  // namespace

std::string LocalDate(fhir::InstantMicros t, const fhir::TimeZone& tz) {
  int64_t secs = t / 1000000;
  if (t < 0 && t % 1000000 != 0) --secs;
  // The offset at the local time is the one in force; the UTC time is a close enough guess of
  // it except in the hour of a change, where either date is defensible.
  const int64_t local = secs + tz.UtcOffsetSecondsAtLocal(secs);
  int64_t days = local / 86400;
  if (local < 0 && local % 86400 != 0) --days;
  return CivilDate(days);
}

std::optional<fhir::InstantMicros> CompletionFlagEnd(fhir::InstantMicros completed,
                                                     int after_days) {
  if (after_days <= 0) return std::nullopt;
  return completed + static_cast<fhir::InstantMicros>(after_days) * kDay;
}

std::string FlagWithCompletion(const std::string& flag_json, fhir::InstantMicros completed,
                               fhir::InstantMicros now, int after_days, const fhir::TimeZone& tz) {
  rapidjson::Document d;
  d.Parse(flag_json.c_str());
  if (d.HasParseError() || !d.IsObject()) return flag_json;
  auto& a = d.GetAllocator();
  auto status = d.FindMember("status");
  if (status != d.MemberEnd() && status->value.IsString() &&
      std::string(status->value.GetString()) != "active") {
    return flag_json;
  }
  auto code = d.FindMember("code");
  if (code != d.MemberEnd() && code->value.IsObject()) {
    std::string text;
    auto t = code->value.FindMember("text");
    if (t != code->value.MemberEnd() && t->value.IsString()) text = t->value.GetString();
    if (size_t at = text.find(kSuffix); at != std::string::npos) text.resize(at);
    SetString(code->value, "text", text + kSuffix + LocalDate(completed, tz), a);
  }
  if (auto end = CompletionFlagEnd(completed, after_days); end && now >= *end) {
    SetString(d, "status", "inactive", a);
    if (!d.HasMember("period") || !d["period"].IsObject()) {
      d.RemoveMember("period");
      d.AddMember("period", rapidjson::Value(rapidjson::kObjectType), a);
    }
    SetString(d["period"], "end", fhir::FormatInstantUtc(*end), a);
  }
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  d.Accept(w);
  return std::string(sb.GetString(), sb.GetSize());
}

}  // namespace sdoh
