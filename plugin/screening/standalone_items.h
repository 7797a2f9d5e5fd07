// Standalone screening items (issue 14 item 4a): many EHRs store a screening as flowsheet rows,
// one Observation per question, with no panel. Such an Observation counts when its status is
// final/amended/corrected, it has an effective date, its code is a question of a configured
// instrument and no Observation lists it in `hasMember`. The items of one patient with the same
// effective instant form one screening of each instrument whose question they answer — of the
// fewest instruments that cover them (FormInference::CoverQuestions), so that HVS rows, whose
// questions AHC core also asks, do not form an AHC screening that would replace a full AHC
// screening wholesale and call its safety items incomplete. Each such screening competes in
// newest-wins with the instrument's QuestionnaireResponses and panels (at an equal instant a
// QuestionnaireResponse or panel wins: items recorded with a form are usually extracted from it).
// Pure: the collector gathers the items and builds the candidates.
#pragma once

#include <cstdint>
#include <vector>

#include "fhir/datetime.h"
#include "plugin/setup/catalog.h"

namespace sdoh {

struct StandaloneItem {
  uint32_t patient = 0;
  fhir::InstantMicros when = 0;
  uint32_t observation = 0;  // the collector's observation index
  CodeId question = kNoCode;
};

struct ItemGroup {
  uint32_t patient = 0;
  fhir::InstantMicros when = 0;
  InstrumentIndex instrument = 0;
  std::vector<uint32_t> observations;  // in the order given
};

// Groups items by (patient, effective instant) and splits each group by the instruments that
// cover its questions. Items keep
// their order within a group; groups come sorted by patient, instant, instrument.
std::vector<ItemGroup> GroupStandaloneItems(const Catalog& catalog,
                                            std::vector<StandaloneItem> items);

}  // namespace sdoh
