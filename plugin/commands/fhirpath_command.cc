#include "plugin/commands/fhirpath_command.h"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <utility>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "fhir/fhirpath/engine.h"
#include "fhir/fhirpath/model.h"

namespace sdoh {
namespace {

namespace fp = fhir::fhirpath;

constexpr char kHelp[] = R"(usage: sdoh-bridge fhirpath 'EXPRESSION' [RESOURCE.json|-] [options]

Evaluates a FHIRPath expression against a FHIR R4 JSON resource (a file, or '-' for
stdin; with no resource the expression runs on an empty input) and prints the result
collection as JSON:

  [{"type": "code", "value": "male"}, {"type": "decimal", "value": "1.50"}]

  type   the FHIR type for values read from the resource (code, id, dateTime, HumanName,
         ...), the lower-case System type for computed ones (integer, decimal, string,
         boolean, date, dateTime, time, Quantity)
  value  booleans and integers as JSON values; decimals as strings with their digits;
         dates and times as strings without '@'; a computed Quantity as
         {"value": "1.5", "unit": "mg"} (calendar units as words); elements as their JSON

options:
  --var name=value   set %name to the string value (repeatable)
  --now DATETIME     evaluation time for now()/today(), e.g. 2024-05-01T12:00:00Z
                     (default: the current time; the local zone comes from TZ)
  --lenient          do not report element names the R4 model does not know
  --help             print this help

exit status: 0 success, 1 evaluation error or unreadable resource, 2 syntax error or bad
command line
)";

// True for FHIR types whose JSON form is a number (integer, decimal and their subtypes).
bool IsNumericType(const fhir::fhirpath::model::TypeInfo* t) {
  for (int guard = 0; t && guard < 4; ++guard, t = t->base_info) {
    if (t->name == "integer" || t->name == "decimal") return true;
  }
  return false;
}

bool LooksNumeric(const rapidjson::Value& v) {
  if (!v.IsString() || v.GetStringLength() == 0) return false;
  for (rapidjson::SizeType i = 0; i < v.GetStringLength(); ++i) {
    char c = v.GetString()[i];
    if (!((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E')) {
      return false;
    }
  }
  return true;
}

// The FHIR type of member `key` of an object of type `t` (choice suffixes resolved).
const fhir::fhirpath::model::TypeInfo* MemberType(const fhir::fhirpath::model::TypeInfo* t,
                                                  std::string_view key) {
  namespace model = fhir::fhirpath::model;
  if (!t) return nullptr;
  if (const model::ElementInfo* e = model::FindElement(t, key)) return e->type_info;
  for (size_t cut = 1; cut < key.size(); ++cut) {
    if (key[cut] < 'A' || key[cut] > 'Z') continue;
    const model::ElementInfo* e = model::FindElement(t, key.substr(0, cut));
    if (e && e->IsChoice()) return model::FindType(model::ChoiceSuffixType(key.substr(cut)));
  }
  return nullptr;
}

// Writes a resource node as FHIR JSON without recursion (resources may be nested
// arbitrarily deep). Resources are parsed with kParseNumbersAsStringsFlag, so numbers are
// strings in the DOM; elements the R4 model types as integer/decimal are written back as
// JSON numbers with their original digits.
void WriteJson(const rapidjson::Value& root, const fhir::fhirpath::model::TypeInfo* root_type,
               rapidjson::Writer<rapidjson::StringBuffer>* w) {
  namespace model = fhir::fhirpath::model;
  struct Frame {
    const rapidjson::Value* v;
    const model::TypeInfo* type;  // object type, or element type of an array
    rapidjson::SizeType next;
  };
  std::vector<Frame> stack;
  auto open = [&](const rapidjson::Value& v, const model::TypeInfo* type) {
    switch (v.GetType()) {
      case rapidjson::kObjectType: {
        auto rt = v.FindMember("resourceType");
        if (rt != v.MemberEnd() && rt->value.IsString()) {
          type =
              model::FindType(std::string_view(rt->value.GetString(), rt->value.GetStringLength()));
        }
        w->StartObject();
        stack.push_back({&v, type, 0});
        break;
      }
      case rapidjson::kArrayType:
        w->StartArray();
        stack.push_back({&v, type, 0});
        break;
      case rapidjson::kStringType:
        if (IsNumericType(type) && LooksNumeric(v)) {
          w->RawValue(v.GetString(), v.GetStringLength(), rapidjson::kNumberType);
        } else {
          w->String(v.GetString(), v.GetStringLength());
        }
        break;
      case rapidjson::kNullType:
        w->Null();
        break;
      case rapidjson::kFalseType:
        w->Bool(false);
        break;
      case rapidjson::kTrueType:
        w->Bool(true);
        break;
      case rapidjson::kNumberType:
        if (v.IsInt64()) {
          w->Int64(v.GetInt64());
        } else if (v.IsUint64()) {
          w->Uint64(v.GetUint64());
        } else {
          w->Double(v.GetDouble());
        }
        break;
    }
  };
  open(root, root_type);
  while (!stack.empty()) {
    Frame& f = stack.back();
    if (f.v->IsObject()) {
      if (f.next == f.v->MemberCount()) {
        w->EndObject();
        stack.pop_back();
        continue;
      }
      auto m = f.v->MemberBegin() + f.next++;
      std::string_view key(m->name.GetString(), m->name.GetStringLength());
      const model::TypeInfo* type = MemberType(f.type, key);
      w->Key(m->name.GetString(), m->name.GetStringLength());
      open(m->value, type);
    } else {
      if (f.next == f.v->Size()) {
        w->EndArray();
        stack.pop_back();
        continue;
      }
      const model::TypeInfo* type = f.type;
      open((*f.v)[f.next++], type);
    }
  }
}

void WriteItem(const fp::Item& item, rapidjson::Writer<rapidjson::StringBuffer>* w) {
  w->StartObject();
  w->Key("type");
  std::string type(item.TypeName());
  w->String(type.c_str(), static_cast<rapidjson::SizeType>(type.size()));
  w->Key("value");
  auto text = [&](const std::string& s) {
    w->String(s.c_str(), static_cast<rapidjson::SizeType>(s.size()));
  };
  switch (item.kind()) {
    case fp::ValueKind::kBoolean:
      w->Bool(item.boolean());
      break;
    case fp::ValueKind::kInteger:
      w->Int64(item.integer());
      break;
    case fp::ValueKind::kDecimal:
      text(item.decimal().ToString());
      break;
    case fp::ValueKind::kString: {
      std::string_view s = item.str();
      w->String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
      break;
    }
    case fp::ValueKind::kDate:
    case fp::ValueKind::kDateTime:
    case fp::ValueKind::kTime:
      text(item.temporal().ToString());
      break;
    case fp::ValueKind::kQuantity: {
      fp::Quantity q = item.quantity();
      w->StartObject();
      w->Key("value");
      text(q.value.ToString());
      w->Key("unit");
      text(q.unit);
      w->EndObject();
      break;
    }
    case fp::ValueKind::kTypeInfo:
      w->StartObject();
      w->Key("namespace");
      text(std::string(item.type_namespace()));
      w->Key("name");
      text(std::string(item.str()));
      w->EndObject();
      break;
    case fp::ValueKind::kObject:
      if (item.node()) {
        WriteJson(*item.node(), item.type_info(), w);
      } else {
        w->Null();
      }
      break;
  }
  if (item.extension_node()) {
    w->Key("extension");
    WriteJson(*item.extension_node(), fhir::fhirpath::model::FindType("Element"), w);
  }
  w->EndObject();
}

bool ReadAll(const std::string& path, std::string* out, std::string* error) {
  if (path == "-") {
    out->assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    return true;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = "cannot open " + path;
    return false;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

}  // namespace

int RunFhirpathCommand(const std::vector<std::string>& args) {
  std::vector<std::string> positional;
  fp::EvalContext ctx;
  ctx.now = std::chrono::system_clock::now();
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      std::cout << kHelp;
      return 0;
    }
    if (a == "--var" || a.rfind("--var=", 0) == 0) {
      std::string spec;
      if (a == "--var") {
        if (i + 1 >= args.size()) {
          std::cerr << "fhirpath: --var needs name=value\n";
          return 2;
        }
        spec = args[++i];
      } else {
        spec = a.substr(6);
      }
      size_t eq = spec.find('=');
      if (eq == std::string::npos || eq == 0) {
        std::cerr << "fhirpath: --var expects name=value, got '" << spec << "'\n";
        return 2;
      }
      ctx.variables[spec.substr(0, eq)] = fp::Collection{fp::Item::String(spec.substr(eq + 1))};
    } else if (a == "--now") {
      if (i + 1 >= args.size()) {
        std::cerr << "fhirpath: --now needs a date-time\n";
        return 2;
      }
      auto t = fp::Temporal::Parse(args[++i], fp::TemporalKind::kDateTime);
      if (!t || !t->has_tz) {
        std::cerr << "fhirpath: --now expects a date-time with a zone, e.g. "
                     "2024-05-01T12:00:00Z\n";
        return 2;
      }
      fp::Temporal utc = t->WithOffset(0);
      int64_t ms = fp::DaysFromCivil(utc.year, utc.month, utc.day) * 86400000 +
                   static_cast<int64_t>(utc.hour) * 3600000 + utc.minute * 60000 +
                   utc.second * 1000 + utc.millisecond;
      ctx.now = std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
    } else if (a == "--lenient") {
      ctx.strict_model = false;
    } else if (a.size() > 1 && a[0] == '-' && a[1] == '-') {
      std::cerr << "fhirpath: unknown option " << a << " (see --help)\n";
      return 2;
    } else {
      positional.push_back(a);
    }
  }
  if (positional.empty() || positional.size() > 2) {
    std::cerr << "fhirpath: expected 'EXPRESSION' [RESOURCE.json|-] (see --help)\n";
    return 2;
  }
  const std::string& text = positional[0];
  auto compiled = fp::Compile(text);
  if (!compiled.ok()) {
    std::cerr << "fhirpath: syntax error at position " << compiled.error->position << ": "
              << compiled.error->message << "\n";
    if (text.size() < 200 && text.find('\n') == std::string::npos) {
      std::cerr << "  " << text << "\n  " << std::string(compiled.error->position, ' ') << "^\n";
    }
    return 2;
  }

  rapidjson::Document doc;
  std::string body;
  fp::EvalResult result;
  if (positional.size() == 2) {
    std::string error;
    if (!ReadAll(positional[1], &body, &error)) {
      std::cerr << "fhirpath: " << error << "\n";
      return 1;
    }
    body.reserve(body.size() + 64);  // RapidJSON's SIMD scan reads whole 16-byte blocks
    constexpr unsigned kFlags = rapidjson::kParseNumbersAsStringsFlag |
                                rapidjson::kParseIterativeFlag |
                                rapidjson::kParseValidateEncodingFlag;
    doc.Parse<kFlags>(body.c_str(), body.size());
    if (doc.HasParseError()) {
      std::cerr << "fhirpath: " << positional[1] << ": invalid JSON at offset "
                << doc.GetErrorOffset() << ": " << rapidjson::GetParseError_En(doc.GetParseError())
                << "\n";
      return 1;
    }
    if (!doc.IsObject()) {
      std::cerr << "fhirpath: " << positional[1] << ": expected a JSON object (a resource)\n";
      return 1;
    }
    result = fp::Evaluate(*compiled.expression, doc, ctx);
  } else {
    result = fp::EvaluateWithoutResource(*compiled.expression, ctx);
  }
  if (!result.ok()) {
    std::cerr << "fhirpath: evaluation error: " << result.error->message << "\n";
    return 1;
  }
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.StartArray();
  for (const fp::Item& item : result.items) WriteItem(item, &writer);
  writer.EndArray();
  std::cout << buffer.GetString() << "\n";
  return 0;
}

}  // namespace sdoh
