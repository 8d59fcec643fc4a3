#include "bindings/common.hpp"

namespace pycnn {

void bind_optim(py::module_& m) { (void)m; }

}  // namespace pycnn
