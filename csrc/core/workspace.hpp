// Scratch memory for kernels: per-thread, grow-only, 64-byte aligned.
// After the first step of a training run a kernel's scratch requests are
// served from memory already held, so steady-state steps allocate nothing.
#pragma once
#include <cstddef>

namespace pycnn {

// Returns at least `count` floats of scratch for `slot` (0..kWorkspaceSlots-1)
// on the calling thread. The pointer stays valid until the same thread asks
// for the same slot again. Throws std::bad_alloc when memory runs out.
constexpr int kWorkspaceSlots = 8;
float* workspace_floats(std::size_t count, int slot);

// Bytes currently held by the calling thread's workspace (for tests/bench).
std::size_t workspace_bytes_held();

}  // namespace pycnn
