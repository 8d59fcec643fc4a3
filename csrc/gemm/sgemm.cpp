// Optimized SGEMM (GotoBLAS / BLIS structure):
//   for each NC-column block of C            (jc)
//     for each KC slice of k                 (pc)  pack B block once, shared
//       threads take (row block x column chunk) tasks: pack the A block
//       (per thread), then run the register-blocked micro-kernel on every
//       kMR x kNR tile of the task.
// Threads split M x N only (never k), and every C element is summed in the
// same k order whatever the blocking, so results do not depend on the thread
// count. The epilogue runs on each tile after its last K slice.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <new>

#include "core/threading.hpp"
#include "core/workspace.hpp"
#include "gemm/epilogue_scalar.hpp"
#include "gemm/gemm.hpp"
#include "gemm/microkernel.hpp"
#include "gemm/pack.hpp"

// GCC 12 flags the _mm512_undefined_ps() inside its own intrinsics headers as
// "maybe uninitialized" once they are inlined here: a known false positive.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace pycnn {
namespace PYCNN_ISA_NS {
namespace {

using namespace gemm_detail;

// Workspace slots the GEMM owns (see gemm.hpp): callers keep theirs elsewhere.
constexpr int kSlotPackedB = 6;
constexpr int kSlotPackedA = 7;

// With this few rows each B element is used by at most two row panels, so
// packing B would cost about as much as the multiply: read it in place.
constexpr int64_t kMaxRowsForInPlaceB = 2 * kMR;

// Tasks per thread: small enough to balance when another process takes a
// core for a while (tasks are handed out dynamically), large enough to keep
// the per-task A packing and B panel reloads cheap.
constexpr int64_t kTasksPerThread = 4;

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

// How one call is cut into blocks and tasks. Row block ic covers row panels
// [ic * row_panels / n_ic, (ic + 1) * row_panels / n_ic).
struct Plan {
  int threads;
  int64_t kc_blk, nc_blk;
  int64_t row_panels, n_ic, max_block_panels;
  int64_t col_chunks;
  bool b_in_place;  // full panels of a row-major B are read in place
};

Plan make_plan(const Problem& pr, int threads) {
  Plan pl;
  pl.threads = threads;
  pl.kc_blk = ceil_div(pr.k, ceil_div(pr.k, kKC));  // equal slices, no thin leftover
  pl.nc_blk = std::min(ceil_div(pr.n, kNR) * kNR, kNC);
  pl.row_panels = ceil_div(pr.m, kMR);
  int64_t n_ic = ceil_div(pr.m, kMC);
  if (threads > 1) n_ic = std::max<int64_t>(n_ic, kTasksPerThread * threads);
  pl.n_ic = std::min(n_ic, pl.row_panels);
  pl.max_block_panels = ceil_div(pl.row_panels, pl.n_ic);
  // Too few row blocks to feed every thread: split the columns as well.
  pl.col_chunks = threads > 1 ? ceil_div(kTasksPerThread * threads, pl.n_ic) : 1;
  pl.b_in_place = !pr.trans_b && pr.m <= kMaxRowsForInPlaceB;
  return pl;
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

// One rows x cols (<= kMR x kNR) tile. Ragged tiles go through a full-size
// scratch tile so they use exactly the same arithmetic as full ones.
inline void compute_tile(int64_t kc, const float* ap, const float* bp, int64_t ldbp, float* c,
                         int64_t ldc, int64_t rows, int64_t cols, TileStore out,
                         const Epilogue* scalar_act) {
  if (rows == kMR && cols == kNR) {
    micro_kernel(kc, ap, bp, ldbp, c, ldc, out);
    if (scalar_act) activate_tile(c, ldc, kMR, kNR, scalar_act);
    return;
  }
  alignas(64) float tile[kMR * kNR] = {};
  alignas(64) float bias[kNR] = {};
  if (out.beta != 0.0f)
    for (int64_t r = 0; r < rows; ++r) std::memcpy(tile + r * kNR, c + r * ldc, sizeof(float) * cols);
  if (out.bias) {
    std::memcpy(bias, out.bias, sizeof(float) * cols);
    out.bias = bias;
  }
  micro_kernel(kc, ap, bp, ldbp, tile, kNR, out);
  if (scalar_act) activate_tile(tile, kNR, rows, cols, scalar_act);
  for (int64_t r = 0; r < rows; ++r) std::memcpy(c + r * ldc, tile + r * kNR, sizeof(float) * cols);
}

// The KC x NC block of B at (pc, jc), packed panel by panel; threads share it.
void pack_b_block(const Problem& pr, const Plan& pl, int64_t jc, int64_t nc, int64_t pc,
                  int64_t kc, float* packed_b) {
  const int64_t n_panels = ceil_div(nc, kNR);
#pragma omp for schedule(static)
  for (int64_t jp = 0; jp < n_panels; ++jp) {
    const int64_t j0 = jp * kNR;
    if (pl.b_in_place && nc - j0 >= kNR) continue;
    pack_b_panel(pr.trans_b, pr.b, pr.ldb, jc + j0, std::min<int64_t>(kNR, nc - j0), pc, kc,
                 packed_b + jp * kc * kNR);
  }
}

// One K slice of one column block: every task's tiles, A packed per task.
void multiply_slice(const Problem& pr, const Plan& pl, int64_t jc, int64_t nc, int64_t pc,
                    int64_t kc, const float* packed_b, float* packed_a) {
  const bool last_slice = pc + kc == pr.k;
  const Epilogue* ep = pr.ep;
  TileStore out;
  out.alpha = pr.alpha;
  out.beta = pc == 0 ? pr.beta : 1.0f;  // later slices accumulate
  const Epilogue* scalar_act = nullptr;
  if (last_slice && ep) {
    if (ep->act == Act::relu) out.act = RegisterAct::relu;
    if (ep->act == Act::leaky_relu) out.act = RegisterAct::leaky_relu;
    out.slope = ep->act_param;
    if (needs_scalar_act(ep)) scalar_act = ep;
  }
  const float* bias = last_slice && ep ? ep->bias : nullptr;
  const int64_t n_panels = ceil_div(nc, kNR);

  int64_t packed_ic = -1;  // row block now in packed_a
#pragma omp for schedule(dynamic, 1)
  for (int64_t task = 0; task < pl.n_ic * pl.col_chunks; ++task) {
    const int64_t ic = task / pl.col_chunks, chunk = task % pl.col_chunks;
    const int64_t i0 = ic * pl.row_panels / pl.n_ic * kMR;
    const int64_t mc = std::min((ic + 1) * pl.row_panels / pl.n_ic * kMR, pr.m) - i0;
    if (ic != packed_ic) {
      for (int64_t ip = 0; ip * kMR < mc; ++ip)
        pack_a_panel(pr.trans_a, pr.a, pr.lda, i0 + ip * kMR,
                     std::min<int64_t>(kMR, mc - ip * kMR), pc, kc, packed_a + ip * kMR * kc);
      packed_ic = ic;
    }
    const int64_t jp_end = (chunk + 1) * n_panels / pl.col_chunks;
    for (int64_t jp = chunk * n_panels / pl.col_chunks; jp < jp_end; ++jp) {
      const int64_t j = jc + jp * kNR;
      const int64_t cols = std::min<int64_t>(kNR, pr.n - j);
      const bool in_place = pl.b_in_place && cols == kNR;
      const float* bp = in_place ? pr.b + pc * pr.ldb + j : packed_b + jp * kc * kNR;
      const int64_t ldbp = in_place ? pr.ldb : kNR;
      out.bias = bias ? bias + j : nullptr;
      for (int64_t ip = 0; ip * kMR < mc; ++ip) {
        const int64_t i = i0 + ip * kMR;
        compute_tile(kc, packed_a + ip * kMR * kc, bp, ldbp, pr.c + i * pr.ldc + j, pr.ldc,
                     std::min<int64_t>(kMR, pr.m - i), cols, out, scalar_act);
      }
    }
  }
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
  int threads = num_threads > 0 ? num_threads : threads_for_work(2.0 * m * n * k);
  if (in_parallel_region()) threads = 1;
  const Plan pl = make_plan(pr, threads);

  float* packed_b = workspace_floats(static_cast<size_t>(pl.kc_blk * pl.nc_blk), kSlotPackedB);
  std::atomic<bool> out_of_memory{false};

#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    float* packed_a = nullptr;
    try {
      packed_a = workspace_floats(static_cast<size_t>(pl.max_block_panels * kMR * pl.kc_blk),
                                  kSlotPackedA);
    } catch (const std::bad_alloc&) {
      out_of_memory = true;
    }
#pragma omp barrier
    if (!out_of_memory) {
      for (int64_t jc = 0; jc < n; jc += pl.nc_blk) {
        const int64_t nc = std::min(pl.nc_blk, n - jc);
        for (int64_t pc = 0; pc < k; pc += pl.kc_blk) {
          const int64_t kc = std::min(pl.kc_blk, k - pc);
          pack_b_block(pr, pl, jc, nc, pc, kc, packed_b);  // ends with a barrier
          multiply_slice(pr, pl, jc, nc, pc, kc, packed_b, packed_a);  // ditto
        }
      }
    }
  }
  if (out_of_memory) throw std::bad_alloc();
}

}  // namespace PYCNN_ISA_NS
}  // namespace pycnn
