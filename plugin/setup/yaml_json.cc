#include "plugin/setup/yaml_json.h"

#include <cstdlib>
#include <string>

namespace sdoh {

void YamlToJson(const YAML::Node& node, rapidjson::Value& out,
                rapidjson::Document::AllocatorType& alloc) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      out.SetObject();
      for (const auto& kv : node) {
        rapidjson::Value key(kv.first.Scalar().c_str(), alloc);
        rapidjson::Value v;
        YamlToJson(kv.second, v, alloc);
        out.AddMember(key, v, alloc);
      }
      return;
    }
    case YAML::NodeType::Sequence: {
      out.SetArray();
      for (const auto& item : node) {
        rapidjson::Value v;
        YamlToJson(item, v, alloc);
        out.PushBack(v, alloc);
      }
      return;
    }
    case YAML::NodeType::Scalar: {
      const std::string& s = node.Scalar();
      if (node.Tag() == "?") {  // plain (unquoted)
        if (s == "true" || s == "false") {
          out.SetBool(s == "true");
          return;
        }
        if (!s.empty()) {
          char* end = nullptr;
          long long i = std::strtoll(s.c_str(), &end, 10);
          if (*end == '\0' && (s[0] != '0' || s.size() == 1)) {
            out.SetInt64(i);
            return;
          }
          double d = std::strtod(s.c_str(), &end);
          if (*end == '\0' && s.find_first_of("0123456789") != std::string::npos &&
              s.find_first_not_of("0123456789.-+eE") == std::string::npos) {
            out.SetDouble(d);
            return;
          }
        }
      }
      out.SetString(s.c_str(), static_cast<rapidjson::SizeType>(s.size()), alloc);
      return;
    }
    default:
      out.SetNull();
  }
}

}  // namespace sdoh
