#include "plugin/report/demographics.h"

#include <cctype>
#include <cstdlib>
#include <set>

#include "fhir/json.h"

namespace sdoh::report {

namespace {

constexpr std::string_view kRaceUrl =
    "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race";
constexpr std::string_view kEthnicityUrl =
    "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity";

// OMB categories (CDC Race & Ethnicity code system, urn:oid:2.16.840.1.113883.6.238) and the
// null flavors US Core allows in ombCategory.
std::string CategoryName(std::string_view code) {
  if (code == "1002-5") return "American Indian or Alaska Native";
  if (code == "2028-9") return "Asian";
  if (code == "2054-5") return "Black or African American";
  if (code == "2076-8") return "Native Hawaiian or Other Pacific Islander";
  if (code == "2106-3") return "White";
  if (code == "2135-2") return "Hispanic or Latino";
  if (code == "2186-5") return "Not Hispanic or Latino";
  if (code == "ASKU") return "Asked but no answer";
  return "Unknown";  // UNK and anything outside the value set
}

// The distinct ombCategory codes of the extension with `url`.
std::set<std::string> OmbCodes(const rapidjson::Value& patient, std::string_view url) {
  std::set<std::string> codes;
  const rapidjson::Value* exts = fhir::json::ArrayMember(patient, "extension");
  if (exts == nullptr) return codes;
  for (const auto& ext : exts->GetArray()) {
    if (!ext.IsObject() || fhir::json::StrMember(ext, "url") != url) continue;
    const rapidjson::Value* inner = fhir::json::ArrayMember(ext, "extension");
    if (inner == nullptr) continue;
    for (const auto& part : inner->GetArray()) {
      if (!part.IsObject() || fhir::json::StrMember(part, "url") != "ombCategory") continue;
      const rapidjson::Value* coding = fhir::json::Member(part, "valueCoding");
      if (coding == nullptr || !coding->IsObject()) continue;
      std::string_view code = fhir::json::StrMember(*coding, "code");
      if (!code.empty()) codes.emplace(code);
    }
  }
  return codes;
}

std::string PreferredLanguage(const rapidjson::Value& patient) {
  const rapidjson::Value* comms = fhir::json::ArrayMember(patient, "communication");
  if (comms == nullptr) return "unknown";
  for (const auto& c : comms->GetArray()) {
    if (!c.IsObject() || !fhir::json::IsTrue(c, "preferred")) continue;
    const rapidjson::Value* lang = fhir::json::Member(c, "language");
    if (lang == nullptr || !lang->IsObject()) continue;
    const rapidjson::Value* codings = fhir::json::ArrayMember(*lang, "coding");
    if (codings == nullptr) continue;
    for (const auto& coding : codings->GetArray()) {
      if (!coding.IsObject()) continue;
      std::string_view code = fhir::json::StrMember(coding, "code");
      if (!code.empty()) return std::string(code);
    }
  }
  return "unknown";
}

std::string Zip3(const rapidjson::Value& patient) {
  const rapidjson::Value* addresses = fhir::json::ArrayMember(patient, "address");
  if (addresses == nullptr || addresses->Empty() || !(*addresses)[0].IsObject()) return "unknown";
  std::string_view zip = fhir::json::StrMember((*addresses)[0], "postalCode");
  if (zip.size() < 3) return "unknown";
  for (size_t i = 0; i < 3; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(zip[i]))) return "unknown";
  }
  return std::string(zip.substr(0, 3));
}

}  // namespace

Demographics ReadDemographics(const rapidjson::Value& patient) {
  Demographics d;
  d.language = PreferredLanguage(patient);
  std::set<std::string> race;
  for (const std::string& code : OmbCodes(patient, kRaceUrl)) {
    if (code != "UNK" && code != "ASKU") race.insert(code);
  }
  if (race.size() > 1) {
    d.race = "Two or more races";
  } else if (race.size() == 1) {
    d.race = CategoryName(*race.begin());
  }
  std::set<std::string> ethnicity = OmbCodes(patient, kEthnicityUrl);
  ethnicity.erase("UNK");
  ethnicity.erase("ASKU");
  if (ethnicity.size() == 1) d.ethnicity = CategoryName(*ethnicity.begin());
  std::string_view gender = fhir::json::StrMember(patient, "gender");
  if (!gender.empty()) d.gender = std::string(gender);
  d.birth_date = std::string(fhir::json::StrMember(patient, "birthDate"));
  d.zip3 = Zip3(patient);
  if (const rapidjson::Value* meta = fhir::json::Member(patient, "meta");
      meta != nullptr && meta->IsObject()) {
    std::string v(fhir::json::StrMember(*meta, "versionId"));
    char* end = nullptr;
    long long n = v.empty() ? -1 : std::strtoll(v.c_str(), &end, 10);
    if (!v.empty() && end != nullptr && *end == '\0' && n >= 0) d.version = n;
  }
  return d;
}

void DemographicsTap::OnResource(std::string_view expected_type, const rapidjson::Value& resource,
                                 const fhir::SourceLocation& where) {
  if (resource.IsObject() && fhir::json::StrMember(resource, "resourceType") == "Patient") {
    std::string_view id = fhir::json::StrMember(resource, "id");
    if (!id.empty()) {
      Demographics d = ReadDemographics(resource);
      d.seq = ++seq_;
      auto [it, inserted] = by_patient_.try_emplace(std::string(id), d);
      if (!inserted && d.version >= it->second.version) it->second = std::move(d);
    }
  }
  inner_.OnResource(expected_type, resource, where);
}

void DemographicsTap::OnUnreadable(std::string_view expected_type,
                                   const fhir::SourceLocation& where, std::string_view reason,
                                   const std::string& detail) {
  inner_.OnUnreadable(expected_type, where, reason, detail);
}

}  // namespace sdoh::report
