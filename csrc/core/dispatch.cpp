#include "core/isa.hpp"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

namespace pycnn {
namespace {

Isa detect() {
#if defined(PYCNN_HAVE_X86_ISAS) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
    return Isa::avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::avx2;
#endif
  return Isa::generic;
}

Isa initial() {
  Isa best = detect();
  if (const char* env = std::getenv("PYCNN_ISA")) {
    if (*env == '\0') return best;
    Isa want = isa_from_name(env);  // unknown names throw at import: a typo must not pass silently
    return static_cast<int>(want) <= static_cast<int>(best) ? want : best;
  }
  return best;
}

std::atomic<int>& current() {
  static std::atomic<int> isa{static_cast<int>(initial())};
  return isa;
}

}  // namespace

Isa best_supported_isa() {
  static const Isa best = detect();
  return best;
}

Isa active_isa() { return static_cast<Isa>(current().load(std::memory_order_relaxed)); }

void set_isa(Isa isa) {
  if (static_cast<int>(isa) > static_cast<int>(best_supported_isa()))
    throw std::invalid_argument(std::string("ISA '") + isa_name(isa) +
                                "' is not supported by this CPU or build (best: " +
                                isa_name(best_supported_isa()) + ")");
  current().store(static_cast<int>(isa));
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2";
    default: return "generic";
  }
}

Isa isa_from_name(const char* name) {
  if (!std::strcmp(name, "avx512")) return Isa::avx512;
  if (!std::strcmp(name, "avx2")) return Isa::avx2;
  if (!std::strcmp(name, "generic")) return Isa::generic;
  throw std::invalid_argument(std::string("unknown ISA '") + name +
                              "' (expected avx512, avx2 or generic)");
}

}  // namespace pycnn
