// Loss bindings: per-row loss values and d(loss)/d(y_pred) in one call.
// Registered from bind_optim (the loss and optimizer families share it).
#include "bindings/common.hpp"
#include "loss/loss.hpp"

namespace pycnn {

namespace {

struct RowsOutput {
  FArray row_loss;
  std::optional<FArray> grad;
  py::tuple as_tuple() const {
    return py::make_tuple(row_loss, grad ? py::object(*grad) : py::object(py::none()));
  }
};

// Checks shared by every loss: 2-D (rows, cols) y_pred with cols >= 1, and a
// row_scale of length rows when given. Allocates the outputs.
RowsOutput prepare(const std::string& op, const FArray& y_pred,
                   const std::optional<FArray>& row_scale, bool need_grad) {
  check_ndim(op, "y_pred", y_pred, 2);
  if (y_pred.shape(1) < 1) fail(op, "y_pred has no classes, shape " + shape_str(y_pred));
  if (row_scale) {
    check_ndim(op, "row_scale", *row_scale, 1);
    check_dim(op, "row_scale", *row_scale, 0, y_pred.shape(0));
  }
  RowsOutput out{new_array({y_pred.shape(0)}), std::nullopt};
  if (need_grad) out.grad = new_array({y_pred.shape(0), y_pred.shape(1)});
  return out;
}

const float* scale_ptr(const std::optional<FArray>& row_scale) {
  return row_scale ? row_scale->data() : nullptr;
}

float* grad_ptr(RowsOutput& out) { return out.grad ? out.grad->mutable_data() : nullptr; }

CrossentropyInput crossentropy_input(const std::string& op, int mode) {
  if (mode < 0 || mode > 2) fail(op, "input mode must be 0 (probabilities), 1 (logits) or 2 (softmax output, gradient w.r.t. logits), got " + std::to_string(mode));
  return static_cast<CrossentropyInput>(mode);
}

// mse / mae: same checks and call shape.
py::tuple dense_regression(const std::string& op, const FArray& y_true, const FArray& y_pred,
                           const std::optional<FArray>& row_scale, bool need_grad, bool absolute) {
  RowsOutput out = prepare(op, y_pred, row_scale, need_grad);
  check_same_shape(op, "y_true", y_true, "y_pred", y_pred);
  const int64_t rows = y_pred.shape(0), cols = y_pred.shape(1);
  const float *t = y_true.data(), *p = y_pred.data(), *s = scale_ptr(row_scale);
  float *l = out.row_loss.mutable_data(), *g = grad_ptr(out);
  {
    py::gil_scoped_release nogil;
    if (absolute)
      PYCNN_DISPATCH(mean_absolute_error_rows, t, p, rows, cols, s, l, g);
    else
      PYCNN_DISPATCH(mean_squared_error_rows, t, p, rows, cols, s, l, g);
  }
  return out.as_tuple();
}

py::tuple binary_crossentropy(const FArray& y_true, const FArray& y_pred, bool from_logits,
                              const std::optional<FArray>& row_scale, bool need_grad) {
  const std::string op = "binary_crossentropy";
  RowsOutput out = prepare(op, y_pred, row_scale, need_grad);
  check_same_shape(op, "y_true", y_true, "y_pred", y_pred);
  const int64_t rows = y_pred.shape(0), cols = y_pred.shape(1);
  const float *t = y_true.data(), *p = y_pred.data(), *s = scale_ptr(row_scale);
  float *l = out.row_loss.mutable_data(), *g = grad_ptr(out);
  {
    py::gil_scoped_release nogil;
    PYCNN_DISPATCH(binary_crossentropy_rows, t, p, rows, cols, from_logits, s, l, g);
  }
  return out.as_tuple();
}

py::tuple categorical_crossentropy(const FArray& y_true, const FArray& y_pred, int mode,
                                   const std::optional<FArray>& row_scale, bool need_grad) {
  const std::string op = "categorical_crossentropy";
  const CrossentropyInput input = crossentropy_input(op, mode);
  RowsOutput out = prepare(op, y_pred, row_scale, need_grad);
  check_same_shape(op, "y_true", y_true, "y_pred", y_pred);
  const int64_t rows = y_pred.shape(0), cols = y_pred.shape(1);
  const float *t = y_true.data(), *p = y_pred.data(), *s = scale_ptr(row_scale);
  float *l = out.row_loss.mutable_data(), *g = grad_ptr(out);
  {
    py::gil_scoped_release nogil;
    PYCNN_DISPATCH(categorical_crossentropy_rows, t, p, rows, cols, input, s, l, g);
  }
  return out.as_tuple();
}

py::tuple sparse_categorical_crossentropy(const IArray& labels, const FArray& y_pred, int mode,
                                          std::optional<int64_t> ignore_class,
                                          const std::optional<FArray>& row_scale,
                                          bool need_grad) {
  const std::string op = "sparse_categorical_crossentropy";
  const CrossentropyInput input = crossentropy_input(op, mode);
  RowsOutput out = prepare(op, y_pred, row_scale, need_grad);
  check_ndim(op, "labels", labels, 1);
  check_dim(op, "labels", labels, 0, y_pred.shape(0));
  const int64_t rows = y_pred.shape(0), cols = y_pred.shape(1);
  const int64_t* lab = labels.data();
  const bool has_ignore = ignore_class.has_value();
  const int64_t ignored = has_ignore ? *ignore_class : 0;
  // Every label is checked before any kernel writes (no out-of-range reads).
  for (int64_t r = 0; r < rows; ++r) {
    if (has_ignore && lab[r] == ignored) continue;
    if (lab[r] < 0 || lab[r] >= cols)
      fail(op, "label " + std::to_string(lab[r]) + " at index " + std::to_string(r) +
                   " is outside [0, " + std::to_string(cols) + "); labels shape " +
                   shape_str(labels) + ", y_pred shape " + shape_str(y_pred));
  }
  const float *p = y_pred.data(), *s = scale_ptr(row_scale);
  float *l = out.row_loss.mutable_data(), *g = grad_ptr(out);
  {
    py::gil_scoped_release nogil;
    PYCNN_DISPATCH(sparse_categorical_crossentropy_rows, lab, p, rows, cols, input, has_ignore,
                   ignored, s, l, g);
  }
  return out.as_tuple();
}

}  // namespace

void bind_loss_kernels(py::module_& m) {
  const char* rows_doc =
      "Per-row loss of 2-D (rows, cols) inputs -> (row_loss (rows,), grad (rows, cols) or "
      "None); grad row r is scaled by row_scale[r].";
  m.def("mean_squared_error_rows",
        [](const FArray& t, const FArray& p, std::optional<FArray> s, bool need_grad) {
          return dense_regression("mean_squared_error", t, p, s, need_grad, false);
        },
        py::arg("y_true"), py::arg("y_pred"), py::arg("row_scale") = py::none(),
        py::arg("need_grad") = true, rows_doc);
  m.def("mean_absolute_error_rows",
        [](const FArray& t, const FArray& p, std::optional<FArray> s, bool need_grad) {
          return dense_regression("mean_absolute_error", t, p, s, need_grad, true);
        },
        py::arg("y_true"), py::arg("y_pred"), py::arg("row_scale") = py::none(),
        py::arg("need_grad") = true, rows_doc);
  m.def("binary_crossentropy_rows", &binary_crossentropy, py::arg("y_true"), py::arg("y_pred"),
        py::arg("from_logits") = false, py::arg("row_scale") = py::none(),
        py::arg("need_grad") = true, rows_doc);
  m.def("categorical_crossentropy_rows", &categorical_crossentropy, py::arg("y_true"),
        py::arg("y_pred"), py::arg("mode") = 0, py::arg("row_scale") = py::none(),
        py::arg("need_grad") = true, rows_doc);
  m.def("sparse_categorical_crossentropy_rows", &sparse_categorical_crossentropy,
        py::arg("labels"), py::arg("y_pred"), py::arg("mode") = 0,
        py::arg("ignore_class") = py::none(), py::arg("row_scale") = py::none(),
        py::arg("need_grad") = true, rows_doc);
}

}  // namespace pycnn
