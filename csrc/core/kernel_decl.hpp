// Declaring a kernel once for every ISA copy, and calling the active copy.
//
// Kernel sources (gemm/, conv/, pool/, ...) are compiled once per ISA with
// PYCNN_ISA_NS set to avx512, avx2 or generic, so each definition lands in
// namespace pycnn::<isa>. A family header lists its kernels in a macro and
// declares them for every ISA with PYCNN_DECLARE_FOR_ALL_ISAS; callers
// (bindings) use PYCNN_DISPATCH(fn, args...) to reach the active copy.
//
// Rule for code compiled per ISA: no out-of-line template instantiations
// shared with other translation units (no std::vector, std::function,
// std::sort, ...), and header helpers must be `static inline` or live inside
// namespace PYCNN_ISA_NS. Otherwise the linker may merge an AVX-512 copy of
// a weak symbol into the generic path and crash an older CPU.
#pragma once
#include "core/isa.hpp"

#define PYCNN_DECLARE_FOR_ALL_ISAS(DECLS) \
  namespace pycnn {                       \
  namespace avx512 { DECLS }              \
  namespace avx2 { DECLS }                \
  namespace generic { DECLS }             \
  }

#if defined(PYCNN_HAVE_X86_ISAS)
#define PYCNN_DISPATCH(fn, ...)                                          \
  do {                                                                   \
    switch (::pycnn::active_isa()) {                                     \
      case ::pycnn::Isa::avx512: ::pycnn::avx512::fn(__VA_ARGS__); break; \
      case ::pycnn::Isa::avx2: ::pycnn::avx2::fn(__VA_ARGS__); break;     \
      default: ::pycnn::generic::fn(__VA_ARGS__); break;                 \
    }                                                                    \
  } while (0)
#else
#define PYCNN_DISPATCH(fn, ...) ::pycnn::generic::fn(__VA_ARGS__)
#endif
