// GRU over a whole sequence (Keras 3 cell, gates z, r, h):
//   reset_after=True (default):  rec = h_{t-1} U + b_rec
//     z = gate_act(xz + rec_z), r = gate_act(xr + rec_r),
//     hh = act(xh + r * rec_h)
//   reset_after=False:  z, r as above without b_rec,
//     hh = act(xh + (r * h_{t-1}) U_h)
//   h_t = z * h_{t-1} + (1 - z) * hh
// with x W + b_in for every step computed as one GEMM, and its
// backpropagation through time.
#include <cstring>

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

// reset_after step for one sample. pre holds x W + b_in on input and the
// gate pre-activations on output; rec = h_prev U + b_rec (null if zero).
inline void gru_cell_forward_reset_after(int64_t u, const RnnActs& a, float* pre, float* gate,
                                         const float* rec, const float* h_prev, float* rec_h,
                                         float* h) {
  if (rec) {
#pragma omp simd
    for (int64_t j = 0; j < 2 * u; ++j) pre[j] += rec[j];
    std::memcpy(rec_h, rec + 2 * u, sizeof(float) * u);
  } else {
    std::memset(rec_h, 0, sizeof(float) * u);
  }
  activate(a.gate_act, a.gate_param, pre, gate, 2 * u);
  const float* r = gate + u;
#pragma omp simd
  for (int64_t j = 0; j < u; ++j) pre[2 * u + j] += r[j] * rec_h[j];
  activate(a.act, a.act_param, pre + 2 * u, gate + 2 * u, u);
  blend_state(u, gate, gate + 2 * u, h_prev, h);
}

// Gradients of one sample's step: dh reaches h_t. Writes d(gate
// pre-activations) to dpre (z, r, h); for reset_after also d rec to drec
// (z, r, r * dh_pre) and the r-gradient; otherwise the r part of dpre is
// left to the caller (it needs (dh_pre U_h^T) first). carry <- dh * z.
inline void gru_cell_backward(int64_t u, const RnnActs& a, bool reset_after, const float* pre,
                              const float* gate, const float* rec_h, const float* h_prev,
                              const float* dh, float* dpre, float* drec, float* carry,
                              float* scratch) {
  float* dact = scratch;  // 3u
  float* zeros = scratch + 3 * u;
  act_derivative(a.gate_act, a.gate_param, pre, gate, dact, 2 * u);
  act_derivative(a.act, a.act_param, pre + 2 * u, gate + 2 * u, dact + 2 * u, u);
  if (!h_prev) {
    std::memset(zeros, 0, sizeof(float) * u);
    h_prev = zeros;
  }
  const float *z = gate, *r = gate + u, *hh = gate + 2 * u;
  float *dz = dpre, *dr = dpre + u, *dhh = dpre + 2 * u;
#pragma omp simd
  for (int64_t j = 0; j < u; ++j) {
    dz[j] = dh[j] * (h_prev[j] - hh[j]) * dact[j];
    dhh[j] = dh[j] * (1.0f - z[j]) * dact[2 * u + j];
    carry[j] = dh[j] * z[j];
  }
  if (!reset_after) return;
#pragma omp simd
  for (int64_t j = 0; j < u; ++j) {
    dr[j] = dhh[j] * rec_h[j] * dact[u + j];
    drec[j] = dz[j];
    drec[u + j] = dr[j];
    drec[2 * u + j] = dhh[j] * r[j];
  }
}

void forward_reset_after(int64_t batch, int64_t steps, int64_t u, const float* recurrent_kernel,
                         const float* bias_rec, const float* h0, const RnnActs& acts,
                         float* h_seq, float* gates_pre, float* gates, float* rec_h) {
  const int64_t width = 3 * u;
  float* rec = workspace_floats(static_cast<size_t>(batch * width), kSlotExtra);
  Epilogue with_bias;
  with_bias.bias = bias_rec;
  const int nt = step_threads(batch, width);
  for (int64_t t = 0; t < steps; ++t) {
    const bool zero_state = t == 0 && !h0;
    if (zero_state) {
      // h_{-1} = 0: the recurrent term is the bias alone.
      for (int64_t b = 0; b < batch; ++b)
        for (int64_t j = 0; j < width; ++j) rec[b * width + j] = bias_rec ? bias_rec[j] : 0.0f;
    } else {
      const float* h_prev = t > 0 ? h_seq + (t - 1) * u : h0;
      sgemm(false, false, batch, width, u, 1.0f, h_prev, t > 0 ? steps * u : u,
            recurrent_kernel, width, 0.0f, rec, width, bias_rec ? &with_bias : nullptr, 0);
    }
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t b = 0; b < batch; ++b)
      gru_cell_forward_reset_after(u, acts, seq_row(gates_pre, b, t, steps, width),
                                   seq_row(gates, b, t, steps, width), rec + b * width,
                                   prev_state(h_seq, h0, b, t, steps, u),
                                   seq_row(rec_h, b, t, steps, u), seq_row(h_seq, b, t, steps, u));
  }
}

void forward_reset_before(int64_t batch, int64_t steps, int64_t u,
                          const float* recurrent_kernel, const float* h0, const RnnActs& acts,
                          float* h_seq, float* gates_pre, float* gates, float* rec_h) {
  const int64_t width = 3 * u;
  const int nt = step_threads(batch, width);
  for (int64_t t = 0; t < steps; ++t) {
    float* pre_t = gates_pre + t * width;
    const bool zero_state = t == 0 && !h0;
    const float* h_prev_t = t > 0 ? h_seq + (t - 1) * u : h0;
    const int64_t ld_prev = t > 0 ? steps * u : u;
    if (!zero_state)  // z and r pre-activations += h_{t-1} [U_z U_r]
      sgemm(false, false, batch, 2 * u, u, 1.0f, h_prev_t, ld_prev, recurrent_kernel, width,
            1.0f, pre_t, steps * width, nullptr, 0);
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
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
            width, 1.0f, pre_t + 2 * u, steps * width, nullptr, 0);
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t b = 0; b < batch; ++b) {
      float* gate = seq_row(gates, b, t, steps, width);
      activate(acts.act, acts.act_param, seq_row(gates_pre, b, t, steps, width) + 2 * u,
               gate + 2 * u, u);
      blend_state(u, gate, gate + 2 * u, prev_state(h_seq, h0, b, t, steps, u),
                  seq_row(h_seq, b, t, steps, u));
    }
  }
}

}  // namespace

void gru_forward(int64_t batch, int64_t steps, int64_t in_dim, int64_t units, const float* x,
                 const float* kernel, const float* recurrent_kernel, const float* bias_in,
                 const float* bias_rec, const float* h0, bool reset_after, const RnnActs& acts,
                 float* h_seq, float* gates_pre, float* gates, float* rec_h) {
  const int64_t width = 3 * units, rows = batch * steps;
  if (rows == 0) return;
  Epilogue with_bias;
  with_bias.bias = bias_in;
  sgemm(false, false, rows, width, in_dim, 1.0f, x, in_dim, kernel, width, 0.0f, gates_pre,
        width, bias_in ? &with_bias : nullptr, 0);
  if (reset_after)
    forward_reset_after(batch, steps, units, recurrent_kernel, bias_rec, h0, acts, h_seq,
                        gates_pre, gates, rec_h);
  else
    forward_reset_before(batch, steps, units, recurrent_kernel, h0, acts, h_seq, gates_pre,
                         gates, rec_h);
}

void gru_backward(int64_t batch, int64_t steps, int64_t in_dim, int64_t units, const float* x,
                  const float* kernel, const float* recurrent_kernel, const float* h0,
                  bool reset_after, const RnnActs& acts, const float* h_seq,
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
  const int nt = step_threads(batch, width);
  for (int64_t t = steps - 1; t >= 0; --t) {
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t b = 0; b < batch; ++b) {
      float* scratch = workspace_floats(static_cast<size_t>(5 * u), kSlotRowScratch);
      float* dh = scratch + 4 * u;
      sum_rows(dh0 + b * u, dh_seq ? seq_row(dh_seq, b, t, steps, u) : nullptr, nullptr, dh, u);
      gru_cell_backward(u, acts, reset_after, seq_row(gates_pre, b, t, steps, width),
                        seq_row(gates, b, t, steps, width), seq_row(rec_h, b, t, steps, u),
                        prev_state(h_seq, h0, b, t, steps, u), dh,
                        seq_row(dpre, b, t, steps, width),
                        reset_after ? seq_row(extra, b, t, steps, width) : nullptr, dh0 + b * u,
                        scratch);
    }
    const float* dpre_t = dpre + t * width;
    if (reset_after) {
      sgemm(false, true, batch, u, width, 1.0f, extra + t * width, steps * width,
            recurrent_kernel, width, 1.0f, dh0, u, nullptr, 0);
      continue;
    }
    // d(r * h_{t-1}) = d hh_pre U_h^T, then the r gate and the h_{t-1} terms.
    float* d_rh = extra;
    sgemm(false, true, batch, u, u, 1.0f, dpre_t + 2 * u, steps * width, recurrent_kernel + 2 * u,
          width, 0.0f, d_rh, u, nullptr, 0);
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t b = 0; b < batch; ++b) {
      const float* gate = seq_row(gates, b, t, steps, width);
      const float* h_prev = prev_state(h_seq, h0, b, t, steps, u);
      float* scratch = workspace_floats(static_cast<size_t>(5 * u), kSlotRowScratch);
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
          1.0f, dh0, u, nullptr, 0);
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
