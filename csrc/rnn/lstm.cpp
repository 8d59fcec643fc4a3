// LSTM over a whole sequence (Keras 3 cell, gates i, f, c, o):
//   z_t = x_t W + b + h_{t-1} U           (x W + b for every step: one GEMM)
//   i, f, o = gate_act(z_i, z_f, z_o);  g = act(z_c)
//   c_t = f * c_{t-1} + i * g;           h_t = o * act(c_t)
// and its backpropagation through time.
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

// Units [j0, j0 + n) of one sample's step once pre (the (b, t) row of width
// 4u, gate g at g * u) holds x W + b + h_{t-1} U. c_prev / h_prev null mean
// zero states. A masked-out step (on = false) carries the states over.
// Threads call this on their own unit range with long runs of units, so
// the activation loops vectorise well.
inline void lstm_units_forward(int64_t u, int64_t j0, int64_t n, const RnnActs& a,
                               const float* pre, float* gate, const float* c_prev,
                               const float* h_prev, float* c, float* h, bool on) {
  for (int g = 0; g < 4; ++g) {
    const bool is_gate = g != 2;
    activate(is_gate ? a.gate_act : a.act, is_gate ? a.gate_param : a.act_param,
             pre + g * u + j0, gate + g * u + j0, n);
  }
  c += j0;
  h += j0;
  if (!on) {
    for (int64_t v = 0; v < n; ++v) {
      c[v] = c_prev ? c_prev[j0 + v] : 0.0f;
      h[v] = h_prev ? h_prev[j0 + v] : 0.0f;
    }
    return;
  }
  const float *i = gate + j0, *f = gate + u + j0, *g = gate + 2 * u + j0, *o = gate + 3 * u + j0;
  if (c_prev) {
    c_prev += j0;
#pragma omp simd
    for (int64_t v = 0; v < n; ++v) c[v] = f[v] * c_prev[v] + i[v] * g[v];
  } else {
#pragma omp simd
    for (int64_t v = 0; v < n; ++v) c[v] = i[v] * g[v];
  }
  activate(a.act, a.act_param, c, h, n);
#pragma omp simd
  for (int64_t v = 0; v < n; ++v) h[v] *= o[v];
}

// Units [j0, j0 + n) of one sample's step backward. dh: gradient reaching
// h_t (n floats); dc: the one reaching c_t from step t+1 on input, c_{t-1}
// on output. Writes the gate pre-activation gradients to dgate (row of
// width 4u). scratch holds 7n floats.
inline void lstm_units_backward(int64_t u, int64_t j0, int64_t n, const RnnActs& a,
                                const float* pre, const float* gate, const float* c_prev,
                                const float* c, const float* dh, float* dc, float* dgate,
                                float* scratch) {
  float* dact = scratch;           // gate activation derivatives, 4n
  float* act_c = scratch + 4 * n;  // act(c_t)
  float* dact_c = scratch + 5 * n;
  float* zeros = scratch + 6 * n;
  for (int g = 0; g < 4; ++g) {
    const bool is_gate = g != 2;
    act_derivative(is_gate ? a.gate_act : a.act, is_gate ? a.gate_param : a.act_param,
                   pre + g * u + j0, gate + g * u + j0, dact + g * n, n);
  }
  c += j0;
  activate(a.act, a.act_param, c, act_c, n);
  act_derivative(a.act, a.act_param, c, act_c, dact_c, n);
  if (c_prev) {
    c_prev += j0;
  } else {
    std::memset(zeros, 0, sizeof(float) * n);
    c_prev = zeros;
  }
  const float *i = gate + j0, *f = gate + u + j0, *g = gate + 2 * u + j0, *o = gate + 3 * u + j0;
  float *di = dgate + j0, *df = dgate + u + j0, *dg = dgate + 2 * u + j0,
        *d_o = dgate + 3 * u + j0;
#pragma omp simd
  for (int64_t v = 0; v < n; ++v) {
    const float dc_total = dc[v] + dh[v] * o[v] * dact_c[v];
    di[v] = dc_total * g[v] * dact[v];
    df[v] = dc_total * c_prev[v] * dact[n + v];
    dg[v] = dc_total * i[v] * dact[2 * n + v];
    d_o[v] = dh[v] * act_c[v] * dact[3 * n + v];
    dc[v] = dc_total * f[v];
  }
}

}  // namespace

void lstm_forward(int64_t batch, int64_t steps, int64_t in_dim, int64_t units, const float* x,
                  const float* kernel, const float* recurrent_kernel, const float* bias,
                  const float* h0, const float* c0, const uint8_t* mask, const RnnActs& acts,
                  float* h_seq, float* c_seq, float* gates_pre, float* gates) {
  const int64_t u = units, width = 4 * units, rows = batch * steps;
  if (rows == 0) return;
  Epilogue with_bias;
  with_bias.bias = bias;
  // The input projection of every step at once: half of the work.
  sgemm(false, false, rows, width, in_dim, 1.0f, x, in_dim, kernel, width, 0.0f, gates_pre,
        width, bias ? &with_bias : nullptr, 0);
  const int64_t blocks = (u + kV - 1) / kV;
  const int nt = recurrence_threads(2 * batch * width * u, blocks);
  float* zeros = workspace_floats(static_cast<size_t>(u), kSlotZeros);
  std::memset(zeros, 0, sizeof(float) * u);
  ParallelFailure failure;
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    // This thread's 4 gate columns of U for each of its unit blocks.
    const ForwardScratch w =
        forward_scratch(failure, 4, u, blocks, recurrent_kernel, width, kSlotPanels);
    if (w.panels) {
      const int64_t jb0 = w.jb0, jb1 = w.jb1, u0 = w.u0, un = w.un;  // this thread's units
      float* tile = w.tile;
      for (int64_t t = 0; t < steps; ++t) {
        // pre += h_{t-1} U for this thread's units, kR samples x kV units a tile.
        for (int64_t jb = jb0; jb < jb1 && (t > 0 || h0); ++jb) {
          const int64_t j0 = jb * kV, n = std::min<int64_t>(kV, u - j0);
          const float* streams[4];
          for (int g = 0; g < 4; ++g) streams[g] = w.stream(jb, g);
          for (int64_t b0 = 0; b0 < batch; b0 += kR) {
            const float* hrows[kR];
            for (int r = 0; r < kR; ++r)
              hrows[r] = b0 + r < batch ? prev_state(h_seq, h0, b0 + r, t, steps, u) : zeros;
            tile_dot<4>(u, hrows, streams, tile);
            for (int r = 0; r < kR && b0 + r < batch; ++r) {
              float* pre = seq_row(gates_pre, b0 + r, t, steps, width);
              for (int g = 0; g < 4; ++g) {
                float* dst = pre + g * u + j0;
                const float* add = tile + (g * kR + r) * kV;
                for (int64_t v = 0; v < n; ++v) dst[v] += add[v];
                // Rows of the next step are far apart (batch-major): fetch early.
                if (t + 1 < steps) __builtin_prefetch(dst + width);
              }
            }
          }
        }
        // Then the gate math over the thread's whole unit range, sample by sample.
        for (int64_t b = 0; b < batch && un > 0; ++b)
          lstm_units_forward(u, u0, un, acts, seq_row(gates_pre, b, t, steps, width),
                             seq_row(gates, b, t, steps, width),
                             prev_state(c_seq, c0, b, t, steps, u),
                             prev_state(h_seq, h0, b, t, steps, u), seq_row(c_seq, b, t, steps, u),
                             seq_row(h_seq, b, t, steps, u), step_on(mask, b, t, steps));
        // Step t+1 reads every unit of h_t.
#pragma omp barrier
      }
    }
  }
  failure.rethrow();
}

void lstm_backward(int64_t batch, int64_t steps, int64_t in_dim, int64_t units, const float* x,
                   const float* kernel, const float* recurrent_kernel, const float* h0,
                   const float* c0, const uint8_t* mask, const RnnActs& acts, const float* h_seq,
                   const float* c_seq, const float* gates_pre, const float* gates,
                   const float* dh_seq, const float* dh_last, const float* dc_last, float* dx,
                   float* dkernel, float* drecurrent, float* dbias, float* dh0, float* dc0) {
  const int64_t u = units, width = 4 * units, rows = batch * steps;
  // dh0 / dc0 carry the gradient from step t+1 to step t; after step 0 they
  // are the initial states' gradients.
  const size_t state_bytes = sizeof(float) * batch * u;
  if (dh_last) std::memcpy(dh0, dh_last, state_bytes); else std::memset(dh0, 0, state_bytes);
  if (dc_last) std::memcpy(dc0, dc_last, state_bytes); else std::memset(dc0, 0, state_bytes);
  if (dbias) std::memset(dbias, 0, sizeof(float) * width);
  if (rows == 0) {
    std::memset(dkernel, 0, sizeof(float) * in_dim * width);
    std::memset(drecurrent, 0, sizeof(float) * u * width);
    return;
  }
  float* dgates = workspace_floats(static_cast<size_t>(rows * width), kSlotGateGrads);
  const int64_t blocks = (u + kV - 1) / kV;
  const int nt = recurrence_threads(2 * batch * width * u, blocks);
  float* zeros = workspace_floats(static_cast<size_t>(width), kSlotZeros);
  std::memset(zeros, 0, sizeof(float) * width);
  ParallelFailure failure;
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    int64_t jb0, jb1;
    thread_blocks(blocks, omp_get_thread_num(), omp_get_num_threads(), &jb0, &jb1);
    // Rows of U for this thread's units, transposed: d h_{t-1} = dz_t U^T.
    const int64_t stream = width * kV;
    const int64_t u0 = jb0 * kV, un = std::max<int64_t>(0, std::min(u, jb1 * kV) - u0);
    const BackwardScratch w =
        backward_scratch(failure, jb0, jb1, un, u, width, 7, recurrent_kernel, kSlotPanels);
    if (w.panels) {
      float *panels = w.panels, *tile = w.tile, *scratch = w.scratch, *dh = w.dh;
      for (int64_t t = steps - 1; t >= 0; --t) {
        // Gate gradients of this thread's units (dh0 holds d h_t from step t+1).
        for (int64_t b = 0; b < batch; ++b) {
          float* carry = dh0 + b * u + u0;
          const float* dh_out = dh_seq ? seq_row(dh_seq, b, t, steps, u) + u0 : nullptr;
          float* dgate = seq_row(dgates, b, t, steps, width);
          if (!step_on(mask, b, t, steps)) {
            // Skipped step: h and c passed through unchanged.
            if (dh_out)
              for (int64_t v = 0; v < un; ++v) carry[v] += dh_out[v];
            for (int g = 0; g < 4; ++g) std::memset(dgate + g * u + u0, 0, sizeof(float) * un);
            continue;
          }
          sum_rows(carry, dh_out, nullptr, dh, un);
          lstm_units_backward(u, u0, un, acts, seq_row(gates_pre, b, t, steps, width),
                              seq_row(gates, b, t, steps, width),
                              prev_state(c_seq, c0, b, t, steps, u), seq_row(c_seq, b, t, steps, u),
                              dh, dc0 + b * u + u0, dgate, scratch);
          // dbias from the row while it is in cache (a column-sum pass after the
          // loop re-read all of dz from DRAM: ~3% of an LSTM step). Each column
          // belongs to one thread and is summed in (t descending, b) order,
          // whatever the thread count.
          if (dbias)
            for (int g = 0; g < 4; ++g) {
              float* db = dbias + g * u + u0;
              const float* dg = dgate + g * u + u0;
#pragma omp simd
              for (int64_t v = 0; v < un; ++v) db[v] += dg[v];
            }
        }
        // Every unit's dz_t is needed below.
#pragma omp barrier
        // Gradient reaching h_{t-1}: dz_t U^T, up to 4 unit blocks per tile.
        // No barrier after: step t-1 above touches only this thread's units.
        prev_state_grad<false>(jb0, jb1, batch, t, steps, u, width, dgates, panels, stream,
                               zeros, mask, tile, dh0);
      }
    }
  }
  failure.rethrow();
  // dU and dK in one GEMM: [h_{t-1} | x]^T dz, (u + in_dim) x 4u. One pass
  // over dz instead of two, and a tall enough A for the packed GEMM path.
  const int64_t cat = u + in_dim;
  float* hx = workspace_floats(static_cast<size_t>(rows * cat), kSlotPrevStates);
  gather_prev_states_into(batch, steps, u, h0, h_seq, hx, cat);
  for (int64_t r = 0; r < rows; ++r)
    std::memcpy(hx + r * cat + u, x + r * in_dim, sizeof(float) * in_dim);
  float* dcat = workspace_floats(static_cast<size_t>(cat * width), kSlotExtra);
  sgemm(true, false, cat, width, rows, 1.0f, hx, cat, dgates, width, 0.0f, dcat, width, nullptr,
        0);
  std::memcpy(drecurrent, dcat, sizeof(float) * u * width);
  std::memcpy(dkernel, dcat + u * width, sizeof(float) * in_dim * width);
  if (dx)
    sgemm(false, true, rows, in_dim, width, 1.0f, dgates, width, kernel, width, 0.0f, dx, in_dim,
          nullptr, 0);
}

}  // namespace PYCNN_ISA_NS
}  // namespace pycnn
