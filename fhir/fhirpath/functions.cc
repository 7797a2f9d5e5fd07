// Evaluator::CallFunction: evaluates a call's ordinary arguments and hands the call to the
// family that implements the function (function_call.h). Dispatch is one table load and one
// switch in the family: no allocation, no std::function.
#include <array>
#include <initializer_list>

#include "fhir/fhirpath/evaluator.h"
#include "fhir/fhirpath/function_call.h"
#include "fhir/fhirpath/functions.h"

namespace fhir::fhirpath {

namespace {

using namespace internal;

using Family = Collection (*)(FunctionCall&);

// A function's family, and whether the table assigned one (checked at compile time without
// comparing function addresses, which the sanitizer builds do not treat as constant).
struct FamilyEntry {
  Family family = nullptr;
  bool assigned = false;
};

// Indexed by Fn: the family that implements each function of the catalogue.
constexpr std::array<FamilyEntry, kFnCount> MakeFamilyTable() {
  std::array<FamilyEntry, kFnCount> t{};
  auto set = [&t](Family family, std::initializer_list<Fn> fns) {
    for (Fn fn : fns) t[fn] = {family, true};
  };
  set(&CallCollectionFunction,
      {kEmptyFn,  kExists,     kAll,   kAllTrue,  kAnyTrue,    kAllFalse, kAnyFalse,
       kSubsetOf, kSupersetOf, kCount, kDistinct, kIsDistinct, kSingle,   kFirst,
       kLast,     kTail,       kSkip,  kTake,     kIntersect,  kExclude,  kUnionFn,
       kCombine,  kCoalesce,   kSum,   kMin,      kMax,        kAvg});
  set(&CallFilteringFunction, {kWhere, kSelect, kRepeat, kRepeatAll, kOfType, kAggregate, kSort});
  set(&CallConversionFunction, {kIif,
                                kToBoolean,
                                kConvertsToBoolean,
                                kToInteger,
                                kConvertsToInteger,
                                kToLong,
                                kConvertsToLong,
                                kToDecimal,
                                kConvertsToDecimal,
                                kToStringFn,
                                kConvertsToString,
                                kToDate,
                                kConvertsToDate,
                                kToDateTime,
                                kConvertsToDateTime,
                                kToTime,
                                kConvertsToTime,
                                kToQuantity,
                                kConvertsToQuantity,
                                kAsFn,
                                kIsFn,
                                kType,
                                kConformsTo,
                                kHasValue,
                                kGetValue});
  set(&CallStringFunction,
      {kIndexOf, kLastIndexOf, kSubstring, kStartsWith,  kEndsWith,       kContainsFn, kUpper,
       kLower,   kReplace,     kMatches,   kMatchesFull, kReplaceMatches, kLength,     kToChars,
       kEncode,  kDecode,      kEscape,    kUnescape,    kTrim,           kSplit,      kJoin});
  set(&CallMathFunction, {kAbs, kCeiling, kExp, kFloor, kLn, kLog, kPower, kRound, kSqrt, kTruncate,
                          kLowBoundary, kHighBoundary, kPrecisionFn, kComparable});
  set(&CallDateTimeFunction,
      {kNow, kTimeOfDay, kToday, kYearOf, kMonthOf, kDayOf, kHourOf, kMinuteOf, kSecondOf,
       kMillisecondOf, kTimezoneOffsetOf, kDateOf, kTimeOf});
  set(&CallUtilityFunction,
      {kChildren, kDescendants, kTrace, kDefineVariable, kNot, kExtension, kHtmlChecks});
  return t;
}

constexpr std::array<FamilyEntry, kFnCount> kFamilies = MakeFamilyTable();

constexpr bool EveryFunctionHasAFamily() {
  for (const FamilyEntry& e : kFamilies) {
    if (!e.assigned) return false;
  }
  return true;
}
static_assert(EveryFunctionHasAFamily(), "a function of functions.h has no family");

}  // namespace

Collection Evaluator::CallFunction(const Node& n, Focus input, const Frame& f) {
  internal::FunctionCall call(this, n, input, f);
  // Pre-evaluate the ordinary arguments with $this as focus.
  const internal::FnInfo& info = internal::FunctionInfo(n.fn);
  if (info.deferred != 0xffffffffu && !n.args.empty()) {
    call.args.resize(n.args.size());
    for (size_t i = 0; i < n.args.size(); ++i) {
      if (!(info.deferred & (1u << i))) call.args[i] = EvalArg(*n.args[i], f);
    }
  }
  return kFamilies[n.fn].family(call);
}

}  // namespace fhir::fhirpath
