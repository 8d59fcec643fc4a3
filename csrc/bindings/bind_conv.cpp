#include "bindings/common.hpp"

namespace pycnn {

void bind_conv(py::module_& m) { (void)m; }

}  // namespace pycnn
