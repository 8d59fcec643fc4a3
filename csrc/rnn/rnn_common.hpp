// Helpers shared by the LSTM and GRU kernels. `static inline`: this header is
// compiled once per ISA (see core/kernel_decl.hpp).
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "act/act_math.hpp"
#include "core/threading.hpp"
#include "rnn/rnn.hpp"

namespace pycnn {
namespace rnn_detail {

// Workspace slots of the recurrent kernels (the GEMM owns 6 and 7).
constexpr int kSlotRowScratch = 0;   // per thread, a few rows of U floats
constexpr int kSlotGateGrads = 1;    // (B*T, G) gradients of the gate inputs
constexpr int kSlotPrevStates = 2;   // (B*T, U) h_{t-1} of every step
constexpr int kSlotExtra = 3;        // GRU: recurrent-side gradients / step buffer

static inline void activate(Act act, float param, const float* in, float* out, int64_t n) {
  actmath::apply_row(act, param, in, nullptr, out, n);
}

// d[j] = act'(pre[j]) from the pre-activation and the output post = act(pre).
// The common gate activations get their own loop so it vectorises.
static inline void act_derivative(Act act, float param, const float* pre, const float* post,
                                  float* d, int64_t n) {
  switch (act) {
    case Act::sigmoid:
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) d[j] = post[j] * (1.0f - post[j]);
      return;
    case Act::tanh:
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) d[j] = 1.0f - post[j] * post[j];
      return;
    case Act::linear:
      for (int64_t j = 0; j < n; ++j) d[j] = 1.0f;
      return;
    default:
      for (int64_t j = 0; j < n; ++j) d[j] = actmath::derivative(act, pre[j], post[j], param);
  }
}

// Row (b, t) of a batch-major sequence whose rows hold `width` floats.
static inline float* seq_row(float* base, int64_t b, int64_t t, int64_t steps, int64_t width) {
  return base + (b * steps + t) * width;
}
static inline const float* seq_row(const float* base, int64_t b, int64_t t, int64_t steps,
                                   int64_t width) {
  return base + (b * steps + t) * width;
}

// State entering step t for sample b: the previous step's output, the
// initial state, or null when the initial state is zero.
static inline const float* prev_state(const float* seq, const float* initial, int64_t b,
                                      int64_t t, int64_t steps, int64_t units) {
  if (t > 0) return seq_row(seq, b, t - 1, steps, units);
  return initial ? initial + b * units : nullptr;
}

// h_{t-1} for every (b, t) as one (B*T, U) matrix, so the recurrent-kernel
// gradient is a single GEMM after the time loop.
static inline void gather_prev_states(int64_t batch, int64_t steps, int64_t units,
                                      const float* initial, const float* seq, float* out) {
  for (int64_t b = 0; b < batch; ++b) {
    float* dst = out + b * steps * units;
    if (initial)
      std::memcpy(dst, initial + b * units, sizeof(float) * units);
    else
      std::memset(dst, 0, sizeof(float) * units);
    if (steps > 1)
      std::memcpy(dst + units, seq + b * steps * units, sizeof(float) * (steps - 1) * units);
  }
}

// dst[c] = sum over rows of src[r, c], rows added in order (threads split
// columns only, so the result does not depend on the thread count).
static inline void column_sums(int64_t rows, int64_t cols, const float* src, int64_t ld,
                               float* dst) {
  constexpr int64_t kChunk = 256;
  const int64_t chunks = (cols + kChunk - 1) / kChunk;
  const int nt = threads_for_work(static_cast<double>(rows) * cols);
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
  for (int64_t ch = 0; ch < chunks; ++ch) {
    const int64_t c0 = ch * kChunk, c1 = std::min(cols, c0 + kChunk);
    float* out = dst + c0;
    const int64_t n = c1 - c0;
    for (int64_t j = 0; j < n; ++j) out[j] = 0.0f;
    for (int64_t r = 0; r < rows; ++r) {
      const float* row = src + r * ld + c0;
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) out[j] += row[j];
    }
  }
}

// dst = a (+ b) (+ c), any of a, b, c may be null (zero).
static inline void sum_rows(const float* a, const float* b, const float* c, float* dst,
                            int64_t n) {
  for (int64_t j = 0; j < n; ++j) dst[j] = a ? a[j] : 0.0f;
  if (b) {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) dst[j] += b[j];
  }
  if (c) {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) dst[j] += c[j];
  }
}

// Threads for one step's elementwise gate math over `batch` rows of `width`.
static inline int step_threads(int64_t batch, int64_t width) {
  return threads_for_work(40.0 * static_cast<double>(batch) * width);
}

}  // namespace rnn_detail
}  // namespace pycnn
