// Compiled inference chains: a single-input, single-output run of
// conv [+ max pool], max pool, flatten and dense steps executed by one binding
// call that releases the GIL once. A batch-1 MNIST predict spent about as
// long in Python and per-call argument conversion as in its kernels.
//
// pycnn/models/inference.py builds a chain for one per-sample input shape,
// ISA and weight version (it holds the folded, packed weights). Every size is
// validated when a step is added; run() checks the sample shape and the ISA,
// then only multiplies sizes by the batch.
#include <memory>
#include <utility>
#include <vector>

#include "act/act.hpp"
#include "bindings/common.hpp"
#include "bindings/geometry.hpp"
#include "bindings/packed.hpp"
#include "conv/conv.hpp"
#include "core/isa.hpp"
#include "gemm/gemm.hpp"
#include "optim/optim.hpp"
#include "pool/pool.hpp"

namespace pycnn {

namespace {

const std::string kOp = "InferenceChain";

enum class StepKind { conv, conv_maxpool, maxpool, dense };

struct ChainStep {
  StepKind kind;
  // Weights, kept alive for the pointers below.
  std::optional<FArray> kernel, bias, packed;
  const float* kernel_ptr = nullptr;
  const float* packed_ptr = nullptr;
  Epilogue ep{};
  ConvGeometry conv{};  // batch set per run
  PoolGeometry pool{};  // batch set per run
  int64_t k = 0, n = 0;  // dense: rows of the kernel, units
  bool softmax = false;
  int64_t out_floats = 0;  // per sample
};

// A 64-byte-aligned block from the caching allocator, returned on scope exit.
struct CachedBlock {
  float* p = nullptr;
  explicit CachedBlock(int64_t floats)
      : p(floats > 0 ? static_cast<float*>(cached_alloc(static_cast<size_t>(floats) * 4))
                     : nullptr) {}
  ~CachedBlock() {
    if (p) cached_free(p);
  }
  CachedBlock(const CachedBlock&) = delete;
  CachedBlock& operator=(const CachedBlock&) = delete;
};

int64_t count_of(const std::vector<int64_t>& dims) {
  int64_t c = 1;
  for (int64_t d : dims) c = mul_or_fail(kOp, c, d);
  return c;
}

std::string dims_str(const std::vector<int64_t>& dims) {
  std::string s = "(None";
  for (int64_t d : dims) s += ", " + std::to_string(d);
  return s + ")";
}

class InferenceChain {
 public:
  explicit InferenceChain(std::vector<int64_t> sample_shape)
      : in_shape_(sample_shape), shape_(std::move(sample_shape)), isa_(active_isa()) {
    for (int64_t d : in_shape_)
      if (d < 1) fail(kOp, "input dimensions must be positive, got " + dims_str(in_shape_));
  }

  // Conv2D (kernel (KH, KW, Cin, Cout), packed by conv2d_pack_weights or None)
  // with bias and activation in the epilogue, optionally followed by a max pool
  // in the same kernel call (pool given).
  void add_conv(const FArray& kernel, std::optional<FArray> bias, std::optional<FArray> packed,
                Pair strides, Pair dilation, Pads pads, int act, float act_param,
                std::optional<Pair> pool, Pair pool_strides, Pads pool_pads) {
    if (shape_.size() != 3)
      fail(kOp, "a conv step needs (H, W, C) samples, got " + dims_str(shape_));
    check_ndim(kOp, "kernel", kernel, 4);
    ChainStep s;
    s.conv = conv_geometry(kOp, Shape4{1, shape_[0], shape_[1], shape_[2]}, shape4(kernel),
                           strides, dilation, pads);
    s.ep = checked_epilogue(kOp, bias, s.conv.out_c, act, act_param);
    s.packed_ptr = checked_packed_kernel(kOp, kernel, packed);
    s.kernel_ptr = kernel.data();
    s.kernel = kernel;
    s.bias = std::move(bias);
    s.packed = std::move(packed);
    shape_ = {s.conv.out_h, s.conv.out_w, s.conv.out_c};
    s.kind = StepKind::conv;
    if (pool) {
      s.kind = StepKind::conv_maxpool;
      s.pool = pool_geometry(kOp, {1, shape_[0], shape_[1], shape_[2]}, *pool, pool_strides,
                             pool_pads);
      shape_ = {s.pool.out_h, s.pool.out_w, s.pool.channels};
    }
    push(std::move(s));
  }

  void add_maxpool(Pair pool, Pair strides, Pads pads) {
    if (shape_.size() != 3)
      fail(kOp, "a pooling step needs (H, W, C) samples, got " + dims_str(shape_));
    ChainStep s;
    s.kind = StepKind::maxpool;
    s.pool = pool_geometry(kOp, {1, shape_[0], shape_[1], shape_[2]}, pool, strides, pads);
    shape_ = {s.pool.out_h, s.pool.out_w, s.pool.channels};
    push(std::move(s));
  }

  // Flatten: NHWC samples are already contiguous; only the shape changes.
  void add_flatten() { shape_ = {count_of(shape_)}; }

  // Dense over the last axis: kernel (K, units), packed by gemm_pack_b(kernel)
  // or None; act 10 (softmax) runs over each output row after the GEMM.
  void add_dense(const FArray& kernel, std::optional<FArray> bias, std::optional<FArray> packed,
                 int act, float act_param) {
    check_ndim(kOp, "kernel", kernel, 2);
    if (shape_.empty() || shape_.back() != kernel.shape(0))
      fail(kOp, "a dense step with kernel " + shape_str(kernel) + " cannot take samples " +
                    dims_str(shape_));
    ChainStep s;
    s.kind = StepKind::dense;
    s.k = kernel.shape(0);
    s.n = kernel.shape(1);
    s.softmax = act == static_cast<int>(Act::softmax);
    s.ep = checked_epilogue(kOp, bias, s.n, s.softmax ? 0 : act, act_param);
    s.packed_ptr = packed ? checked_packed_b(kOp, s.k, s.n, false, *packed) : nullptr;
    s.kernel_ptr = kernel.data();
    s.kernel = kernel;
    s.bias = std::move(bias);
    s.packed = std::move(packed);
    shape_.back() = s.n;
    push(std::move(s));
  }

  std::vector<int64_t> output_shape() const { return shape_; }

  // y for x, or None when check_finite and x holds a NaN or an infinity
  // (the caller's slow path then reports it).
  py::object run(const FArray& x, bool check_finite) const {
    bool same = static_cast<size_t>(x.ndim()) == in_shape_.size() + 1;
    for (size_t i = 0; same && i < in_shape_.size(); ++i) same = x.shape(i + 1) == in_shape_[i];
    if (!same)
      fail(kOp, "x has shape " + shape_str(x) + " but the chain was built for " +
                    dims_str(in_shape_));
    if (active_isa() != isa_) fail(kOp, "the chain was built for another ISA; build it again");
    if (steps_.empty()) fail(kOp, "the chain has no kernel steps");
    const int64_t batch = x.shape(0);
    if (batch < 1) fail(kOp, "x has no samples");
    // Two ping-pong buffers for the intermediate outputs; the last step
    // writes the returned array.
    int64_t widest = 0;
    for (size_t i = 0; i + 1 < steps_.size(); ++i)
      widest = std::max(widest, mul_or_fail(kOp, batch, steps_[i].out_floats));
    std::vector<py::ssize_t> out_dims{batch};
    for (int64_t d : shape_) out_dims.push_back(d);
    mul_or_fail(kOp, batch, count_of(shape_));
    FArray y = new_array(out_dims);
    const bool two = steps_.size() > 2;
    CachedBlock ping(steps_.size() > 1 ? widest : 0), pong(two ? widest : 0);
    const float* src = x.data();
    float* out = y.mutable_data();
    bool finite = true;
    {
      py::gil_scoped_release nogil;
      if (check_finite) {
        const int64_t size = x.size();
        int64_t bad = -1;
        PYCNN_DISPATCH(first_nonfinite, &src, &size, 1, &bad);
        finite = bad < 0;
      }
      for (size_t i = 0; finite && i < steps_.size(); ++i) {
        float* dst = i + 1 == steps_.size() ? out : (i % 2 == 0 ? ping.p : pong.p);
        run_step(steps_[i], batch, src, dst);
        src = dst;
      }
    }
    if (!finite) return py::none();
    return std::move(y);
  }

 private:
  void push(ChainStep s) {
    s.out_floats = count_of(shape_);
    if (s.bias) s.ep.bias = s.bias->data();
    steps_.push_back(std::move(s));
  }

  static void run_step(const ChainStep& s, int64_t batch, const float* x, float* y) {
    switch (s.kind) {
      case StepKind::conv: {
        ConvGeometry g = s.conv;
        g.batch = batch;
        PYCNN_DISPATCH(conv2d_forward_packed, g, x, s.kernel_ptr, s.packed_ptr, &s.ep, y, false);
        break;
      }
      case StepKind::conv_maxpool: {
        ConvGeometry g = s.conv;
        PoolGeometry pg = s.pool;
        g.batch = pg.batch = batch;
        PYCNN_DISPATCH(conv2d_maxpool_forward, g, pg, x, s.kernel_ptr, s.packed_ptr, &s.ep, y,
                       nullptr);
        break;
      }
      case StepKind::maxpool: {
        PoolGeometry pg = s.pool;
        pg.batch = batch;
        PYCNN_DISPATCH(max_pool2d_forward, pg, x, y, nullptr);
        break;
      }
      case StepKind::dense: {
        const int64_t m = batch * (s.out_floats / s.n);
        if (s.packed_ptr && !gemm_row_skips_packing(m, s.n, false))
          PYCNN_DISPATCH(sgemm_prepacked_b, false, m, s.n, s.k, 1.0f, x, s.k, s.packed_ptr, 0.0f,
                         y, s.n, &s.ep, 0);
        else
          PYCNN_DISPATCH(sgemm, false, false, m, s.n, s.k, 1.0f, x, s.k, s.kernel_ptr, s.n, 0.0f,
                         y, s.n, &s.ep, 0);
        if (s.softmax) PYCNN_DISPATCH(act_forward, y, y, m, s.n, Act::softmax, 0.0f);
        break;
      }
    }
  }

  std::vector<int64_t> in_shape_, shape_;
  Isa isa_;
  std::vector<ChainStep> steps_;
};

}  // namespace

void bind_chain(py::module_& m) {
  py::class_<InferenceChain>(m, "InferenceChain",
                             "Conv/pool/flatten/dense steps run by one call (inference only).")
      .def(py::init<std::vector<int64_t>>(), py::arg("sample_shape"))
      .def("add_conv", &InferenceChain::add_conv, py::arg("kernel"), py::arg("bias"),
           py::arg("packed"), py::arg("strides"), py::arg("dilation"), py::arg("pads"),
           py::arg("act"), py::arg("act_param"), py::arg("pool") = py::none(),
           py::arg("pool_strides") = Pair{1, 1}, py::arg("pool_pads") = Pads{0, 0, 0, 0})
      .def("add_maxpool", &InferenceChain::add_maxpool, py::arg("pool"), py::arg("strides"),
           py::arg("pads"))
      .def("add_flatten", &InferenceChain::add_flatten)
      .def("add_dense", &InferenceChain::add_dense, py::arg("kernel"), py::arg("bias"),
           py::arg("packed"), py::arg("act"), py::arg("act_param"))
      .def_property_readonly("output_shape", &InferenceChain::output_shape)
      .def("run", &InferenceChain::run, py::arg("x"), py::arg("check_finite") = false);
}

}  // namespace pycnn
