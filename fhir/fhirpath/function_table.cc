#include <string>
#include <unordered_map>

#include "fhir/fhirpath/functions.h"

namespace fhir::fhirpath::internal {
namespace {

constexpr uint32_t kAllArgs = 0xffffffffu;

// Indexed by Fn.
const FnInfo kFunctions[] = {
    {"empty", 0, 0, 0},         {"exists", 0, 1, kAllArgs},
    {"all", 1, 1, kAllArgs},    {"allTrue", 0, 0, 0},
    {"anyTrue", 0, 0, 0},       {"allFalse", 0, 0, 0},
    {"anyFalse", 0, 0, 0},      {"subsetOf", 1, 1, 0},
    {"supersetOf", 1, 1, 0},    {"count", 0, 0, 0},
    {"distinct", 0, 0, 0},      {"isDistinct", 0, 0, 0},
    {"where", 1, 1, kAllArgs},  {"select", 1, 1, kAllArgs},
    {"repeat", 1, 1, kAllArgs}, {"repeatAll", 1, 1, kAllArgs},
    {"ofType", 1, 1, kAllArgs}, {"as", 1, 1, kAllArgs},
    {"is", 1, 1, kAllArgs},     {"single", 0, 0, 0},
    {"first", 0, 0, 0},         {"last", 0, 0, 0},
    {"tail", 0, 0, 0},          {"skip", 1, 1, 0},
    {"take", 1, 1, 0},          {"intersect", 1, 1, 0},
    {"exclude", 1, 1, 0},       {"union", 1, 1, 0},
    {"combine", 1, 1, 0},       {"iif", 2, 3, kAllArgs},
    {"toBoolean", 0, 0, 0},     {"convertsToBoolean", 0, 0, 0},
    {"toInteger", 0, 0, 0},     {"convertsToInteger", 0, 0, 0},
    {"toLong", 0, 0, 0},        {"convertsToLong", 0, 0, 0},
    {"toDecimal", 0, 0, 0},     {"convertsToDecimal", 0, 0, 0},
    {"toString", 0, 0, 0},      {"convertsToString", 0, 0, 0},
    {"toDate", 0, 0, 0},        {"convertsToDate", 0, 0, 0},
    {"toDateTime", 0, 0, 0},    {"convertsToDateTime", 0, 0, 0},
    {"toTime", 0, 0, 0},        {"convertsToTime", 0, 0, 0},
    {"toQuantity", 0, 1, 0},    {"convertsToQuantity", 0, 1, 0},
    {"indexOf", 1, 1, 0},       {"lastIndexOf", 1, 1, 0},
    {"substring", 1, 2, 0},     {"startsWith", 1, 1, 0},
    {"endsWith", 1, 1, 0},      {"contains", 1, 1, 0},
    {"upper", 0, 0, 0},         {"lower", 0, 0, 0},
    {"replace", 2, 2, 0},       {"matches", 1, 1, 0},
    {"matchesFull", 1, 1, 0},   {"replaceMatches", 2, 2, 0},
    {"length", 0, 0, 0},        {"toChars", 0, 0, 0},
    {"encode", 1, 1, 0},        {"decode", 1, 1, 0},
    {"escape", 1, 1, 0},        {"unescape", 1, 1, 0},
    {"trim", 0, 0, 0},          {"split", 1, 1, 0},
    {"join", 0, 1, 0},          {"abs", 0, 0, 0},
    {"ceiling", 0, 0, 0},       {"exp", 0, 0, 0},
    {"floor", 0, 0, 0},         {"ln", 0, 0, 0},
    {"log", 1, 1, 0},           {"power", 1, 1, 0},
    {"round", 0, 1, 0},         {"sqrt", 0, 0, 0},
    {"truncate", 0, 0, 0},      {"children", 0, 0, 0},
    {"descendants", 0, 0, 0},   {"trace", 1, 2, 2},
    {"now", 0, 0, 0},           {"timeOfDay", 0, 0, 0},
    {"today", 0, 0, 0},         {"defineVariable", 1, 2, 2},
    {"aggregate", 1, 2, 1},     {"sort", 0, 8, kAllArgs},
    {"lowBoundary", 0, 1, 0},   {"highBoundary", 0, 1, 0},
    {"precision", 0, 0, 0},     {"comparable", 1, 1, 0},
    {"conformsTo", 1, 1, 0},    {"not", 0, 0, 0},
    {"extension", 1, 1, 0},     {"hasValue", 0, 0, 0},
    {"getValue", 0, 0, 0},      {"type", 0, 0, 0},
    {"sum", 0, 0, 0},           {"min", 0, 0, 0},
    {"max", 0, 0, 0},           {"avg", 0, 0, 0},
    {"yearOf", 0, 0, 0},        {"monthOf", 0, 0, 0},
    {"dayOf", 0, 0, 0},         {"hourOf", 0, 0, 0},
    {"minuteOf", 0, 0, 0},      {"secondOf", 0, 0, 0},
    {"millisecondOf", 0, 0, 0}, {"timezoneOffsetOf", 0, 0, 0},
    {"dateOf", 0, 0, 0},        {"timeOf", 0, 0, 0},
    {"htmlChecks", 0, 0, 0},    {"coalesce", 1, 8, 0},
};
static_assert(sizeof(kFunctions) / sizeof(kFunctions[0]) == kFnCount);

}  // namespace

const FnInfo& FunctionInfo(int fn) { return kFunctions[fn]; }

int FindFunction(std::string_view name) {
  static const auto* index = [] {
    auto* m = new std::unordered_map<std::string, int>();
    for (int i = 0; i < kFnCount; ++i) m->emplace(kFunctions[i].name, i);
    return m;
  }();
  auto it = index->find(std::string(name));
  return it == index->end() ? -1 : it->second;
}

}  // namespace fhir::fhirpath::internal
