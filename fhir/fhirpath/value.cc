#include "fhir/fhirpath/value.h"

#include "fhir/fhirpath/model.h"

namespace fhir::fhirpath {

Item Item::Boolean(bool b) {
  Item it;
  it.kind_ = ValueKind::kBoolean;
  it.b_ = b;
  return it;
}

Item Item::Integer(int64_t i) {
  Item it;
  it.kind_ = ValueKind::kInteger;
  it.i_ = i;
  return it;
}

Item Item::Dec(const Decimal& d) {
  Item it;
  it.kind_ = ValueKind::kDecimal;
  it.d_ = d;
  return it;
}

Item Item::String(std::string s) {
  Item it;
  it.kind_ = ValueKind::kString;
  it.s_ = std::move(s);
  return it;
}

Item Item::Temp(const Temporal& t) {
  Item it;
  it.kind_ = t.kind == TemporalKind::kDate       ? ValueKind::kDate
             : t.kind == TemporalKind::kDateTime ? ValueKind::kDateTime
                                                 : ValueKind::kTime;
  it.t_ = t;
  return it;
}

Item Item::Qty(const Quantity& q) {
  Item it;
  it.kind_ = ValueKind::kQuantity;
  it.d_ = q.value;
  it.s_ = q.unit;
  it.b_ = q.calendar;
  return it;
}

Item Item::TypeSpec(std::string_view ns, std::string name) {
  Item it;
  it.kind_ = ValueKind::kTypeInfo;
  it.b_ = ns == "FHIR";
  it.s_ = std::move(name);
  return it;
}

std::optional<Item> Item::FromModel(const rapidjson::Value* node, const rapidjson::Value* ext,
                                    std::string_view fhir_type, const model::TypeInfo* type_info) {
  Item it;
  it.node_ = node;
  it.ext_ = ext;
  it.fhir_type_ = fhir_type;
  it.kind_ = ValueKind::kObject;
  const model::TypeInfo* t = type_info ? type_info : model::FindType(fhir_type);
  it.type_info_ = t;
  if (!node) return it;  // primitive with only an extension, or unknown
  if (!t || !t->primitive) {
    if (!node->IsObject()) return std::nullopt;
    return it;
  }
  // Walk to the root primitive (code -> string, positiveInt -> integer, url -> uri).
  const model::TypeInfo* root_info = t;
  for (int guard = 0; guard < 4 && root_info->base_info && root_info->base_info->primitive;
       ++guard) {
    root_info = root_info->base_info;
  }
  std::string_view root = root_info->name;
  if (root == "boolean") {
    if (!node->IsBool()) return std::nullopt;
    it.kind_ = ValueKind::kBoolean;
    it.b_ = node->GetBool();
  } else if (root == "integer") {
    if (node->IsInt64()) {
      it.i_ = node->GetInt64();
    } else if (node->IsString()) {
      auto d = Decimal::Parse(std::string_view(node->GetString(), node->GetStringLength()));
      if (!d || d->scale() != 0 || d->units() > INT64_MAX || d->units() < INT64_MIN)
        return std::nullopt;
      it.i_ = static_cast<int64_t>(d->units());
    } else {
      return std::nullopt;
    }
    it.kind_ = ValueKind::kInteger;
  } else if (root == "decimal") {
    std::optional<Decimal> d;
    if (node->IsString()) {
      d = Decimal::Parse(std::string_view(node->GetString(), node->GetStringLength()));
    } else if (node->IsInt64()) {
      d = Decimal::FromInt(node->GetInt64());
    } else if (node->IsNumber()) {
      d = Decimal::FromDouble(node->GetDouble());
    }
    if (!d) return std::nullopt;
    it.kind_ = ValueKind::kDecimal;
    it.d_ = *d;
  } else if (root == "date" || root == "dateTime" || root == "instant" || root == "time") {
    if (!node->IsString()) return std::nullopt;
    TemporalKind k = root == "date"   ? TemporalKind::kDate
                     : root == "time" ? TemporalKind::kTime
                                      : TemporalKind::kDateTime;
    auto tv = Temporal::Parse(std::string_view(node->GetString(), node->GetStringLength()), k);
    if (!tv) return std::nullopt;
    it.t_ = *tv;
    it.kind_ = k == TemporalKind::kDate       ? ValueKind::kDate
               : k == TemporalKind::kDateTime ? ValueKind::kDateTime
                                              : ValueKind::kTime;
  } else {
    if (!node->IsString()) return std::nullopt;
    it.kind_ = ValueKind::kString;
  }
  return it;
}

std::string_view Item::str() const {
  if (kind_ == ValueKind::kString && node_ && node_->IsString()) {
    return std::string_view(node_->GetString(), node_->GetStringLength());
  }
  return s_;
}

std::string_view Item::TypeName() const {
  if (is_model()) return fhir_type_;
  switch (kind_) {
    case ValueKind::kBoolean:
      return "boolean";
    case ValueKind::kInteger:
      return "integer";
    case ValueKind::kDecimal:
      return "decimal";
    case ValueKind::kString:
      return "string";
    case ValueKind::kDate:
      return "date";
    case ValueKind::kDateTime:
      return "dateTime";
    case ValueKind::kTime:
      return "time";
    case ValueKind::kQuantity:
      return "Quantity";
    case ValueKind::kTypeInfo:
      return "TypeInfo";
    case ValueKind::kObject:
      return "Object";
  }
  return "";
}

std::string Item::SystemTypeName() const {
  switch (kind_) {
    case ValueKind::kBoolean:
      return "Boolean";
    case ValueKind::kInteger:
      return "Integer";
    case ValueKind::kDecimal:
      return "Decimal";
    case ValueKind::kString:
      return "String";
    case ValueKind::kDate:
      return "Date";
    case ValueKind::kDateTime:
      return "DateTime";
    case ValueKind::kTime:
      return "Time";
    case ValueKind::kQuantity:
      return "Quantity";
    default:
      return "";
  }
}

std::optional<std::string> Item::ToText() const {
  switch (kind_) {
    case ValueKind::kBoolean:
      return std::string(b_ ? "true" : "false");
    case ValueKind::kInteger:
      return std::to_string(i_);
    case ValueKind::kDecimal:
      return d_.ToString();
    case ValueKind::kString:
      return std::string(str());
    case ValueKind::kDate:
    case ValueKind::kDateTime:
    case ValueKind::kTime:
      return t_.ToString();
    case ValueKind::kQuantity:
      return quantity().ToString();
    default:
      return std::nullopt;
  }
}

}  // namespace fhir::fhirpath
