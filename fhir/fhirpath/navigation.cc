// Model navigation: the children of a FHIR item by element name (with choice types and
// primitive extensions), all children, static element checks, and type tests (is/as/ofType).
#include <algorithm>
#include <cstring>

#include "fhir/fhirpath/evaluator.h"
#include "fhir/fhirpath/functions.h"
#include "fhir/fhirpath/model.h"
#include "fhir/fhirpath/operations.h"

namespace fhir::fhirpath {

using internal::Fail;
using internal::NodeKind;
using internal::Op;

namespace {

std::string_view View(const rapidjson::Value& v) {
  return std::string_view(v.GetString(), v.GetStringLength());
}

// FindMember by a string_view (not necessarily NUL-terminated). Passing a StringRef to
// FindMember would pick the `const char*` overload and call strlen.
rapidjson::Value::ConstMemberIterator FindKey(const rapidjson::Value& obj, std::string_view key) {
  rapidjson::Value name(rapidjson::StringRef(key.data(), key.size()));
  return obj.FindMember(name);
}

bool HasKey(const rapidjson::Value& obj, std::string_view key) {
  return FindKey(obj, key) != obj.MemberEnd();
}

}  // namespace

std::string_view Evaluator::InferType(const rapidjson::Value& v) {
  if (v.IsObject()) {
    auto rt = v.FindMember("resourceType");
    if (rt != v.MemberEnd() && rt->value.IsString()) return View(rt->value);
    return "Base";
  }
  if (v.IsString()) return "string";
  if (v.IsBool()) return "boolean";
  if (v.IsInt64()) return "integer";
  if (v.IsNumber()) return "decimal";
  return {};
}

bool Evaluator::IsType(const Item& item, const internal::TypeRef& type, bool exact) const {
  bool fhir;
  if (type.ns == "System") {
    fhir = false;
  } else if (type.ns == "FHIR") {
    fhir = true;
  } else {
    fhir = item.is_model();
  }
  if (!fhir) {
    if (item.is_model()) return false;
    std::string sys = item.SystemTypeName();
    return sys == type.name || (type.name == "Long" && sys == "Integer" && false);
  }
  if (!item.is_model()) return false;
  if (exact || item.fhir_type() == type.name) return item.fhir_type() == type.name;
  return model::IsSubtype(item.type_info(), type.name);
}

void Evaluator::AddMember(const rapidjson::Value& obj, std::string_view key, std::string_view type,
                          Collection* out, const model::TypeInfo* type_info) {
  // One pass finds both the value (`key`) and its primitive extension (`_key`).
  const rapidjson::Value* v = nullptr;
  const rapidjson::Value* e = nullptr;
  for (auto m = obj.MemberBegin(); m != obj.MemberEnd(); ++m) {
    size_t len = m->name.GetStringLength();
    const char* name = m->name.GetString();
    if (len == key.size() && std::memcmp(name, key.data(), len) == 0) {
      v = &m->value;
    } else if (len == key.size() + 1 && name[0] == '_' &&
               std::memcmp(name + 1, key.data(), key.size()) == 0) {
      e = &m->value;
    }
  }
  auto add = [&](const rapidjson::Value* val, const rapidjson::Value* ext) {
    if (val && val->IsNull()) val = nullptr;
    if (ext && !ext->IsObject()) ext = nullptr;
    if (!val && !ext) return;
    std::string_view t = type;
    const model::TypeInfo* ti = type_info;
    if (val && val->IsObject() && (t.empty() || (ti && ti->resource))) {
      std::string_view inferred = InferType(*val);
      if (!inferred.empty() && inferred != t) {
        t = inferred;
        ti = nullptr;
      }
    }
    if (t.empty() && val) t = InferType(*val);
    if (t.empty()) return;
    auto item = Item::FromModel(val, ext, t, ti);
    if (!item && val) item = Item::FromModel(val, ext, InferType(*val));
    if (item) Push(out, std::move(*item));
  };
  if (v && v->IsArray()) {
    size_t n = v->Size();
    size_t m = (e && e->IsArray()) ? e->Size() : 0;
    out->reserve(out->size() + std::max(n, m));
    for (size_t i = 0; i < std::max(n, m); ++i) {
      add(i < n ? &(*v)[static_cast<rapidjson::SizeType>(i)] : nullptr,
          i < m ? &(*e)[static_cast<rapidjson::SizeType>(i)] : nullptr);
    }
  } else if (e && e->IsArray() && !v) {
    for (const auto& x : e->GetArray()) add(nullptr, &x);
  } else {
    add(v, e);
  }
}

bool Evaluator::Member(const Item& item, const std::string& name, Collection* out) {
  Step();
  if (item.kind() == ValueKind::kTypeInfo) {
    if (name == "namespace") Push(out, Item::String(std::string(item.type_namespace())));
    if (name == "name") Push(out, Item::String(std::string(item.str())));
    return true;
  }
  if (!item.is_model()) return true;
  const rapidjson::Value* obj = nullptr;
  std::string_view type = item.fhir_type();
  const model::TypeInfo* ti = item.type_info();
  if (item.kind() == ValueKind::kObject && item.node() && item.node()->IsObject()) {
    obj = item.node();
  } else if (item.extension_node()) {
    obj = item.extension_node();
    type = "Element";
    ti = model::FindType(type);
  }
  if (!obj) return true;
  if (!name.empty() && name[0] >= 'A' && name[0] <= 'Z') {
    if (type == name || model::IsSubtype(ti, name)) {
      Push(out, item);
      return true;
    }
    if (ctx_.strict_model && model::IsResourceName(name) && model::IsResourceName(type)) {
      Fail("the expression expects a " + name + " but the resource is a " + std::string(type));
    }
  }
  const model::ElementInfo* el = model::FindElement(ti, name);
  if (el && !el->IsChoice()) {
    AddMember(*obj, name, el->type, out, el->type_info);
    return true;
  }
  if (el) {
    for (auto m = obj->MemberBegin(); m != obj->MemberEnd(); ++m) {
      std::string_view key = View(m->name);
      if (key.size() <= name.size() || key.substr(0, name.size()) != name) continue;
      std::string st = model::ChoiceSuffixType(key.substr(name.size()));
      if (st.empty()) continue;
      bool allowed = false;
      for (const std::string& c : el->choice_types) {
        if (c == "*" || c == st) allowed = true;
      }
      if (!allowed) continue;
      const model::TypeInfo* sti = model::FindType(st);
      if (sti) AddMember(*obj, key, sti->name, out, sti);
    }
    return true;
  }
  if (ctx_.strict_model && ti && model::IsComplete(ti)) return false;
  auto direct = FindKey(*obj, name);
  std::string ext_key = "_" + name;
  if (direct != obj->MemberEnd() || HasKey(*obj, ext_key)) {
    AddMember(*obj, name, {}, out);
    return true;
  }
  // Unknown element: look for a choice rendering such as valueString.
  for (auto m = obj->MemberBegin(); m != obj->MemberEnd(); ++m) {
    std::string_view key = View(m->name);
    if (key.size() <= name.size() || key.substr(0, name.size()) != name) continue;
    std::string st = model::ChoiceSuffixType(key.substr(name.size()));
    const model::TypeInfo* sti = st.empty() ? nullptr : model::FindType(st);
    if (sti) AddMember(*obj, key, sti->name, out);
  }
  return true;
}

void Evaluator::Children(const Item& item, Collection* out) {
  if (!item.is_model()) return;
  const rapidjson::Value* obj = nullptr;
  std::string_view type = item.fhir_type();
  if (item.kind() == ValueKind::kObject && item.node() && item.node()->IsObject()) {
    obj = item.node();
  } else if (item.extension_node()) {
    obj = item.extension_node();
    type = "Element";
  }
  if (!obj) return;
  const model::TypeInfo* ti = type == "Element" ? model::FindType(type) : item.type_info();
  for (auto m = obj->MemberBegin(); m != obj->MemberEnd(); ++m) {
    std::string_view key = View(m->name);
    if (key == "resourceType" || key.empty()) continue;
    if (key[0] == '_') {
      // Extension-only primitives are reached through their value key when it exists.
      std::string_view base = key.substr(1);
      if (HasKey(*obj, base)) continue;
      key = base;
    }
    const model::ElementInfo* el = model::FindElement(ti, key);
    if (el && !el->IsChoice()) {
      AddMember(*obj, key, el->type, out, el->type_info);
      continue;
    }
    // Choice element or unknown: try a choice suffix, else infer.
    bool added = false;
    for (size_t cut = 1; cut < key.size() && !added; ++cut) {
      if (key[cut] < 'A' || key[cut] > 'Z') continue;
      const model::ElementInfo* ce = model::FindElement(ti, key.substr(0, cut));
      if (!ce || !ce->IsChoice()) continue;
      std::string st = model::ChoiceSuffixType(key.substr(cut));
      const model::TypeInfo* sti = st.empty() ? nullptr : model::FindType(st);
      if (sti) {
        AddMember(*obj, key, sti->name, out);
        added = true;
      }
    }
    if (!added) AddMember(*obj, key, {}, out);
  }
}

void Evaluator::CheckStaticMember(const Node& left0, const std::string& name) {
  const Node* left = &left0;
  while (left->kind == NodeKind::kParen) left = left->args[0].get();
  const internal::TypeRef* type = nullptr;
  if (left->kind == NodeKind::kTypeOp && left->op == Op::kAs) {
    type = &left->type;
  } else if (left->kind == NodeKind::kInvoke && left->args[1]->kind == NodeKind::kFunction &&
             (left->args[1]->fn == internal::kAsFn || left->args[1]->fn == internal::kOfType)) {
    type = &left->args[1]->type;
  }
  if (!type || type->ns == "System") return;
  const model::TypeInfo* ti = model::FindType(type->name);
  if (!ti || !model::IsComplete(ti) || ti->primitive) return;
  if (model::FindElement(ti, name)) return;
  Fail("'" + name + "' is not an element of " + type->name);
}

}  // namespace fhir::fhirpath
