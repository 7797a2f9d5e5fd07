// Internal to the screening collector: FNV-1a over what a screening contributes, so that two lines
// with the same id and version but other content are told apart (issue 13 #9).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "plugin/screening/screening.h"

namespace sdoh {

struct ContentHash {
  uint64_t h = 1469598103934665603ULL;
  void Bytes(const void* p, size_t n) {
    const auto* b = static_cast<const unsigned char*>(p);
    for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ULL;
  }
  template <typename T>
  void Add(const T& v) {
    Bytes(&v, sizeof v);
  }
  void Add(std::string_view v) {
    Add(v.size());
    Bytes(v.data(), v.size());
  }
  void Add(const std::vector<FhirpathOutcome>& outcomes) {
    for (const FhirpathOutcome& o : outcomes) {
      Add(o.index);
      Add(o.value);
      Add(std::string_view(o.detail));
    }
  }
};

}  // namespace sdoh
