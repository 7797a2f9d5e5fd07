// What a pass read, counted, ignored and skipped — the material of the run summary.
// Holds ids and reasons only: never names, dates of birth, addresses or free text.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace sdoh {

struct SkipRecord {
  std::string where;   // file:line or URL#entry
  std::string reason;  // stable token
  std::string detail;  // what was wrong (field, offset); never resource content
};

struct RunCounts {
  static constexpr size_t kMaxSkipExamples = 50;

  std::map<std::string, uint64_t> read;     // resources read, by expected type
  uint64_t screenings_counted = 0;          // winning screenings (per instrument)
  uint64_t member_observations = 0;         // panel members whose answers were read
  std::map<std::string, uint64_t> ignored;  // "<Type>: <reason>" → count
  std::map<std::string, uint64_t> skipped;  // reason → count (bad input)
  std::vector<SkipRecord> skip_examples;    // the first kMaxSkipExamples skips
  std::vector<std::string> missing_files;   // optional inputs that were absent

  void Ignore(const std::string& type, const std::string& reason) {
    ++ignored[type + ": " + reason];
  }
  void Skip(SkipRecord r) {
    ++skipped[r.reason];
    if (skip_examples.size() < kMaxSkipExamples) skip_examples.push_back(std::move(r));
  }
  uint64_t TotalSkipped() const {
    uint64_t n = 0;
    for (const auto& [k, v] : skipped) n += v;
    return n;
  }
  uint64_t TotalIgnored() const {
    uint64_t n = 0;
    for (const auto& [k, v] : ignored) n += v;
    return n;
  }
};

}  // namespace sdoh
