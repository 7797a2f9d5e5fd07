// Writes a synthetic screening population as FHIR NDJSON (Patient, QuestionnaireResponse,
// Observation, Questionnaire files), deterministic for a given seed. Realistic shapes: names,
// addresses and extensions on Patients; AHC HRSN, Hunger Vital Sign and PRAPARE responses with
// nested items; AHC and HVS Observation panels with members; rescreens; ignored resources.
//
// Usage: generate_population --patients N --out DIR [--seed S]
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

namespace {

struct Out {
  std::FILE* f;
  uint64_t bytes = 0;
  void Line(const std::string& s) {
    std::fwrite(s.data(), 1, s.size(), f);
    std::fputc('\n', f);
    bytes += s.size() + 1;
  }
};

const char* kFamily[] = {"Garcia", "Nguyen",  "Smith",  "Okafor", "Haddad", "Kowalski",
                         "Chen",   "Johnson", "Rivera", "Patel",  "Yilmaz", "Dubois"};
const char* kGiven[] = {"Maria", "Anh",  "John", "Ngozi", "Omar", "Anna",
                        "Wei",   "Lena", "Luis", "Priya", "Emre", "Claire"};
// About 15% prefer a language other than English.
const char* kLang[] = {"en", "en-US", "en", "en-US", "en", "en", "en-US", "en", "en",    "en",
                       "en", "en-US", "en", "en",    "en", "en", "es",    "vi", "es-MX", "zh"};

std::string Coding(const char* system, const std::string& code, const char* display) {
  return std::string(R"({"system":")") + system + R"(","code":")" + code + R"(","display":")" +
         display + R"("})";
}
std::string Loinc(const std::string& code) { return Coding("http://loinc.org", code, "answer"); }

std::string Item(const std::string& link, const char* text,
                 const std::vector<std::string>& answers) {
  std::string s = R"({"linkId":")" + link + R"(","text":")" + text + R"(","answer":[)";
  for (size_t i = 0; i < answers.size(); ++i) {
    s += std::string(i ? "," : "") + R"({"valueCoding":)" + Loinc(answers[i]) + "}";
  }
  return s + "]}";
}

std::string Date(std::mt19937_64& rng, int year) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%d-%02d-%02dT%02d:%02d:00-05:00", year,
                static_cast<int>(rng() % 12 + 1), static_cast<int>(rng() % 28 + 1),
                static_cast<int>(rng() % 10 + 8), static_cast<int>(rng() % 60));
  return buf;
}

template <size_t N>
const char* Pick(std::mt19937_64& rng, const char* (&arr)[N]) {
  return arr[rng() % N];
}

std::string Pick(std::mt19937_64& rng, const std::vector<std::string>& v) {
  return v[rng() % v.size()];
}

}  // namespace

int main(int argc, char** argv) {
  long patients = 1000;
  std::string out_dir;
  unsigned long seed = 42;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--patients")
      patients = std::atol(argv[i + 1]);
    else if (a == "--out")
      out_dir = argv[i + 1];
    else if (a == "--seed")
      seed = std::strtoul(argv[i + 1], nullptr, 10);
  }
  if (out_dir.empty() || patients <= 0) {
    std::fprintf(stderr, "usage: generate_population --patients N --out DIR [--seed S]\n");
    return 2;
  }
  std::filesystem::create_directories(out_dir);
  auto open = [&](const char* name) {
    return Out{std::fopen((out_dir + "/" + name).c_str(), "wb")};
  };
  Out pat = open("Patient.ndjson"), qr = open("QuestionnaireResponse.ndjson"),
      obs = open("Observation.ndjson"), q = open("Questionnaire.ndjson");
  q.Line(
      R"({"resourceType":"Questionnaire","id":"hunger-check","url":"http://clinic.example.org/fhir/Questionnaire/hunger-check","status":"active","item":[{"linkId":"hc-1","type":"choice","code":[{"system":"http://loinc.org","code":"88122-7"}]},{"linkId":"hc-2","type":"choice","code":[{"system":"http://loinc.org","code":"88123-5"}]}]})");
  std::mt19937_64 rng(seed);
  // Answer pools weighted towards realistic positive rates (roughly 5-15% per question).
  auto pool = [](std::initializer_list<std::pair<const char*, int>> weighted) {
    std::vector<std::string> v;
    for (const auto& [code, n] : weighted) v.insert(v.end(), n, code);
    return v;
  };
  const std::vector<std::string> food =
      pool({{"LA28397-0", 1}, {"LA6729-3", 1}, {"LA28398-8", 60}});
  const std::vector<std::string> living =
      pool({{"LA31993-1", 36}, {"LA31994-9", 1}, {"LA31995-6", 1}});
  const std::vector<std::string> problems =
      pool({{"LA9-3", 36}, {"LA31996-4", 1}, {"LA28580-1", 1}});
  const std::vector<std::string> yesno = pool({{"LA32-8", 29}, {"LA33-6", 1}});
  const std::vector<std::string> hits = pool(
      {{"LA6270-8", 14}, {"LA10066-1", 3}, {"LA10082-8", 1}, {"LA16644-9", 1}, {"LA6482-9", 1}});
  uint64_t screenings = 0;
  for (long n = 0; n < patients; ++n) {
    std::string pid = "bp" + std::to_string(n);
    std::string subject = R"("subject":{"reference":"Patient/)" + pid + R"("})";
    // Patient (~700 bytes)
    std::string p =
        R"({"resourceType":"Patient","id":")" + pid +
        R"(","meta":{"versionId":"1","lastUpdated":"2024-01-01T00:00:00Z"},"identifier":[{"system":"urn:oid:2.16.840.1.113883.19.5","value":"MRN)" +
        std::to_string(100000 + n) + R"("}],"active":true,"name":[{"family":")" +
        Pick(rng, kFamily) + R"(","given":[")" + Pick(rng, kGiven) + R"("]}],"gender":")" +
        (rng() % 2 ? "female" : "male") + R"(","birthDate":")" + std::to_string(1940 + rng() % 60) +
        R"(-0)" + std::to_string(rng() % 9 + 1) + R"(-1)" + std::to_string(rng() % 9) +
        R"(","address":[{"line":[")" + std::to_string(rng() % 9000 + 100) +
        R"( Main St"],"city":"Springfield","state":"IL","postalCode":"627)" +
        std::to_string(rng() % 90 + 10) +
        R"("}],"communication":[{"language":{"coding":[{"system":"urn:ietf:bcp:47","code":")" +
        Pick(rng, kLang) + R"("}]},"preferred":true}])";
    if (rng() % 10 == 0) {
      p +=
          R"(,"extension":[{"url":"http://hl7.org/fhir/us/core/StructureDefinition/us-core-interpreter-needed","valueCoding":{"system":"http://snomed.info/sct","code":")" +
          std::string(rng() % 2 ? "373066001" : "373067005") + R"("}}])";
    }
    pat.Line(p + "}");
    // Every patient has an AHC core screening (QR or panel); half also PRAPARE or HVS.
    std::vector<int> kinds = {rng() % 10 < 6 ? 0 : 9};
    if (rng() % 2) kinds.push_back(rng() % 10 < 6 ? 5 : 7);
    for (int kind : kinds) {
      int rescreens = rng() % 4 == 0 ? 2 : 1;
      for (int r = 0; r < rescreens; ++r) {
        std::string id = pid + "-" + std::to_string(kind) + "-" + std::to_string(r);
        std::string when = Date(rng, 2023 + r);
        if (kind < 5) {
          // AHC HRSN core QuestionnaireResponse (~2.5 KB)
          std::string items =
              Item("/71802-3", "What is your living situation today?", {Pick(rng, living)}) + "," +
              Item("/96778-6", "Think about the place you live.", {Pick(rng, problems)}) + "," +
              Item("/88122-7",
                   "Within the past 12 months, you worried that your food would run out",
                   {Pick(rng, food)}) +
              "," +
              Item("/88123-5", "Within the past 12 months, the food you bought just didn't last",
                   {Pick(rng, food)}) +
              "," +
              Item("/93030-5",
                   "Has lack of reliable transportation kept you from medical appointments",
                   {Pick(rng, yesno)}) +
              "," +
              Item("/96779-4",
                   "Has the electric, gas, oil, or water company threatened to shut off services",
                   {Pick(rng, yesno)});
          for (const char* h : {"/95618-5", "/95617-7", "/95616-9", "/95615-1"}) {
            if (rng() % 60 == 0) continue;  // some declined
            items += "," + Item(h, "How often does anyone, including family and friends",
                                {Pick(rng, hits)});
          }
          qr.Line(
              R"({"resourceType":"QuestionnaireResponse","id":")" + id +
              R"(","meta":{"versionId":"1"},"questionnaire":"http://loinc.org/q/96777-8|3.0","status":")" +
              (rng() % 25 == 0 ? "in-progress" : "completed") + R"(",)" + subject +
              R"(,"authored":")" + when + R"(","item":[)" + items + "]}");
        } else if (kind < 7) {
          // PRAPARE QuestionnaireResponse with nested groups (~2 KB)
          std::string groups =
              R"({"linkId":"/93043-8","text":"Personal Characteristics","item":[)" +
              Item("/93043-8/54899-0", "What language are you most comfortable speaking?",
                   {rng() % 8 ? "LA43-5" : "LA30188-9"}) +
              R"(]},{"linkId":"/93042-0","text":"Family and Home","item":[)" +
              Item("/93042-0/71802-3", "What is your housing situation today?",
                   {rng() % 15 ? "LA30189-7" : "LA30190-5"}) +
              "," +
              Item("/93042-0/93033-9", "Are you worried about losing your housing?",
                   {Pick(rng, yesno)}) +
              R"(]},{"linkId":"/93041-2","text":"Money and Resources","item":[)" +
              Item("/93041-2/93031-3",
                   "In the past year, have you or any family members been unable to get",
                   {rng() % 20 ? "LA30126-9" : "LA30125-1",
                    rng() % 25 ? "LA30127-7" : "LA30124-4"}) +
              "," +
              Item("/93041-2/93030-5", "Has lack of transportation kept you from",
                   {rng() % 20 ? "LA32-8" : "LA30133-5"}) +
              R"(]},{"linkId":"/93039-6","text":"Optional Additional Questions","item":[)" +
              Item("/93039-6/93026-3",
                   "Do you feel physically and emotionally safe where you currently live?",
                   {rng() % 20 ? "LA33-6" : "LA32-8"}) +
              "]}";
          qr.Line(
              R"({"resourceType":"QuestionnaireResponse","id":")" + id +
              R"(","questionnaire":"http://hl7.org/fhir/us/sdoh-clinicalcare/Questionnaire/SDOHCC-QuestionnairePRAPARE","status":"completed",)" +
              subject + R"(,"authored":")" + when + R"(","item":[)" + groups + "]}");
        } else if (kind < 8) {
          // Hunger Vital Sign through a local form resolved by its Questionnaire
          qr.Line(
              R"({"resourceType":"QuestionnaireResponse","id":")" + id +
              R"(","questionnaire":"http://clinic.example.org/fhir/Questionnaire/hunger-check","status":"completed",)" +
              subject + R"(,"authored":")" + when + R"(","item":[)" +
              Item("hc-1", "We worried whether our food would run out", {Pick(rng, food)}) + "," +
              Item("hc-2", "The food we bought just didn't last", {Pick(rng, food)}) + "]}");
        } else {
          // AHC core as an Observation panel with members (~6 KB)
          std::vector<std::pair<std::string, std::string>> members = {
              {"71802-3", Pick(rng, living)}, {"88122-7", Pick(rng, food)},
              {"88123-5", Pick(rng, food)},   {"93030-5", Pick(rng, yesno)},
              {"96779-4", Pick(rng, yesno)},  {"96778-6", Pick(rng, problems)},
              {"95618-5", Pick(rng, hits)},   {"95617-7", Pick(rng, hits)},
              {"95616-9", Pick(rng, hits)},   {"95615-1", Pick(rng, hits)}};
          std::string refs;
          for (size_t m = 0; m < members.size(); ++m) {
            std::string mid = id + "-m" + std::to_string(m);
            refs += std::string(m ? "," : "") + R"({"reference":"Observation/)" + mid + R"("})";
            obs.Line(
                R"({"resourceType":"Observation","id":")" + mid +
                R"(","status":"final","category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"survey"}]},{"coding":[{"system":"http://hl7.org/fhir/us/core/CodeSystem/us-core-category","code":"sdoh"}]}],"code":{"coding":[)" +
                Loinc(members[m].first) + R"(]},)" + subject + R"(,"effectiveDateTime":")" + when +
                R"(","valueCodeableConcept":{"coding":[)" + Loinc(members[m].second) + "]}}");
          }
          obs.Line(
              R"({"resourceType":"Observation","id":")" + id +
              R"(","status":"final","category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"survey"}]}],"code":{"coding":[)" +
              Coding("http://loinc.org", "96777-8", "AHC HRSN screening tool") + R"(]},)" +
              subject + R"(,"effectiveDateTime":")" + when + R"(","hasMember":[)" + refs + "]}");
        }
        ++screenings;
      }
    }
    // Vital-sign Observations (ignored by the screening semantics), as an EHR export has them.
    for (int v = 0, nv = static_cast<int>(rng() % 7); v < nv; ++v) {
      obs.Line(
          R"({"resourceType":"Observation","id":")" + pid + "-vs" + std::to_string(v) +
          R"(","meta":{"versionId":"1","lastUpdated":"2024-02-01T10:05:00Z","profile":["http://hl7.org/fhir/us/core/StructureDefinition/us-core-heart-rate"]},"status":"final","category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs"}]}],"code":{"coding":[{"system":"http://loinc.org","code":"8867-4","display":"Heart rate"}]},)" +
          subject +
          R"(,"effectiveDateTime":"2024-02-01T10:00:00Z","valueQuantity":{"value":72,"unit":"beats/minute","system":"http://unitsofmeasure.org","code":"/min"}})");
    }
  }
  uint64_t total = pat.bytes + qr.bytes + obs.bytes + q.bytes;
  for (Out* o : {&pat, &qr, &obs, &q}) std::fclose(o->f);
  std::printf("patients %ld screenings %llu bytes %llu\n", patients,
              static_cast<unsigned long long>(screenings), static_cast<unsigned long long>(total));
  return 0;
}
