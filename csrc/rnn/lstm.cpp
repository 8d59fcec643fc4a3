// LSTM over a whole sequence (Keras 3 cell, gates i, f, c, o):
//   z_t = x_t W + b + h_{t-1} U           (x W + b for every step: one GEMM)
//   i, f, o = gate_act(z_i, z_f, z_o);  g = act(z_c)
//   c_t = f * c_{t-1} + i * g;           h_t = o * act(c_t)
// and its backpropagation through time.
#include <cstring>

#include "core/workspace.hpp"
#include "gemm/gemm.hpp"
#include "rnn/rnn.hpp"
#include "rnn/rnn_common.hpp"

namespace pycnn {
namespace PYCNN_ISA_NS {
namespace {

using namespace rnn_detail;

// One sample's step: gates from their pre-activations, then c_t and h_t.
// c_prev null means a zero cell state.
inline void lstm_cell_forward(int64_t u, const RnnActs& a, const float* pre, float* gate,
                              const float* c_prev, float* c, float* h) {
  activate(a.gate_act, a.gate_param, pre, gate, 2 * u);  // i, f
  activate(a.act, a.act_param, pre + 2 * u, gate + 2 * u, u);
  activate(a.gate_act, a.gate_param, pre + 3 * u, gate + 3 * u, u);
  const float *i = gate, *f = gate + u, *g = gate + 2 * u, *o = gate + 3 * u;
  if (c_prev) {
#pragma omp simd
    for (int64_t j = 0; j < u; ++j) c[j] = f[j] * c_prev[j] + i[j] * g[j];
  } else {
#pragma omp simd
    for (int64_t j = 0; j < u; ++j) c[j] = i[j] * g[j];
  }
  activate(a.act, a.act_param, c, h, u);
#pragma omp simd
  for (int64_t j = 0; j < u; ++j) h[j] *= o[j];
}

// One sample's step backward. dh: gradient reaching h_t; dc: gradient
// reaching c_t from step t+1 on input, the one reaching c_{t-1} on output.
// Writes the gradient of the four gate pre-activations to dgate.
// scratch holds 7u floats.
inline void lstm_cell_backward(int64_t u, const RnnActs& a, const float* pre, const float* gate,
                               const float* c_prev, const float* c, const float* dh, float* dc,
                               float* dgate, float* scratch) {
  float* dact = scratch;          // gate activation derivatives, 4u
  float* act_c = scratch + 4 * u;  // act(c_t)
  float* dact_c = scratch + 5 * u;
  float* zeros = scratch + 6 * u;
  act_derivative(a.gate_act, a.gate_param, pre, gate, dact, 2 * u);
  act_derivative(a.act, a.act_param, pre + 2 * u, gate + 2 * u, dact + 2 * u, u);
  act_derivative(a.gate_act, a.gate_param, pre + 3 * u, gate + 3 * u, dact + 3 * u, u);
  activate(a.act, a.act_param, c, act_c, u);
  act_derivative(a.act, a.act_param, c, act_c, dact_c, u);
  if (!c_prev) {
    std::memset(zeros, 0, sizeof(float) * u);
    c_prev = zeros;
  }
  const float *i = gate, *f = gate + u, *g = gate + 2 * u, *o = gate + 3 * u;
  float *di = dgate, *df = dgate + u, *dg = dgate + 2 * u, *d_o = dgate + 3 * u;
#pragma omp simd
  for (int64_t j = 0; j < u; ++j) {
    const float dc_total = dc[j] + dh[j] * o[j] * dact_c[j];
    di[j] = dc_total * g[j] * dact[j];
    df[j] = dc_total * c_prev[j] * dact[u + j];
    dg[j] = dc_total * i[j] * dact[2 * u + j];
    d_o[j] = dh[j] * act_c[j] * dact[3 * u + j];
    dc[j] = dc_total * f[j];
  }
}

}  // namespace

void lstm_forward(int64_t batch, int64_t steps, int64_t in_dim, int64_t units, const float* x,
                  const float* kernel, const float* recurrent_kernel, const float* bias,
                  const float* h0, const float* c0, const RnnActs& acts, float* h_seq,
                  float* c_seq, float* gates_pre, float* gates) {
  const int64_t u = units, width = 4 * units, rows = batch * steps;
  if (rows == 0) return;
  Epilogue with_bias;
  with_bias.bias = bias;
  // The input projection of every step at once: the bulk of the work.
  sgemm(false, false, rows, width, in_dim, 1.0f, x, in_dim, kernel, width, 0.0f, gates_pre,
        width, bias ? &with_bias : nullptr, 0);
  const int nt = step_threads(batch, width);
  for (int64_t t = 0; t < steps; ++t) {
    if (t > 0 || h0) {
      const float* h_prev = t > 0 ? h_seq + (t - 1) * u : h0;
      const int64_t ld_prev = t > 0 ? steps * u : u;
      sgemm(false, false, batch, width, u, 1.0f, h_prev, ld_prev, recurrent_kernel, width, 1.0f,
            gates_pre + t * width, steps * width, nullptr, 0);
    }
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t b = 0; b < batch; ++b)
      lstm_cell_forward(u, acts, seq_row(gates_pre, b, t, steps, width),
                        seq_row(gates, b, t, steps, width), prev_state(c_seq, c0, b, t, steps, u),
                        seq_row(c_seq, b, t, steps, u), seq_row(h_seq, b, t, steps, u));
  }
}

void lstm_backward(int64_t batch, int64_t steps, int64_t in_dim, int64_t units, const float* x,
                   const float* kernel, const float* recurrent_kernel, const float* h0,
                   const float* c0, const RnnActs& acts, const float* h_seq, const float* c_seq,
                   const float* gates_pre, const float* gates, const float* dh_seq,
                   const float* dh_last, const float* dc_last, float* dx, float* dkernel,
                   float* drecurrent, float* dbias, float* dh0, float* dc0) {
  const int64_t u = units, width = 4 * units, rows = batch * steps;
  // dh0 / dc0 carry the gradient from step t+1 to step t; after step 0 they
  // are the initial states' gradients.
  const size_t state_bytes = sizeof(float) * batch * u;
  if (dh_last) std::memcpy(dh0, dh_last, state_bytes); else std::memset(dh0, 0, state_bytes);
  if (dc_last) std::memcpy(dc0, dc_last, state_bytes); else std::memset(dc0, 0, state_bytes);
  if (rows == 0) {
    std::memset(dkernel, 0, sizeof(float) * in_dim * width);
    std::memset(drecurrent, 0, sizeof(float) * u * width);
    if (dbias) std::memset(dbias, 0, sizeof(float) * width);
    return;
  }
  float* dgates = workspace_floats(static_cast<size_t>(rows * width), kSlotGateGrads);
  const int nt = step_threads(batch, width);
  for (int64_t t = steps - 1; t >= 0; --t) {
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t b = 0; b < batch; ++b) {
      float* scratch = workspace_floats(static_cast<size_t>(8 * u), kSlotRowScratch);
      float* dh = scratch + 7 * u;
      sum_rows(dh0 + b * u, dh_seq ? seq_row(dh_seq, b, t, steps, u) : nullptr, nullptr, dh, u);
      lstm_cell_backward(u, acts, seq_row(gates_pre, b, t, steps, width),
                         seq_row(gates, b, t, steps, width), prev_state(c_seq, c0, b, t, steps, u),
                         seq_row(c_seq, b, t, steps, u), dh, dc0 + b * u,
                         seq_row(dgates, b, t, steps, width), scratch);
    }
    // Gradient reaching h_{t-1}: dz_t U^T.
    sgemm(false, true, batch, u, width, 1.0f, dgates + t * width, steps * width,
          recurrent_kernel, width, 0.0f, dh0, u, nullptr, 0);
  }
  float* h_prev = workspace_floats(static_cast<size_t>(rows * u), kSlotPrevStates);
  gather_prev_states(batch, steps, u, h0, h_seq, h_prev);
  sgemm(true, false, u, width, rows, 1.0f, h_prev, u, dgates, width, 0.0f, drecurrent, width,
        nullptr, 0);
  sgemm(true, false, in_dim, width, rows, 1.0f, x, in_dim, dgates, width, 0.0f, dkernel, width,
        nullptr, 0);
  if (dx)
    sgemm(false, true, rows, in_dim, width, 1.0f, dgates, width, kernel, width, 0.0f, dx, in_dim,
          nullptr, 0);
  if (dbias) column_sums(rows, width, dgates, width, dbias);
}

}  // namespace PYCNN_ISA_NS
}  // namespace pycnn
