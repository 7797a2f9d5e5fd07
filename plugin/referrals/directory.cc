#include "plugin/referrals/directory.h"

#include <algorithm>
#include <cctype>
#include <tuple>

#include "fhir/json.h"
#include "fhir/printable.h"
#include "fhir/resource_id.h"

namespace sdoh {

namespace json = fhir::json;
using rapidjson::Value;

namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// Upper case, no spaces: postal codes compare so.
std::string NormalPostal(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == ' ' || c == '\t') continue;
    out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

std::string PrimaryTag(std::string_view tag) { return Lower(tag.substr(0, tag.find('-'))); }

// "Location/<id>" (relative or ending an absolute URL) → id; "" otherwise.
std::string RefId(const Value& ref, std::string_view type) {
  std::string_view r = json::StrMember(ref, "reference");
  const std::string prefix = std::string(type) + "/";
  size_t at = r.rfind(prefix);
  if (at == std::string_view::npos || (at > 0 && r[at - 1] != '/')) return "";
  std::string_view id = r.substr(at + prefix.size());
  id = id.substr(0, id.find('/'));  // no _history
  return fhir::IsValidId(id) ? std::string(id) : "";
}

void Codings(const Value& r, std::string_view member,
             std::vector<std::pair<std::string, std::string>>* out) {
  const Value* ccs = json::ArrayMember(r, member);
  if (ccs == nullptr) return;
  for (const auto& cc : ccs->GetArray()) {
    const Value* codings = cc.IsObject() ? json::ArrayMember(cc, "coding") : nullptr;
    if (codings == nullptr) continue;
    for (const auto& c : codings->GetArray()) {
      if (!c.IsObject()) continue;
      std::string_view code = json::StrMember(c, "code");
      if (!code.empty()) out->emplace_back(std::string(json::StrMember(c, "system")), code);
    }
  }
}

std::vector<std::string> RefIds(const Value& r, std::string_view member, std::string_view type) {
  std::vector<std::string> out;
  if (const Value* refs = json::ArrayMember(r, member)) {
    for (const auto& ref : refs->GetArray()) {
      if (!ref.IsObject()) continue;
      std::string id = RefId(ref, type);
      if (!id.empty()) out.push_back(std::move(id));
    }
  }
  return out;
}

}  // namespace

const char* CapacityName(Capacity c) {
  switch (c) {
    case Capacity::kCapacity:
      return "capacity";
    case Capacity::kWaitlist:
      return "no-capacity-has-waitlist";
    case Capacity::kNoCapacity:
      return "no-capacity";
    case Capacity::kUnknown:
      break;
  }
  return "unknown";
}

bool PostalCodeCovered(const std::string& patient, const std::string& listed) {
  const std::string p = NormalPostal(patient);
  const std::string l = NormalPostal(listed);
  if (p.empty() || l.empty()) return false;
  if (l.back() == '*') {
    const std::string prefix = l.substr(0, l.size() - 1);
    return !prefix.empty() && p.compare(0, prefix.size(), prefix) == 0;
  }
  if (p == l) return true;
  // ZIP+4 against a 5-digit code.
  return p.size() > l.size() && p.compare(0, l.size(), l) == 0 && p[l.size()] == '-';
}

const std::vector<std::string>& Directory::InputTypes() {
  static const std::vector<std::string> types{"Organization", "Location", "HealthcareService"};
  return types;
}

void Directory::OnUnreadable(std::string_view expected_type, const fhir::SourceLocation& where,
                             std::string_view reason, const std::string& detail) {
  counts_.Skip({std::string(where.origin) + ":" + std::to_string(where.position),
                "directory " + std::string(expected_type) + ": " + std::string(reason), detail});
}

void Directory::OnResource(std::string_view expected_type, const Value& r,
                           const fhir::SourceLocation& where) {
  auto skip = [&](const std::string& what) {
    counts_.Skip({std::string(where.origin) + ":" + std::to_string(where.position),
                  "directory " + std::string(expected_type) + ": invalid", what});
  };
  if (!r.IsObject() || json::StrMember(r, "resourceType") != expected_type) {
    skip("not a " + std::string(expected_type));
    return;
  }
  const std::string_view id = json::StrMember(r, "id");
  if (!fhir::IsValidId(id)) {
    skip("id missing or not a FHIR id");
    return;
  }
  ++counts_.read[std::string(expected_type)];
  if (expected_type == "Organization") {
    organizations_.insert(std::string(id));
    if (json::IsFalse(r, "active")) inactive_organizations_.insert(std::string(id));
    return;
  }
  if (expected_type == "Location") {
    std::vector<std::string>& codes = location_codes_[std::string(id)];
    codes.clear();
    if (const Value* a = json::Member(r, "address"); a != nullptr && a->IsObject()) {
      std::string_view pc = json::StrMember(*a, "postalCode");
      if (!pc.empty()) codes.emplace_back(pc);
    }
    if (const Value* exts = json::ArrayMember(r, "extension")) {
      for (const auto& e : exts->GetArray()) {
        if (!e.IsObject() || json::StrMember(e, "url") != kCoveragePostalCodeExtension) continue;
        std::string_view v = json::StrMember(e, "valueString");
        if (v.empty()) {
          skip("Location/" + std::string(id) + " extension " + kCoveragePostalCodeExtension +
               " without valueString");
          continue;
        }
        codes.emplace_back(v);
      }
    }
    return;
  }
  if (expected_type != "HealthcareService") return;
  DirectoryService s;
  s.id = std::string(id);
  s.active = !json::IsFalse(r, "active");
  if (const Value* by = json::Member(r, "providedBy"); by != nullptr && by->IsObject()) {
    std::string org = RefId(*by, "Organization");
    if (!org.empty()) s.organization = "Organization/" + org;
  }
  Codings(r, "category", &s.codings);
  Codings(r, "type", &s.codings);
  if (const Value* comms = json::ArrayMember(r, "communication")) {
    for (const auto& cc : comms->GetArray()) {
      const Value* codings = cc.IsObject() ? json::ArrayMember(cc, "coding") : nullptr;
      if (codings == nullptr) continue;
      for (const auto& c : codings->GetArray()) {
        if (!c.IsObject()) continue;
        std::string_view code = json::StrMember(c, "code");
        if (!code.empty()) s.languages.push_back(PrimaryTag(code));
      }
    }
  }
  if (const Value* exts = json::ArrayMember(r, "extension")) {
    for (const auto& e : exts->GetArray()) {
      if (!e.IsObject() || json::StrMember(e, "url") != options_.capacity_extension) continue;
      const Value* subs = json::ArrayMember(e, "extension");
      bool read = false;
      if (subs != nullptr) {
        for (const auto& sub : subs->GetArray()) {
          if (!sub.IsObject() || json::StrMember(sub, "url") != "capacityStatus") continue;
          const Value* cc = json::Member(sub, "valueCodeableConcept");
          const Value* codings =
              cc != nullptr && cc->IsObject() ? json::ArrayMember(*cc, "coding") : nullptr;
          if (codings == nullptr) continue;
          for (const auto& c : codings->GetArray()) {
            if (!c.IsObject() || json::StrMember(c, "system") != kCapacityCodeSystem) continue;
            std::string_view code = json::StrMember(c, "code");
            if (code == "capacity") {
              s.capacity = Capacity::kCapacity;
              read = true;
            } else if (code == "no-capacity") {
              s.capacity = Capacity::kNoCapacity;
              read = true;
            } else if (code == "no-capacity-has-waitlist") {
              s.capacity = Capacity::kWaitlist;
              read = true;
            }
          }
        }
      }
      if (!read) {
        skip("HealthcareService/" + s.id +
             " capacity-status extension without a known capacityStatus code (read as unknown)");
      }
    }
  }
  Pending p{RefIds(r, "coverageArea", "Location"), RefIds(r, "location", "Location")};
  auto [it, added] = index_.emplace(s.id, services_.size());
  if (!added) {  // a later line of the same id replaces it
    counts_.Ignore("HealthcareService", "read twice (the later line counts)");
    services_[it->second] = std::move(s);
    pending_[it->second] = std::move(p);
    return;
  }
  services_.push_back(std::move(s));
  pending_.push_back(std::move(p));
}

void Directory::Finish() {
  for (size_t i = 0; i < services_.size() && i < pending_.size(); ++i) {
    DirectoryService& s = services_[i];
    const Pending& p = pending_[i];
    const std::vector<std::string>& ids = !p.coverage.empty() ? p.coverage : p.location;
    for (const std::string& loc : ids) {
      auto it = location_codes_.find(loc);
      if (it == location_codes_.end()) {
        counts_.Skip({"HealthcareService/" + s.id, "directory HealthcareService: invalid",
                      "Location/" + loc + " is not in the directory"});
        continue;
      }
      s.postal_codes.insert(s.postal_codes.end(), it->second.begin(), it->second.end());
    }
    if (!s.organization.empty()) {
      const std::string org(json::ReferenceId(s.organization, "Organization"));
      if (inactive_organizations_.count(org) != 0) s.active = false;
    }
  }
  pending_.clear();
  index_.clear();
  Index();
}

void Directory::AddService(DirectoryService s) {
  services_.push_back(std::move(s));
  Index();
}

void Directory::Index() {
  std::sort(services_.begin(), services_.end(),
            [](const DirectoryService& a, const DirectoryService& b) { return a.id < b.id; });
  by_category_.clear();
  for (size_t i = 0; i < services_.size(); ++i) {
    for (const auto& coding : services_[i].codings) {
      std::vector<size_t>& at = by_category_[coding];
      if (at.empty() || at.back() != i) at.push_back(i);
    }
  }
}

DirectoryChoice Directory::Choose(const DirectoryQuery& q) const {
  DirectoryChoice choice;
  choice.consulted = true;
  const std::string lang = PrimaryTag(q.language);
  static const std::vector<size_t> kNone;
  auto cat = by_category_.find({q.category_system, q.category_code});
  const std::vector<size_t>& listed = cat != by_category_.end() ? cat->second : kNone;
  choice.other_category = services_.size() - listed.size();
  for (size_t at : listed) {
    const DirectoryService& s = services_[at];
    CandidateVerdict v;
    v.service = s.Reference();
    v.capacity = s.capacity;
    v.reasons.push_back("category: " + q.category_code + " listed");
    auto exclude = [&](const std::string& why) {
      if (v.excluded.empty()) v.excluded = why;
    };
    if (!s.active) exclude("inactive");
    if (s.postal_codes.empty()) {
      v.reasons.push_back("area: none listed");
      exclude("no service area listed");
    } else if (q.postal_code.empty()) {
      v.reasons.push_back("area: the patient has no postal code");
      exclude("the patient has no postal code");
    } else if (std::any_of(s.postal_codes.begin(), s.postal_codes.end(),
                           [&](const auto& c) { return PostalCodeCovered(q.postal_code, c); })) {
      v.reasons.push_back("area: covers the patient's postal code");
    } else {
      v.reasons.push_back("area: does not cover the patient's postal code");
      exclude("outside its area");
    }
    if (lang.empty()) {
      v.reasons.push_back("language: the patient states none");
    } else if (std::find(s.languages.begin(), s.languages.end(), lang) != s.languages.end()) {
      v.language_match = true;
      v.reasons.push_back("language: offers " + fhir::Printable(lang, 16));
    } else {
      v.reasons.push_back("language: does not offer " + fhir::Printable(lang, 16));
      if (options_.require_language) exclude("language not offered (directory.require_language)");
    }
    v.reasons.push_back(std::string("capacity: ") + CapacityName(s.capacity));
    if (s.capacity == Capacity::kNoCapacity) exclude("no-capacity");
    const bool rejected = q.rejected.count(s.Reference()) != 0 ||
                          (!s.organization.empty() && q.rejected.count(s.organization) != 0);
    if (rejected) {
      v.reasons.push_back("rejected: declined this patient's referral for this need before");
      exclude("rejected this patient's referral for this need before");
    }
    v.eligible = v.excluded.empty();
    choice.candidates.push_back(std::move(v));
  }
  auto rank = [](const CandidateVerdict& v) {
    return std::make_tuple(v.eligible ? 0 : 1, v.language_match ? 0 : 1,
                           static_cast<int>(v.capacity));
  };
  std::stable_sort(choice.candidates.begin(), choice.candidates.end(),
                   [&](const CandidateVerdict& a, const CandidateVerdict& b) {
                     return rank(a) < rank(b);  // ties keep the id order
                   });
  if (!choice.candidates.empty() && choice.candidates.front().eligible) {
    const CandidateVerdict& best = choice.candidates.front();
    choice.service = best.service;
    for (size_t at : listed) {
      if (services_[at].Reference() == best.service) {
        choice.organization = services_[at].organization;
      }
    }
    size_t eligible = 0;
    for (const CandidateVerdict& v : choice.candidates) eligible += v.eligible ? 1 : 0;
    choice.why = eligible == 1 ? "the only eligible service"
                               : "ranked first of " + std::to_string(eligible) +
                                     " eligible (language offered, then capacity, then id)";
  } else {
    choice.why =
        choice.candidates.empty() ? "no service lists the category" : "no eligible service";
  }
  return choice;
}

}  // namespace sdoh
