// Items of a FHIRPath collection: a node of the caller's RapidJSON resource (with its FHIR
// type), or a System value computed by the expression.
//
// Ownership: an Item that refers to the resource holds raw pointers into it; the resource
// must outlive every Item and Collection produced from it.
#ifndef SDOH_FHIR_FHIRPATH_VALUE_H_
#define SDOH_FHIR_FHIRPATH_VALUE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include "fhir/fhirpath/decimal.h"
#include "fhir/fhirpath/quantity.h"
#include "fhir/fhirpath/temporal.h"

namespace fhir::fhirpath {

namespace model {
struct TypeInfo;
}

enum class ValueKind : uint8_t {
  kBoolean,
  kInteger,
  kDecimal,
  kString,
  kDate,
  kDateTime,
  kTime,
  kQuantity,
  kObject,    // complex model node (HumanName, Patient, ...): see node()
  kTypeInfo,  // result of type(): namespace + name
};

class Item {
 public:
  Item() = default;
  static Item Boolean(bool b);
  static Item Integer(int64_t i);
  static Item Dec(const Decimal& d);
  static Item String(std::string s);
  static Item Temp(const Temporal& t);
  static Item Qty(const Quantity& q);
  // `ns` is "FHIR" or "System".
  static Item TypeSpec(std::string_view ns, std::string name);
  // A model node. `node` may be null when a primitive only has an extension (`_field`).
  // `fhir_type` must have static storage (a type-table name or an interned string).
  // For primitive FHIR types the System value is decoded from `node`; returns nullopt
  // if the JSON does not hold a valid value of that type.
  // `type_info` may be passed when the caller has already resolved `fhir_type`.
  static std::optional<Item> FromModel(const rapidjson::Value* node, const rapidjson::Value* ext,
                                       std::string_view fhir_type,
                                       const model::TypeInfo* type_info = nullptr);

  ValueKind kind() const { return kind_; }
  bool is_model() const { return !fhir_type_.empty(); }
  // The JSON node in the resource (object or primitive), or nullptr for computed values.
  const rapidjson::Value* node() const { return node_; }
  // The primitive-extension object (`_birthDate`), or nullptr.
  const rapidjson::Value* extension_node() const { return ext_; }
  // FHIR type of a model node ("code", "HumanName", "Patient"), empty for computed values.
  std::string_view fhir_type() const { return fhir_type_; }
  // The engine's R4 type entry for fhir_type(), or nullptr if the type is not modelled.
  const model::TypeInfo* type_info() const { return type_info_; }
  // Type name as the conformance suite and CLI report it: the FHIR type for model values,
  // else the lower-case System type ("integer", "dateTime", "Quantity").
  std::string_view TypeName() const;
  // FHIRPath type() name and namespace ("FHIR"/"System").
  std::string_view TypeNamespace() const { return is_model() ? "FHIR" : "System"; }
  std::string SystemTypeName() const;

  bool boolean() const { return b_; }
  int64_t integer() const { return i_; }
  const Decimal& decimal() const { return d_; }
  const Temporal& temporal() const { return t_; }
  // String value (kString), unit (kQuantity), or type name (kTypeInfo).
  std::string_view str() const;
  Quantity quantity() const { return Quantity{d_, std::string(str()), b_}; }
  // For kTypeInfo: the namespace ("FHIR" or "System").
  std::string_view type_namespace() const { return b_ ? "FHIR" : "System"; }
  // True if this primitive model item has a value (not just an extension).
  bool has_value() const { return kind_ != ValueKind::kObject && kind_ != ValueKind::kTypeInfo; }

  // FHIRPath string form (toString()); empty optional for objects.
  std::optional<std::string> ToText() const;

 private:
  ValueKind kind_ = ValueKind::kObject;
  bool b_ = false;
  int64_t i_ = 0;
  Decimal d_;
  Temporal t_;
  std::string s_;
  const rapidjson::Value* node_ = nullptr;
  const rapidjson::Value* ext_ = nullptr;
  const model::TypeInfo* type_info_ = nullptr;
  std::string_view fhir_type_;
};

using Collection = std::vector<Item>;

}  // namespace fhir::fhirpath

#endif  // SDOH_FHIR_FHIRPATH_VALUE_H_
