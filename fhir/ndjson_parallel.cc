#include "fhir/ndjson_parallel.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>

#include "fhir/cpu_quota.h"

namespace fhir {

size_t AvailableCores() {
  size_t n = 0;
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  if (sched_getaffinity(0, sizeof(cpus), &cpus) == 0 && CPU_COUNT(&cpus) > 0) {
    n = static_cast<size_t>(CPU_COUNT(&cpus));
  } else {
    n = std::thread::hardware_concurrency();
  }
  if (n == 0) n = 1;
  // A CPU quota (a container's --cpus, a Kubernetes CPU limit) bounds the cores' worth of time
  // the process gets, whatever the affinity mask shows.
  const size_t limit = CgroupCpuLimit();
  return limit > 0 && limit < n ? limit : n;
}

struct ParallelNdjsonParser::Chunk {
  explicit Chunk(size_t pool_bytes)
      : pool_buffer(new char[pool_bytes]), pool(pool_buffer.get(), pool_bytes) {}
  void Reset() {
    lines.clear();
    buffers.clear();  // back to the reader as spares once no other chunk holds them
    bytes = 0;
    pool.Clear();  // keeps the user buffer; frees what overflowed it
    last = false;
  }
  // The reader's buffers the lines lie in (each NUL-terminated, parsed in place): held until
  // the caller is done with the chunk.
  std::vector<std::shared_ptr<char[]>> buffers;
  size_t bytes = 0;  // the lines' text
  std::vector<Line> lines;
  std::unique_ptr<char[]> pool_buffer;
  rapidjson::MemoryPoolAllocator<> pool;  // the DOMs of the chunk's lines
  bool ready = false;                     // guarded by mu_: parsed, the caller may take it
  bool last = false;                      // no lines: the file ended before this chunk
};

ParallelNdjsonParser::ParallelNdjsonParser(NdjsonReader& reader, Options options)
    : reader_(reader), options_(options) {
  reader_.HandOff();
  const size_t threads = options_.threads > 0 ? options_.threads : 1;
  // Two chunks a thread: one being parsed while the caller reads another.
  for (size_t i = 0; i < 2 * threads; ++i) {
    // The DOMs take about 1.5 times the text; RapidJSON needs a user buffer larger than its
    // chunk header (a smaller one is overrun).
    slots_.push_back(std::make_unique<Chunk>(std::max<size_t>(3 * options_.chunk_bytes, 64 << 10)));
  }
  // The caller is one of the threads: it parses too whenever its next chunk is not ready.
  for (size_t i = 1; i < threads; ++i) workers_.emplace_back([this] { Work(); });
}

ParallelNdjsonParser::~ParallelNdjsonParser() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ParallelNdjsonParser::Work() {
  pthread_setname_np(pthread_self(), "sdoh-parse");  // in top, perf and gdb
  while (Chunk* chunk = Claim(/*wait=*/true)) {
    if (!Complete(*chunk)) return;
  }
}

ParallelNdjsonParser::Chunk* ParallelNdjsonParser::Claim(bool wait) {
  const auto free_slot = [&] { return next_fill_ - released_ < slots_.size(); };
  for (;;) {
    if (wait) {
      // Waits for a free slot without the read lock: whoever holds that lock is cutting a chunk
      // and lets go soon, so the caller may always block on it.
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || free_slot(); });
      if (stop_) return nullptr;
    }
    // Cutting chunks is serial: chunk i holds the lines after those of chunk i - 1.
    std::lock_guard<std::mutex> read_lock(read_mu_);
    if (reader_done_) return nullptr;
    Chunk* chunk = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return nullptr;
      if (free_slot()) {
        chunk = slots_[next_fill_ % slots_.size()].get();
        ++next_fill_;
      }
    }
    if (chunk == nullptr) {
      if (!wait) return nullptr;  // the caller: every slot is taken, its chunk among them
      continue;                   // a worker: another thread took the slot first
    }
    if (!Fill(*chunk)) {
      chunk->last = true;
      reader_done_ = true;
    }
    return chunk;
  }
}

bool ParallelNdjsonParser::Complete(Chunk& chunk) {
  // Once ready, the chunk is the caller's (it may reset it at once): read nothing of it after.
  const bool last = chunk.last;
  if (!last) Parse(chunk);
  {
    std::lock_guard<std::mutex> lock(mu_);
    chunk.ready = true;
  }
  cv_.notify_all();
  return !last;
}

bool ParallelNdjsonParser::Fill(Chunk& chunk) {
  NdjsonReader::Line in;
  while (chunk.bytes < options_.chunk_bytes && reader_.Next(&in)) {
    Line& line = chunk.lines.emplace_back();
    line.number = in.number;
    line.too_long = in.too_long;
    line.length = in.length;
    if (in.too_long) continue;
    line.text = in.data;
    line.size = in.size;
    chunk.bytes += in.size + 1;
    // Lines come from one buffer after another: hold each once.
    if (chunk.buffers.empty() || chunk.buffers.back() != reader_.buffer()) {
      chunk.buffers.push_back(reader_.buffer());
    }
  }
  return !chunk.lines.empty();
}

void ParallelNdjsonParser::Parse(Chunk& chunk) const {
  rapidjson::Document doc(&chunk.pool);
  const char* previous_end = nullptr;
  for (Line& line : chunk.lines) {
    if (line.too_long) continue;
    line.failure =
        json::LineParser::ParseInto(line.text, line.size, options_.max_depth, &doc, &line.error);
    // Moves the root into the line (RapidJSON's assignment moves); its nodes stay in the pool.
    if (line.failure == json::ParseFailure::kNone) {
      line.value = static_cast<rapidjson::Value&>(doc);
      // The pool hands out memory in order and a container's nodes are allocated when it
      // closes: a line's nodes end with its root's members, and begin where the previous
      // line's ended (unless the pool moved to a new block: then the root's members only).
      if (line.value.IsObject() && line.value.MemberCount() > 0) {
        const char* begin = reinterpret_cast<const char*>(&*line.value.MemberBegin());
        const char* end = reinterpret_cast<const char*>(&*line.value.MemberEnd());
        line.dom_begin =
            previous_end != nullptr && previous_end <= begin && begin - previous_end < (64 << 10)
                ? previous_end
                : begin;
        line.dom_end = end;
        previous_end = end;
      }
    }
    doc.SetNull();
  }
}

// Asks for a line's text and DOM to be brought into this core's cache: a chunk another thread
// parsed sits in that thread's cache, and the collector walks its nodes in no simple order.
void ParallelNdjsonParser::Prefetch(const Line& line) {
  constexpr size_t kLine = 64;
  const char* text = line.text;
  for (size_t i = 0; i < line.size; i += kLine) __builtin_prefetch(text + i, 0, 3);
  for (const char* p = line.dom_begin; p < line.dom_end; p += kLine) __builtin_prefetch(p, 0, 3);
}

const ParallelNdjsonParser::Line* ParallelNdjsonParser::Next() {
  for (;;) {
    Chunk& chunk = *slots_[current_ % slots_.size()];
    while (!holding_) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        holding_ = chunk.ready;
      }
      if (holding_) break;
      // Not parsed yet: rather than sleep, cut and parse a chunk of the caller's own (this one,
      // when no worker took it yet, or a later one while a slot is free), in file order as ever.
      if (Chunk* mine = Claim(/*wait=*/false)) {
        Complete(*mine);
        continue;
      }
      // Every slot is taken or the file is cut to its end: this chunk is a worker's, and comes.
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return chunk.ready; });
    }
    if (chunk.last) return nullptr;
    if (line_ < chunk.lines.size()) {
      if (line_ + kPrefetchAhead < chunk.lines.size()) {
        Prefetch(chunk.lines[line_ + kPrefetchAhead]);
      }
      return &chunk.lines[line_++];
    }
    chunk.Reset();
    {
      std::lock_guard<std::mutex> lock(mu_);
      chunk.ready = false;
      ++released_;
    }
    cv_.notify_all();
    ++current_;
    holding_ = false;
    line_ = 0;
  }
}

}  // namespace fhir
