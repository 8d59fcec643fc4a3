// GRU over a whole sequence (Keras 3 cell, gates z, r, h):
//   reset_after=True (default):  rec = h_{t-1} U + b_rec
//     z = gate_act(xz + rec_z), r = gate_act(xr + rec_r),
//     hh = act(xh + r * rec_h)
//   reset_after=False:  z, r as above without b_rec,
//     hh = act(xh + (r * h_{t-1}) U_h)
//   h_t = z * h_{t-1} + (1 - z) * hh
// with x W + b_in for every step computed as one GEMM, and its
// backpropagation through time. reset_after (Keras's default) runs the
// recurrence as register tiles in one parallel region (rnn_common.hpp);
// reset_before needs all of r before its second product, so it steps with
// small single-threaded GEMMs.
#include <omp.h>

#include <algorithm>
#include <cstring>

#include "core/threading.hpp"
#include "core/workspace.hpp"
#include "gemm/gemm.hpp"
#include "rnn/rnn.hpp"
#include "rnn/rnn_common.hpp"

namespace pycnn {
namespace PYCNN_ISA_NS {
namespace {

using namespace rnn_detail;

// h = z * h_prev + (1 - z) * hh; h_prev null means zero.
inline void blend_state(int64_t u, const float* z, const float* hh, const float* h_prev,
                        float* h) {
  if (h_prev) {
#pragma omp simd
    for (int64_t j = 0; j < u; ++j) h[j] = z[j] * h_prev[j] + (1.0f - z[j]) * hh[j];
  } else {
#pragma omp simd
    for (int64_t j = 0; j < u; ++j) h[j] = (1.0f - z[j]) * hh[j];
  }
}

// A skipped (masked) step: h_t = h_{t-1} (zero when h_prev is null).
inline void carry_state(int64_t u, const float* h_prev, float* h) {
  if (h_prev)
    std::memcpy(h, h_prev, sizeof(float) * u);
  else
    std::memset(h, 0, sizeof(float) * u);
}

// Gradients of units [0, n) of one sample's step (gate blocks u apart in
// pre / gate / dpre / drec, which point at the first unit): dh reaches h_t.
// Writes d(gate pre-activations) to dpre (z, r, h); for reset_after also
// d rec to drec (z, r, r * dh_pre) and the r-gradient; otherwise the r part
// of dpre is left to the caller (it needs (dh_pre U_h^T) first).
// carry <- dh * z. scratch: 4n floats.
inline void gru_cell_backward(int64_t u, int64_t n, const RnnActs& a, bool reset_after,
                              const float* pre, const float* gate, const float* rec_h,
                              const float* h_prev, const float* dh, float* dpre, float* drec,
                              float* carry, float* scratch) {
  float* dact = scratch;  // 3n: z, r, h
  float* zeros = scratch + 3 * n;
  act_derivative(a.gate_act, a.gate_param, pre, gate, dact, n);
  act_derivative(a.gate_act, a.gate_param, pre + u, gate + u, dact + n, n);
  act_derivative(a.act, a.act_param, pre + 2 * u, gate + 2 * u, dact + 2 * n, n);
  if (!h_prev) {
    std::memset(zeros, 0, sizeof(float) * n);
    h_prev = zeros;
  }
  const float *z = gate, *r = gate + u, *hh = gate + 2 * u;
  float *dz = dpre, *dr = dpre + u, *dhh = dpre + 2 * u;
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) {
    dz[j] = dh[j] * (h_prev[j] - hh[j]) * dact[j];
    dhh[j] = dh[j] * (1.0f - z[j]) * dact[2 * n + j];
    carry[j] = dh[j] * z[j];
  }
  if (!reset_after) return;
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) {
    dr[j] = dhh[j] * rec_h[j] * dact[n + j];
    drec[j] = dz[j];
    drec[u + j] = dr[j];
    drec[2 * u + j] = dhh[j] * r[j];
  }
}

// Backpropagation through time of the reset_after GRU in one parallel
// region, threads owning blocks of kV units. Per step: each thread turns
// d h_t of its units into gate gradients dpre / drec (and carry = dh * z),
// a barrier, then carry += drec_t U^T for its units. dh0 carries d h_t.
void bptt_reset_after(int64_t batch, int64_t steps, int64_t u, const float* recurrent_kernel,
                      const float* h0, const uint8_t* mask, const RnnActs& acts,
                      const float* h_seq, const float* gates_pre, const float* gates,
                      const float* rec_h, const float* dh_seq, float* dpre, float* drec,
                      float* dh0) {
  const int64_t width = 3 * u, blocks = (u + kV - 1) / kV;
  const int nt = recurrence_threads(2 * batch * width * u, blocks);
  float* zeros = workspace_floats(static_cast<size_t>(width), kSlotZeros);
  std::memset(zeros, 0, sizeof(float) * width);
  ParallelFailure failure;
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    int64_t jb0, jb1;
    thread_blocks(blocks, omp_get_thread_num(), omp_get_num_threads(), &jb0, &jb1);
    const int64_t stream = width * kV;
    const int64_t u0 = jb0 * kV, un = std::max<int64_t>(0, std::min(u, jb1 * kV) - u0);
    const BackwardScratch w =
        backward_scratch(failure, jb0, jb1, un, u, width, 4, recurrent_kernel, kSlotPanels);
    if (w.panels) {
      float *panels = w.panels, *tile = w.tile, *scratch = w.scratch, *dh = w.dh;
      for (int64_t t = steps - 1; t >= 0; --t) {
        // Gate gradients of this thread's units, sample by sample.
        for (int64_t b = 0; b < batch && un > 0; ++b) {
          float* carry = dh0 + b * u + u0;
          sum_rows(carry, dh_seq ? seq_row(dh_seq, b, t, steps, u) + u0 : nullptr, nullptr, dh,
                   un);
          float* dp = seq_row(dpre, b, t, steps, width) + u0;
          float* dr = seq_row(drec, b, t, steps, width) + u0;
          if (!step_on(mask, b, t, steps)) {
            // Skipped step: h passed through; no gradient reaches its gates.
            std::memcpy(carry, dh, sizeof(float) * un);
            for (int g = 0; g < 3; ++g) {
              std::memset(dp + g * u, 0, sizeof(float) * un);
              std::memset(dr + g * u, 0, sizeof(float) * un);
            }
            continue;
          }
          gru_cell_backward(u, un, acts, true, seq_row(gates_pre, b, t, steps, width) + u0,
                            seq_row(gates, b, t, steps, width) + u0,
                            seq_row(rec_h, b, t, steps, u) + u0,
                            t > 0 || h0 ? prev_state(h_seq, h0, b, t, steps, u) + u0 : nullptr,
                            dh, dp, dr, carry, scratch);
        }
        // Every unit's drec_t is needed below.
#pragma omp barrier
        // carry += drec_t U^T for this thread's units, up to 4 blocks a tile.
        // No barrier after: step t-1 above touches only this thread's units.
        prev_state_grad<true>(jb0, jb1, batch, t, steps, u, width, drec, panels, stream, zeros,
                              mask, tile, dh0);
      }
    }
  }
  failure.rethrow();
}

// Units [j0, j0 + n) of one sample's reset_after step once pre (the (b, t)
// row of width 3u) holds x W + b_in + h_{t-1} U_zr + b_rec_zr in its z, r
// blocks and rec_h holds h_{t-1} U_h + b_rec_h. h_prev null means zero.
// Threads call this on their own unit range (long vectorised runs).
inline void gru_units_forward(int64_t u, int64_t j0, int64_t n, const RnnActs& a, float* pre,
                              float* gate, const float* rec_h, const float* h_prev, float* h,
                              bool on) {
  activate(a.gate_act, a.gate_param, pre + j0, gate + j0, n);
  activate(a.gate_act, a.gate_param, pre + u + j0, gate + u + j0, n);
  float* ph = pre + 2 * u + j0;
  const float* r = gate + u + j0;
#pragma omp simd
  for (int64_t v = 0; v < n; ++v) ph[v] += r[v] * rec_h[j0 + v];
  activate(a.act, a.act_param, ph, gate + 2 * u + j0, n);
  h += j0;
  if (!on) {
    for (int64_t v = 0; v < n; ++v) h[v] = h_prev ? h_prev[j0 + v] : 0.0f;
    return;
  }
  blend_state(n, gate + j0, gate + 2 * u + j0, h_prev ? h_prev + j0 : nullptr, h);
}

// The reset_after recurrence in one parallel region; threads own blocks of
// kV units (see rnn_common.hpp).
void forward_reset_after(int64_t batch, int64_t steps, int64_t u, const float* recurrent_kernel,
                         const float* bias_rec, const float* h0, const uint8_t* mask,
                         const RnnActs& acts, float* h_seq, float* gates_pre, float* gates,
                         float* rec_h) {
  const int64_t width = 3 * u, blocks = (u + kV - 1) / kV;
  const int nt = recurrence_threads(2 * batch * width * u, blocks);
  float* zeros = workspace_floats(static_cast<size_t>(u), kSlotZeros);
  std::memset(zeros, 0, sizeof(float) * u);
  ParallelFailure failure;
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    const ForwardScratch w =
        forward_scratch(failure, 3, u, blocks, recurrent_kernel, width, kSlotPanels);
    if (w.panels) {
      const int64_t jb0 = w.jb0, jb1 = w.jb1, u0 = w.u0, un = w.un;  // this thread's units
      float* tile = w.tile;
      for (int64_t t = 0; t < steps; ++t) {
        const bool has_prev = t > 0 || h0;
        // rec = h_{t-1} U + b_rec for this thread's units, kR samples x kV
        // units a tile: the z, r parts go into pre, the h part into rec_h.
        for (int64_t jb = jb0; jb < jb1; ++jb) {
          const int64_t j0 = jb * kV, n = std::min<int64_t>(kV, u - j0);
          const float* streams[3];
          for (int s = 0; s < 3; ++s) streams[s] = w.stream(jb, s);
          for (int64_t b0 = 0; b0 < batch; b0 += kR) {
            if (has_prev) {
              const float* hrows[kR];
              for (int r = 0; r < kR; ++r)
                hrows[r] = b0 + r < batch ? prev_state(h_seq, h0, b0 + r, t, steps, u) : zeros;
              tile_dot<3>(u, hrows, streams, tile);
            } else {
              std::memset(tile, 0, sizeof(float) * 3 * kR * kV);
            }
            for (int r = 0; r < kR && b0 + r < batch; ++r) {
              float* pre = seq_row(gates_pre, b0 + r, t, steps, width);
              float* rh = seq_row(rec_h, b0 + r, t, steps, u) + j0;
              for (int s = 0; s < 3; ++s) {
                float* rec = tile + (s * kR + r) * kV;
                if (bias_rec)
                  for (int64_t v = 0; v < n; ++v) rec[v] += bias_rec[s * u + j0 + v];
                float* dst = s < 2 ? pre + s * u + j0 : rh;
                if (s < 2)
                  for (int64_t v = 0; v < n; ++v) dst[v] += rec[v];
                else
                  copy_block(dst, rec, n);
                // Rows of the next step are far apart (batch-major): fetch early.
                if (t + 1 < steps) __builtin_prefetch(pre + width + s * u + j0);
              }
            }
          }
        }
        // Then the gate math over the thread's whole unit range, sample by sample.
        for (int64_t b = 0; b < batch && un > 0; ++b)
          gru_units_forward(u, u0, un, acts, seq_row(gates_pre, b, t, steps, width),
                            seq_row(gates, b, t, steps, width), seq_row(rec_h, b, t, steps, u),
                            prev_state(h_seq, h0, b, t, steps, u), seq_row(h_seq, b, t, steps, u),
                            step_on(mask, b, t, steps));
        // Step t+1 reads every unit of h_t.
#pragma omp barrier
      }
    }
  }
  failure.rethrow();
}

void forward_reset_before(int64_t batch, int64_t steps, int64_t u,
                          const float* recurrent_kernel, const float* h0, const uint8_t* mask,
                          const RnnActs& acts,
                          float* h_seq, float* gates_pre, float* gates, float* rec_h) {
  const int64_t width = 3 * u;
  for (int64_t t = 0; t < steps; ++t) {
    float* pre_t = gates_pre + t * width;
    const bool zero_state = t == 0 && !h0;
    const float* h_prev_t = t > 0 ? h_seq + (t - 1) * u : h0;
    const int64_t ld_prev = t > 0 ? steps * u : u;
    if (!zero_state)  // z and r pre-activations += h_{t-1} [U_z U_r]
      sgemm(false, false, batch, 2 * u, u, 1.0f, h_prev_t, ld_prev, recurrent_kernel, width,
            1.0f, pre_t, steps * width, nullptr, 1);
    for (int64_t b = 0; b < batch; ++b) {
      float* gate = seq_row(gates, b, t, steps, width);
      activate(acts.gate_act, acts.gate_param, seq_row(gates_pre, b, t, steps, width), gate,
               2 * u);
      const float* h_prev = prev_state(h_seq, h0, b, t, steps, u);
      float* rh = seq_row(rec_h, b, t, steps, u);
      for (int64_t j = 0; j < u; ++j) rh[j] = h_prev ? gate[u + j] * h_prev[j] : 0.0f;
    }
    if (!zero_state)  // candidate pre-activation += (r * h_{t-1}) U_h
      sgemm(false, false, batch, u, u, 1.0f, rec_h + t * u, steps * u, recurrent_kernel + 2 * u,
            width, 1.0f, pre_t + 2 * u, steps * width, nullptr, 1);
    for (int64_t b = 0; b < batch; ++b) {
      float* gate = seq_row(gates, b, t, steps, width);
      activate(acts.act, acts.act_param, seq_row(gates_pre, b, t, steps, width) + 2 * u,
               gate + 2 * u, u);
      const float* h_prev = prev_state(h_seq, h0, b, t, steps, u);
      float* h = seq_row(h_seq, b, t, steps, u);
      blend_state(u, gate, gate + 2 * u, h_prev, h);
      if (!step_on(mask, b, t, steps)) carry_state(u, h_prev, h);
    }
  }
}

// Backpropagation through time of the reset_before GRU, step by step on
// the calling thread (small GEMMs per step; a parallel region per step
// would cost more than it saves). extra: a (B, U) buffer.
void bptt_reset_before(int64_t batch, int64_t steps, int64_t u, const float* recurrent_kernel,
                       const float* h0, const uint8_t* mask, const RnnActs& acts,
                       const float* h_seq, const float* gates_pre, const float* gates,
                       const float* dh_seq, float* dpre, float* extra, float* dh0) {
  const int64_t width = 3 * u;
  float* scratch = workspace_floats(static_cast<size_t>(5 * u), kSlotRowScratch);
  float* dh = scratch + 4 * u;
  for (int64_t t = steps - 1; t >= 0; --t) {
    for (int64_t b = 0; b < batch; ++b) {
      sum_rows(dh0 + b * u, dh_seq ? seq_row(dh_seq, b, t, steps, u) : nullptr, nullptr, dh, u);
      if (!step_on(mask, b, t, steps)) {
        // Skipped step: h passed through; no gradient reaches its gates.
        std::memcpy(dh0 + b * u, dh, sizeof(float) * u);
        std::memset(seq_row(dpre, b, t, steps, width), 0, sizeof(float) * width);
        continue;
      }
      gru_cell_backward(u, u, acts, false, seq_row(gates_pre, b, t, steps, width),
                        seq_row(gates, b, t, steps, width), nullptr,
                        prev_state(h_seq, h0, b, t, steps, u), dh,
                        seq_row(dpre, b, t, steps, width), nullptr, dh0 + b * u, scratch);
    }
    const float* dpre_t = dpre + t * width;
    // d(r * h_{t-1}) = d hh_pre U_h^T, then the r gate and the h_{t-1} terms.
    float* d_rh = extra;
    sgemm(false, true, batch, u, u, 1.0f, dpre_t + 2 * u, steps * width, recurrent_kernel + 2 * u,
          width, 0.0f, d_rh, u, nullptr, 1);
    for (int64_t b = 0; b < batch; ++b) {
      const float* gate = seq_row(gates, b, t, steps, width);
      const float* h_prev = prev_state(h_seq, h0, b, t, steps, u);
      act_derivative(acts.gate_act, acts.gate_param, seq_row(gates_pre, b, t, steps, width) + u,
                     gate + u, scratch, u);
      float* dr = seq_row(dpre, b, t, steps, width) + u;
      const float* drh = d_rh + b * u;
      float* carry = dh0 + b * u;
      for (int64_t j = 0; j < u; ++j) {
        dr[j] = h_prev ? drh[j] * h_prev[j] * scratch[j] : 0.0f;
        carry[j] += drh[j] * gate[u + j];
      }
    }
    sgemm(false, true, batch, u, 2 * u, 1.0f, dpre_t, steps * width, recurrent_kernel, width,
          1.0f, dh0, u, nullptr, 1);
  }
}

}  // namespace

void gru_forward(int64_t batch, int64_t steps, int64_t in_dim, int64_t units, const float* x,
                 const float* kernel, const float* recurrent_kernel, const float* bias_in,
                 const float* bias_rec, const float* h0, const uint8_t* mask, bool reset_after,
                 const RnnActs& acts, float* h_seq, float* gates_pre, float* gates,
                 float* rec_h) {
  const int64_t width = 3 * units, rows = batch * steps;
  if (rows == 0) return;
  Epilogue with_bias;
  with_bias.bias = bias_in;
  sgemm(false, false, rows, width, in_dim, 1.0f, x, in_dim, kernel, width, 0.0f, gates_pre,
        width, bias_in ? &with_bias : nullptr, 0);
  if (reset_after)
    forward_reset_after(batch, steps, units, recurrent_kernel, bias_rec, h0, mask, acts, h_seq,
                        gates_pre, gates, rec_h);
  else
    forward_reset_before(batch, steps, units, recurrent_kernel, h0, mask, acts, h_seq,
                         gates_pre, gates, rec_h);
}

void gru_backward(int64_t batch, int64_t steps, int64_t in_dim, int64_t units, const float* x,
                  const float* kernel, const float* recurrent_kernel, const float* h0,
                  const uint8_t* mask, bool reset_after, const RnnActs& acts, const float* h_seq,
                  const float* gates_pre, const float* gates, const float* rec_h,
                  const float* dh_seq, const float* dh_last, float* dx, float* dkernel,
                  float* drecurrent, float* dbias_in, float* dbias_rec, float* dh0) {
  const int64_t u = units, width = 3 * units, rows = batch * steps;
  // dh0 carries the gradient from step t+1 to step t (then is h0's gradient).
  const size_t state_bytes = sizeof(float) * batch * u;
  if (dh_last) std::memcpy(dh0, dh_last, state_bytes); else std::memset(dh0, 0, state_bytes);
  if (rows == 0) {
    std::memset(dkernel, 0, sizeof(float) * in_dim * width);
    std::memset(drecurrent, 0, sizeof(float) * u * width);
    if (dbias_in) std::memset(dbias_in, 0, sizeof(float) * width);
    if (dbias_rec) std::memset(dbias_rec, 0, sizeof(float) * width);
    return;
  }
  // d(gate pre-activations), input side; reset_after also needs the
  // recurrent side (its h part is scaled by r), reset_before a (B, U) buffer.
  float* dpre = workspace_floats(static_cast<size_t>(rows * width), kSlotGateGrads);
  float* extra = workspace_floats(static_cast<size_t>(reset_after ? rows * width : batch * u),
                                  kSlotExtra);
  if (reset_after) {
    bptt_reset_after(batch, steps, u, recurrent_kernel, h0, mask, acts, h_seq, gates_pre, gates,
                     rec_h, dh_seq, dpre, extra, dh0);
  } else {
    bptt_reset_before(batch, steps, u, recurrent_kernel, h0, mask, acts, h_seq, gates_pre,
                      gates, dh_seq, dpre, extra, dh0);
  }
  float* h_prev = workspace_floats(static_cast<size_t>(rows * u), kSlotPrevStates);
  gather_prev_states(batch, steps, u, h0, h_seq, h_prev);
  if (reset_after) {
    sgemm(true, false, u, width, rows, 1.0f, h_prev, u, extra, width, 0.0f, drecurrent, width,
          nullptr, 0);
    if (dbias_rec) column_sums(rows, width, extra, width, dbias_rec);
  } else {
    sgemm(true, false, u, 2 * u, rows, 1.0f, h_prev, u, dpre, width, 0.0f, drecurrent, width,
          nullptr, 0);
    sgemm(true, false, u, u, rows, 1.0f, rec_h, u, dpre + 2 * u, width, 0.0f, drecurrent + 2 * u,
          width, nullptr, 0);
  }
  sgemm(true, false, in_dim, width, rows, 1.0f, x, in_dim, dpre, width, 0.0f, dkernel, width,
        nullptr, 0);
  if (dx)
    sgemm(false, true, rows, in_dim, width, 1.0f, dpre, width, kernel, width, 0.0f, dx, in_dim,
          nullptr, 0);
  if (dbias_in) column_sums(rows, width, dpre, width, dbias_in);
}

}  // namespace PYCNN_ISA_NS
}  // namespace pycnn
