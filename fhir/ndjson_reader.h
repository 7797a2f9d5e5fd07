// Streams the lines of an NDJSON file without holding more than one line (plus one read
// chunk) in memory. Lines come back NUL-terminated and writable, ready for in-situ parsing.
// With HandOff() the lines' bytes stay where they are for as long as their buffer is shared
// (see buffer()): a reader that hands lines to other threads need not copy them.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "fhir/status.h"

namespace fhir {

class NdjsonReader {
 public:
  struct Options {
    size_t max_line_bytes = 16u << 20;  // longer lines are reported as too long and skipped
    // Read at a time. Small enough that what was read is still in the core's cache when its
    // lines are found and parsed (one thread, 100k patients, 6 alternating runs: median
    // 3.30 s with 4 MiB, 3.14 s with 512 KiB), and the parallel parse holds a few buffers at
    // once (HandOff). A line's verdict and length do not depend on it.
    size_t chunk_bytes = 512u << 10;
  };
  struct Line {
    char* data = nullptr;   // NUL-terminated; valid until the next call to Next()
    size_t size = 0;        // without the newline (and without a trailing '\r')
    uint64_t number = 0;    // 1-based line number in the file
    bool too_long = false;  // the line exceeded max_line_bytes; data is empty
    uint64_t length = 0;    // the line's length in bytes, counted as `size` is (also when too long)
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

  // From now on, a read that needs room never moves or overwrites the bytes of a buffer a line
  // was returned from: it continues in another buffer of the same size (the unread rest of the
  // current line copied over; a spare when one came back), so the lines are the same, with the
  // same numbers, lengths and too-long verdicts, as without. A line's bytes then stay valid as
  // long as its buffer() is held. Call before the first Next().
  void HandOff() { hand_off_ = true; }
  // The buffer the last line returned lies in. Holding it keeps the line's bytes valid after
  // the next call (with HandOff(); without, the reader may reuse them). Buffers go back to the
  // reader as spares when the last holder lets go (from any thread).
  const std::shared_ptr<char[]>& buffer() const { return buf_; }

 private:
  // Slack after the data so SIMD scanning of the last line never reads past the allocation.
  static constexpr size_t kPadding = 64;
  bool Fill();  // reads one more chunk; false at EOF or error
  // A buffer of `bytes` (a spare of that size when there is one), uninitialised.
  std::shared_ptr<char[]> NewBuffer(size_t bytes);

  // Buffers that came back, for reuse: a fresh one costs a page fault per 4 KiB.
  struct Spares {
    static constexpr size_t kKept = 4;
    std::mutex mu;
    size_t bytes = 0;  // the reader's buffer size: buffers of another size are freed
    std::vector<std::unique_ptr<char[]>> buffers;
  };

  std::string path_;
  Options options_;
  std::FILE* file_ = nullptr;
  std::shared_ptr<Spares> spares_ = std::make_shared<Spares>();
  std::shared_ptr<char[]> buf_;
  size_t buf_size_ = 0;  // bytes in buf_ (data, the NUL after it and the padding)
  bool hand_off_ = false;
  bool returned_ = false;  // a line was returned from buf_
  size_t begin_ = 0;       // start of unconsumed data
  size_t end_ = 0;         // end of valid data
  uint64_t line_number_ = 0;
  uint64_t bytes_read_ = 0;
  bool eof_ = false;
  Status status_;
};

}  // namespace fhir
