// Batch-normalization bindings (pycnn/ops/norm.py wraps them).
#include "bindings/common.hpp"
#include "norm/batchnorm.hpp"

namespace pycnn {

namespace {

struct Layout {
  int64_t rows, cols;
};

// Channels are the last axis; every other axis is a "row" of the batch.
Layout channels_last(const std::string& op, const FArray& x) {
  if (x.ndim() < 1) fail(op, "x must have rank >= 1, got shape " + shape_str(x));
  const int64_t cols = x.shape(x.ndim() - 1);
  if (cols == 0) fail(op, "x has no channels, shape " + shape_str(x));
  return {static_cast<int64_t>(x.size()) / cols, cols};
}

void check_channel_vector(const std::string& op, const char* name, const FArray& v,
                          int64_t cols) {
  check_ndim(op, name, v, 1);
  check_dim(op, name, v, 0, cols);
}

const float* optional_channels(const std::string& op, const char* name,
                               const std::optional<FArray>& v, int64_t cols) {
  if (!v) return nullptr;
  check_channel_vector(op, name, *v, cols);
  return v->data();
}

std::vector<py::ssize_t> shape_of(const py::array& a) {
  return std::vector<py::ssize_t>(a.shape(), a.shape() + a.ndim());
}

py::tuple train_forward(const FArray& x, std::optional<FArray> gamma, std::optional<FArray> beta,
                        float epsilon) {
  const std::string op = "batchnorm_train_forward";
  const Layout l = channels_last(op, x);
  if (l.rows == 0) fail(op, "cannot compute batch statistics of an empty batch, shape " +
                                shape_str(x));
  const float* pg = optional_channels(op, "gamma", gamma, l.cols);
  const float* pb = optional_channels(op, "beta", beta, l.cols);
  FArray y = new_array(shape_of(x));
  FArray mean = new_array({l.cols}), var = new_array({l.cols}), inv_std = new_array({l.cols});
  const float* px = x.data();
  float *py_ = y.mutable_data(), *pm = mean.mutable_data(), *pv = var.mutable_data(),
        *pi = inv_std.mutable_data();
  {
    py::gil_scoped_release nogil;
    PYCNN_DISPATCH(batchnorm_train_forward, px, pg, pb, epsilon, l.rows, l.cols, py_, pm, pv,
                   pi);
  }
  return py::make_tuple(y, mean, var, inv_std);
}

FArray infer_forward(const FArray& x, std::optional<FArray> gamma, std::optional<FArray> beta,
                     const FArray& moving_mean, const FArray& moving_var, float epsilon) {
  const std::string op = "batchnorm_infer_forward";
  const Layout l = channels_last(op, x);
  const float* pg = optional_channels(op, "gamma", gamma, l.cols);
  const float* pb = optional_channels(op, "beta", beta, l.cols);
  check_channel_vector(op, "moving_mean", moving_mean, l.cols);
  check_channel_vector(op, "moving_var", moving_var, l.cols);
  FArray y = new_array(shape_of(x));
  const float *px = x.data(), *pmm = moving_mean.data(), *pmv = moving_var.data();
  float* py_ = y.mutable_data();
  {
    py::gil_scoped_release nogil;
    PYCNN_DISPATCH(batchnorm_infer_forward, px, pg, pb, pmm, pmv, epsilon, l.rows, l.cols, py_);
  }
  return y;
}

// Shared by the training and inference backward passes.
py::tuple backward(const std::string& op, const FArray& x, const FArray& dy,
                   std::optional<FArray> gamma, const FArray& mean, const FArray& inv_std,
                   bool through_stats) {
  const Layout l = channels_last(op, x);
  check_same_shape(op, "dy", dy, "x", x);
  const float* pg = optional_channels(op, "gamma", gamma, l.cols);
  check_channel_vector(op, "mean", mean, l.cols);
  check_channel_vector(op, "inv_std", inv_std, l.cols);
  FArray dx = new_array(shape_of(x));
  FArray dgamma = new_array({l.cols}), dbeta = new_array({l.cols});
  const float *px = x.data(), *pdy = dy.data(), *pm = mean.data(), *pi = inv_std.data();
  float *pdx = dx.mutable_data(), *pdg = dgamma.mutable_data(), *pdb = dbeta.mutable_data();
  {
    py::gil_scoped_release nogil;
    PYCNN_DISPATCH(batchnorm_backward, px, pdy, pg, pm, pi, through_stats, l.rows, l.cols, pdx,
                   pdg, pdb);
  }
  return py::make_tuple(dx, dgamma, dbeta);
}

py::tuple infer_backward(const FArray& x, const FArray& dy, std::optional<FArray> gamma,
                         const FArray& moving_mean, const FArray& moving_var, float epsilon) {
  const std::string op = "batchnorm_infer_backward";
  const Layout l = channels_last(op, x);
  check_channel_vector(op, "moving_var", moving_var, l.cols);
  FArray inv_std = new_array({l.cols});
  const float* pv = moving_var.data();
  float* pi = inv_std.mutable_data();
  for (int64_t c = 0; c < l.cols; ++c)
    pi[c] = static_cast<float>(1.0 / std::sqrt(static_cast<double>(pv[c]) + epsilon));
  return backward(op, x, dy, gamma, moving_mean, inv_std, false);
}

}  // namespace

void bind_norm(py::module_& m) {
  m.def("batchnorm_train_forward", &train_forward, py::arg("x"), py::arg("gamma"),
        py::arg("beta"), py::arg("epsilon"));
  m.def("batchnorm_infer_forward", &infer_forward, py::arg("x"), py::arg("gamma"),
        py::arg("beta"), py::arg("moving_mean"), py::arg("moving_var"), py::arg("epsilon"));
  m.def("batchnorm_backward",
        [](const FArray& x, const FArray& dy, std::optional<FArray> gamma, const FArray& mean,
           const FArray& inv_std) {
          return backward("batchnorm_backward", x, dy, gamma, mean, inv_std, true);
        },
        py::arg("x"), py::arg("dy"), py::arg("gamma"), py::arg("mean"), py::arg("inv_std"));
  m.def("batchnorm_infer_backward", &infer_backward, py::arg("x"), py::arg("dy"),
        py::arg("gamma"), py::arg("moving_mean"), py::arg("moving_var"), py::arg("epsilon"));
}

}  // namespace pycnn
