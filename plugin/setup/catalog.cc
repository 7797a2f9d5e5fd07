#include "plugin/setup/catalog.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include "fhir/json.h"
#include "plugin/setup/questionnaire_links.h"
#include "plugin/setup/yaml_util.h"

namespace sdoh {

namespace fs = std::filesystem;
using fhir::Result;
using fhir::Status;

std::string_view StripCanonicalVersion(std::string_view canonical) {
  size_t bar = canonical.find('|');
  return bar == std::string_view::npos ? canonical : canonical.substr(0, bar);
}

bool IsLoincShaped(std::string_view s) {
  size_t dash = s.find('-');
  if (dash == std::string_view::npos || dash == 0 || dash > 7 || dash + 2 != s.size()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i == dash) continue;
    if (s[i] < '0' || s[i] > '9') return false;
  }
  return true;
}

const Score* Instrument::FindScore(std::string_view name) const {
  for (const Score& s : scores) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

namespace {

std::vector<std::string> YamlFilesIn(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    auto ext = e.path().extension();
    if (e.is_regular_file() && (ext == ".yaml" || ext == ".yml")) out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

Result<std::unique_ptr<Catalog>> Catalog::Load(const std::string& dir) {
  auto cat = std::make_unique<Catalog>();
  fs::path root(dir);
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    return Status::InvalidArgument(dir + ": mappings folder not found");
  }
  auto instrument_files = YamlFilesIn(root / "instruments");
  if (instrument_files.empty()) {
    return Status::InvalidArgument((root / "instruments").string() +
                                   ": no instrument mappings (*.yaml) found");
  }
  for (const auto& f : instrument_files) {
    if (Status s = cat->LoadInstrument(f); !s.ok()) return s;
  }
  for (const auto& f : YamlFilesIn(root / "forms")) {
    if (Status s = cat->LoadForm(f); !s.ok()) return s;
  }
  if (Status s = cat->LoadNeeds((root / "needs.yaml").string()); !s.ok()) return s;
  if (Status s = cat->LoadInterpreter((root / "interpreter.yaml").string()); !s.ok()) return s;
  fs::path qdir = root / "questionnaires";
  if (fs::is_directory(qdir, ec)) {
    std::vector<std::string> files;
    for (const auto& e : fs::directory_iterator(qdir, ec)) {
      if (e.is_regular_file() && e.path().extension() == ".json")
        files.push_back(e.path().string());
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      if (Status s = cat->LoadQuestionnaireJson(f); !s.ok()) return s;
    }
  }
  return cat;
}

Status Catalog::LoadInstrument(const std::string& path) {
  auto doc = LoadYamlFile(path);
  if (!doc.ok()) return doc.status();
  const YAML::Node& n = *doc;
  if (Status s =
          CheckKeys(path, n, {"id", "title", "panel_codes", "canonicals", "questions", "scores"},
                    "instrument");
      !s.ok()) {
    return s;
  }
  if (instruments_.size() >= kMaxInstruments) {
    return Status::InvalidArgument(path + ": too many instruments (max " +
                                   std::to_string(kMaxInstruments) + ")");
  }
  Instrument ins;
  ins.index = static_cast<InstrumentIndex>(instruments_.size());
  auto id = RequiredString(path, n, "id");
  if (!id.ok()) return id.status();
  ins.id = *id;
  if (ins.id == "patient") {
    return Status::InvalidArgument(Where(path, n["id"]) + ": 'patient' is reserved");
  }
  if (FindInstrument(ins.id) != nullptr) {
    return Status::InvalidArgument(Where(path, n["id"]) + ": instrument '" + ins.id +
                                   "' is defined twice");
  }
  auto title = OptionalString(path, n, "title", ins.id);
  if (!title.ok()) return title.status();
  ins.title = std::move(*title);
  auto panels = StringList(path, n, "panel_codes", false);
  if (!panels.ok()) return panels.status();
  ins.panel_codes = *panels;
  for (const auto& p : ins.panel_codes) {
    if (panel_to_instrument_.count(p)) {
      return Status::InvalidArgument(Where(path, n["panel_codes"]) + ": panel code " + p +
                                     " already belongs to another instrument");
    }
    panel_to_instrument_[p] = ins.index;
  }
  YAML::Node qs = n["questions"];
  if (!qs || !qs.IsMap() || qs.size() == 0) {
    return Status::InvalidArgument(Where(path, n) +
                                   ": 'questions' must map LOINC question codes to titles");
  }
  for (const auto& kv : qs) {
    const std::string code = kv.first.Scalar();
    if (!IsLoincShaped(code)) {
      return Status::InvalidArgument(Where(path, kv.first) + ": question '" + code +
                                     "' is not a LOINC code");
    }
    CodeId c = codes_.Intern(code);
    ins.questions.push_back(c);
    if (question_bits_.size() <= c) question_bits_.resize(c + 1, 0);
    question_bits_[c] |= uint64_t{1} << ins.index;
  }
  if (YAML::Node scores = n["scores"]) {
    if (!scores.IsMap())
      return Status::InvalidArgument(Where(path, scores) + ": 'scores' must be a mapping");
    for (const auto& kv : scores) {
      Score sc;
      sc.name = kv.first.Scalar();
      const YAML::Node& def = kv.second;
      if (Status s = CheckKeys(path, def, {"items", "points", "total"}, "score '" + sc.name + "'");
          !s.ok()) {
        return s;
      }
      auto items = StringList(path, def, "items", true);
      if (!items.ok()) return items.status();
      for (const auto& it : *items) {
        CodeId q = codes_.Find(it);
        if (q == kNoCode || !(question_bits_[q] & (uint64_t{1} << ins.index))) {
          return Status::InvalidArgument(Where(path, def["items"]) + ": score item " + it +
                                         " is not a question of " + ins.id);
        }
        sc.items.push_back(q);
      }
      if (YAML::Node total = def["total"]) {
        CodeId q = codes_.Find(total.Scalar());
        if (q == kNoCode || !(question_bits_[q] & (uint64_t{1} << ins.index))) {
          return Status::InvalidArgument(Where(path, total) + ": score total " + total.Scalar() +
                                         " is not a question of " + ins.id);
        }
        sc.total = q;
      }
      YAML::Node pts = def["points"];
      if (!pts || !pts.IsMap()) {
        return Status::InvalidArgument(Where(path, def) + ": score '" + sc.name +
                                       "' needs 'points' (answer code: points)");
      }
      for (const auto& p : pts) {
        try {
          sc.points[codes_.Intern(p.first.Scalar())] = p.second.as<int>();
        } catch (const YAML::Exception&) {
          return Status::InvalidArgument(Where(path, p.second) + ": points must be integers");
        }
      }
      ins.scores.push_back(std::move(sc));
    }
  }
  auto canonicals = StringList(path, n, "canonicals", false);
  if (!canonicals.ok()) return canonicals.status();
  instruments_.push_back(std::move(ins));
  for (const auto& c : *canonicals) {
    Form& f = forms_[std::string(StripCanonicalVersion(c))];
    f.canonical = std::string(StripCanonicalVersion(c));
    f.instruments.push_back(instruments_.back().index);
    f.defined_in = path;
  }
  return Status::Ok();
}

Status Catalog::LoadForm(const std::string& path) {
  auto doc = LoadYamlFile(path);
  if (!doc.ok()) return doc.status();
  const YAML::Node& n = *doc;
  if (Status s = CheckKeys(path, n, {"canonical", "instruments", "link_ids"}, "form"); !s.ok()) {
    return s;
  }
  auto canonical = RequiredString(path, n, "canonical");
  if (!canonical.ok()) return canonical.status();
  std::string key(StripCanonicalVersion(*canonical));
  if (forms_.count(key)) {
    return Status::InvalidArgument(Where(path, n["canonical"]) + ": form " + key +
                                   " is already mapped in " + forms_[key].defined_in);
  }
  Form f;
  f.canonical = key;
  f.defined_in = path;
  auto instruments = StringList(path, n, "instruments", true);
  if (!instruments.ok()) return instruments.status();
  for (const auto& id : *instruments) {
    const Instrument* ins = FindInstrument(id);
    if (ins == nullptr) {
      return Status::InvalidArgument(Where(path, n["instruments"]) + ": unknown instrument '" + id +
                                     "'");
    }
    f.instruments.push_back(ins->index);
  }
  if (YAML::Node links = n["link_ids"]) {
    if (!links.IsMap()) {
      return Status::InvalidArgument(Where(path, links) + ": 'link_ids' must map linkId to LOINC");
    }
    for (const auto& kv : links) {
      const std::string code = kv.second.Scalar();
      if (!IsLoincShaped(code)) {
        return Status::InvalidArgument(Where(path, kv.second) + ": '" + code +
                                       "' is not a LOINC code");
      }
      f.link_ids[kv.first.Scalar()] = codes_.Intern(code);
    }
  }
  forms_[key] = std::move(f);
  return Status::Ok();
}

Status Catalog::LoadNeeds(const std::string& path) {
  auto doc = LoadYamlFile(path);
  if (!doc.ok()) return doc.status();
  const YAML::Node& n = *doc;
  if (Status s = CheckKeys(path, n, {"domain_system", "needs"}, "needs file"); !s.ok()) return s;
  auto sys = RequiredString(path, n, "domain_system");
  if (!sys.ok()) return sys.status();
  domain_system_ = *sys;
  YAML::Node needs = n["needs"];
  if (!needs || !needs.IsMap()) {
    return Status::InvalidArgument(Where(path, n) + ": 'needs' must be a mapping");
  }
  for (const auto& kv : needs) {
    NeedDef d;
    // A key that is not a string is a config error naming it, never an exception (the class of
    // bug fuzz_yaml_loaders found in config.cc): the first one is returned after the need.
    Status bad;
    auto str = [&](const YAML::Node& m, const char* key, const std::string& fallback) {
      auto r = OptionalString(path, m, key, fallback);
      if (r.ok()) return *r;
      if (bad.ok()) bad = r.status();
      return fallback;
    };
    d.name = kv.first.Scalar();
    const YAML::Node& v = kv.second;
    if (Status s =
            CheckKeys(path, v,
                      {"route", "sensitive", "domain", "flag_text", "flag_text_possible", "service",
                       "neutral_text", "reason", "rule_categories", "language", "card_indicator"},
                      "need '" + d.name + "'");
        !s.ok()) {
      return s;
    }
    auto route = RequiredString(path, v, "route");
    if (!route.ok()) return route.status();
    d.route = *route;
    // That the route is configured is checked with the config (setup/pipeline.cc).
    d.sensitive = v["sensitive"] && v["sensitive"].as<bool>(false);
    d.language = v["language"] && v["language"].as<bool>(false);
    d.card_indicator = str(v, "card_indicator", "info");
    if (d.card_indicator != "info" && d.card_indicator != "warning" &&
        d.card_indicator != "critical") {
      return Status::InvalidArgument(Where(path, v["card_indicator"]) +
                                     ": card_indicator must be info, warning or critical");
    }
    YAML::Node dom = v["domain"];
    auto dcode = RequiredString(path, dom, "code");
    if (!dcode.ok()) return dcode.status();
    if (Status s =
            CheckKeys(path, dom, {"code", "display", "text"}, "domain of need '" + d.name + "'");
        !s.ok()) {
      return s;
    }
    d.domain = {domain_system_, *dcode, str(dom, "display", "")};
    d.domain_text = str(dom, "text", d.domain.display);
    d.flag_text = str(v, "flag_text", d.name);
    d.neutral_text = str(v, "neutral_text", d.flag_text);
    if (YAML::Node rc = v["rule_categories"]) {
      if (!rc.IsMap()) {
        return Status::InvalidArgument(Where(path, rc) + ": 'rule_categories' must be a mapping");
      }
      for (const auto& r : rc) {
        auto code = RequiredString(path, r.second, "code");
        if (!code.ok()) return code.status();
        d.rule_categories[r.first.Scalar()] = {domain_system_, *code, str(r.second, "display", "")};
      }
    }
    if (YAML::Node rsn = v["reason"]) {
      if (Status s = CheckKeys(path, rsn, {"system", "code", "display", "text", "unverified"},
                               "reason of need '" + d.name + "'");
          !s.ok()) {
        return s;
      }
      d.reason.system = str(rsn, "system", "");
      d.reason.code = str(rsn, "code", "");
      d.reason.display = str(rsn, "display", "");
      d.reason_text = str(rsn, "text", d.reason.display);
      d.reason_unverified = rsn["unverified"] && rsn["unverified"].as<bool>(false);
      if (d.reason.system.empty() != d.reason.code.empty() ||
          (d.reason.code.empty() && d.reason_text.empty())) {
        return Status::InvalidArgument(Where(path, rsn) + ": reason of need '" + d.name +
                                       "' needs system and code, or text");
      }
    }
    d.flag_text_possible = str(v, "flag_text_possible", d.flag_text);
    if (YAML::Node svc = v["service"]) {
      if (Status s =
              CheckKeys(path, svc, {"system", "code", "display", "text", "unverified", "value_set"},
                        "service of need '" + d.name + "'");
          !s.ok()) {
        return s;
      }
      d.has_service = true;
      d.service_unverified = svc["unverified"] && svc["unverified"].as<bool>(false);
      d.service.system = str(svc, "system", "");
      d.service.code = str(svc, "code", "");
      d.service.display = str(svc, "display", "");
      d.service_text = str(svc, "text", d.service.display);
      d.service_value_set = str(svc, "value_set", "");
      if (d.service.system.empty() != d.service.code.empty() ||
          (!d.service_unverified && d.service.code.empty())) {
        return Status::InvalidArgument(Where(path, svc) + ": service of need '" + d.name +
                                       "' needs system and code, or unverified: true and text");
      }
    }
    if (!bad.ok()) return bad;
    needs_[d.name] = std::move(d);
  }
  return Status::Ok();
}

Status Catalog::LoadInterpreter(const std::string& path) {
  auto doc = LoadYamlFile(path);
  if (!doc.ok()) return doc.status();
  const YAML::Node& n = *doc;
  InterpreterSettings& s = interpreter_;
  struct Field {
    const char* key;
    std::string* out;
  } fields[] = {{"interpreter_required_extension", &s.required_extension},
                {"interpreter_needed_extension", &s.needed_extension},
                {"answer_system", &s.answer_system},
                {"yes_code", &s.yes_code},
                {"no_code", &s.no_code},
                {"unknown_code", &s.unknown_code},
                {"language_system", &s.language_system},
                {"default_language", &s.default_language}};
  std::vector<std::string> keys;
  for (const auto& f : fields) keys.push_back(f.key);
  if (Status st = CheckKeys(path, n, keys, "interpreter settings"); !st.ok()) return st;
  for (const auto& f : fields) {
    auto v = RequiredString(path, n, f.key);
    if (!v.ok()) return v.status();
    *f.out = *v;
  }
  return Status::Ok();
}

Status Catalog::LoadQuestionnaireJson(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  rapidjson::Document d;
  d.Parse(text.c_str(), text.size());
  if (d.HasParseError()) {
    return Status::InvalidArgument(path + ": " + rapidjson::GetParseError_En(d.GetParseError()) +
                                   " at offset " + std::to_string(d.GetErrorOffset()));
  }
  if (fhir::json::StrMember(d, "resourceType") != "Questionnaire") {
    return Status::InvalidArgument(path + ": resourceType must be Questionnaire");
  }
  LinkMap map;
  constexpr size_t kMaxItemDepth = 64;
  if (Status s = QuestionnaireLinks(
          d, kMaxItemDepth, [&](std::string_view code) { return codes_.Intern(code); }, &map);
      !s.ok()) {
    return Status::InvalidArgument(path + ": " + s.message());
  }
  AddQuestionnaire(fhir::json::StrMember(d, "url"), fhir::json::StrMember(d, "version"),
                   std::move(map));
  return Status::Ok();
}

const Instrument* Catalog::FindInstrument(std::string_view id) const {
  for (const auto& i : instruments_) {
    if (i.id == id) return &i;
  }
  return nullptr;
}

const Instrument* Catalog::InstrumentForPanel(std::string_view loinc) const {
  auto it = panel_to_instrument_.find(loinc);
  return it == panel_to_instrument_.end() ? nullptr : &instruments_[it->second];
}

const Form* Catalog::FindForm(std::string_view canonical) const {
  auto it = forms_.find(StripCanonicalVersion(canonical));
  return it == forms_.end() ? nullptr : &it->second;
}

bool Catalog::HasQuestion(InstrumentIndex i, CodeId q) const {
  return q < question_bits_.size() && (question_bits_[q] & (uint64_t{1} << i));
}

bool Catalog::IsQuestion(CodeId q) const {
  return q < question_bits_.size() && question_bits_[q] != 0;
}

void QuestionnaireIndex::Put(std::string_view url, std::string_view version, LinkMap map) {
  if (url.empty()) return;
  auto& versions = by_url_[std::string(url)];
  for (auto& [v, m] : versions) {
    if (v == version) {
      m = std::move(map);
      return;
    }
  }
  versions.emplace_back(std::string(version), std::move(map));
}

const LinkMap* QuestionnaireIndex::Find(std::string_view canonical) const {
  std::string_view url = StripCanonicalVersion(canonical);
  std::string_view version;
  if (url.size() < canonical.size()) version = canonical.substr(url.size() + 1);
  auto it = by_url_.find(url);
  if (it == by_url_.end() || it->second.empty()) return nullptr;
  for (const auto& [v, m] : it->second) {
    if (!version.empty() && v == version) return &m;
  }
  return &it->second.back().second;
}

void Catalog::AddQuestionnaire(std::string_view url, std::string_view version, LinkMap map) {
  questionnaires_.Put(url, version, std::move(map));
}

const Catalog::LinkMap* Catalog::FindQuestionnaire(std::string_view canonical) const {
  return questionnaires_.Find(canonical);
}

const NeedDef* Catalog::FindNeed(std::string_view need) const {
  auto it = needs_.find(std::string(need));
  return it == needs_.end() ? nullptr : &it->second;
}

}  // namespace sdoh
