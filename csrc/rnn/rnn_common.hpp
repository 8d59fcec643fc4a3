// Helpers shared by the LSTM and GRU kernels. `static inline`: this header is
// compiled once per ISA (see core/kernel_decl.hpp).
#pragma once
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "act/act_math.hpp"
#include "core/threading.hpp"
#include "core/workspace.hpp"
#include "rnn/rnn.hpp"

namespace pycnn {
namespace rnn_detail {

// Workspace slots of the recurrent kernels (the GEMM owns 6 and 7).
constexpr int kSlotRowScratch = 0;   // per thread, a few rows of U floats
constexpr int kSlotGateGrads = 1;    // (B*T, G) gradients of the gate inputs
constexpr int kSlotPrevStates = 2;   // (B*T, U) h_{t-1} of every step
constexpr int kSlotExtra = 3;        // GRU: recurrent-side gradients / step buffer
constexpr int kSlotPanels = 4;       // per thread: packed weight streams
constexpr int kSlotZeros = 5;        // a zero row (absent state, padding rows)

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
// The same rows written with a row stride of ld floats (columns [0, units)).
static inline void gather_prev_states_into(int64_t batch, int64_t steps, int64_t units,
                                           const float* initial, const float* seq, float* out,
                                           int64_t ld) {
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t t = 0; t < steps; ++t) {
      float* dst = out + (b * steps + t) * ld;
      const float* src = t == 0 ? (initial ? initial + b * units : nullptr)
                                : seq + (b * steps + t - 1) * units;
      if (src)
        std::memcpy(dst, src, sizeof(float) * units);
      else
        std::memset(dst, 0, sizeof(float) * units);
    }
}

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

// A thread's scratch in a region with per-step barriers: allocated first,
// then one barrier, so every thread sees the same outcome and all of them
// skip the steps (null) when any allocation failed. A thread that left alone
// would leave the others waiting at a barrier, and an exception escaping the
// region would end the process; `failure` raises MemoryError after it.
static inline float* region_scratch(ParallelFailure& failure, size_t floats, int slot) {
  float* p = nullptr;
  failure.run([&] { p = workspace_floats(floats, slot); });
#pragma omp barrier
  return failure.failed() ? nullptr : p;
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

// Whether sample b takes step t (mask null: every step). A skipped step
// carries the states over unchanged (Keras masking).
static inline bool step_on(const uint8_t* mask, int64_t b, int64_t t, int64_t steps) {
  return !mask || mask[b * steps + t] != 0;
}

// ---- The recurrent step as register tiles ---------------------------------
// One time step multiplies a (batch, K) state by a small weight matrix. A
// GEMM call per step costs more in packing and thread start-up than in
// arithmetic, so the kernels run the whole sequence in one parallel region:
// each thread owns blocks of kV units, packs its columns of the weights once
// into "streams" ([K][kV] panels, kept in its caches), and per step computes
// kR x (NV streams) tiles for its units, then the gate math over its unit
// range; one barrier per step shares the new state. Every output element is
// one FMA chain over k in order, so results do not depend on the thread
// count.
#if defined(__AVX512F__)
constexpr int kV = 16;
constexpr int kR = 4;
#elif defined(__AVX2__)
constexpr int kV = 8;
constexpr int kR = 2;
#else
constexpr int kV = 4;
constexpr int kR = 2;
#endif
// aligned(4): panels are 64-byte aligned, but this also allows plain loads.
typedef float vfloat __attribute__((vector_size(kV * sizeof(float)), aligned(4)));

// out[s][r][v] = sum_k rows[r][k] * streams[s][k * kV + v] for r < kR, s < NV
// (stream-major, so a gate's tile is one contiguous run for the activations).
template <int NV>
static inline void tile_dot(int64_t k, const float* const* rows, const float* const* streams,
                            float* out) {
  vfloat acc[kR][NV];
#pragma GCC unroll 8
  for (int r = 0; r < kR; ++r)
#pragma GCC unroll 4
    for (int s = 0; s < NV; ++s) acc[r][s] = vfloat{};
  for (int64_t p = 0; p < k; ++p) {
    vfloat bv[NV];
#pragma GCC unroll 4
    for (int s = 0; s < NV; ++s) bv[s] = *reinterpret_cast<const vfloat*>(streams[s] + p * kV);
#pragma GCC unroll 8
    for (int r = 0; r < kR; ++r) {
      const vfloat a = rows[r][p] - vfloat{};  // a broadcast (x - 0 folds to x)
#pragma GCC unroll 4
      for (int s = 0; s < NV; ++s) acc[r][s] += a * bv[s];
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < kR; ++r)
#pragma GCC unroll 4
    for (int s = 0; s < NV; ++s)
      *reinterpret_cast<vfloat*>(out + (s * kR + r) * kV) = acc[r][s];
}

// tile_dot for a run-time stream count 1..4.
static inline void tile_dot_n(int nv, int64_t k, const float* const* rows,
                              const float* const* streams, float* out) {
  switch (nv) {
    case 1: return tile_dot<1>(k, rows, streams, out);
    case 2: return tile_dot<2>(k, rows, streams, out);
    case 3: return tile_dot<3>(k, rows, streams, out);
    default: return tile_dot<4>(k, rows, streams, out);
  }
}

// dst[v] = src[v] for v < n <= kV (one vector when the block is full):
// for the many short copies of the step epilogues, where memcpy calls cost
// more than the copy.
static inline void copy_block(float* dst, const float* src, int64_t n) {
  if (n == kV) {
    *reinterpret_cast<vfloat*>(dst) = *reinterpret_cast<const vfloat*>(src);
    return;
  }
  for (int64_t v = 0; v < n; ++v) dst[v] = src[v];
}

// The gradient reaching h_{t-1} from step t's gate gradients (rows
// `width` wide): dh[b] = or += (gate_grads_t[b] U^T) over this thread's unit
// blocks [jb0, jb1), up to 4 blocks a tile; `panels` holds U^T's streams of
// those blocks (`stream` floats apart). Masked-out samples keep dh.
template <bool kAccumulate>
static inline void prev_state_grad(int64_t jb0, int64_t jb1, int64_t batch, int64_t t,
                                   int64_t steps, int64_t units, int64_t width,
                                   const float* gate_grads, const float* panels, int64_t stream,
                                   const float* zeros, const uint8_t* mask, float* tile,
                                   float* dh) {
  for (int64_t jb = jb0; jb < jb1; jb += 4) {
    const int nvb = static_cast<int>(std::min<int64_t>(4, jb1 - jb));
    const float* streams[4];
    for (int s = 0; s < nvb; ++s) streams[s] = panels + (jb - jb0 + s) * stream;
    for (int64_t b0 = 0; b0 < batch; b0 += kR) {
      const float* rows[kR];
      for (int r = 0; r < kR; ++r)
        rows[r] = b0 + r < batch ? seq_row(gate_grads, b0 + r, t, steps, width) : zeros;
      tile_dot_n(nvb, width, rows, streams, tile);
      for (int r = 0; r < kR && b0 + r < batch; ++r) {
        const int64_t b = b0 + r;
        if (!step_on(mask, b, t, steps)) continue;
        for (int s = 0; s < nvb; ++s) {
          const int64_t j0 = (jb + s) * kV, n = std::min<int64_t>(kV, units - j0);
          float* dst = dh + b * units + j0;
          const float* add = tile + (s * kR + r) * kV;
          if (kAccumulate)
            for (int64_t v = 0; v < n; ++v) dst[v] += add[v];
          else
            copy_block(dst, add, n);
        }
      }
    }
  }
}

// Stream of units [j0, j0 + kV) of column block `col0` of a (K, ld) matrix:
// dst[k][v] = w[k * ld + col0 + j0 + v], zero past `units`.
static inline void pack_stream(int64_t k, const float* w, int64_t ld, int64_t col0, int64_t j0,
                               int64_t units, float* dst) {
  const int64_t nv = std::min<int64_t>(kV, units - j0);
  for (int64_t p = 0; p < k; ++p) {
    const float* src = w + p * ld + col0 + j0;
    float* d = dst + p * kV;
    for (int64_t v = 0; v < kV; ++v) d[v] = v < nv ? src[v] : 0.0f;
  }
}


// Transposed stream: dst[k][v] = w[(j0 + v) * ld + k] for k < kdim (rows
// of w are units), zero past `units`. For gradients d state = dz W^T.
static inline void pack_stream_t(int64_t kdim, const float* w, int64_t ld, int64_t j0,
                                 int64_t units, float* dst) {
  const int64_t nv = std::min<int64_t>(kV, units - j0);
  for (int64_t p = 0; p < kdim; ++p)
    for (int64_t v = 0; v < kV; ++v) dst[p * kV + v] = v < nv ? w[(j0 + v) * ld + p] : 0.0f;
}

// A thread's scratch in a backward pass over time (see region_scratch; null
// members when any thread's allocation failed): U^T's streams of the
// thread's unit blocks [jb0, jb1) (width * kV floats each), a tile, then
// `scratch_rows` rows of `un` floats for the cell math and one for dh.
struct BackwardScratch {
  float *panels, *tile, *scratch, *dh;
};
static inline BackwardScratch backward_scratch(ParallelFailure& failure, int64_t jb0, int64_t jb1,
                                               int64_t un, int64_t units, int64_t width,
                                               int scratch_rows, const float* recurrent_kernel,
                                               int slot) {
  const int64_t stream = width * kV;
  BackwardScratch w{};
  w.panels = region_scratch(
      failure,
      static_cast<size_t>((jb1 - jb0) * stream + kR * 4 * kV + (scratch_rows + 1) * un), slot);
  if (!w.panels) return w;
  w.tile = w.panels + (jb1 - jb0) * stream;
  w.scratch = w.tile + kR * 4 * kV;
  w.dh = w.scratch + scratch_rows * un;
  for (int64_t jb = jb0; jb < jb1; ++jb)
    pack_stream_t(width, recurrent_kernel, width, jb * kV, units, w.panels + (jb - jb0) * stream);
  return w;
}

// Unit blocks [first, last) of thread `tid` out of `nt`.
static inline void thread_blocks(int64_t blocks, int tid, int nt, int64_t* first,
                                 int64_t* last) {
  *first = blocks * tid / nt;
  *last = blocks * (tid + 1) / nt;
}

// A thread's share of a forward pass over time (see region_scratch; null
// panels when any thread's allocation failed): its unit blocks [jb0, jb1)
// (units [u0, u0 + un)), for each the `gate_count` column blocks of the
// recurrent kernel U (units x width) packed as streams of units * kV floats,
// block by block, gate by gate; then a tile.
struct ForwardScratch {
  int64_t jb0, jb1, u0, un, stream_floats;
  int gate_count;
  float *panels, *tile;
  const float* stream(int64_t jb, int g) const {
    return panels + ((jb - jb0) * gate_count + g) * stream_floats;
  }
};
static inline ForwardScratch forward_scratch(ParallelFailure& failure, int gate_count,
                                             int64_t units, int64_t blocks,
                                             const float* recurrent_kernel, int64_t width,
                                             int slot) {
  ForwardScratch w{};
  thread_blocks(blocks, omp_get_thread_num(), omp_get_num_threads(), &w.jb0, &w.jb1);
  w.u0 = w.jb0 * kV;
  w.un = std::min(units, w.jb1 * kV) - w.u0;
  w.gate_count = gate_count;
  w.stream_floats = units * kV;
  const int64_t floats = (w.jb1 - w.jb0) * gate_count * w.stream_floats;
  w.panels = region_scratch(failure, static_cast<size_t>(floats + gate_count * kR * kV), slot);
  if (!w.panels) return w;
  w.tile = w.panels + floats;
  for (int64_t jb = w.jb0; jb < w.jb1; ++jb)
    for (int g = 0; g < gate_count; ++g)
      pack_stream(units, recurrent_kernel, width, g * units, jb * kV, units,
                  w.panels + ((jb - w.jb0) * gate_count + g) * w.stream_floats);
  return w;
}

// Threads for a recurrence over `steps` steps doing `step_flops` each: a
// barrier per step costs ~1 us, so a thread needs a real share of each step,
// and at least one block of kV units.
static inline int recurrence_threads(int64_t step_flops, int64_t unit_blocks) {
  const int by_work = threads_for_work(static_cast<double>(step_flops) * 0.25);
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(by_work, unit_blocks)));
}

}  // namespace rnn_detail
}  // namespace pycnn
