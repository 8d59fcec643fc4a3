// Threads, ISA selection and workspace introspection.
#include "bindings/common.hpp"
#include "core/isa.hpp"
#include "core/threading.hpp"
#include "core/workspace.hpp"

namespace pycnn {

void bind_core(py::module_& m) {
  m.def("set_num_threads", [](int n) {
    if (n < 1) throw std::invalid_argument("set_num_threads: n must be >= 1, got " + std::to_string(n));
    set_max_threads(n);
  });
  m.def("get_num_threads", &max_threads);
  m.def("get_isa", [] { return std::string(isa_name(active_isa())); });
  m.def("best_isa", [] { return std::string(isa_name(best_supported_isa())); });
  m.def("set_isa", [](const std::string& name) { set_isa(isa_from_name(name.c_str())); });
  m.def("workspace_bytes", &workspace_bytes_held,
        "Scratch bytes held by the calling thread's workspace arena.");
}

}  // namespace pycnn
