// Optimized SGEMM (GotoBLAS / BLIS structure). Each thread owns one
// rectangle of C (a grid of row parts x column parts) and runs, with no
// synchronisation until the end:
//   for each NC-column block of its columns      (jc)
//     for each KC slice of k                     (pc)  pack its B block
//       for each MC-row block of its rows        (ic)  pack the A block
//         for each kNR x kMR tile: register-blocked micro-kernel
// No barriers means a thread delayed by other work on the machine only
// delays the end, and the price (each thread packs the operand it shares
// with the others) is picked to be the smaller one.
// Tiles sit at multiples of kMR x kNR from the origin and every C element
// is summed in the same k order whatever the split, so results do not depend
// on the thread count. The epilogue runs on each tile after its last K slice.
// m == 1 with a row-major B streams B row by row instead (gemv.hpp).

// GCC 12 flags the _mm512_undefined_ps() inside its own intrinsics headers as
// "(maybe) uninitialized" once they are inlined here: a known false positive.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <new>

#include "core/threading.hpp"
#include "core/workspace.hpp"
#include "gemm/epilogue_scalar.hpp"
#include "gemm/gemm.hpp"
#include "gemm/gemv.hpp"
#include "gemm/microkernel.hpp"
#include "gemm/pack.hpp"

namespace pycnn {
namespace PYCNN_ISA_NS {
namespace {

using namespace gemm_detail;

// Workspace slots the GEMM owns (see gemm.hpp): callers keep theirs elsewhere.
constexpr int kSlotPackedB = 6;
constexpr int kSlotPackedA = 7;

// A packed B element feeds 2m flops (~m/16 micro-kernel cycles) and costs a
// cycle or two to pack: a big share when m is small. Up to this m, reading
// full B panels in place (strided, from L2 rather than L1) measured faster.
constexpr int64_t kMaxRowsForInPlaceB = 128;

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

struct Problem {
  bool trans_a, trans_b;
  int64_t m, n, k;
  float alpha, beta;
  const float* a;
  int64_t lda;
  const float* b;
  int64_t ldb;
  float* c;
  int64_t ldc;
  const Epilogue* ep;
};

// Rows [i0, i1) x columns [j0, j1) of C; i0 and j0 are tile-aligned.
struct Region {
  int64_t i0, i1, j0, j1;
};

// Splits nt threads into row_parts x col_parts = nt, minimising the packing
// each thread does (its share of A plus its share of B, both k deep).
void thread_grid(int64_t m, int64_t n, int nt, int* row_parts, int* col_parts) {
  const int64_t row_panels = ceil_div(m, kMR), col_panels = ceil_div(n, kNR);
  double best = -1.0;
  *row_parts = *col_parts = 1;
  for (int rows = 1; rows <= nt; ++rows) {
    if (nt % rows != 0 || rows > row_panels || nt / rows > col_panels) continue;
    const double packed = static_cast<double>(m) / rows + static_cast<double>(n) / (nt / rows);
    if (best < 0.0 || packed < best) {
      best = packed;
      *row_parts = rows;
      *col_parts = nt / rows;
    }
  }
}

// C = beta * C, then the epilogue: all that is left when k == 0 or alpha == 0.
void scale_and_finish(const Problem& pr) {
  for (int64_t i = 0; i < pr.m; ++i) {
    float* ci = pr.c + i * pr.ldc;
    if (pr.beta == 0.0f)
      std::memset(ci, 0, sizeof(float) * pr.n);
    else if (pr.beta != 1.0f)
      for (int64_t j = 0; j < pr.n; ++j) ci[j] *= pr.beta;
    epilogue_row(ci, pr.n, pr.ep);
  }
}

// One rows x cols (<= kMR x kNR) tile. Tiles with ragged columns go through
// a full-width scratch tile so they use exactly the same arithmetic.
inline void compute_tile(int64_t kc, const float* ap, const float* bp, int64_t ldbp, float* c,
                         int64_t ldc, int64_t rows, int64_t cols, TileStore out,
                         const Epilogue* scalar_act) {
  const int r = static_cast<int>(rows);
  if (cols == kNR) {
    micro_kernel_rows(r, kc, ap, bp, ldbp, c, ldc, out);
    if (scalar_act) activate_tile(c, ldc, rows, kNR, scalar_act);
    return;
  }
  alignas(64) float tile[kMR * kNR] = {};
  alignas(64) float bias[kNR] = {};
  const size_t row_bytes = sizeof(float) * static_cast<size_t>(cols);
  if (out.beta != 0.0f)
    for (int64_t i = 0; i < rows; ++i) std::memcpy(tile + i * kNR, c + i * ldc, row_bytes);
  if (out.bias) {
    std::memcpy(bias, out.bias, row_bytes);
    out.bias = bias;
  }
  micro_kernel_rows(r, kc, ap, bp, ldbp, tile, kNR, out);
  if (scalar_act) activate_tile(tile, kNR, rows, cols, scalar_act);
  for (int64_t i = 0; i < rows; ++i) std::memcpy(c + i * ldc, tile + i * kNR, row_bytes);
}

// How a tile is stored after K slice [pc, pc + kc): beta on the first slice
// (later ones accumulate), bias and activation on the last.
TileStore store_for_slice(const Problem& pr, int64_t pc, int64_t kc, const Epilogue** scalar_act) {
  TileStore out;
  out.alpha = pr.alpha;
  out.beta = pc == 0 ? pr.beta : 1.0f;
  *scalar_act = nullptr;
  const Epilogue* ep = pr.ep;
  if (pc + kc == pr.k && ep) {
    if (ep->act == Act::relu) out.act = RegisterAct::relu;
    if (ep->act == Act::leaky_relu) out.act = RegisterAct::leaky_relu;
    out.slope = ep->act_param;
    out.bias = ep->bias;  // of column 0; offset per tile
    if (needs_scalar_act(ep)) *scalar_act = ep;
  }
  return out;
}

// All of one thread's rectangle of C. packed_b holds kKC x kNC floats,
// packed_a kMC x kKC (rounded up to whole panels).
void multiply_region(const Problem& pr, const Region& rg, float* packed_a, float* packed_b) {
  const int64_t k = pr.k;
  const int64_t kc_blk = ceil_div(k, ceil_div(k, kKC));  // equal slices, no thin leftover
  const bool b_in_place = !pr.trans_b && pr.m <= kMaxRowsForInPlaceB;
  for (int64_t jc = rg.j0; jc < rg.j1; jc += kNC) {
    const int64_t nc = std::min(kNC, rg.j1 - jc);
    const int64_t n_panels = ceil_div(nc, kNR);
    for (int64_t pc = 0; pc < k; pc += kc_blk) {
      const int64_t kc = std::min(kc_blk, k - pc);
      if (pr.trans_b)
        for (int64_t jp = 0; jp < n_panels; ++jp)
          pack_bt_panel(pr.b, pr.ldb, jc + jp * kNR, std::min<int64_t>(kNR, nc - jp * kNR), pc,
                        kc, packed_b + jp * kc * kNR);
      else
        pack_b_block_rows(pr.b, pr.ldb, jc, nc, pc, kc, b_in_place, packed_b);
      const Epilogue* scalar_act;
      TileStore out = store_for_slice(pr, pc, kc, &scalar_act);
      const float* bias = out.bias;

      for (int64_t ic = rg.i0; ic < rg.i1; ic += kMC) {
        const int64_t mc = std::min(kMC, rg.i1 - ic);
        for (int64_t ip = 0; ip * kMR < mc; ++ip)
          pack_a_panel(pr.trans_a, pr.a, pr.lda, ic + ip * kMR,
                       std::min<int64_t>(kMR, mc - ip * kMR), pc, kc, packed_a + ip * kMR * kc);
        for (int64_t jp = 0; jp < n_panels; ++jp) {
          const int64_t j = jc + jp * kNR;
          const int64_t cols = std::min<int64_t>(kNR, rg.j1 - j);
          const bool in_place = b_in_place && cols == kNR;
          const float* bp = in_place ? pr.b + pc * pr.ldb + j : packed_b + jp * kc * kNR;
          const int64_t ldbp = in_place ? pr.ldb : kNR;
          out.bias = bias ? bias + j : nullptr;
          for (int64_t ip = 0; ip * kMR < mc; ++ip) {
            const int64_t i = ic + ip * kMR;
            compute_tile(kc, packed_a + ip * kMR * kc, bp, ldbp, pr.c + i * pr.ldc + j, pr.ldc,
                         std::min<int64_t>(kMR, rg.i1 - i), cols, out, scalar_act);
          }
        }
      }
    }
  }
}

// This thread's rectangle when `team` threads split C into a grid.
Region region_of_thread(const Problem& pr, int thread, int team) {
  int row_parts, col_parts;
  thread_grid(pr.m, pr.n, team, &row_parts, &col_parts);
  const int64_t row_panels = ceil_div(pr.m, kMR), col_panels = ceil_div(pr.n, kNR);
  const int rp = thread / col_parts, cp = thread % col_parts;
  Region rg{0, 0, 0, 0};
  if (rp >= row_parts) return rg;  // a thread the grid has no room for
  rg.i0 = rp * row_panels / row_parts * kMR;
  rg.i1 = std::min((rp + 1) * row_panels / row_parts * kMR, pr.m);
  rg.j0 = cp * col_panels / col_parts * kNR;
  rg.j1 = std::min((cp + 1) * col_panels / col_parts * kNR, pr.n);
  return rg;
}

// m == 1, row-major B: see gemv.hpp.
void multiply_single_row(const Problem& pr, int threads) {
  const int64_t chunks = ceil_div(pr.n, kGemvChunk);
  const int64_t a_step = pr.trans_a ? pr.lda : 1;
  std::atomic<bool> out_of_memory{false};
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static)
  for (int64_t chunk = 0; chunk < chunks; ++chunk) {
    float* acc = nullptr;
    try {
      acc = workspace_floats(kGemvChunk, kSlotPackedA);
    } catch (const std::bad_alloc&) {
      out_of_memory = true;
      continue;
    }
    const int64_t j0 = chunk * kGemvChunk;
    gemv_columns(pr.k, pr.alpha, pr.a, a_step, pr.b, pr.ldb, pr.beta, pr.c, pr.ep, j0,
                 std::min(pr.n, j0 + kGemvChunk), acc);
  }
  if (out_of_memory) throw std::bad_alloc();
}

}  // namespace

void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
           const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
           int64_t ldc, const Epilogue* epilogue, int num_threads) {
  const Problem pr{trans_a, trans_b, m, n, k, alpha, beta, a, lda, b, ldb, c, ldc, epilogue};
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == 0.0f) {
    scale_and_finish(pr);
    return;
  }
  // An explicit count is still capped by max_threads(), so the post-fork
  // single-thread clamp and threadpoolctl limits hold for every caller.
  int threads = num_threads > 0 ? std::min(num_threads, max_threads())
                                : threads_for_work(2.0 * m * n * k);
  if (in_parallel_region()) threads = 1;
  if (m == 1 && !trans_b) {
    multiply_single_row(pr, threads);
    return;
  }
  const int64_t kc_max = std::min(k, kKC);  // equal slices never exceed kKC
  const size_t b_floats = static_cast<size_t>(kc_max * std::min(kNC, ceil_div(n, kNR) * kNR));
  const size_t a_floats = static_cast<size_t>(kc_max * ceil_div(std::min(kMC, m), kMR) * kMR);

  std::atomic<bool> out_of_memory{false};
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    const Region rg = region_of_thread(pr, omp_get_thread_num(), omp_get_num_threads());
    if (rg.i1 > rg.i0 && rg.j1 > rg.j0) {
      try {
        float* packed_b = workspace_floats(b_floats, kSlotPackedB);
        float* packed_a = workspace_floats(a_floats, kSlotPackedA);
        multiply_region(pr, rg, packed_a, packed_b);
      } catch (const std::bad_alloc&) {
        out_of_memory = true;
      }
    }
  }
  if (out_of_memory) throw std::bad_alloc();
}

}  // namespace PYCNN_ISA_NS
}  // namespace pycnn
