// Recurrent kernels (LSTM, GRU over whole sequences, forward and backprop
// through time) and the Embedding gather / scatter-add.
//
// Layout: batch-major, as Keras: x (B, T, I), sequences (B, T, ·). Step t of
// a sequence is a strided (B, ·) matrix (row stride T * width), which the
// GEMM takes directly, so nothing is transposed to time-major.
// Weights in Keras layout: kernel (I, G*U), recurrent_kernel (U, G*U) with
// gate blocks side by side (LSTM i, f, c, o; GRU z, r, h).
// Everything backward needs is written to caller-owned arrays (the layer
// holds no state between forward and backward). The input side (x W for
// every step, and the weight / input gradients) is one big GEMM each; the
// recurrence runs in one parallel region per call with threads owning unit
// blocks (rnn_common.hpp), never a parallel region per step. Results do not
// depend on the thread count: the GEMM never splits k, every recurrent
// output is one FMA chain in a fixed order, gate math is elementwise, and
// column sums run in a fixed order.
#pragma once
#include <cstdint>

#include "core/kernel_decl.hpp"
#include "core/types.hpp"

namespace pycnn {

// The cell's two activations: `act` (candidate and cell output, Keras
// `activation`) and `gate_act` (Keras `recurrent_activation`).
struct RnnActs {
  Act act = Act::tanh;
  float act_param = 0.0f;
  Act gate_act = Act::sigmoid;
  float gate_param = 0.0f;
};

}  // namespace pycnn

#define PYCNN_RNN_KERNELS                                                                   \
  /* h_seq, c_seq (B,T,U); gates_pre, gates (B,T,4U) pre/post activation.               \
     bias, h0, c0 may be null (zero). mask (B,T) may be null; where 0 the sample       \
     skips the step (states and output carried over from the previous step). */       \
  void lstm_forward(int64_t batch, int64_t steps, int64_t in_dim, int64_t units,            \
                    const float* x, const float* kernel, const float* recurrent_kernel,    \
                    const float* bias, const float* h0, const float* c0,                   \
                    const uint8_t* mask, const ::pycnn::RnnActs& acts, float* h_seq,       \
                    float* c_seq,                                                          \
                    float* gates_pre, float* gates);                                       \
  /* dh_seq (B,T,U), dh_last, dc_last (B,U) may be null; dx, dbias may be null.         \
     Writes dkernel, drecurrent, dh0 and dc0 (B,U). */                                    \
  void lstm_backward(int64_t batch, int64_t steps, int64_t in_dim, int64_t units,           \
                     const float* x, const float* kernel, const float* recurrent_kernel,   \
                     const float* h0, const float* c0, const uint8_t* mask,                \
                     const ::pycnn::RnnActs& acts,                                         \
                     const float* h_seq, const float* c_seq, const float* gates_pre,       \
                     const float* gates, const float* dh_seq, const float* dh_last,        \
                     const float* dc_last, float* dx, float* dkernel, float* drecurrent,   \
                     float* dbias, float* dh0, float* dc0);                                \
  /* reset_after: bias_in = bias[0], bias_rec = bias[1]; else bias_in = bias, and        \
     bias_rec must be null. gates_pre/gates (B,T,3U) = [z, r, h] pre/post activation;   \
     rec_h (B,T,U) = h_prev U_h + b_hh (reset_after) or r * h_prev (not). */             \
  void gru_forward(int64_t batch, int64_t steps, int64_t in_dim, int64_t units,             \
                   const float* x, const float* kernel, const float* recurrent_kernel,     \
                   const float* bias_in, const float* bias_rec, const float* h0,           \
                   const uint8_t* mask, bool reset_after, const ::pycnn::RnnActs& acts,    \
                   float* h_seq,                                                           \
                   float* gates_pre, float* gates, float* rec_h);                          \
  /* dbias_in / dbias_rec (3U) may be null, as dx, dh_seq, dh_last. */                    \
  void gru_backward(int64_t batch, int64_t steps, int64_t in_dim, int64_t units,            \
                    const float* x, const float* kernel, const float* recurrent_kernel,    \
                    const float* h0, const uint8_t* mask, bool reset_after,                \
                    const ::pycnn::RnnActs& acts,                                          \
                    const float* h_seq, const float* gates_pre, const float* gates,        \
                    const float* rec_h, const float* dh_seq, const float* dh_last,         \
                    float* dx, float* dkernel, float* drecurrent, float* dbias_in,         \
                    float* dbias_rec, float* dh0);                                         \
  /* out[n, :] = table[index[n], :]; indices already checked in [0, vocab). */           \
  void embedding_gather(int64_t count, int64_t dim, const int64_t* index, const float* table, \
                        float* out);                                                       \
  /* dtable[index[n], :] += dy[n, :] in order of n (dtable zeroed by the caller). */      \
  void embedding_scatter_add(int64_t count, int64_t dim, const int64_t* index,              \
                             const float* dy, float* dtable);

PYCNN_DECLARE_FOR_ALL_ISAS(PYCNN_RNN_KERNELS)
