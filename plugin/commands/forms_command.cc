#include "plugin/commands/forms_command.h"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <ostream>

#include "plugin/outputs/output_file.h"
#include "plugin/pass/source.h"
#include "plugin/screening/form_inference.h"
#include "plugin/screening/screening_collector.h"
#include "plugin/setup/pipeline.h"

namespace sdoh {

namespace {

namespace fs = std::filesystem;

constexpr const char* kFormsUsage =
    R"(Usage: sdoh-bridge forms [--config FILE] [--source DIR|URL] [--write DIR]

Lists every form (QuestionnaireResponse.questionnaire) in the source with its number of
responses and how a pass reads it: mapped, inferred (with forms.infer: through its
Questionnaire's item codes or its LOINC-shaped linkIds), not-a-screening (instruments: []), or
unmapped (a pass drops its responses, warns and exits 3); for unmapped forms, what can be
inferred.

  --write DIR   draft one mappings/forms/<name>.yaml per inferred or unmapped form, to review
                and copy into mappings/forms/ (unmapped drafts fail to load until reviewed)

Exit codes: 0 done; 1 unreadable source or DIR; 2 usage or config error; 3 some form unmapped.
)";

std::string InstrumentList(const Catalog& catalog, const FormSeen& f) {
  std::string s;
  for (InstrumentIndex i : f.instruments)
    s += (s.empty() ? "" : ", ") + catalog.instruments()[i].id;
  return s;
}

// A file name for a canonical: its last path segment, lowercase, [a-z0-9-].
std::string Slug(const std::string& canonical) {
  std::string last = canonical.substr(canonical.find_last_of('/') + 1);
  std::string out;
  for (char ch : last) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (std::isalnum(c)) {
      out += static_cast<char>(std::tolower(c));
    } else if (!out.empty() && out.back() != '-') {
      out += '-';
    }
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out.empty() ? "form" : out;
}

// A YAML double-quoted scalar.
std::string Quoted(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    if (static_cast<unsigned char>(ch) < 0x20) continue;
    out += ch;
  }
  return out + "\"";
}

std::string Draft(const Catalog& catalog, const std::string& canonical, const FormSeen& f,
                  const std::string& source) {
  std::string y;
  y += "# Drafted by `sdoh-bridge forms` from " + source + ". REVIEW before copying into\n";
  y += "# mappings/forms/: " + std::to_string(f.responses) + " response(s) seen; Questionnaire " +
       (f.questionnaire ? "available" : "not available") + ".\n";
  y += "canonical: " + Quoted(canonical) + "\n";
  if (f.status == FormStatus::kInferred) {
    y += "# Inferred through " + f.inferred_by + ": check the instruments.\n";
    y += "instruments: [" + InstrumentList(catalog, f) + "]\n";
  } else {
    y += "# Nothing could be inferred. Name the instruments this form screens for (and map the\n";
    y += "# linkIds below), or write `instruments: []` if it is not a screening. This draft does\n";
    y += "# not load until then.\n";
    y += "instruments: [REVIEW]\n";
  }
  bool any = false;
  for (const auto& [link, code] : f.link_ids) any = any || !code.empty();
  y += any ? "link_ids:\n" : "# link_ids:\n";
  for (const auto& [link, code] : f.link_ids) {
    if (code.empty()) {
      y += "#  " + Quoted(link) + ": LOINC?   # no configured question found\n";
    } else {
      y += "  " + Quoted(link) + ": " + code + "\n";
    }
  }
  return y;
}

}  // namespace

int FormsCommand(const FormsOptions& options, std::ostream& out, std::ostream& err) {
  auto pipeline = LoadCommandPipeline(options.config_path, options.source, "", err);
  if (!pipeline) return 2;
  Pipeline& p = *pipeline;
  auto source = Source::Open(p.config);  // the one store factory
  if (!source.ok()) {
    err << "sdoh-bridge: config error: " << source.status().message() << "\n";
    return 2;
  }
  fhir::Store* store = &(*source)->store();
  ScreeningOptions sopts;
  sopts.time_zone = p.config.time_zone;
  sopts.infer_forms = true;  // show what can be inferred even where a pass would not
  ScreeningCollector collector(*p.catalog, sopts);
  if (fhir::Status s = store->ReadAll({"Questionnaire", "QuestionnaireResponse"}, collector);
      !s.ok()) {
    err << "sdoh-bridge: reading " << store->Describe() << " failed: " << s.message() << "\n";
    return 1;
  }
  const auto& seen = collector.forms().seen();
  out << "sdoh-bridge forms: " << seen.size() << " form(s) in " << store->Describe() << "\n";
  bool unmapped = false;
  for (const auto& [canonical, f] : seen) {
    // With forms.infer off, a pass drops what is shown here as inferred.
    const bool dropped =
        f.dropped > 0 || (f.status == FormStatus::kInferred && !p.config.infer_forms);
    unmapped = unmapped || dropped;
    out << "  " << FormStatusName(f.status) << "  " << f.responses << "  " << canonical;
    if (f.status == FormStatus::kMapped || f.status == FormStatus::kInferred) {
      out << "  → " << InstrumentList(*p.catalog, f);
    }
    if (f.status == FormStatus::kInferred) {
      out << "  (through " << f.inferred_by
          << (p.config.infer_forms ? "" : "; forms.infer is off: a pass drops it") << ")";
    }
    if (f.dropped > 0 && f.status == FormStatus::kInferred) {
      out << "; " << f.dropped << " response(s) with nothing to infer from";
    }
    out << "\n";
    if (f.status == FormStatus::kUnmapped) {
      out << "      Questionnaire " << (f.questionnaire ? "available" : "not available")
          << "; linkIds:";
      size_t shown = 0;
      for (const auto& [link, code] : f.link_ids) {
        if (shown++ == 20) {
          out << " …";
          break;
        }
        out << " " << link << (code.empty() ? "" : "=" + code);
      }
      out << "\n      nothing to infer from: map it in mappings/forms/ (see --write)\n";
    }
  }
  if (!options.write_dir.empty()) {
    if (fhir::Status s = EnsureDirectory(options.write_dir); !s.ok()) {
      err << "sdoh-bridge: " << s.message() << "\n";
      return 1;
    }
    for (const auto& [canonical, f] : seen) {
      if (f.status != FormStatus::kInferred && f.status != FormStatus::kUnmapped) continue;
      if (canonical.find("://") == std::string::npos) {
        out << "  not drafted: " << canonical << " (a mapping needs a canonical URL)\n";
        continue;
      }
      std::string base = Slug(canonical);
      fs::path path = fs::path(options.write_dir) / (base + ".yaml");
      for (int n = 2; fs::exists(path); ++n) {
        path = fs::path(options.write_dir) / (base + "-" + std::to_string(n) + ".yaml");
      }
      std::ofstream file(path, std::ios::binary);
      file << Draft(*p.catalog, canonical, f, store->Describe());
      if (!file.good()) {
        err << "sdoh-bridge: cannot write " << path.string() << "\n";
        return 1;
      }
      out << "  drafted " << path.string() << "\n";
    }
  }
  return unmapped ? 3 : 0;
}

int RunFormsCommand(const std::vector<std::string>& args) {
  FormsOptions o;
  auto value = [&](size_t& i, const std::string& name, std::string* v) {
    const std::string& a = args[i];
    if (a == name) {
      if (i + 1 >= args.size()) return false;
      *v = args[++i];
      return true;
    }
    if (a.rfind(name + "=", 0) == 0) {
      *v = a.substr(name.size() + 1);
      return true;
    }
    return false;
  };
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      std::cout << kFormsUsage;
      return 0;
    }
    if (value(i, "--config", &o.config_path) || value(i, "--source", &o.source) ||
        value(i, "--write", &o.write_dir)) {
      continue;
    }
    std::cerr << "sdoh-bridge: unknown or incomplete option '" << a << "'\n\n" << kFormsUsage;
    return 2;
  }
  return FormsCommand(o, std::cout, std::cerr);
}

}  // namespace sdoh
