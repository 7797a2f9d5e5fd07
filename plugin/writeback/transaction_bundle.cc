#include "plugin/writeback/transaction_bundle.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "plugin/referrals/identifiers.h"

namespace sdoh::writeback {

std::string UrnFor(const std::string& system, const std::string& identifier) {
  std::string h = Sha256Hex(system + "|" + identifier).substr(0, 32);
  h[12] = '4';
  static const char* kVariant = "89ab";
  h[16] = kVariant[std::stoi(h.substr(16, 1), nullptr, 16) & 3];
  return "urn:uuid:" + h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" +
         h.substr(16, 4) + "-" + h.substr(20, 12);
}

std::string WithFocus(const std::string& task_json, const std::string& focus_reference) {
  rapidjson::Document d;
  d.Parse(task_json.c_str());
  if (d.HasParseError() || !d.IsObject()) return task_json;
  auto& a = d.GetAllocator();
  d.RemoveMember("focus");
  rapidjson::Value focus(rapidjson::kObjectType);
  focus.AddMember("reference", rapidjson::Value(focus_reference.c_str(), a), a);
  d.AddMember("focus", focus, a);
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  d.Accept(w);
  return sb.GetString();
}

std::string BuildTransaction(const std::vector<const WriteGroup*>& groups,
                             const std::string& system) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  auto str = [&](const std::string& s) {
    w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  };
  w.StartObject();
  w.Key("resourceType");
  w.String("Bundle");
  w.Key("type");
  w.String("transaction");
  w.Key("entry");
  w.StartArray();
  for (const WriteGroup* g : groups) {
    std::string sr_urn;
    for (const WriteEntry& e : g->entries) {
      if (e.type == "ServiceRequest") sr_urn = UrnFor(system, e.identifier);
    }
    for (const WriteEntry& e : g->entries) {
      std::string json = e.json;
      if (e.type == "Task") json = WithFocus(json, sr_urn.empty() ? g->task_focus : sr_urn);
      w.StartObject();
      w.Key("fullUrl");
      str(UrnFor(system, e.identifier));
      w.Key("resource");
      w.RawValue(json.data(), json.size(), rapidjson::kObjectType);
      w.Key("request");
      w.StartObject();
      w.Key("method");
      w.String("POST");
      w.Key("url");
      str(e.type);
      w.Key("ifNoneExist");
      str("identifier=" + system + "|" + e.identifier);
      w.EndObject();
      w.EndObject();
    }
  }
  w.EndArray();
  w.EndObject();
  return sb.GetString();
}

std::vector<std::vector<const WriteGroup*>> PackBatches(const std::vector<WriteGroup>& groups,
                                                        int max_entries) {
  std::vector<std::vector<const WriteGroup*>> out;
  std::vector<const WriteGroup*> cur;
  size_t n = 0;
  for (const WriteGroup& g : groups) {
    if (!cur.empty() && n + g.entries.size() > static_cast<size_t>(max_entries)) {
      out.push_back(std::move(cur));
      cur.clear();
      n = 0;
    }
    cur.push_back(&g);
    n += g.entries.size();
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

}  // namespace sdoh::writeback
