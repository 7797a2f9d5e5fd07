// An output file written whole or not at all: data goes to "<path>.tmp" (mode 0600: outputs
// hold patient ids and needs) and replaces <path> only on Commit().
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

#include "fhir/status.h"

namespace sdoh {

class OutputFile {
 public:
  explicit OutputFile(std::string path);
  ~OutputFile();  // an uncommitted file is removed
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  fhir::Status Open();
  void Write(std::string_view data);
  void WriteLine(std::string_view line) {
    Write(line);
    Write("\n");
  }
  fhir::Status Commit();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::string tmp_;
  std::FILE* f_ = nullptr;
  bool failed_ = false;
};

// Creates `dir` (and parents) if needed.
fhir::Status EnsureDirectory(const std::string& dir);

}  // namespace sdoh
