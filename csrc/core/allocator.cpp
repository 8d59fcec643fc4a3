#include "core/allocator.hpp"

#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <new>
#include <vector>

#include <unistd.h>

namespace pycnn {
namespace {

constexpr std::size_t kAlign = 64;
// The block header (one cache line, keeps the data aligned) stores the
// size class so cached_free needs nothing but the pointer.
constexpr std::size_t kHeader = 64;
constexpr int kMinShift = 6;                  // smallest class: 64 bytes
constexpr int kSubClasses = 4;                // classes per power of two
constexpr int kClasses = 1 + (64 - kMinShift) * kSubClasses;

struct Header {
  std::uint32_t size_class;
};

// Size class of `bytes` and its capacity: 2^k * (4 + s) / 4 for s in 0..3.
int size_class(std::size_t bytes, std::size_t* capacity) {
  if (bytes <= (std::size_t{1} << kMinShift)) {
    *capacity = std::size_t{1} << kMinShift;
    return 0;
  }
  int k = 63 - __builtin_clzll(static_cast<unsigned long long>(bytes - 1));  // 2^k < bytes <= 2^(k+1)
  const std::size_t base = std::size_t{1} << k;
  const std::size_t step = base / kSubClasses;
  const std::size_t s = (bytes - base + step - 1) / step;  // 1..4
  *capacity = base + s * step;
  return 1 + (k - kMinShift) * kSubClasses + static_cast<int>(s) - 1;
}

// Class 0: up to 64 bytes; class 1 + 4 (k - 6) + (s - 1): 2^k + s 2^k / 4.
std::size_t class_capacity(int c) {
  if (c == 0) return std::size_t{1} << kMinShift;
  const int k = (c - 1) / kSubClasses + kMinShift;
  const std::size_t s = static_cast<std::size_t>((c - 1) % kSubClasses) + 1;
  return (std::size_t{1} << k) + s * ((std::size_t{1} << k) / kSubClasses);
}

// Idle bytes the cache may keep: an eighth of physical memory, clamped to
// [256 MiB, 4 GiB]. Big-batch inference (ResNet50 at batch 32 has ~100 MB
// activations) otherwise pays a page fault per 4 KiB on every call.
std::size_t default_cache_limit() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  const std::size_t floor_bytes = std::size_t{256} << 20, ceil_bytes = std::size_t{4} << 30;
  if (pages <= 0 || page <= 0) return floor_bytes;
  const std::size_t eighth = static_cast<std::size_t>(pages) * static_cast<std::size_t>(page) / 8;
  return eighth < floor_bytes ? floor_bytes : (eighth > ceil_bytes ? ceil_bytes : eighth);
}

struct Cache {
  std::mutex mu;
  std::vector<void*> free_lists[kClasses];
  std::size_t cached = 0, live = 0;
  std::size_t limit = default_cache_limit();
  std::size_t hits = 0, misses = 0;

  void trim_to(std::size_t target) {  // caller holds mu
    for (int c = kClasses - 1; c >= 0 && cached > target; --c) {
      auto& list = free_lists[c];
      while (!list.empty() && cached > target) {
        std::free(list.back());
        list.pop_back();
        cached -= class_capacity(c);
      }
    }
  }
};

// Never destroyed: arrays may outlive static destruction at interpreter exit.
Cache& cache() {
  static Cache* c = new Cache();
  return *c;
}

}  // namespace

void* cached_alloc(std::size_t bytes) {
  std::size_t capacity = 0;
  const int c = size_class(bytes, &capacity);
  Cache& cc = cache();
  void* block = nullptr;
  {
    std::lock_guard<std::mutex> lock(cc.mu);
    auto& list = cc.free_lists[c];
    if (!list.empty()) {
      block = list.back();
      list.pop_back();
      cc.cached -= capacity;
      ++cc.hits;
    } else {
      ++cc.misses;
    }
    cc.live += capacity;
  }
  if (!block) {
    // aligned_alloc wants a size that is a multiple of the alignment.
    block = std::aligned_alloc(kAlign, (kHeader + capacity + kAlign - 1) / kAlign * kAlign);
    if (!block) {
      std::lock_guard<std::mutex> lock(cc.mu);
      cc.live -= capacity;
      throw std::bad_alloc();
    }
    static_cast<Header*>(block)->size_class = static_cast<std::uint32_t>(c);
  }
  return static_cast<char*>(block) + kHeader;
}

void cached_free(void* p) noexcept {
  if (!p) return;
  void* block = static_cast<char*>(p) - kHeader;
  const int c = static_cast<int>(static_cast<Header*>(block)->size_class);
  const std::size_t capacity = class_capacity(c);
  Cache& cc = cache();
  {
    std::lock_guard<std::mutex> lock(cc.mu);
    cc.live -= capacity;
    if (cc.cached + capacity <= cc.limit) {
      try {
        cc.free_lists[c].push_back(block);
        cc.cached += capacity;
        return;
      } catch (...) {  // the free list could not grow: release the block instead
      }
    }
  }
  std::free(block);
}

AllocatorStats allocator_stats() {
  Cache& cc = cache();
  std::lock_guard<std::mutex> lock(cc.mu);
  return {cc.cached, cc.live, cc.limit, cc.hits, cc.misses};
}

void set_allocator_cache_limit(std::size_t bytes) {
  Cache& cc = cache();
  std::lock_guard<std::mutex> lock(cc.mu);
  cc.limit = bytes;
  cc.trim_to(bytes);
}

void allocator_trim() {
  Cache& cc = cache();
  std::lock_guard<std::mutex> lock(cc.mu);
  cc.trim_to(0);
}

}  // namespace pycnn
