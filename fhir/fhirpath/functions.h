// Internal: the FHIRPath function catalogue (names, arities, which arguments are
// evaluated per input item) shared by the parser (static checks) and the evaluator.
#ifndef SDOH_FHIR_FHIRPATH_FUNCTIONS_H_
#define SDOH_FHIR_FHIRPATH_FUNCTIONS_H_

#include <cstdint>
#include <string_view>

namespace fhir::fhirpath::internal {

enum Fn : int {
  kEmptyFn,
  kExists,
  kAll,
  kAllTrue,
  kAnyTrue,
  kAllFalse,
  kAnyFalse,
  kSubsetOf,
  kSupersetOf,
  kCount,
  kDistinct,
  kIsDistinct,
  kWhere,
  kSelect,
  kRepeat,
  kRepeatAll,
  kOfType,
  kAsFn,
  kIsFn,
  kSingle,
  kFirst,
  kLast,
  kTail,
  kSkip,
  kTake,
  kIntersect,
  kExclude,
  kUnionFn,
  kCombine,
  kIif,
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
  kIndexOf,
  kLastIndexOf,
  kSubstring,
  kStartsWith,
  kEndsWith,
  kContainsFn,
  kUpper,
  kLower,
  kReplace,
  kMatches,
  kMatchesFull,
  kReplaceMatches,
  kLength,
  kToChars,
  kEncode,
  kDecode,
  kEscape,
  kUnescape,
  kTrim,
  kSplit,
  kJoin,
  kAbs,
  kCeiling,
  kExp,
  kFloor,
  kLn,
  kLog,
  kPower,
  kRound,
  kSqrt,
  kTruncate,
  kChildren,
  kDescendants,
  kTrace,
  kNow,
  kTimeOfDay,
  kToday,
  kDefineVariable,
  kAggregate,
  kSort,
  kLowBoundary,
  kHighBoundary,
  kPrecisionFn,
  kComparable,
  kConformsTo,
  kNot,
  kExtension,
  kHasValue,
  kGetValue,
  kType,
  kSum,
  kMin,
  kMax,
  kAvg,
  kYearOf,
  kMonthOf,
  kDayOf,
  kHourOf,
  kMinuteOf,
  kSecondOf,
  kMillisecondOf,
  kTimezoneOffsetOf,
  kDateOf,
  kTimeOf,
  kHtmlChecks,
  kCoalesce,
  kFnCount
};

struct FnInfo {
  const char* name;
  int min_args;
  int max_args;
  // Bit i set: argument i is not pre-evaluated; the function evaluates it itself
  // (per input item with $this, lazily, or as a type name).
  uint32_t deferred;
};

const FnInfo& FunctionInfo(int fn);
// Function id for `name`, or -1.
int FindFunction(std::string_view name);

}  // namespace fhir::fhirpath::internal

#endif  // SDOH_FHIR_FHIRPATH_FUNCTIONS_H_
