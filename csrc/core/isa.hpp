// CPU feature detection and the choice of kernel path (ISA) at run time.
#pragma once

namespace pycnn {

enum class Isa { generic = 0, avx2 = 1, avx512 = 2 };

// The path kernels run on now: the best one the CPU supports, unless
// PYCNN_ISA=generic|avx2|avx512 in the environment or set_isa() says otherwise.
Isa active_isa();
// Best path this CPU (and this build) supports.
Isa best_supported_isa();
// Force a path; throws std::invalid_argument if the CPU or the build lacks it.
void set_isa(Isa isa);
const char* isa_name(Isa isa);
Isa isa_from_name(const char* name);  // throws std::invalid_argument

}  // namespace pycnn
