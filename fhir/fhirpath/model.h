// FHIR R4 type knowledge used by the FHIRPath evaluator: type names, inheritance, and the
// elements (with their types and choice `[x]` alternatives) of the resources and data types
// the engine knows. The table is data (r4_types.cc), parsed once on first use.
//
// A type marked complete lists every R4 element; only for complete types does the engine
// report an unknown element name as an error (EvalContext::strict_model).
#ifndef SDOH_FHIR_FHIRPATH_MODEL_H_
#define SDOH_FHIR_FHIRPATH_MODEL_H_

#include <string>
#include <string_view>
#include <vector>

namespace fhir::fhirpath::model {

struct TypeInfo;

struct ElementInfo {
  std::string name;  // "gender", "value" (for value[x])
  std::string type;  // "code", "HumanName", "Patient.contact"; empty for choice
  std::vector<std::string> choice_types;  // for value[x]: "Quantity", "string", ...; {"*"} = any
  const TypeInfo* type_info = nullptr;    // resolved `type` (null for choice / unknown)
  bool IsChoice() const { return type.empty(); }
};

struct TypeInfo {
  std::string name;
  std::string base;  // "" for Base types
  bool primitive = false;
  bool resource = false;
  bool complete = false;
  std::vector<ElementInfo> elements;  // own elements (not inherited)
  // Resolved after loading:
  const TypeInfo* base_info = nullptr;
  bool complete_chain = false;  // this type and all its bases are complete
  // Own and inherited elements, for lookup by name.
  std::vector<const ElementInfo*> all_elements;
};

// Type by name ("Patient", "code", "Patient.contact"); nullptr if unknown.
const TypeInfo* FindType(std::string_view name);
// Element of `type` or one of its bases; nullptr if not found.
const ElementInfo* FindElement(const TypeInfo* type, std::string_view name);
// True if `type` is `ancestor` or derives from it.
bool IsSubtype(std::string_view type, std::string_view ancestor);
bool IsSubtype(const TypeInfo* type, std::string_view ancestor);
// True if every type on the inheritance chain of `type` is complete.
bool IsComplete(const TypeInfo* type);
// True for FHIR R4 resource type names (all 145, not only those with element tables).
bool IsResourceName(std::string_view name);
// True for FHIR primitive type names ("boolean", "code", ...).
bool IsPrimitiveName(std::string_view name);
// Type name for a JSON choice suffix: "Quantity" -> "Quantity", "String" -> "string";
// "" if the suffix is not a FHIR type.
std::string ChoiceSuffixType(std::string_view suffix);

}  // namespace fhir::fhirpath::model

#endif  // SDOH_FHIR_FHIRPATH_MODEL_H_
