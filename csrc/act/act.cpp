// Elementwise activations, softmax, their gradients and the bias gradient.
#include "act/act.hpp"

#include <algorithm>

#include "act/act_math.hpp"
#include "act/vec_math.hpp"
#include "core/threading.hpp"
#include "core/workspace.hpp"

namespace pycnn {
namespace PYCNN_ISA_NS {

namespace {

// Elementwise work is split in fixed chunks; a chunk stays in L1/L2.
constexpr int64_t kChunk = 8192;

// Rough flops per element, to decide how many threads a call deserves.
double act_cost(Act act) {
  switch (act) {
    case Act::linear:
    case Act::relu:
    case Act::leaky_relu: return 1.0;
    default: return 25.0;
  }
}

int64_t chunks_of(int64_t n) { return (n + kChunk - 1) / kChunk; }

void softmax_row(const float* x, float* y, int64_t n) {
  float m = x[0];
#pragma omp simd reduction(max : m)
  for (int64_t j = 0; j < n; ++j) m = std::max(m, x[j]);
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < n; ++j) {
    const float e = vmath::exp(x[j] - m);
    y[j] = e;
    sum += e;
  }
  const float inv = 1.0f / sum;
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) y[j] *= inv;
}

// dx = y * (dy - <dy, y>)
void softmax_backward_row(const float* y, const float* dy, float* dx, int64_t n) {
  float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
  for (int64_t j = 0; j < n; ++j) dot += dy[j] * y[j];
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) dx[j] = y[j] * (dy[j] - dot);
}

// ---- derivatives, as functions of one input value (x or y) ----------------
inline float d_linear(float, float) { return 1.0f; }
inline float d_relu_y(float y, float) { return y > 0.0f ? 1.0f : 0.0f; }
inline float d_sigmoid_y(float y, float) { return y * (1.0f - y); }
inline float d_tanh_y(float y, float) { return 1.0f - y * y; }
inline float d_elu_y(float y, float) { return y > 0.0f ? 1.0f : y + 1.0f; }
inline float d_selu_y(float y, float) {
  return y > 0.0f ? actmath::kSeluScale : y + actmath::kSeluScale * actmath::kSeluAlpha;
}
inline float d_leaky(float v, float slope) { return v > 0.0f ? 1.0f : slope; }
// sigmoid(x) = 1 - e^-softplus(x)
inline float d_softplus_y(float y, float) { return -vmath::expm1(-y); }
inline float d_gelu_x(float x, float) {
  return vmath::normal_cdf(x) + x * vmath::normal_pdf(x);
}
inline float d_swish_x(float x, float) {
  const float s = vmath::sigmoid(x);
  return s * (1.0f + x * (1.0f - s));
}

template <float (*D)(float, float)>
void scale_by_derivative(const float* v, const float* dy, float* dx, int64_t n, float p) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * D(v[i], p);
}

// One chunk of the elementwise backward pass.
void backward_chunk(Act act, float p, const float* x, const float* y, const float* dy,
                    float* dx, int64_t n) {
  switch (act) {
    case Act::relu: return scale_by_derivative<d_relu_y>(y, dy, dx, n, p);
    case Act::sigmoid: return scale_by_derivative<d_sigmoid_y>(y, dy, dx, n, p);
    case Act::tanh: return scale_by_derivative<d_tanh_y>(y, dy, dx, n, p);
    case Act::elu: return scale_by_derivative<d_elu_y>(y, dy, dx, n, p);
    case Act::selu: return scale_by_derivative<d_selu_y>(y, dy, dx, n, p);
    case Act::gelu: return scale_by_derivative<d_gelu_x>(x, dy, dx, n, p);
    case Act::swish: return scale_by_derivative<d_swish_x>(x, dy, dx, n, p);
    case Act::leaky_relu: return scale_by_derivative<d_leaky>(x ? x : y, dy, dx, n, p);
    case Act::softplus: return scale_by_derivative<d_softplus_y>(y, dy, dx, n, p);
    default: return scale_by_derivative<d_linear>(dy, dy, dx, n, p);
  }
}

}  // namespace

void act_forward(const float* x, float* y, int64_t rows, int64_t cols, Act act,
                 float act_param) {
  const int64_t n = rows * cols;
  if (n <= 0) return;
  const int nt = threads_for_work(act_cost(act) * static_cast<double>(n));
  if (act == Act::softmax) {
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t r = 0; r < rows; ++r) softmax_row(x + r * cols, y + r * cols, cols);
    return;
  }
  const int64_t chunks = chunks_of(n);
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t begin = c * kChunk, len = std::min(kChunk, n - begin);
    actmath::apply_row(act, act_param, x + begin, nullptr, y + begin, len);
  }
}

void bias_act_forward(const float* x, const float* bias, float* y, int64_t rows, int64_t cols,
                      Act act, float act_param) {
  const int64_t n = rows * cols;
  if (n <= 0) return;
  const int nt = threads_for_work((act_cost(act) + 1.0) * static_cast<double>(n));
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    if (act == Act::softmax) {
#pragma omp simd
      for (int64_t j = 0; j < cols; ++j) yr[j] = xr[j] + bias[j];
      softmax_row(yr, yr, cols);
    } else {
      actmath::apply_row(act, act_param, xr, bias, yr, cols);
    }
  }
}

void act_backward(const float* x, const float* y, const float* dy, float* dx, int64_t rows,
                  int64_t cols, Act act, float act_param) {
  const int64_t n = rows * cols;
  if (n <= 0) return;
  const int nt = threads_for_work((act_cost(act) + 1.0) * static_cast<double>(n));
  if (act == Act::softmax) {
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t r = 0; r < rows; ++r)
      softmax_backward_row(y + r * cols, dy + r * cols, dx + r * cols, cols);
    return;
  }
  const int64_t chunks = chunks_of(n);
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t begin = c * kChunk, len = std::min(kChunk, n - begin);
    backward_chunk(act, act_param, x ? x + begin : nullptr, y + begin, dy + begin, dx + begin,
                   len);
  }
}

void bias_grad(const float* dy, float* db, int64_t rows, int64_t cols) {
  if (cols <= 0) return;
  // Row blocks fixed by the shape alone (never by the thread count), summed
  // in double per block, then the blocks added in order: deterministic.
  const int64_t blocks = std::max<int64_t>(1, std::min<int64_t>(64, rows / 32));
  const int64_t block_rows = (rows + blocks - 1) / std::max<int64_t>(1, blocks);
  double* partial = reinterpret_cast<double*>(
      workspace_floats(static_cast<size_t>(2 * blocks * cols), 0));
  const int nt = threads_for_work(static_cast<double>(rows) * cols);
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t b = 0; b < blocks; ++b) {
    double* acc = partial + b * cols;
    for (int64_t j = 0; j < cols; ++j) acc[j] = 0.0;
    const int64_t r1 = std::min(rows, (b + 1) * block_rows);
    for (int64_t r = b * block_rows; r < r1; ++r) {
      const float* row = dy + r * cols;
#pragma omp simd
      for (int64_t j = 0; j < cols; ++j) acc[j] += row[j];
    }
  }
  for (int64_t j = 0; j < cols; ++j) {
    double total = 0.0;
    for (int64_t b = 0; b < blocks; ++b) total += partial[b * cols + j];
    db[j] = static_cast<float>(total);
  }
}

}  // namespace PYCNN_ISA_NS
}  // namespace pycnn
