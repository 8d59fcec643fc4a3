// Element-wise optimizer updates (SGD, Adam/AdamW, RMSprop, Adagrad).
// Each element depends only on itself, so threading cannot change results.
#include <cmath>

#include "core/threading.hpp"
#include "optim/optim.hpp"

namespace pycnn {
namespace PYCNN_ISA_NS {

static inline int update_threads(int64_t n) { return threads_for_work(8.0 * static_cast<double>(n)); }


void sgd_update(float* param, const float* grad, float* momentum_buf, int64_t n, float lr,
                float momentum, bool nesterov, float decay) {
  const int nt = update_threads(n);
  if (!momentum_buf) {
#pragma omp parallel for simd num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t i = 0; i < n; ++i) {
      const float p = param[i] - param[i] * decay;
      param[i] = p - grad[i] * lr;
    }
    return;
  }
#pragma omp parallel for simd num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t i = 0; i < n; ++i) {
    const float p = param[i] - param[i] * decay;
    const float m = momentum_buf[i] * momentum - grad[i] * lr;
    momentum_buf[i] = m;
    // Keras: nesterov adds momentum * m - lr * g (with the new m).
    param[i] = nesterov ? p + (m * momentum - grad[i] * lr) : p + m;
  }
}

void adam_update(float* param, const float* grad, float* m, float* v, float* velocity_hat,
                 int64_t n, float alpha, float beta_1, float beta_2, float epsilon,
                 float decay) {
  const float one_minus_b1 = 1.0f - beta_1;
  const float one_minus_b2 = 1.0f - beta_2;
  const int nt = update_threads(n);
#pragma omp parallel for simd num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t i = 0; i < n; ++i) {
    const float g = grad[i];
    const float p = param[i] - param[i] * decay;
    const float mi = m[i] + (g - m[i]) * one_minus_b1;
    float vi = v[i] + (g * g - v[i]) * one_minus_b2;
    m[i] = mi;
    v[i] = vi;
    if (velocity_hat) {
      vi = std::fmax(velocity_hat[i], vi);
      velocity_hat[i] = vi;
    }
    param[i] = p - (mi * alpha) / (std::sqrt(vi) + epsilon);
  }
}

void rmsprop_update(float* param, const float* grad, float* velocity, float* momentum_buf,
                    float* average_grad, int64_t n, float lr, float rho, float momentum,
                    float epsilon, float decay) {
  const float one_minus_rho = 1.0f - rho;
  const int nt = update_threads(n);
#pragma omp parallel for simd num_threads(nt) schedule(static) if (nt > 1)
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

void adagrad_update(float* param, const float* grad, float* accumulator, int64_t n, float lr,
                    float epsilon, float decay) {
  const int nt = update_threads(n);
#pragma omp parallel for simd num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t i = 0; i < n; ++i) {
    const float g = grad[i];
    const float p = param[i] - param[i] * decay;
    const float acc = accumulator[i] + g * g;
    accumulator[i] = acc;
    param[i] = p - (lr * g) / std::sqrt(acc + epsilon);
  }
}

void all_finite(const float* grad, int64_t n, bool* finite) {
  // x - x is 0 for finite x and NaN for Inf/NaN, so one NaN test covers all.
  float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
  for (int64_t i = 0; i < n; ++i) acc += grad[i] - grad[i];
  *finite = acc == 0.0f;
}

void fused_update(OptimizerKind kind, float* const* params, const float* const* grads,
                  float* const* const* slots, const int64_t* sizes, const float* decays,
                  int64_t count, const float* hyper) {
  for (int64_t i = 0; i < count; ++i) {
    float* p = params[i];
    const float* g = grads[i];
    const int64_t n = sizes[i];
    const float decay = decays[i];
    switch (kind) {
      case OptimizerKind::sgd:
        sgd_update(p, g, slots[0][i], n, hyper[0], hyper[1], hyper[2] != 0.0f, decay);
        break;
      case OptimizerKind::adam:
        adam_update(p, g, slots[0][i], slots[1][i], slots[2][i], n, hyper[0], hyper[1],
                    hyper[2], hyper[3], decay);
        break;
      case OptimizerKind::rmsprop:
        rmsprop_update(p, g, slots[0][i], slots[1][i], slots[2][i], n, hyper[0], hyper[1],
                       hyper[2], hyper[3], decay);
        break;
      case OptimizerKind::adagrad:
        adagrad_update(p, g, slots[0][i], n, hyper[0], hyper[1], decay);
        break;
    }
  }
}

}  // namespace PYCNN_ISA_NS
}  // namespace pycnn
