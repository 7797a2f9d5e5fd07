#include "plugin/screening/interned_ids.h"

#include <atomic>
#include <random>

namespace sdoh {

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
