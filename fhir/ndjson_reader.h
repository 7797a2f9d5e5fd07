// Streams the lines of an NDJSON file without holding more than one line (plus one read
// chunk) in memory. Lines come back NUL-terminated and writable, ready for in-situ parsing.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "fhir/status.h"

namespace fhir {

class NdjsonReader {
 public:
  struct Options {
    size_t max_line_bytes = 16u << 20;  // longer lines are reported as too long and skipped
    size_t chunk_bytes = 4u << 20;
  };
  struct Line {
    char* data = nullptr;   // NUL-terminated; valid until the next call to Next()
    size_t size = 0;        // without the newline (and without a trailing '\r')
    uint64_t number = 0;    // 1-based line number in the file
    bool too_long = false;  // the line exceeded max_line_bytes; data is empty
    uint64_t length = 0;    // the line's full length in bytes (also when too long)
  };

  NdjsonReader(std::string path, Options options);
  ~NdjsonReader();
  NdjsonReader(const NdjsonReader&) = delete;
  NdjsonReader& operator=(const NdjsonReader&) = delete;

  // Opens the file; NotFound when it does not exist, IoError when it cannot be read.
  Status Open();
  // Next non-empty line; false at end of file or on a read error (see status()).
  bool Next(Line* line);
  const Status& status() const { return status_; }
  const std::string& path() const { return path_; }
  uint64_t bytes_read() const { return bytes_read_; }

 private:
  // Slack after the data so SIMD scanning of the last line never reads past the allocation.
  static constexpr size_t kPadding = 64;
  bool Fill();  // reads one more chunk; false at EOF or error

  std::string path_;
  Options options_;
  std::FILE* file_ = nullptr;
  std::vector<char> buf_;
  size_t begin_ = 0;  // start of unconsumed data
  size_t end_ = 0;    // end of valid data
  uint64_t line_number_ = 0;
  uint64_t bytes_read_ = 0;
  bool eof_ = false;
  Status status_;
};

}  // namespace fhir
