// Loss kernels: the per-row loss value and, in the same pass, its gradient
// with respect to y_pred. Inputs are row-major (rows, cols): a "row" is one
// loss term (one sample, or one sample position for sequence outputs), "cols"
// is the axis Keras reduces over (the class axis / last axis).
//
// row_scale[r] is d(reduced loss)/d(row_loss[r]) (sample weight / batch
// divisor); the gradient of row r is scaled by it. grad == nullptr computes
// values only (row_scale may then be nullptr too).
// Formulas follow Keras 3 exactly (epsilon 1e-7 clipping, probabilities
// renormalised over the class axis); see pycnn/reference/loss.py.
#pragma once
#include <cstdint>

#include "core/kernel_decl.hpp"

namespace pycnn {
// How categorical crossentropy reads y_pred.
enum class CrossentropyInput : int {
  probabilities = 0,  // Keras from_logits=False
  logits = 1,         // Keras from_logits=True
  // y_pred is a softmax output, loss as for `probabilities`, but the gradient
  // is taken with respect to the softmax's logits (fused softmax backward).
  softmax_output_grad_logits = 2,
};
}  // namespace pycnn

#define PYCNN_LOSS_KERNELS                                                                   \
  void mean_squared_error_rows(const float* y_true, const float* y_pred, int64_t rows,       \
                               int64_t cols, const float* row_scale, float* row_loss,        \
                               float* grad);                                                 \
  void mean_absolute_error_rows(const float* y_true, const float* y_pred, int64_t rows,      \
                                int64_t cols, const float* row_scale, float* row_loss,       \
                                float* grad);                                                \
  void binary_crossentropy_rows(const float* y_true, const float* y_pred, int64_t rows,      \
                                int64_t cols, bool from_logits, const float* row_scale,      \
                                float* row_loss, float* grad);                               \
  void categorical_crossentropy_rows(const float* y_true, const float* y_pred, int64_t rows, \
                                     int64_t cols, ::pycnn::CrossentropyInput input,         \
                                     const float* row_scale, float* row_loss, float* grad);  \
  /* labels[r] in [0, cols), or == ignore_class when has_ignore (loss and grad 0). */        \
  void sparse_categorical_crossentropy_rows(                                                 \
      const int64_t* labels, const float* y_pred, int64_t rows, int64_t cols,                \
      ::pycnn::CrossentropyInput input, bool has_ignore, int64_t ignore_class,               \
      const float* row_scale, float* row_loss, float* grad);

PYCNN_DECLARE_FOR_ALL_ISAS(PYCNN_LOSS_KERNELS)
