// Internal: FHIRPath operators on single items — equality, equivalence, ordering,
// arithmetic — and the conversion functions (toInteger(), toQuantity(), ...).
// Model items are read through their System value (a Quantity-typed object is a Quantity).
#ifndef SDOH_FHIR_FHIRPATH_OPERATIONS_H_
#define SDOH_FHIR_FHIRPATH_OPERATIONS_H_

#include <optional>
#include <string>

#include "fhir/fhirpath/ast.h"
#include "fhir/fhirpath/value.h"

namespace fhir::fhirpath::internal {

// Evaluation failure; thrown inside the evaluator only and turned into an EvalError by
// Evaluate(), never crossing the public API.
struct EvalFailure {
  std::string message;
};
[[noreturn]] void Fail(std::string message);

// A Quantity for System quantities and for FHIR Quantity (and subtype) objects with a value.
std::optional<Quantity> AsQuantity(const Item& item);
bool IsNumeric(const Item& item);
std::optional<Decimal> AsDecimal(const Item& item);  // Integer or Decimal

// Equality (=): nullopt means unknown (the result is empty).
std::optional<bool> Equal(const Item& a, const Item& b);
// Equivalence (~).
bool Equivalent(const Item& a, const Item& b);
// Ordering: <0, 0, >0; nullopt = unknown (empty). Fails for types that cannot be ordered.
std::optional<int> CompareOrder(const Item& a, const Item& b, std::optional<int> local_offset);
// +, -, *, /, div, mod on single items. nullopt = empty (division by zero, overflow).
// Fails on operand types the operator does not accept.
std::optional<Item> Arithmetic(Op op, const Item& a, const Item& b);

std::optional<bool> ToBoolean(const Item& item);
std::optional<int64_t> ToInteger(const Item& item);
std::optional<Decimal> ToDecimal(const Item& item);
std::optional<std::string> ToStringValue(const Item& item);
std::optional<Temporal> ToTemporal(const Item& item, TemporalKind kind);
std::optional<Quantity> ToQuantity(const Item& item);

}  // namespace fhir::fhirpath::internal

#endif  // SDOH_FHIR_FHIRPATH_OPERATIONS_H_
