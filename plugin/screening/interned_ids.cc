#include "plugin/screening/interned_ids.h"

#include <sys/mman.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>
#include <random>

namespace sdoh {

namespace {
constexpr size_t kHugePage = size_t{2} << 20;
// `x` rounded up to a multiple of `power` (a power of two).
constexpr uintptr_t RoundUp(uintptr_t x, size_t power) { return (x + power - 1) & ~(power - 1); }
// Under AddressSanitizer every ChunkSource block is its own operator new allocation, so that a
// container writing past its block is caught, as before the blocks shared slabs.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kEveryBlockApart = true;
#else
constexpr bool kEveryBlockApart = false;
#endif
}  // namespace

void* AllocateLarge(size_t bytes) {
  if (bytes < kHugePage) return ::operator new(bytes);
  // Map one huge page more, then unmap the unaligned head and the tail: what is left starts on
  // a 2 MiB boundary and is exactly RoundUp(bytes, kHugePage) long (what FreeLarge unmaps).
  const size_t length = RoundUp(bytes, kHugePage);
  void* p =
      mmap(nullptr, length + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  const uintptr_t start = reinterpret_cast<uintptr_t>(p);
  const uintptr_t aligned = RoundUp(start, kHugePage);
  const uintptr_t end = start + length + kHugePage;
  if (aligned > start) munmap(p, aligned - start);
  if (end > aligned + length) {
    munmap(reinterpret_cast<void*>(aligned + length), end - aligned - length);
  }
  void* data = reinterpret_cast<void*>(aligned);
  (void)madvise(data, length, MADV_HUGEPAGE);  // advice only: ordinary pages where THP is off
  return data;
}

void FreeLarge(void* p, size_t bytes) noexcept {
  if (p == nullptr) return;
  if (bytes < kHugePage) {
    ::operator delete(p);
  } else {
    munmap(p, RoundUp(bytes, kHugePage));
  }
}

ChunkSource::~ChunkSource() {
  for (void* p : small_) ::operator delete(p);
  for (const auto& [p, bytes] : slabs_) FreeLarge(p, bytes);
}

void* ChunkSource::Allocate(size_t bytes) {
  const size_t step = RoundUp(bytes, alignof(std::max_align_t));
  if (kEveryBlockApart || small_bytes_ < kSmallBytes || step > kSlabBytes) {
    small_bytes_ += step;
    small_.push_back(::operator new(step));
    return small_.back();
  }
  if (slab_left_ < step) {
    slab_next_ = static_cast<char*>(AllocateLarge(kSlabBytes));
    slabs_.emplace_back(slab_next_, kSlabBytes);
    slab_left_ = kSlabBytes;
  }
  void* p = slab_next_;
  slab_next_ += step;
  slab_left_ -= step;
  return p;
}

// One random base per process, and a different seed for every table after it.
uint64_t IdTable::NewSeed() {
  static const uint64_t base = [] {
    try {
      std::random_device rd;
      return (uint64_t{rd()} << 32) ^ uint64_t { rd() };
    } catch (...) {  // no entropy source: still correct, only predictable
      return uint64_t{0x243F6A8885A308D3ull};
    }
  }();
  static std::atomic<uint64_t> tables{0};
  return Mix(base + 0x9E3779B97F4A7C15ull * tables.fetch_add(1, std::memory_order_relaxed));
}

}  // namespace sdoh
