// In-bounds extent of a pooling window, and the windows that hold a pixel.
// `static inline` on purpose: this header is compiled once per ISA.
#pragma once
#include <cstdint>

#include "pool/pool.hpp"

namespace pycnn {
namespace poolwin {

// Half-open range [begin, end) of input indices a window at output index
// `out` covers along one axis, clipped to the input.
struct Range {
  int64_t begin, end;
};

static inline Range window(int64_t out, int64_t stride, int64_t pad, int64_t pool,
                           int64_t in_size) {
  int64_t start = out * stride - pad;
  Range r{start < 0 ? 0 : start, start + pool > in_size ? in_size : start + pool};
  return r;
}

// Output indices [begin, end) whose windows contain input index `in`.
static inline Range windows_holding(int64_t in, int64_t stride, int64_t pad, int64_t pool,
                                    int64_t out_size) {
  // out * stride - pad <= in < out * stride - pad + pool
  int64_t lo_num = in + pad - pool + 1;
  int64_t lo = lo_num <= 0 ? 0 : (lo_num + stride - 1) / stride;
  int64_t hi = (in + pad) / stride + 1;
  Range r{lo, hi > out_size ? out_size : hi};
  return r;
}

}  // namespace poolwin
}  // namespace pycnn
