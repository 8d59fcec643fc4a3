#include "bindings/common.hpp"

namespace pycnn {

void bind_rnn(py::module_& m) { (void)m; }

}  // namespace pycnn
