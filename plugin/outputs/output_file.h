// An output file written whole or not at all: data goes to "<path>.tmp" (mode 0600: outputs
// hold patient ids and needs) and replaces <path> only on Commit(). A symlinked <path> or
// <path>.tmp is refused by Open(), never followed (issue 13).
//
// Writes are buffered in 1 MiB chunks and a full chunk is written by a background thread of the
// file (started at the first full chunk), so copying hundreds of MB into the kernel overlaps
// with building the next lines. At most one chunk waits for that thread. When the process may
// run on one core only, or its owner says no core is left for it (set_writer_thread), there is
// no thread: the producer writes each 256 KiB chunk itself.
// Not thread-safe: one producer per file.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "fhir/status.h"

namespace sdoh {

class OutputFile {
 public:
  explicit OutputFile(std::string path);
  ~OutputFile();  // an uncommitted file is removed
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  // Whether a writer thread may be used (default yes): no when the run keeps every core it may
  // use busy (issue 17: `run --threads 2` on two cores ran its evaluation phase 8-30% faster
  // writing its own chunks than with a third thread per file competing for the cores).
  // REQUIRES: before Open().
  void set_writer_thread(bool allowed) { writer_thread_allowed_ = allowed; }
  fhir::Status Open();
  void Write(std::string_view data);
  void WriteLine(std::string_view line) {
    Write(line);
    Write("\n");
  }
  fhir::Status Commit();
  const std::string& path() const { return path_; }

 private:
  static constexpr size_t kChunk = 1 << 20;
  void Hand(std::string* chunk);  // to the writer thread (waits while one chunk is pending)
  void WriterLoop();
  void StopWriter();
  bool WriteAll(const std::string& data);

  std::string path_;
  std::string tmp_;
  int fd_ = -1;
  std::string buf_;
  std::atomic<bool> failed_{false};
  size_t chunk_ = kChunk;
  bool writer_thread_allowed_ = true;
  bool background_ = true;  // chunks go to writer_ (allowed, and more than one core available)
  std::thread writer_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::string pending_;
  bool has_pending_ = false;
  bool stop_ = false;
};

// Creates `dir` (and parents) if needed.
fhir::Status EnsureDirectory(const std::string& dir);

}  // namespace sdoh
