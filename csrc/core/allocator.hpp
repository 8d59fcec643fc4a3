// Caching allocator for the arrays pycnn._C returns (bindings' new_array).
//
// A training step allocates the same output sizes every step; going to
// malloc for each one costs page faults (large blocks are mmap'ed and
// unmapped by glibc) and time. Freed blocks are kept on per-size-class free
// lists and handed out again. Size classes: powers of two split in four
// (<= 25% waste). Thread-safe (one mutex; blocks are freed when the NumPy
// array owning them dies, possibly on another thread). At most
// `cache_limit` bytes are kept idle; beyond that blocks go back to the
// system. Blocks are 64-byte aligned.
#pragma once
#include <cstddef>

namespace pycnn {

// At least `bytes` bytes, 64-byte aligned. Throws std::bad_alloc.
void* cached_alloc(std::size_t bytes);
// Returns a block from cached_alloc to the cache (or the system).
void cached_free(void* p) noexcept;

struct AllocatorStats {
  std::size_t cached_bytes;   // idle bytes in the free lists
  std::size_t live_bytes;     // bytes handed out and not yet freed
  std::size_t cache_limit;    // cap on cached_bytes
  std::size_t hits, misses;   // allocations served from the cache / from malloc
};
AllocatorStats allocator_stats();
// Sets the cap on idle cached bytes (0 disables caching) and trims to it.
void set_allocator_cache_limit(std::size_t bytes);
// Releases every idle block.
void allocator_trim();

}  // namespace pycnn
