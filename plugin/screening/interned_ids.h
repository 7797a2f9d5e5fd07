// Compact containers for per-run state that grows with the population (issue 2 §6: peak RSS
// grows only with per-patient summaries). Strings live in a chunked arena, records in chunked
// arrays that never reallocate (no 2x copy peaks), ids map to dense indexes through an
// open-addressing table. Nothing is freed before the owner is destroyed, and destruction frees
// a few large blocks instead of one node per id.
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <new>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace sdoh {

// Memory for large arrays: std::vector<T, LargeArrayAllocator<T>>. From 2 MiB up, anonymous
// pages on a 2 MiB boundary, advised to be transparent huge pages (MADV_HUGEPAGE), so that
// filling a large id table costs one page fault per 2 MiB instead of one per 4 KiB (a fault
// costs ~7 us on this project's VM). Below 2 MiB, operator new. Where THP is off the advice is
// ignored and the pages are ordinary ones. Only for arrays that are filled as they grow (the
// id tables' slots): a huge page is resident as a whole once touched.
void* AllocateLarge(size_t bytes);
void FreeLarge(void* p, size_t bytes) noexcept;

template <typename T>
struct LargeArrayAllocator {
  using value_type = T;
  LargeArrayAllocator() = default;
  template <typename U>
  LargeArrayAllocator(const LargeArrayAllocator<U>&) noexcept {}  // NOLINT: rebinding
  T* allocate(size_t n) { return static_cast<T*>(AllocateLarge(n * sizeof(T))); }
  void deallocate(T* p, size_t n) noexcept { FreeLarge(p, n * sizeof(T)); }
  template <typename U>
  bool operator==(const LargeArrayAllocator<U>&) const noexcept {
    return true;
  }
};

// Blocks for the chunked containers below, all freed with the source; one source can serve
// several containers (the screening collector's state shares one). The first 4 MiB come from
// operator new, so a small run or a CDS Hooks call stays small; after that blocks are carved
// from 8 MiB slabs of AllocateLarge, so a large run fills them with huge pages. With THP only
// the touched 2 MiB pages of a slab are resident: a shared source wastes less than 2 MiB at its
// end, plus each slab's tail that was too short for the next block. (Under AddressSanitizer
// every block is its own allocation, so overruns are still caught.)
class ChunkSource {
 public:
  ChunkSource() = default;
  ChunkSource(const ChunkSource&) = delete;
  ChunkSource& operator=(const ChunkSource&) = delete;
  ~ChunkSource();
  // `bytes`, aligned for any type, uninitialised; stable until the source is destroyed.
  void* Allocate(size_t bytes);

 private:
  static constexpr size_t kSmallBytes = size_t{4} << 20;
  static constexpr size_t kSlabBytes = size_t{8} << 20;
  size_t small_bytes_ = 0;
  std::vector<void*> small_;                     // operator new
  std::vector<std::pair<void*, size_t>> slabs_;  // AllocateLarge
  char* slab_next_ = nullptr;
  size_t slab_left_ = 0;
};

// A container's ChunkSource: a shared one that outlives it, or else its own, made at the first
// allocation (a container that never allocates from it, e.g. one of owning elements, has none).
class SourceRef {
 public:
  explicit SourceRef(ChunkSource* shared) : source_(shared) {}
  void* Allocate(size_t bytes) {
    if (source_ == nullptr) {
      own_ = std::make_unique<ChunkSource>();
      source_ = own_.get();
    }
    return source_->Allocate(bytes);
  }

 private:
  std::unique_ptr<ChunkSource> own_;
  ChunkSource* source_;
};

// A set of ids that can only say "surely not" or "maybe": two bits per id in a table of 16
// bits per id, so ~1.5% of the ids not added answer "maybe", and every id added does. For a
// small set asked about often at a large run (the screening collector's tombstones: nearly no
// candidate has one, but a hash-map lookup to find that out costs misses to memory at a million
// patients). Reset, Add each id, then ask from any number of threads.
class IdFilter {
 public:
  // Empties the filter and sizes it for `count` ids.
  void Reset(size_t count) {
    bits_.clear();
    if (count == 0) return;
    size_t n = 64;
    while (n < 16 * count) n <<= 1;
    bits_.assign(n / 64, 0);
    shift_ = 64 - static_cast<unsigned>(__builtin_ctzll(n));
  }
  // REQUIRES: no more ids than Reset was given (more still work, with more false "maybe"s).
  void Add(std::string_view id) {
    if (bits_.empty()) Reset(1);
    const auto [a, b] = Positions(id);
    bits_[a >> 6] |= uint64_t{1} << (a & 63);
    bits_[b >> 6] |= uint64_t{1} << (b & 63);
  }
  // False: `id` was not added. True: it may have been.
  bool MayHold(std::string_view id) const {
    if (bits_.empty()) return false;
    const auto [a, b] = Positions(id);
    return ((bits_[a >> 6] >> (a & 63)) & (bits_[b >> 6] >> (b & 63)) & 1) != 0;
  }

 private:
  std::pair<uint64_t, uint64_t> Positions(std::string_view id) const {
    const uint64_t h = std::hash<std::string_view>()(id);
    // Two positions from one hash: its high bits, and those of its product with an odd
    // constant (another mix of all its bits).
    return {h >> shift_, (h * 0x9E3779B97F4A7C15ull) >> shift_};
  }
  std::vector<uint64_t> bits_;
  unsigned shift_ = 63;
};

// Bytes that never move once added. Not thread-safe.
class StringArena {
 public:
  explicit StringArena(ChunkSource* source = nullptr) : chunks_(source) {}
  std::string_view Add(std::string_view s) {
    if (s.empty()) return {};
    if (s.size() > kChunk / 4) {  // large strings get a block of their own
      blocks_.emplace_back(new char[s.size()]);
      std::memcpy(blocks_.back().get(), s.data(), s.size());
      return {blocks_.back().get(), s.size()};
    }
    if (kChunk - used_ < s.size() || current_ == nullptr) {
      current_ = static_cast<char*>(chunks_.Allocate(kChunk));
      used_ = 0;
    }
    char* p = current_ + used_;
    std::memcpy(p, s.data(), s.size());
    used_ += s.size();
    return {p, s.size()};
  }

 private:
  static constexpr size_t kChunk = 256 * 1024;
  SourceRef chunks_;
  std::vector<std::unique_ptr<char[]>> blocks_;  // large strings
  char* current_ = nullptr;
  size_t used_ = 0;
};

// Runs of T that never move once allocated. T must be trivially copyable.
template <typename T>
class RunArena {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  explicit RunArena(ChunkSource* source = nullptr) : chunks_(source) {}
  // Room for `n` elements, uninitialised; stable until the arena is destroyed.
  T* Allocate(size_t n) {
    if (n == 0) return nullptr;
    if (n > kChunk / 4) {
      blocks_.emplace_back(new T[n]);
      return blocks_.back().get();
    }
    if (kChunk - used_ < n || current_ == nullptr) {
      current_ = static_cast<T*>(chunks_.Allocate(kChunk * sizeof(T)));
      used_ = 0;
    }
    T* p = current_ + used_;
    used_ += n;
    return p;
  }

 private:
  static constexpr size_t kChunk = 64 * 1024;
  SourceRef chunks_;
  std::vector<std::unique_ptr<T[]>> blocks_;  // large runs
  T* current_ = nullptr;
  size_t used_ = 0;
};

// A growable array in fixed-size chunks: elements never move, growth never copies. Chunks of
// trivially destructible elements come from a ChunkSource (huge pages in a large run).
template <typename T>
class ChunkedVector {
 public:
  explicit ChunkedVector(ChunkSource* source = nullptr) : source_(source) {}
  ChunkedVector(const ChunkedVector&) = delete;
  ChunkedVector& operator=(const ChunkedVector&) = delete;
  ~ChunkedVector() {
    if constexpr (!kFromSource) {
      for (T* chunk : chunks_) delete[] chunk;
    }
  }
  size_t size() const { return size_; }
  T& operator[](size_t i) { return chunks_[i >> kShift][i & kMask]; }
  const T& operator[](size_t i) const { return chunks_[i >> kShift][i & kMask]; }
  T& push_back(T v) {
    if ((size_ & kMask) == 0 && (size_ >> kShift) == chunks_.size()) {
      if constexpr (kFromSource) {
        chunks_.push_back(static_cast<T*>(source_.Allocate(kChunk * sizeof(T))));
      } else {
        chunks_.push_back(new T[kChunk]);
      }
    }
    T* slot = &(*this)[size_++];
    if constexpr (kFromSource) {
      return *new (slot) T(std::move(v));
    } else {
      *slot = std::move(v);
      return *slot;
    }
  }

 private:
  static constexpr size_t kShift = 10;
  static constexpr size_t kChunk = size_t{1} << kShift;
  static constexpr size_t kMask = kChunk - 1;
  static constexpr bool kFromSource = std::is_trivially_destructible_v<T>;
  SourceRef source_;
  std::vector<T*> chunks_;
  size_t size_ = 0;
};

// Strings → dense indexes 0, 1, 2, ... in order of first appearance.
//
// Open addressing with linear probing. A slot holds the top 32 bits of the string's hash and
// its index + 1; the home position comes from those same bits, so growing never hashes a string
// again. The hash is seeded per table (ids come from outside: no precomputed collisions), and
// indexes do not depend on it.
class IdTable {
 public:
  static constexpr uint32_t kNone = 0xFFFFFFFFu;

  explicit IdTable(ChunkSource* source = nullptr)
      : seed_(NewSeed()), arena_(source), names_(source) {}

  // The index of `s`, adding it when new (then *inserted is true).
  uint32_t Intern(std::string_view s, bool* inserted) {
    if ((names_.size() + 1) * 4 > slots_.size() * 3) Grow();
    const uint32_t tag = Hash(s);
    const size_t mask = slots_.size() - 1;
    for (size_t pos = tag & mask;; pos = (pos + 1) & mask) {
      const uint64_t slot = slots_[pos];
      if (slot == 0) {
        const uint32_t index = static_cast<uint32_t>(names_.size());
        names_.push_back(arena_.Add(s));
        slots_[pos] = (uint64_t{tag} << 32) | (uint64_t{index} + 1);
        *inserted = true;
        return index;
      }
      if (static_cast<uint32_t>(slot >> 32) == tag) {
        const uint32_t index = static_cast<uint32_t>(slot) - 1;
        if (names_[index] == s) {
          *inserted = false;
          return index;
        }
      }
    }
  }
  // The index of `s`, or kNone.
  uint32_t Find(std::string_view s) const {
    if (slots_.empty()) return kNone;
    const uint32_t tag = Hash(s);
    const size_t mask = slots_.size() - 1;
    for (size_t pos = tag & mask;; pos = (pos + 1) & mask) {
      const uint64_t slot = slots_[pos];
      if (slot == 0) return kNone;
      if (static_cast<uint32_t>(slot >> 32) == tag) {
        const uint32_t index = static_cast<uint32_t>(slot) - 1;
        if (names_[index] == s) return index;
      }
    }
  }
  // Asks for the slot where a look-up of `s` starts to be brought into the cache: a large
  // table's slots are rarely cached, and a reader that knows an id some work before it interns
  // it hides that miss behind the work. Changes nothing.
  void Prefetch(std::string_view s) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[Hash(s) & (slots_.size() - 1)], 1, 3);
  }
  std::string_view Name(uint32_t index) const { return names_[index]; }
  size_t size() const { return names_.size(); }

 private:
  static uint64_t NewSeed();
  // 32 well-mixed bits of a seeded hash of `s`, 8 bytes at a time (ids are short).
  uint32_t Hash(std::string_view s) const {
    const char* p = s.data();
    size_t n = s.size();
    uint64_t h = seed_ ^ (n * 0x9E3779B97F4A7C15ull);
    while (n >= 8) {
      uint64_t v;
      std::memcpy(&v, p, 8);
      h = Mix(h ^ v);
      p += 8;
      n -= 8;
    }
    if (n > 0) {
      uint64_t v = 0;
      std::memcpy(&v, p, n);
      h = Mix(h ^ v ^ (uint64_t{n} << 59));
    }
    h = Mix(h);
    return static_cast<uint32_t>(h >> 32);
  }
  static uint64_t Mix(uint64_t x) {  // the splitmix64 finaliser
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
  }
  void Grow() {
    std::vector<uint64_t, LargeArrayAllocator<uint64_t>> old;
    old.swap(slots_);
    slots_.assign(old.empty() ? 1024 : old.size() * 2, 0);
    const size_t mask = slots_.size() - 1;
    for (uint64_t slot : old) {
      if (slot == 0) continue;
      size_t pos = (slot >> 32) & mask;
      while (slots_[pos] != 0) pos = (pos + 1) & mask;
      slots_[pos] = slot;
    }
  }

  uint64_t seed_;
  StringArena arena_;
  ChunkedVector<std::string_view> names_;
  // 0 empty, else (32-bit hash << 32) | (index + 1)
  std::vector<uint64_t, LargeArrayAllocator<uint64_t>> slots_;
};

}  // namespace sdoh
