// Parses the lines of one NDJSON file on several threads and hands them back in file order
// (issue 17). The reader's lines are cut into chunks in file order; worker threads, and the
// caller while its next chunk is not ready, parse whole chunks in place
// (fhir::json::LineParser::ParseInto, the product's parse: UTF-8 validation, depth limit, NUL
// check); the caller takes the lines one by one, in file order, with exactly the numbers, lengths
// and parse results a one-thread read gives. Only parsing runs in parallel: whatever the caller
// does with a line (the screening collector) runs on its own thread, one line at a time, so the
// outputs cannot depend on the thread count.
//
// Memory: at most 2 * threads chunks of about `chunk_bytes` of text and their DOMs, whatever the
// file's size. Thread safety: one caller thread; the workers are internal.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <rapidjson/document.h>

#include "fhir/json.h"
#include "fhir/ndjson_reader.h"

namespace fhir {

// The cores this process may run on (sched_getaffinity), at most its cgroup's CPU limit in
// whole cores (fhir/cpu_quota.h), at least 1.
size_t AvailableCores();

class ParallelNdjsonParser {
 public:
  struct Options {
    // Parsing threads, the caller's included: threads - 1 workers, and the caller parses a
    // chunk itself whenever the one it needs next is not ready (it never sleeps while a chunk
    // could be cut). 1: the caller alone.
    size_t threads = 2;
    size_t max_depth = 64;
    size_t chunk_bytes = 512u << 10;  // text per chunk (a longer line makes its chunk longer)
  };
  // One line, as NdjsonReader::Next and LineParser::Parse would give it.
  struct Line {
    uint64_t number = 0;  // 1-based line number in the file
    bool too_long = false;
    uint64_t length = 0;  // the line's length in bytes (also when too long)
    json::ParseFailure failure = json::ParseFailure::kNone;  // when not too long
    std::string error;                                       // when failure != kNone
    rapidjson::Value value;                                  // when failure == kNone
    char* text = nullptr;  // internal: the line in the reader's buffer (held by its chunk)
    size_t size = 0;
    const char* dom_begin = nullptr;  // internal: where its DOM's nodes lie (for prefetching)
    const char* dom_end = nullptr;
  };

  // REQUIRES: `reader` is open, no line read yet, and outlives this object. Starts the workers.
  // Sets the reader to hand its buffers off (NdjsonReader::HandOff): lines are parsed where
  // the reader read them, never copied.
  ParallelNdjsonParser(NdjsonReader& reader, Options options);
  // Stops and joins the workers (also when the caller stopped before the end).
  ~ParallelNdjsonParser();
  ParallelNdjsonParser(const ParallelNdjsonParser&) = delete;
  ParallelNdjsonParser& operator=(const ParallelNdjsonParser&) = delete;

  // The next line in file order, valid until the next call; nullptr after the last line (then
  // the reader's status() says whether the file was read to its end).
  const Line* Next();

 private:
  struct Chunk;
  void Work();
  // Cuts the next chunk into a free slot and returns it, or nullptr: the file is cut to its end,
  // the parser stops, or (when !wait) no slot is free. wait: waits for a free slot (a worker).
  Chunk* Claim(bool wait);
  // Parses a claimed chunk and hands it to the caller; false when it was the end of the file.
  bool Complete(Chunk& chunk);
  bool Fill(Chunk& chunk);  // REQUIRES: read_mu_ held
  void Parse(Chunk& chunk) const;
  static void Prefetch(const Line& line);
  static constexpr size_t kPrefetchAhead = 2;  // lines

  NdjsonReader& reader_;
  const Options options_;
  std::vector<std::unique_ptr<Chunk>> slots_;  // chunk i lives in slots_[i % size]
  std::mutex read_mu_;                         // the reader and the order chunks are cut in
  bool reader_done_ = false;                   // guarded by read_mu_
  std::mutex mu_;                              // guards what follows and Chunk::ready
  std::condition_variable cv_;
  uint64_t next_fill_ = 0;  // chunks handed out to workers (also written under read_mu_)
  uint64_t released_ = 0;   // chunks the caller is done with
  bool stop_ = false;
  // The caller's position (its thread only).
  uint64_t current_ = 0;
  size_t line_ = 0;
  bool holding_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace fhir
