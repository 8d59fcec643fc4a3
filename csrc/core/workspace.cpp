#include "core/workspace.hpp"

#include <cstdlib>
#include <new>

namespace pycnn {
namespace {

struct Slot {
  float* data = nullptr;
  std::size_t capacity = 0;  // in floats
};

struct ThreadWorkspace {
  Slot slots[kWorkspaceSlots];
  ~ThreadWorkspace() {
    for (Slot& s : slots) std::free(s.data);
  }
};

ThreadWorkspace& local() {
  thread_local ThreadWorkspace ws;
  return ws;
}

}  // namespace

float* workspace_floats(std::size_t count, int slot) {
  if (slot < 0 || slot >= kWorkspaceSlots) throw std::bad_alloc();
  Slot& s = local().slots[slot];
  if (count <= s.capacity && s.data) return s.data;
  // Grow by 1.5x so a slowly growing request does not reallocate every call.
  std::size_t want = count + count / 2 + 16;
  std::size_t bytes = ((want * sizeof(float)) + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, bytes);
  if (!p) throw std::bad_alloc();
  std::free(s.data);
  s.data = static_cast<float*>(p);
  s.capacity = bytes / sizeof(float);
  return s.data;
}

std::size_t workspace_bytes_held() {
  std::size_t total = 0;
  for (const Slot& s : local().slots) total += s.capacity * sizeof(float);
  return total;
}

}  // namespace pycnn
