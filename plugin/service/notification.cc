#include "plugin/service/notification.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <rapidjson/document.h>

#include <map>

#include "fhir/json.h"

namespace sdoh::service {

namespace {

using fhir::json::ArrayMember;
using fhir::json::Member;
using fhir::json::StrMember;

// "http://x/fhir/Observation/1/_history/2" → "Observation/1"; "Observation/1" stays.
std::string RelativeReference(std::string ref) {
  size_t h = ref.find("/_history/");
  if (h != std::string::npos) ref.resize(h);
  size_t last = ref.rfind('/');
  if (last == std::string::npos || last == 0) return ref;
  size_t prev = ref.rfind('/', last - 1);
  return prev == std::string::npos ? ref : ref.substr(prev + 1);
}

std::string PatientOf(const rapidjson::Value& r) {
  std::string type(StrMember(r, "resourceType"));
  if (type == "Patient") return "Patient/" + std::string(StrMember(r, "id"));
  const rapidjson::Value* subject = Member(r, type == "Task" ? "for" : "subject");
  if (subject == nullptr || !subject->IsObject()) return {};
  std::string ref = RelativeReference(std::string(StrMember(*subject, "reference")));
  return ref.rfind("Patient/", 0) == 0 ? ref : std::string();
}

}  // namespace

fhir::Result<Notification> ParseNotification(const std::string& body) {
  rapidjson::Document doc;
  // Iterative and depth-limited: a deeply nested body must not overflow the stack (issue 7).
  if (fhir::json::ParseDocument(body, fhir::json::kNetworkMaxDepth, &doc) !=
          fhir::json::ParseFailure::kNone ||
      !doc.IsObject() || StrMember(doc, "resourceType") != "Bundle") {
    return fhir::Status::InvalidArgument("notification: expected a Bundle");
  }
  const rapidjson::Value* entries = ArrayMember(doc, "entry");
  if (entries == nullptr || entries->Empty()) {
    return fhir::Status::InvalidArgument("notification: Bundle.entry is empty");
  }
  const rapidjson::Value& first = (*entries)[0];
  const rapidjson::Value* status = first.IsObject() ? Member(first, "resource") : nullptr;
  if (status == nullptr || !status->IsObject() ||
      (StrMember(*status, "resourceType") != "Parameters" &&
       StrMember(*status, "resourceType") != "SubscriptionStatus")) {
    return fhir::Status::InvalidArgument(
        "notification: the first entry must be the SubscriptionStatus (Parameters)");
  }
  Notification n;
  std::vector<std::string> focus;
  if (StrMember(*status, "resourceType") == "SubscriptionStatus") {  // R4B/R5 shape
    n.type = std::string(StrMember(*status, "type"));
    if (const rapidjson::Value* s = Member(*status, "subscription"); s && s->IsObject()) {
      n.subscription = RelativeReference(std::string(StrMember(*s, "reference")));
    }
    if (const rapidjson::Value* evs = ArrayMember(*status, "notificationEvent")) {
      for (const auto& e : evs->GetArray()) {
        const rapidjson::Value* f = e.IsObject() ? Member(e, "focus") : nullptr;
        if (f && f->IsObject()) focus.push_back(std::string(StrMember(*f, "reference")));
      }
    }
  } else if (const rapidjson::Value* params = ArrayMember(*status, "parameter")) {
    for (const auto& p : params->GetArray()) {
      if (!p.IsObject()) continue;
      std::string name(StrMember(p, "name"));
      if (name == "type") {
        n.type = std::string(StrMember(p, "valueCode"));
      } else if (name == "subscription") {
        if (const rapidjson::Value* v = Member(p, "valueReference"); v && v->IsObject()) {
          n.subscription = RelativeReference(std::string(StrMember(*v, "reference")));
        }
      } else if (name == "notification-event") {
        const rapidjson::Value* parts = ArrayMember(p, "part");
        if (parts == nullptr) continue;
        for (const auto& part : parts->GetArray()) {
          if (!part.IsObject() || StrMember(part, "name") != "focus") continue;
          if (const rapidjson::Value* v = Member(part, "valueReference"); v && v->IsObject()) {
            focus.push_back(std::string(StrMember(*v, "reference")));
          }
        }
      }
    }
  }
  if (n.type.empty()) {
    return fhir::Status::InvalidArgument("notification: SubscriptionStatus has no type");
  }
  // The other entries: the focus resources (full-resource) or their references (id-only).
  std::map<std::string, std::string> patient_by_ref;
  for (rapidjson::SizeType i = 1; i < entries->Size(); ++i) {
    const rapidjson::Value& e = (*entries)[i];
    if (!e.IsObject()) continue;
    const rapidjson::Value* r = Member(e, "resource");
    std::string ref;
    std::string patient;
    if (r != nullptr && r->IsObject()) {
      ref = std::string(StrMember(*r, "resourceType")) + "/" + std::string(StrMember(*r, "id"));
      patient = PatientOf(*r);
    } else {
      ref = RelativeReference(std::string(StrMember(e, "fullUrl")));
    }
    if (ref.empty() || ref == "/") continue;
    patient_by_ref[ref] = patient;
    bool listed = false;
    for (const auto& f : focus) listed = listed || RelativeReference(f) == ref;
    if (!listed) focus.push_back(ref);
  }
  for (const auto& f : focus) {
    std::string ref = RelativeReference(f);
    if (ref.empty()) continue;
    auto it = patient_by_ref.find(ref);
    n.events.push_back({ref, it == patient_by_ref.end() ? std::string() : it->second});
  }
  return n;
}

bool SecretMatches(const std::string& presented, const std::string& secret) {
  if (secret.empty()) return false;
  unsigned char a[SHA256_DIGEST_LENGTH], b[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(presented.data()), presented.size(), a);
  SHA256(reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), b);
  return CRYPTO_memcmp(a, b, sizeof a) == 0;
}

}  // namespace sdoh::service
