// Forms a pass meets that mappings/forms/ does not name (issue 14 item 5): per-pass state, never
// written into the shared Catalog. With `forms.infer` on, a form is read as the instruments whose
// questions it asks, found (1) through its Questionnaire — from the source, the server or
// mappings/questionnaires/ — by the items' LOINC codes, else (2) for a form whose Questionnaire is
// not available, through the QuestionnaireResponse's LOINC-shaped linkIds. What still cannot be
// mapped is counted by canonical, so that a pass warns and exits 3 instead of dropping it quietly.
// The census of every form seen also feeds `sdoh-bridge forms`. Not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include "plugin/setup/catalog.h"

namespace sdoh {

enum class FormStatus : uint8_t {
  kMapped,        // named in mappings/forms/ or by an instrument's canonicals
  kNotScreening,  // named in mappings/forms/ with `instruments: []`
  kInferred,      // read through inference (this pass)
  kUnmapped,      // dropped: a screening may have been lost
};
const char* FormStatusName(FormStatus s);

// What a pass knows of one form (canonical without |version; "(no questionnaire)" for QRs
// without one).
struct FormSeen {
  static constexpr size_t kMaxLinkIds = 200;
  uint64_t responses = 0;  // QuestionnaireResponses with a counting status
  uint64_t dropped = 0;    // of those, not read: no mapping and nothing to infer from
  FormStatus status = FormStatus::kUnmapped;
  bool questionnaire = false;                // a Questionnaire was available
  std::string inferred_by;                   // how the instruments were inferred
  std::vector<InstrumentIndex> instruments;  // mapped or inferred
  // linkId → LOINC question ("" when none could be found), at most kMaxLinkIds: the material of
  // a review-ready mappings/forms/*.yaml.
  std::map<std::string, std::string> link_ids;
};

class FormInference {
 public:
  // The instruments and linkId map an inferred form is read with.
  struct Inferred {
    std::vector<InstrumentIndex> instruments;
    Catalog::LinkMap link_ids;  // from the Questionnaire; empty: LOINC-shaped linkIds
    std::string by;
  };

  FormInference(const Catalog& catalog, bool enabled) : catalog_(catalog), enabled_(enabled) {}

  // A Questionnaire of a form that mappings/forms/ does not name: its linkId → LOINC item codes,
  // only codes that are questions of configured instruments.
  void AddQuestionnaire(std::string_view url, Catalog::LinkMap questions);

  // Counts a QR of a mapped form.
  void CountMapped(std::string_view canonical, const Form& form);
  // For a QR (counting status) of a form mappings/forms/ does not name: how to read it, or
  // nullptr when it cannot be mapped (inference off or nothing to infer from). Counts it either
  // way. `items` is QuestionnaireResponse.item (may be null). The result lives until the next call.
  const Inferred* Infer(std::string_view canonical, const rapidjson::Value* items);

  const std::map<std::string, FormSeen, std::less<>>& seen() const { return seen_; }
  // Responses dropped because their form could not be mapped (each one a screening that may
  // have been lost).
  uint64_t DroppedResponses() const;

  // The fewest instruments that cover `questions`: repeatedly the instrument asking most of the
  // questions not yet covered; a tie goes to the smaller instrument (HVS over AHC core for the
  // two food questions), then to the earlier one.
  static std::vector<InstrumentIndex> CoverQuestions(const Catalog& catalog,
                                                     const std::vector<CodeId>& questions);

 private:
  FormSeen& Seen(std::string_view canonical);
  const Inferred* InferFor(FormSeen& f, std::string_view canonical, const rapidjson::Value* items);
  void NoteLinkIds(FormSeen& f, const rapidjson::Value* items, const Catalog::LinkMap* map);

  const Catalog& catalog_;
  bool enabled_;
  StringMap<Catalog::LinkMap> questionnaires_;         // by url without |version
  StringMap<Inferred> by_questionnaire_;               // inference cached per canonical
  Inferred scratch_;                                   // per-QR inference from linkIds
  std::map<std::string, FormSeen, std::less<>> seen_;  // looked up by string_view
};

}  // namespace sdoh
