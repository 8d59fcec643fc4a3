#include "bindings/common.hpp"

namespace pycnn {

void bind_pool(py::module_& m) { (void)m; }

}  // namespace pycnn
