// Pre-packed weights cross to Python as an opaque 1-D float32 array: a
// 16-float (64-byte) header, then the panels in the order a kernel streams
// them. Python caches the array per weight version (one repack per optimizer
// step, none in inference); the consuming binding validates the header, so a
// stale or foreign array (other ISA, other shape) is a ValueError, never a
// wrong read.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>

#include "bindings/common.hpp"
#include "core/isa.hpp"

namespace pycnn {

enum class PackedKind : uint32_t { gemm_b = 1, conv2d_forward = 2 };

struct PackedHeader {
  uint32_t magic;    // kPackedMagic
  uint32_t kind;     // PackedKind
  uint32_t isa;      // Isa the layout was made for (panel widths differ per ISA)
  uint32_t layout;   // bumped when a kind's layout changes
  int64_t dims[6];   // kind-specific sizes (gemm_b: k, n, trans_b; conv: kh, kw, cin, cout)
};
static_assert(sizeof(PackedHeader) <= 64, "header must fit the 64-byte prefix");

constexpr uint32_t kPackedMagic = 0x4B435950u;  // "PYCK"
constexpr int64_t kPackedHeaderFloats = 16;

// A new packed array of `payload_floats` floats after the header; *payload
// points at them (64-byte aligned when the allocator's block is).
inline FArray new_packed(PackedKind kind, uint32_t layout, const int64_t (&dims)[6],
                         int64_t payload_floats, float** payload) {
  FArray out = new_array({static_cast<py::ssize_t>(kPackedHeaderFloats + payload_floats)});
  float* base = out.mutable_data();
  PackedHeader h{};
  h.magic = kPackedMagic;
  h.kind = static_cast<uint32_t>(kind);
  h.isa = static_cast<uint32_t>(active_isa());
  h.layout = layout;
  std::memcpy(h.dims, dims, sizeof(h.dims));
  std::memset(base, 0, kPackedHeaderFloats * sizeof(float));
  std::memcpy(base, &h, sizeof(h));
  *payload = base + kPackedHeaderFloats;
  return out;
}

// The payload of `packed` when its header matches kind, layout, the active
// ISA and dims (and its size is at least payload_floats); else ValueError.
inline const float* check_packed(const std::string& op, const FArray& packed, PackedKind kind,
                                 uint32_t layout, const int64_t (&dims)[6],
                                 int64_t payload_floats) {
  if (packed.ndim() != 1 || packed.shape(0) < kPackedHeaderFloats)
    fail(op, "packed weights must be a 1-D array made by the matching pack function, got "
             "shape " + shape_str(packed));
  PackedHeader h;
  std::memcpy(&h, packed.data(), sizeof(h));
  if (h.magic != kPackedMagic || h.kind != static_cast<uint32_t>(kind) || h.layout != layout)
    fail(op, "packed weights were not made by the matching pack function");
  if (h.isa != static_cast<uint32_t>(active_isa()))
    fail(op, "packed weights were made for another ISA; pack them again");
  if (std::memcmp(h.dims, dims, sizeof(h.dims)) != 0)
    fail(op, "packed weights were made for other shapes; pack them again");
  if (packed.shape(0) < kPackedHeaderFloats + payload_floats)
    fail(op, "packed weights array is truncated");
  return packed.data() + kPackedHeaderFloats;
}

// The payloads the conv and GEMM bindings accept (bind_conv.cpp, bind_gemm.cpp),
// checked against the kernel / op(B) shapes they were packed for.
// checked_packed_kernel: null when none is given or this ISA's conv reads the
// kernel itself.
const float* checked_packed_kernel(const std::string& op, const FArray& kernel,
                                   const std::optional<FArray>& packed);
const float* checked_packed_b(const std::string& op, int64_t k, int64_t n, bool trans_b,
                              const FArray& packed_b);

// One row times a row-major B of at most 16 columns (a batch-1 classifier
// head) streams B itself: the packing pads columns to the 32-wide panels, so
// 1568 x 10 read 3.2x the bytes. Callers holding both use sgemm then.
inline bool gemm_row_skips_packing(int64_t m, int64_t n, bool trans_b) {
  return m == 1 && n <= 16 && !trans_b;
}

}  // namespace pycnn
