// `sdoh-bridge forms [--source DIR|URL] [--config FILE] [--write DIR]` (issue 14 item 5c): every
// form (QuestionnaireResponse.questionnaire, without |version) in the source, how many responses
// it has, and whether a pass reads it — mapped (mappings/forms/ or an instrument's canonicals),
// inferred (through its Questionnaire's item codes or its LOINC-shaped linkIds), not a screening
// (`instruments: []`), or unmapped (dropped: `run` warns and exits 3) — and for the unmapped
// ones what can be inferred. `--write DIR` drafts one review-ready mappings/forms/*.yaml per
// inferred or unmapped form. Prints canonicals, linkIds and codes only, never answers.
//
// Exit status: 0 done; 1 the source cannot be read or DIR cannot be written; 2 usage or config
// error; 3 done, some form is unmapped (a pass would drop its responses).
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace sdoh {

struct FormsOptions {
  std::string config_path;
  std::string source;     // overrides the config's source
  std::string write_dir;  // empty: do not write drafts
};

int FormsCommand(const FormsOptions& options, std::ostream& out, std::ostream& err);

// `args` are the words after `sdoh-bridge forms`.
int RunFormsCommand(const std::vector<std::string>& args);

}  // namespace sdoh
