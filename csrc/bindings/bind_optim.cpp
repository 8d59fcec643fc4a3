// Optimizer update bindings (in place on the parameter and its slots), and
// the registration of the loss bindings (bind_loss.cpp).
#include "bindings/common.hpp"
#include "optim/optim.hpp"

namespace pycnn {

void bind_loss_kernels(py::module_& m);  // bind_loss.cpp

namespace {

// In-place arrays must already be float32 C-contiguous: a converted copy
// would be updated instead of the caller's array (the arguments are
// declared noconvert, so pybind11 raises TypeError for anything else).
void check_slot(const std::string& op, const char* name, const FArray& slot, const FArray& param) {
  check_same_shape(op, name, slot, "param", param);
  if (!slot.writeable()) fail(op, std::string(name) + " is read-only");
}

float* optional_slot(const std::string& op, const char* name, std::optional<FArray>& slot,
                     const FArray& param) {
  if (!slot) return nullptr;
  check_slot(op, name, *slot, param);
  return slot->mutable_data();
}

void check_param_and_grad(const std::string& op, FArray& param, const FArray& grad) {
  check_same_shape(op, "grad", grad, "param", param);
  if (!param.writeable()) fail(op, "param is read-only");
}

void sgd(FArray param, const FArray& grad, std::optional<FArray> momentum_buf, float lr,
         float momentum, bool nesterov, float decay) {
  const std::string op = "sgd_update";
  check_param_and_grad(op, param, grad);
  float* mb = optional_slot(op, "momentum_buf", momentum_buf, param);
  float* p = param.mutable_data();
  const float* g = grad.data();
  const int64_t n = param.size();
  py::gil_scoped_release nogil;
  PYCNN_DISPATCH(sgd_update, p, g, mb, n, lr, momentum, nesterov, decay);
}

void adam(FArray param, const FArray& grad, FArray m, FArray v,
          std::optional<FArray> velocity_hat, float alpha, float beta_1, float beta_2,
          float epsilon, float decay) {
  const std::string op = "adam_update";
  check_param_and_grad(op, param, grad);
  check_slot(op, "m", m, param);
  check_slot(op, "v", v, param);
  float* vh = optional_slot(op, "velocity_hat", velocity_hat, param);
  float* p = param.mutable_data();
  float* pm = m.mutable_data();
  float* pv = v.mutable_data();
  const float* g = grad.data();
  const int64_t n = param.size();
  py::gil_scoped_release nogil;
  PYCNN_DISPATCH(adam_update, p, g, pm, pv, vh, n, alpha, beta_1, beta_2, epsilon, decay);
}

void rmsprop(FArray param, const FArray& grad, FArray velocity,
             std::optional<FArray> momentum_buf, std::optional<FArray> average_grad, float lr,
             float rho, float momentum, float epsilon, float decay) {
  const std::string op = "rmsprop_update";
  check_param_and_grad(op, param, grad);
  check_slot(op, "velocity", velocity, param);
  float* mb = optional_slot(op, "momentum_buf", momentum_buf, param);
  float* ag = optional_slot(op, "average_grad", average_grad, param);
  float* p = param.mutable_data();
  float* pv = velocity.mutable_data();
  const float* g = grad.data();
  const int64_t n = param.size();
  py::gil_scoped_release nogil;
  PYCNN_DISPATCH(rmsprop_update, p, g, pv, mb, ag, n, lr, rho, momentum, epsilon, decay);
}

void adagrad(FArray param, const FArray& grad, FArray accumulator, float lr, float epsilon,
             float decay) {
  const std::string op = "adagrad_update";
  check_param_and_grad(op, param, grad);
  check_slot(op, "accumulator", accumulator, param);
  float* p = param.mutable_data();
  float* acc = accumulator.mutable_data();
  const float* g = grad.data();
  const int64_t n = param.size();
  py::gil_scoped_release nogil;
  PYCNN_DISPATCH(adagrad_update, p, g, acc, n, lr, epsilon, decay);
}

}  // namespace

void bind_optim(py::module_& m) {
  m.def("sgd_update", &sgd, py::arg("param").noconvert(), py::arg("grad"),
        py::arg("momentum_buf").noconvert() = py::none(), py::arg("lr"), py::arg("momentum"),
        py::arg("nesterov"), py::arg("decay") = 0.0f,
        "SGD step in place (Keras 3 rule); momentum_buf None for plain SGD.");
  m.def("adam_update", &adam, py::arg("param").noconvert(), py::arg("grad"),
        py::arg("m").noconvert(), py::arg("v").noconvert(),
        py::arg("velocity_hat").noconvert() = py::none(), py::arg("alpha"), py::arg("beta_1"),
        py::arg("beta_2"), py::arg("epsilon"), py::arg("decay") = 0.0f,
        "Adam/AdamW step in place; alpha is the bias-corrected learning rate.");
  m.def("rmsprop_update", &rmsprop, py::arg("param").noconvert(), py::arg("grad"),
        py::arg("velocity").noconvert(), py::arg("momentum_buf").noconvert() = py::none(),
        py::arg("average_grad").noconvert() = py::none(), py::arg("lr"), py::arg("rho"),
        py::arg("momentum"), py::arg("epsilon"), py::arg("decay") = 0.0f,
        "RMSprop step in place (momentum_buf when momentum > 0, average_grad when centered).");
  m.def("adagrad_update", &adagrad, py::arg("param").noconvert(), py::arg("grad"),
        py::arg("accumulator").noconvert(), py::arg("lr"), py::arg("epsilon"),
        py::arg("decay") = 0.0f, "Adagrad step in place.");
  bind_loss_kernels(m);
}

}  // namespace pycnn
