// What a pass read, counted, ignored and skipped — the material of the run summary.
// Holds ids and reasons only: never names, dates of birth, addresses or free text.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace sdoh {

struct SkipRecord {
  std::string where;   // file:line or URL#entry
  std::string reason;  // stable token
  std::string detail;  // what was wrong (field, offset); never resource content
};

struct RunCounts {
  static constexpr size_t kMaxSkipExamples = 50;

  std::map<std::string, uint64_t, std::less<>> read;     // resources read, by expected type
  uint64_t screenings_counted = 0;                       // winning screenings (per instrument)
  uint64_t member_observations = 0;                      // panel members whose answers were read
  std::map<std::string, uint64_t, std::less<>> ignored;  // "<Type>: <reason>" → count
  std::map<std::string, uint64_t, std::less<>> skipped;  // reason → count (bad input)
  std::vector<SkipRecord> skip_examples;                 // the first kMaxSkipExamples skips
  std::vector<std::string> missing_files;                // optional inputs that were absent
  std::map<std::string, uint64_t, std::less<>> rule_errors;  // "rule <id>: ..." → count

  // Counts one ignored resource under "<type>: <reason>"; allocates only for a new key.
  void Ignore(std::string_view type, std::string_view reason) {
    key_.assign(type).append(": ").append(reason);
    auto it = ignored.find(std::string_view(key_));
    if (it == ignored.end()) it = ignored.emplace(key_, 0).first;
    ++it->second;
  }
  void Skip(SkipRecord r) {
    ++skipped[r.reason];
    if (skip_examples.size() < kMaxSkipExamples) skip_examples.push_back(std::move(r));
  }
  // Adds what `other` counted (a thread's share of one pass: issue 17). Every count is a sum,
  // so the result does not depend on how the work was shared; skip examples are appended
  // (capped) in the order the shares are merged.
  void Merge(const RunCounts& other) {
    for (const auto& [k, v] : other.read) read[k] += v;
    screenings_counted += other.screenings_counted;
    member_observations += other.member_observations;
    for (const auto& [k, v] : other.ignored) ignored[k] += v;
    for (const auto& [k, v] : other.skipped) skipped[k] += v;
    for (const SkipRecord& r : other.skip_examples) {
      if (skip_examples.size() < kMaxSkipExamples) skip_examples.push_back(r);
    }
    missing_files.insert(missing_files.end(), other.missing_files.begin(),
                         other.missing_files.end());
    for (const auto& [k, v] : other.rule_errors) rule_errors[k] += v;
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

 private:
  std::string key_;  // scratch for Ignore()
};

}  // namespace sdoh
