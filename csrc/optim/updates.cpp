// Element-wise optimizer updates (SGD, Adam/AdamW, RMSprop, Adagrad).
// Each element depends only on itself, so threading cannot change results.
//
// A step is memory-bound (Adam streams param, grad, m, v: 7 x 4 bytes per
// element), so the whole variable list is treated as one flat range that is
// cut into one contiguous piece per thread: big and tiny variables alike are
// shared out, with a single parallel region per step.
#include <omp.h>

#include <cmath>

#include "core/threading.hpp"
#include "optim/optim.hpp"

namespace pycnn {
namespace PYCNN_ISA_NS {
namespace {

// Serial bodies over [0, n). Options are hoisted out of the loops so every
// loop is a plain `omp simd` loop (sqrt and div vectorise; both are exact).
void sgd_body(float* param, const float* grad, float* momentum_buf, int64_t n, float lr,
              float momentum, bool nesterov, float decay) {
  if (!momentum_buf) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      const float p = param[i] - param[i] * decay;
      param[i] = p - grad[i] * lr;
    }
    return;
  }
  if (nesterov) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      const float p = param[i] - param[i] * decay;
      const float m = momentum_buf[i] * momentum - grad[i] * lr;
      momentum_buf[i] = m;
      // Keras: nesterov adds momentum * m - lr * g (with the new m).
      param[i] = p + (m * momentum - grad[i] * lr);
    }
    return;
  }
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float p = param[i] - param[i] * decay;
    const float m = momentum_buf[i] * momentum - grad[i] * lr;
    momentum_buf[i] = m;
    param[i] = p + m;
  }
}

void adam_body(float* __restrict param, const float* __restrict grad, float* __restrict m,
               float* __restrict v, float* __restrict velocity_hat, int64_t n, float alpha,
               float beta_1, float beta_2, float epsilon, float decay) {
  const float one_minus_b1 = 1.0f - beta_1;
  const float one_minus_b2 = 1.0f - beta_2;
  if (!velocity_hat) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      const float g = grad[i];
      const float p = param[i] - param[i] * decay;
      const float mi = m[i] + (g - m[i]) * one_minus_b1;
      const float vi = v[i] + (g * g - v[i]) * one_minus_b2;
      m[i] = mi;
      v[i] = vi;
      param[i] = p - (mi * alpha) / (std::sqrt(vi) + epsilon);
    }
    return;
  }
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float g = grad[i];
    const float p = param[i] - param[i] * decay;
    const float mi = m[i] + (g - m[i]) * one_minus_b1;
    const float vi = v[i] + (g * g - v[i]) * one_minus_b2;
    m[i] = mi;
    v[i] = vi;
    const float vh = std::fmax(velocity_hat[i], vi);
    velocity_hat[i] = vh;
    param[i] = p - (mi * alpha) / (std::sqrt(vh) + epsilon);
  }
}

void rmsprop_body(float* param, const float* grad, float* velocity, float* momentum_buf,
                  float* average_grad, int64_t n, float lr, float rho, float momentum,
                  float epsilon, float decay) {
  const float one_minus_rho = 1.0f - rho;
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float g = grad[i];
    const float p = param[i] - param[i] * decay;
    const float vel = rho * velocity[i] + one_minus_rho * (g * g);
    velocity[i] = vel;
    float denominator = vel + epsilon;
    if (average_grad) {
      const float avg = rho * average_grad[i] + one_minus_rho * g;
      average_grad[i] = avg;
      denominator = vel - avg * avg + epsilon;
    }
    const float increment = (lr * g) / std::sqrt(denominator);
    if (momentum_buf) {
      const float mo = momentum * momentum_buf[i] + increment;
      momentum_buf[i] = mo;
      param[i] = p - mo;
    } else {
      param[i] = p - increment;
    }
  }
}

void adagrad_body(float* param, const float* grad, float* accumulator, int64_t n, float lr,
                  float epsilon, float decay) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float g = grad[i];
    const float p = param[i] - param[i] * decay;
    const float acc = accumulator[i] + g * g;
    accumulator[i] = acc;
    param[i] = p - (lr * g) / std::sqrt(acc + epsilon);
  }
}

// Slot k of variable i offset by `off`, or nullptr when the slot is unused.
inline float* slot_at(float* const* const* slots, int k, int64_t i, int64_t off) {
  float* s = slots[k] ? slots[k][i] : nullptr;
  return s ? s + off : nullptr;
}

// Updates elements [begin, end) of the flattened variable list.
void update_range(OptimizerKind kind, float* const* params, const float* const* grads,
                  float* const* const* slots, const int64_t* sizes, const float* decays,
                  int64_t count, const float* hyper, int64_t begin, int64_t end) {
  int64_t base = 0;
  for (int64_t i = 0; i < count && base < end; base += sizes[i], ++i) {
    const int64_t lo = begin > base ? begin - base : 0;
    const int64_t hi = end - base < sizes[i] ? end - base : sizes[i];
    if (hi <= lo) continue;
    float* p = params[i] + lo;
    const float* g = grads[i] + lo;
    const int64_t n = hi - lo;
    const float decay = decays[i];
    switch (kind) {
      case OptimizerKind::sgd:
        sgd_body(p, g, slot_at(slots, 0, i, lo), n, hyper[0], hyper[1], hyper[2] != 0.0f,
                 decay);
        break;
      case OptimizerKind::adam:
        adam_body(p, g, slot_at(slots, 0, i, lo), slot_at(slots, 1, i, lo),
                  slot_at(slots, 2, i, lo), n, hyper[0], hyper[1], hyper[2], hyper[3], decay);
        break;
      case OptimizerKind::rmsprop:
        rmsprop_body(p, g, slot_at(slots, 0, i, lo), slot_at(slots, 1, i, lo),
                     slot_at(slots, 2, i, lo), n, hyper[0], hyper[1], hyper[2], hyper[3],
                     decay);
        break;
      case OptimizerKind::adagrad:
        adagrad_body(p, g, slot_at(slots, 0, i, lo), n, hyper[0], hyper[1], decay);
        break;
    }
  }
}

// Thread t's piece of [0, total): contiguous, cut at multiples of 64 floats
// (whole cache lines) so no two threads write the same line.
inline void piece_of(int64_t total, int t, int nt, int64_t* begin, int64_t* end) {
  const int64_t lines = (total + 63) / 64;
  const int64_t b = lines * t / nt * 64, e = lines * (t + 1) / nt * 64;
  *begin = b < total ? b : total;
  *end = e < total ? e : total;
}

}  // namespace

void fused_update(OptimizerKind kind, float* const* params, const float* const* grads,
                  float* const* const* slots, const int64_t* sizes, const float* decays,
                  int64_t count, const float* hyper) {
  int64_t total = 0;
  for (int64_t i = 0; i < count; ++i) total += sizes[i];
  // ~8 flops per element is what the update costs in time (it is memory-bound).
  const int nt = threads_for_work(8.0 * static_cast<double>(total));
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    int64_t begin, end;
    piece_of(total, nt > 1 ? omp_get_thread_num() : 0, nt > 1 ? omp_get_num_threads() : 1,
             &begin, &end);
    update_range(kind, params, grads, slots, sizes, decays, count, hyper, begin, end);
  }
}

// The single-variable entry points are a one-variable fused step.
void sgd_update(float* param, const float* grad, float* momentum_buf, int64_t n, float lr,
                float momentum, bool nesterov, float decay) {
  float* mb[1] = {momentum_buf};
  float* const* slots[kMaxOptimizerSlots] = {mb, nullptr, nullptr};
  const float hyper[3] = {lr, momentum, nesterov ? 1.0f : 0.0f};
  fused_update(OptimizerKind::sgd, &param, &grad, slots, &n, &decay, 1, hyper);
}

void adam_update(float* param, const float* grad, float* m, float* v, float* velocity_hat,
                 int64_t n, float alpha, float beta_1, float beta_2, float epsilon,
                 float decay) {
  float* s0[1] = {m};
  float* s1[1] = {v};
  float* s2[1] = {velocity_hat};
  float* const* slots[kMaxOptimizerSlots] = {s0, s1, s2};
  const float hyper[4] = {alpha, beta_1, beta_2, epsilon};
  fused_update(OptimizerKind::adam, &param, &grad, slots, &n, &decay, 1, hyper);
}

void rmsprop_update(float* param, const float* grad, float* velocity, float* momentum_buf,
                    float* average_grad, int64_t n, float lr, float rho, float momentum,
                    float epsilon, float decay) {
  float* s0[1] = {velocity};
  float* s1[1] = {momentum_buf};
  float* s2[1] = {average_grad};
  float* const* slots[kMaxOptimizerSlots] = {s0, s1, s2};
  const float hyper[4] = {lr, rho, momentum, epsilon};
  fused_update(OptimizerKind::rmsprop, &param, &grad, slots, &n, &decay, 1, hyper);
}

void adagrad_update(float* param, const float* grad, float* accumulator, int64_t n, float lr,
                    float epsilon, float decay) {
  float* s0[1] = {accumulator};
  float* const* slots[kMaxOptimizerSlots] = {s0, nullptr, nullptr};
  const float hyper[2] = {lr, epsilon};
  fused_update(OptimizerKind::adagrad, &param, &grad, slots, &n, &decay, 1, hyper);
}

void adam_update_outer(float* param, const float* a, const float* b, int64_t batch,
                       int64_t rows, int64_t cols, float* m, float* v, float* velocity_hat,
                       float alpha, float beta_1, float beta_2, float epsilon, float decay) {
  // A block of kBlockRows x (<= kBlockCols) gradient entries lives in a stack
  // buffer (L1) from its sum to its update, so nothing here can fail once the
  // step has started writing; 64-column strips keep the sums in registers.
  constexpr int64_t kBlockRows = 16, kBlockCols = 512, kStrip = 64;
  const double work = static_cast<double>(rows) * static_cast<double>(cols);
  const int nt = threads_for_work((8.0 + 2.0 * static_cast<double>(batch)) * work);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    alignas(64) float g[kBlockRows * kBlockCols];
    const int64_t team = nt > 1 ? omp_get_num_threads() : 1;
    const int64_t me = nt > 1 ? omp_get_thread_num() : 0;
    const int64_t r_begin = rows * me / team, r_end = rows * (me + 1) / team;
    for (int64_t k0 = r_begin; k0 < r_end; k0 += kBlockRows) {
      const int64_t k1 = k0 + kBlockRows < r_end ? k0 + kBlockRows : r_end;
      for (int64_t c0 = 0; c0 < cols; c0 += kBlockCols) {
        const int64_t width = cols - c0 < kBlockCols ? cols - c0 : kBlockCols;
        for (int64_t k = k0; k < k1; ++k) {
          float* gk = g + (k - k0) * kBlockCols;
          const float* b0 = b + c0;
          int64_t j0 = 0;
          for (; j0 + kStrip <= width; j0 += kStrip) {
            float acc[kStrip];
            const float a0 = a[k];
#pragma omp simd
            for (int64_t j = 0; j < kStrip; ++j) acc[j] = a0 * b0[j0 + j];
            for (int64_t i = 1; i < batch; ++i) {
              const float ai = a[i * rows + k];
              const float* bi = b0 + i * cols + j0;
#pragma omp simd
              for (int64_t j = 0; j < kStrip; ++j) acc[j] += ai * bi[j];
            }
#pragma omp simd
            for (int64_t j = 0; j < kStrip; ++j) gk[j0 + j] = acc[j];
          }
          if (j0 < width) {
            const float a0 = a[k];
            for (int64_t j = j0; j < width; ++j) gk[j] = a0 * b0[j];
            for (int64_t i = 1; i < batch; ++i) {
              const float ai = a[i * rows + k];
              const float* bi = b0 + i * cols;
#pragma omp simd
              for (int64_t j = j0; j < width; ++j) gk[j] += ai * bi[j];
            }
          }
          // The update is element-wise: a row segment at a time gives the same bits.
          const int64_t off = k * cols + c0;
          adam_body(param + off, gk, m + off, v + off,
                    velocity_hat ? velocity_hat + off : nullptr, width, alpha, beta_1, beta_2,
                    epsilon, decay);
        }
      }
    }
  }
}

void max_abs(const float* x, int64_t n, float* out) {
  float best = 0.0f;
#pragma omp simd reduction(max : best)
  for (int64_t i = 0; i < n; ++i) best = std::fabs(x[i]) > best ? std::fabs(x[i]) : best;
  *out = best;
}

void all_finite(const float* grad, int64_t n, bool* finite) {
  // x - x is 0 for finite x and NaN for Inf/NaN, so one NaN test covers all.
  float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
  for (int64_t i = 0; i < n; ++i) acc += grad[i] - grad[i];
  *finite = acc == 0.0f;
}

void first_nonfinite(const float* const* grads, const int64_t* sizes, int64_t count,
                     int64_t* index) {
  int64_t total = 0;
  for (int64_t i = 0; i < count; ++i) total += sizes[i];
  const int nt = threads_for_work(2.0 * static_cast<double>(total));
  int64_t first = count;  // min over threads: the same answer for any thread count
#pragma omp parallel num_threads(nt) if (nt > 1) reduction(min : first)
  {
    int64_t begin, end;
    piece_of(total, nt > 1 ? omp_get_thread_num() : 0, nt > 1 ? omp_get_num_threads() : 1,
             &begin, &end);
    int64_t base = 0;
    for (int64_t i = 0; i < count && base < end; base += sizes[i], ++i) {
      const int64_t lo = begin > base ? begin - base : 0;
      const int64_t hi = end - base < sizes[i] ? end - base : sizes[i];
      if (hi <= lo) continue;
      bool ok = true;
      all_finite(grads[i] + lo, hi - lo, &ok);
      if (!ok) {
        first = i;
        break;
      }
    }
  }
  *index = first < count ? first : -1;
}

}  // namespace PYCNN_ISA_NS
}  // namespace pycnn
