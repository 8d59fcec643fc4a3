#include "bindings/common.hpp"

namespace pycnn {

void bind_act(py::module_& m) { (void)m; }

}  // namespace pycnn
