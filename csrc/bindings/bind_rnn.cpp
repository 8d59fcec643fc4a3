// LSTM / GRU (whole sequence, forward and backprop through time) and
// Embedding bindings. Shapes are checked here before any pointer is used.
#include <optional>

#include "bindings/common.hpp"
#include "rnn/rnn.hpp"

namespace pycnn {

namespace {

using OptF = std::optional<FArray>;
using MaskArray = py::array_t<uint8_t, py::array::c_style | py::array::forcecast>;
using OptMask = std::optional<MaskArray>;

RnnActs make_acts(const std::string& op, int act, float act_param, int gate_act,
                  float gate_param) {
  auto elementwise = [](int code) {
    return (code >= 0 && code <= static_cast<int>(Act::softplus)) ||
           code == static_cast<int>(Act::hard_sigmoid);
  };
  if (!elementwise(act) || !elementwise(gate_act))
    fail(op, "unsupported activation code (elementwise codes 0..9 and 11 only)");
  RnnActs acts;
  acts.act = static_cast<Act>(act);
  acts.act_param = act_param;
  acts.gate_act = static_cast<Act>(gate_act);
  acts.gate_param = gate_param;
  return acts;
}

const float* opt_ptr(const OptF& a) { return a ? a->data() : nullptr; }
const uint8_t* opt_ptr(const OptMask& a) { return a ? a->data() : nullptr; }

// The dimensions every recurrent entry shares, from x (B,T,I), kernel
// (I, G*U) and recurrent_kernel (U, G*U).
struct SeqDims {
  int64_t batch, steps, in_dim, units;
};

SeqDims check_weights(const std::string& op, const FArray& x, const FArray& kernel,
                      const FArray& recurrent, int gates) {
  check_ndim(op, "x", x, 3);
  check_ndim(op, "kernel", kernel, 2);
  check_ndim(op, "recurrent_kernel", recurrent, 2);
  SeqDims d{x.shape(0), x.shape(1), x.shape(2), recurrent.shape(0)};
  if (d.units <= 0) fail(op, "recurrent_kernel is empty, shape " + shape_str(recurrent));
  check_dim(op, "recurrent_kernel", recurrent, 1, gates * d.units);
  check_dim(op, "kernel", kernel, 0, d.in_dim);
  check_dim(op, "kernel", kernel, 1, gates * d.units);
  return d;
}

void check_state(const std::string& op, const char* name, const OptF& s, const SeqDims& d) {
  if (!s) return;
  check_ndim(op, name, *s, 2);
  check_dim(op, name, *s, 0, d.batch);
  check_dim(op, name, *s, 1, d.units);
}

void check_seq(const std::string& op, const char* name, const OptF& s, const SeqDims& d,
               int64_t width) {
  if (!s) return;
  check_ndim(op, name, *s, 3);
  check_dim(op, name, *s, 0, d.batch);
  check_dim(op, name, *s, 1, d.steps);
  check_dim(op, name, *s, 2, width);
}

// mask (B, T): nonzero where the step is taken.
void check_mask(const std::string& op, const OptMask& mask, const SeqDims& d) {
  if (!mask) return;
  if (mask->ndim() != 2 || mask->shape(0) != d.batch || mask->shape(1) != d.steps)
    fail(op, "mask must have shape (" + std::to_string(d.batch) + ", " +
                 std::to_string(d.steps) + ") = (batch, steps), got " + shape_str(*mask));
}

void check_bias(const std::string& op, const OptF& bias, int64_t rows, int64_t width) {
  if (!bias) return;
  if (rows == 1) {
    check_ndim(op, "bias", *bias, 1);
    check_dim(op, "bias", *bias, 0, width);
  } else {
    check_ndim(op, "bias", *bias, 2);
    check_dim(op, "bias", *bias, 0, rows);
    check_dim(op, "bias", *bias, 1, width);
  }
}

py::tuple lstm_forward_call(const FArray& x, const FArray& kernel, const FArray& recurrent,
                            const OptF& bias, const OptF& h0, const OptF& c0, int act,
                            float act_param, int gate_act, float gate_param,
                            const OptMask& mask) {
  const std::string op = "lstm_forward";
  const SeqDims d = check_weights(op, x, kernel, recurrent, 4);
  const int64_t width = 4 * d.units;
  check_bias(op, bias, 1, width);
  check_state(op, "h0", h0, d);
  check_state(op, "c0", c0, d);
  check_mask(op, mask, d);
  const RnnActs acts = make_acts(op, act, act_param, gate_act, gate_param);
  FArray h_seq = new_array({d.batch, d.steps, d.units});
  FArray c_seq = new_array({d.batch, d.steps, d.units});
  FArray pre = new_array({d.batch, d.steps, width});
  FArray gates = new_array({d.batch, d.steps, width});
  {
    py::gil_scoped_release nogil;
    PYCNN_DISPATCH(lstm_forward, d.batch, d.steps, d.in_dim, d.units, x.data(), kernel.data(),
                   recurrent.data(), opt_ptr(bias), opt_ptr(h0), opt_ptr(c0), opt_ptr(mask), acts,
                   h_seq.mutable_data(), c_seq.mutable_data(), pre.mutable_data(),
                   gates.mutable_data());
  }
  return py::make_tuple(h_seq, c_seq, pre, gates);
}

py::tuple lstm_backward_call(const FArray& x, const FArray& kernel, const FArray& recurrent,
                             const OptF& h0, const OptF& c0, const FArray& h_seq,
                             const FArray& c_seq, const FArray& pre, const FArray& gates,
                             const OptF& dh_seq, const OptF& dh_last, const OptF& dc_last,
                             int act, float act_param, int gate_act, float gate_param,
                             bool need_dx, bool use_bias, const OptMask& mask) {
  const std::string op = "lstm_backward";
  const SeqDims d = check_weights(op, x, kernel, recurrent, 4);
  const int64_t width = 4 * d.units;
  check_state(op, "h0", h0, d);
  check_state(op, "c0", c0, d);
  check_mask(op, mask, d);
  check_seq(op, "h_seq", h_seq, d, d.units);
  check_seq(op, "c_seq", c_seq, d, d.units);
  check_seq(op, "gates_pre", pre, d, width);
  check_seq(op, "gates", gates, d, width);
  check_seq(op, "dh_seq", dh_seq, d, d.units);
  check_state(op, "dh_last", dh_last, d);
  check_state(op, "dc_last", dc_last, d);
  const RnnActs acts = make_acts(op, act, act_param, gate_act, gate_param);
  OptF dx;
  if (need_dx) dx = new_array({d.batch, d.steps, d.in_dim});
  FArray dkernel = new_array({d.in_dim, width});
  FArray drecurrent = new_array({d.units, width});
  OptF dbias;
  if (use_bias) dbias = new_array({width});
  FArray dh0 = new_array({d.batch, d.units});
  FArray dc0 = new_array({d.batch, d.units});
  float* dx_ptr = dx ? dx->mutable_data() : nullptr;
  float* db_ptr = dbias ? dbias->mutable_data() : nullptr;
  {
    py::gil_scoped_release nogil;
    PYCNN_DISPATCH(lstm_backward, d.batch, d.steps, d.in_dim, d.units, x.data(), kernel.data(),
                   recurrent.data(), opt_ptr(h0), opt_ptr(c0), opt_ptr(mask), acts, h_seq.data(),
                   c_seq.data(),
                   pre.data(), gates.data(), opt_ptr(dh_seq), opt_ptr(dh_last), opt_ptr(dc_last),
                   dx_ptr, dkernel.mutable_data(), drecurrent.mutable_data(), db_ptr,
                   dh0.mutable_data(), dc0.mutable_data());
  }
  return py::make_tuple(dx ? py::object(*dx) : py::none(), dkernel, drecurrent,
                        dbias ? py::object(*dbias) : py::none(), dh0, dc0);
}

py::tuple gru_forward_call(const FArray& x, const FArray& kernel, const FArray& recurrent,
                           const OptF& bias, const OptF& h0, bool reset_after, int act,
                           float act_param, int gate_act, float gate_param,
                           const OptMask& mask) {
  const std::string op = "gru_forward";
  const SeqDims d = check_weights(op, x, kernel, recurrent, 3);
  const int64_t width = 3 * d.units;
  check_bias(op, bias, reset_after ? 2 : 1, width);
  check_state(op, "h0", h0, d);
  check_mask(op, mask, d);
  const RnnActs acts = make_acts(op, act, act_param, gate_act, gate_param);
  FArray h_seq = new_array({d.batch, d.steps, d.units});
  FArray pre = new_array({d.batch, d.steps, width});
  FArray gates = new_array({d.batch, d.steps, width});
  FArray rec_h = new_array({d.batch, d.steps, d.units});
  const float* bias_in = opt_ptr(bias);
  const float* bias_rec = (bias && reset_after) ? bias_in + width : nullptr;
  {
    py::gil_scoped_release nogil;
    PYCNN_DISPATCH(gru_forward, d.batch, d.steps, d.in_dim, d.units, x.data(), kernel.data(),
                   recurrent.data(), bias_in, bias_rec, opt_ptr(h0), opt_ptr(mask), reset_after,
                   acts,
                   h_seq.mutable_data(), pre.mutable_data(), gates.mutable_data(),
                   rec_h.mutable_data());
  }
  return py::make_tuple(h_seq, pre, gates, rec_h);
}

py::tuple gru_backward_call(const FArray& x, const FArray& kernel, const FArray& recurrent,
                            const OptF& h0, const FArray& h_seq, const FArray& pre,
                            const FArray& gates, const FArray& rec_h, const OptF& dh_seq,
                            const OptF& dh_last, bool reset_after, int act, float act_param,
                            int gate_act, float gate_param, bool need_dx, bool use_bias,
                            const OptMask& mask) {
  const std::string op = "gru_backward";
  const SeqDims d = check_weights(op, x, kernel, recurrent, 3);
  const int64_t width = 3 * d.units;
  check_state(op, "h0", h0, d);
  check_mask(op, mask, d);
  check_seq(op, "h_seq", h_seq, d, d.units);
  check_seq(op, "gates_pre", pre, d, width);
  check_seq(op, "gates", gates, d, width);
  check_seq(op, "rec_h", rec_h, d, d.units);
  check_seq(op, "dh_seq", dh_seq, d, d.units);
  check_state(op, "dh_last", dh_last, d);
  const RnnActs acts = make_acts(op, act, act_param, gate_act, gate_param);
  OptF dx;
  if (need_dx) dx = new_array({d.batch, d.steps, d.in_dim});
  FArray dkernel = new_array({d.in_dim, width});
  FArray drecurrent = new_array({d.units, width});
  OptF dbias;
  if (use_bias) dbias = reset_after ? new_array({2, width}) : new_array({width});
  FArray dh0 = new_array({d.batch, d.units});
  float* dx_ptr = dx ? dx->mutable_data() : nullptr;
  float* db_in = dbias ? dbias->mutable_data() : nullptr;
  float* db_rec = (dbias && reset_after) ? db_in + width : nullptr;
  {
    py::gil_scoped_release nogil;
    PYCNN_DISPATCH(gru_backward, d.batch, d.steps, d.in_dim, d.units, x.data(), kernel.data(),
                   recurrent.data(), opt_ptr(h0), opt_ptr(mask), reset_after, acts, h_seq.data(),
                   pre.data(),
                   gates.data(), rec_h.data(), opt_ptr(dh_seq), opt_ptr(dh_last), dx_ptr,
                   dkernel.mutable_data(), drecurrent.mutable_data(), db_in, db_rec,
                   dh0.mutable_data());
  }
  return py::make_tuple(dx ? py::object(*dx) : py::none(), dkernel, drecurrent,
                        dbias ? py::object(*dbias) : py::none(), dh0);
}

// Every index in [0, vocab): checked before any table row is read or written.
void check_indices(const std::string& op, const IArray& indices, int64_t vocab) {
  const int64_t* idx = indices.data();
  for (py::ssize_t n = 0; n < indices.size(); ++n)
    if (idx[n] < 0 || idx[n] >= vocab)
      throw py::value_error(op + ": index " + std::to_string(idx[n]) +
                            " is out of range [0, " + std::to_string(vocab) +
                            ") for indices of shape " + shape_str(indices));
}

FArray embedding_lookup_call(const IArray& indices, const FArray& table) {
  const std::string op = "embedding_lookup";
  check_ndim(op, "embeddings", table, 2);
  const int64_t vocab = table.shape(0), dim = table.shape(1);
  check_indices(op, indices, vocab);
  std::vector<py::ssize_t> shape(indices.shape(), indices.shape() + indices.ndim());
  shape.push_back(dim);
  FArray out = new_array(shape);
  const int64_t count = indices.size();
  const int64_t* idx = indices.data();
  const float* tab = table.data();
  float* o = out.mutable_data();
  {
    py::gil_scoped_release nogil;
    PYCNN_DISPATCH(embedding_gather, count, dim, idx, tab, o);
  }
  return out;
}

FArray embedding_grad_call(const IArray& indices, const FArray& dy, int64_t vocab) {
  const std::string op = "embedding_grad";
  if (vocab <= 0) fail(op, "input_dim must be positive");
  if (dy.ndim() != indices.ndim() + 1)
    fail(op, "dy must have rank indices.ndim + 1, got " + shape_str(dy));
  for (py::ssize_t i = 0; i < indices.ndim(); ++i)
    check_dim(op, "dy", dy, static_cast<int>(i), indices.shape(i));
  check_indices(op, indices, vocab);
  const int64_t dim = dy.shape(dy.ndim() - 1), count = indices.size();
  FArray dtable = new_array({vocab, dim});
  float* dt = dtable.mutable_data();
  const int64_t* idx = indices.data();
  const float* g = dy.data();
  {
    py::gil_scoped_release nogil;
    std::fill(dt, dt + vocab * dim, 0.0f);
    PYCNN_DISPATCH(embedding_scatter_add, count, dim, idx, g, dt);
  }
  return dtable;
}

}  // namespace

void bind_rnn(py::module_& m) {
  m.def("lstm_forward", &lstm_forward_call, py::arg("x"), py::arg("kernel"),
        py::arg("recurrent_kernel"), py::arg("bias"), py::arg("h0"), py::arg("c0"),
        py::arg("act"), py::arg("act_param"), py::arg("gate_act"), py::arg("gate_param"),
        py::arg("mask") = py::none());
  m.def("lstm_backward", &lstm_backward_call, py::arg("x"), py::arg("kernel"),
        py::arg("recurrent_kernel"), py::arg("h0"), py::arg("c0"), py::arg("h_seq"),
        py::arg("c_seq"), py::arg("gates_pre"), py::arg("gates"), py::arg("dh_seq"),
        py::arg("dh_last"), py::arg("dc_last"), py::arg("act"), py::arg("act_param"),
        py::arg("gate_act"), py::arg("gate_param"), py::arg("need_dx"), py::arg("use_bias"),
        py::arg("mask") = py::none());
  m.def("gru_forward", &gru_forward_call, py::arg("x"), py::arg("kernel"),
        py::arg("recurrent_kernel"), py::arg("bias"), py::arg("h0"), py::arg("reset_after"),
        py::arg("act"), py::arg("act_param"), py::arg("gate_act"), py::arg("gate_param"),
        py::arg("mask") = py::none());
  m.def("gru_backward", &gru_backward_call, py::arg("x"), py::arg("kernel"),
        py::arg("recurrent_kernel"), py::arg("h0"), py::arg("h_seq"), py::arg("gates_pre"),
        py::arg("gates"), py::arg("rec_h"), py::arg("dh_seq"), py::arg("dh_last"),
        py::arg("reset_after"), py::arg("act"), py::arg("act_param"), py::arg("gate_act"),
        py::arg("gate_param"), py::arg("need_dx"), py::arg("use_bias"),
        py::arg("mask") = py::none());
  m.def("embedding_lookup", &embedding_lookup_call, py::arg("indices"), py::arg("embeddings"));
  m.def("embedding_grad", &embedding_grad_call, py::arg("indices"), py::arg("dy"),
        py::arg("input_dim"));
}

}  // namespace pycnn
