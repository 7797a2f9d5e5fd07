#include "plugin/screening/standalone_items.h"

#include <algorithm>

#include "plugin/screening/form_inference.h"

namespace sdoh {

std::vector<ItemGroup> GroupStandaloneItems(const Catalog& catalog,
                                            std::vector<StandaloneItem> items) {
  std::stable_sort(items.begin(), items.end(),
                   [](const StandaloneItem& a, const StandaloneItem& b) {
                     return a.patient != b.patient ? a.patient < b.patient : a.when < b.when;
                   });
  std::vector<ItemGroup> groups;
  for (size_t begin = 0; begin < items.size();) {
    size_t end = begin;
    while (end < items.size() && items[end].patient == items[begin].patient &&
           items[end].when == items[begin].when) {
      ++end;
    }
    std::vector<CodeId> questions;
    for (size_t i = begin; i < end; ++i) questions.push_back(items[i].question);
    for (InstrumentIndex index : FormInference::CoverQuestions(catalog, questions)) {
      const Instrument& ins = catalog.instruments()[index];
      ItemGroup g;
      for (size_t i = begin; i < end; ++i) {
        if (catalog.HasQuestion(ins.index, items[i].question)) {
          g.observations.push_back(items[i].observation);
        }
      }
      if (g.observations.empty()) continue;
      g.patient = items[begin].patient;
      g.when = items[begin].when;
      g.instrument = ins.index;
      groups.push_back(std::move(g));
    }
    begin = end;
  }
  return groups;
}

}  // namespace sdoh
