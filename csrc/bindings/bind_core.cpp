// Threads, ISA selection and workspace introspection.
#include "bindings/common.hpp"
#include "core/isa.hpp"
#include "core/threading.hpp"
#include "core/workspace.hpp"

namespace pycnn {

void bind_core(py::module_& m) {
  install_fork_handler();
  m.def("set_num_threads", [](int n) {
    if (n < 1) throw std::invalid_argument("set_num_threads: n must be >= 1, got " + std::to_string(n));
    set_max_threads(n);
  });
  m.def("get_num_threads", &max_threads,
        "Threads the calling thread's kernels may use (follows omp_set_num_threads).");
  m.def("forked_single_threaded", &forked_single_threaded,
        "True in a process forked after pycnn ran a parallel region: kernels run on one "
        "thread there, because libgomp's thread pool does not survive fork().");
  m.def("get_isa", [] { return std::string(isa_name(active_isa())); });
  m.def("best_isa", [] { return std::string(isa_name(best_supported_isa())); });
  m.def("set_isa", [](const std::string& name) { set_isa(isa_from_name(name.c_str())); });
  m.def("workspace_bytes", &workspace_bytes_held,
        "Scratch bytes held by the calling thread's workspace arena.");
}

}  // namespace pycnn
