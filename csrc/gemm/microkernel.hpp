// Picks the register-blocked micro-kernel (and its tile / cache-block sizes
// kMR, kNR, kKC, kMC, kNC) for the ISA this translation unit is compiled for.
#pragma once

#if defined(__AVX512F__)
#include "gemm/microkernel_avx512.hpp"
#elif defined(__AVX2__) && defined(__FMA__)
#include "gemm/microkernel_avx2.hpp"
#else
#include "gemm/microkernel_generic.hpp"
#endif
