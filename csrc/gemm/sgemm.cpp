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
// sgemm_prepacked_b runs the same loops on B packed once by sgemm_pack_b
// (all K slices x kNR panels, in the order the loops read them).

// GCC 12 flags the _mm512_undefined_ps() inside its own intrinsics headers as
// "(maybe) uninitialized" once they are inlined here: a known false positive.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include <omp.h>
#include <unistd.h>

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
// Regions of fewer rows than this read A in place (see multiply_region):
// 1.3x at 1 row, 1.03x at 7, slower from about 12 (512 x 256 B, packed).
constexpr int64_t kInPlaceRows = 8;
// Regions at most this wide read A in place whatever their rows (see multiply_region).
constexpr int64_t kInPlaceMaxCols = 2 * kNR;

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Cache blocking, chosen once from this machine's cache sizes:
//   kc: deep K slices, so C is loaded and stored once per slice only. The
//       kc x kNR panel of B and the kMR x kc panel of A then live in L2 (the
//       micro-kernel prefetches them into L1): together at most a quarter of
//       L2, capped at 1024 (1024^3: 124 GFLOP/s against 104 at kc = 256,
//       whose B panel filled a 32 KiB L1 and made 4 passes over C);
//   mc: an mc x kc block of A takes about a quarter of L2;
//   nc: a kc x nc block of B of twice L2: 2 MiB rather than the quarter of
//       L3 it once was (9 MiB here), because that L3 is shared with other
//       processes whose data evicts ours: each B panel is read from L3 again
//       for every mc rows of A. A/B in one process, 1 thread: 2048^3 1.04-1.12x,
//       512x4096x1024 1.05-1.18x, 49x2048x512 1.2-1.4x, 1024^3 1.03-1.07x;
//       at 2 threads 1.0-1.15x.
struct Blocking {
  int64_t kc, mc, nc;
};

// Bytes of L2 and L3 as the C library reports them (glibc reads CPUID);
// the fallback where it does not know (0 / -1) or has no such query.
int64_t cache_or(long reported, int64_t fallback) {
  return reported > 0 ? static_cast<int64_t>(reported) : fallback;
}

Blocking choose_blocking() {
  int64_t l2 = 512 << 10, l3 = 8 << 20;
#if defined(_SC_LEVEL2_CACHE_SIZE) && defined(_SC_LEVEL3_CACHE_SIZE)
  l2 = cache_or(sysconf(_SC_LEVEL2_CACHE_SIZE), l2);
  l3 = cache_or(sysconf(_SC_LEVEL3_CACHE_SIZE), l3);
#endif
  l2 = std::clamp<int64_t>(l2, 128 << 10, 8 << 20);
  l3 = std::clamp<int64_t>(l3, 1 << 20, 256 << 20);
  Blocking bl;
  const int64_t panel_bytes = (kMR + kNR) * int64_t(sizeof(float));
  bl.kc = std::clamp<int64_t>(l2 / 4 / panel_bytes / 64 * 64, 128, 1024);
  bl.mc = std::clamp<int64_t>(l2 / 4 / (bl.kc * int64_t(sizeof(float))) / kMR * kMR, kMR * 4,
                              kMR * 96);
  bl.nc = std::clamp<int64_t>(std::min(2 * l2, l3 / 4) / (bl.kc * int64_t(sizeof(float))) / kNR * kNR,
                              kNR * 4, kNR * 256);
  return bl;
}

const Blocking& blocking() {
  static const Blocking bl = choose_blocking();
  return bl;
}

// Depth of the K slices: equal slices of at most kc, so no thin leftover.
int64_t slice_depth(int64_t k) { return ceil_div(k, ceil_div(k, blocking().kc)); }

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
// lda < 0: ap is a packed A panel; else A itself (see micro_kernel_rows).
inline void compute_tile(int64_t kc, const float* ap, int64_t lda, const float* bp,
                         int64_t ldbp, float* c, int64_t ldc, int64_t rows, int64_t cols,
                         TileStore out, const Epilogue* scalar_act) {
  const int r = static_cast<int>(rows);
  if (cols == kNR) {
    micro_kernel_rows(r, kc, ap, lda, bp, ldbp, c, ldc, out);
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
  micro_kernel_rows(r, kc, ap, lda, bp, ldbp, tile, kNR, out);
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

#if defined(__AVX512F__)
// A one-row C (a batch-1 Dense): whole panels go through
// micro_kernel_row_panels, up to four side by side; a ragged last panel
// through compute_tile. `out` has the bias of column 0.
void row_times_panels(const Problem& pr, const Region& rg, int64_t jc, int64_t n_panels,
                      int64_t pc, int64_t kc, const float* b_block, TileStore out,
                      const Epilogue* scalar_act) {
  constexpr int kMaxPanels = 4;
  const float* bias = out.bias;
  const float* a = pr.a + rg.i0 * pr.lda + pc;
  float* c = pr.c + rg.i0 * pr.ldc;
  const int64_t panel_floats = kc * kNR;
  for (int64_t jp = 0; jp < n_panels;) {
    const int64_t j = jc + jp * kNR;
    int64_t run = 0;
    while (jp + run < n_panels && run < kMaxPanels && j + (run + 1) * kNR <= rg.j1) ++run;
    out.bias = bias ? bias + j : nullptr;
    const float* bp = b_block + jp * panel_floats;
    if (run == 0) {  // ragged
      compute_tile(kc, a, pr.lda, bp, kNR, c + j, pr.ldc, 1, rg.j1 - j, out, scalar_act);
      ++jp;
      continue;
    }
    switch (run) {
      case 1: micro_kernel_row_panels<1>(kc, a, bp, panel_floats, c + j, out); break;
      case 2: micro_kernel_row_panels<2>(kc, a, bp, panel_floats, c + j, out); break;
      case 3: micro_kernel_row_panels<3>(kc, a, bp, panel_floats, c + j, out); break;
      default: micro_kernel_row_panels<4>(kc, a, bp, panel_floats, c + j, out); break;
    }
    if (scalar_act) activate_tile(c + j, pr.ldc, 1, run * kNR, scalar_act);
    jp += run;
  }
}
#endif

#if defined(__AVX512F__)
// 7 x 64 tiles (micro_kernel_wide) against 14 x 32 ones, A in place, one
// process, alternating: C 64 wide 1.06-1.17x; 128 wide 1.02-1.11x at 1
// thread, 1.02-1.19x at 2 (784x1024x128 1.11x / 1.15x); wider with k <= 64
// 1.02-1.07x; wider with k >= 128 0.95-1.06x at 1 thread, so not there.
constexpr bool kWideTiles = true;
constexpr int kWideRows = 7;
constexpr int64_t kWideCols = 2 * kNR;
constexpr int64_t kWideMaxK = 64;
template <int R = kWideRows>
inline void wide_tile(int64_t rows, int64_t kc, const float* a, int64_t lda, const float* bp,
                      int64_t panel_floats, float* c, int64_t ldc, const TileStore& out) {
  if constexpr (R > 1) {
    if (rows < R) return wide_tile<R - 1>(rows, kc, a, lda, bp, panel_floats, c, ldc, out);
  }
  micro_kernel_wide<R>(kc, a, lda, bp, panel_floats, c, ldc, out);
}

// Rows [ic, ic + mc) x columns [jc, jc + 64) of a region,
// A in place: 7 x 64 tiles (micro_kernel_wide). A last group of at most 3
// rows past a multiple of kMR goes through compute_tile instead, panel by
// panel, so every element gets the arithmetic it gets in kMR x kNR tiles
// (micro_kernel splits K for R <= 3): the same bits whatever the tiling, and
// so whatever the thread count.
void wide_tiles(const Problem& pr, int64_t ic, int64_t mc, int64_t jc, int64_t pc, int64_t kc,
                const float* b_block, TileStore out, const Epilogue* scalar_act) {
  const float* bias = out.bias;
  out.bias = bias ? bias + jc : nullptr;
  const int64_t end = ic + mc, tail = (end - ic) % kMR;
  const int64_t wide_end = tail <= 3 ? end - tail : end;
  for (int64_t i = ic; i < wide_end; i += kWideRows) {
    const int64_t rows = std::min<int64_t>(kWideRows, wide_end - i);
    float* c = pr.c + i * pr.ldc + jc;
    wide_tile(rows, kc, pr.a + i * pr.lda + pc, pr.lda, b_block, kc * kNR, c, pr.ldc, out);
    if (scalar_act) activate_tile(c, pr.ldc, rows, 2 * kNR, scalar_act);
  }
  if (wide_end == end) return;
  for (int64_t jp = 0; jp < 2; ++jp) {
    const int64_t j = jc + jp * kNR;
    out.bias = bias ? bias + j : nullptr;
    compute_tile(kc, pr.a + wide_end * pr.lda + pc, pr.lda, b_block + jp * kc * kNR, kNR,
                 pr.c + wide_end * pr.ldc + j, pr.ldc, end - wide_end, kNR, out, scalar_act);
  }
}
#else
constexpr bool kWideTiles = false;
constexpr int64_t kWideCols = 2 * kNR, kWideMaxK = 0;
#endif

// All of one thread's rectangle of C. packed_b holds kc x nc floats,
// packed_a mc x kc (rounded up to whole panels). With prepacked_b (the layout
// of sgemm_pack_b, slices of slice_depth(k)) B is read from there instead.
void multiply_region(const Problem& pr, const Region& rg, float* packed_a, float* packed_b,
                     const float* prepacked_b) {
  const int64_t k = pr.k;
  const Blocking& bl = blocking();
  const int64_t kc_blk = slice_depth(k);
  const int64_t n_padded = ceil_div(pr.n, kNR) * kNR;
  // One row block and a transposed B: pack each B panel right before its
  // tiles (it is then still in L1) rather than the whole block ahead (read
  // back from L3 when m is small). A row-major B keeps the block packing:
  // its rows are read in long runs that way.
  const bool pack_per_panel = !prepacked_b && pr.trans_b && rg.i1 - rg.i0 <= bl.mc;
  // A is read in place, not packed, (a) for a few rows (a batch-1 Dense),
  // where packing would write a whole kMR-row panel, mostly zeros, per K
  // slice, and (b) when each packed A panel would serve at most two column
  // panels (C at most 64 wide: a pointwise conv to 64 channels), too few to
  // repay the packing: 1.0-1.3x at 1 thread (3136x256x64: 1.21x), same bits.
  // Not when A's rows are a multiple of 2 KiB apart: the kMR rows read side
  // by side would then fall into at most two L1 sets.
  // C 64 or 128 wide (pointwise convs to 64 / 128 channels), or any multiple
  // of 64 with k <= 64: 7 x 64 tiles, A in place (wide_tiles); 7 rows 2 KiB
  // apart still fit L1's ways.
  const int64_t width = rg.j1 - rg.j0;
  const bool wide = kWideTiles && !pr.trans_a && !pack_per_panel && width % kWideCols == 0 &&
                    bl.nc % kWideCols == 0 && (width <= 2 * kWideCols || k <= kWideMaxK);
  const bool a_in_place =
      !pr.trans_a && (rg.i1 - rg.i0 < std::min<int64_t>(kMR, kInPlaceRows) ||
                      (rg.j1 - rg.j0 <= kInPlaceMaxCols && pr.lda % 512 != 0) || wide);
  for (int64_t jc = rg.j0; jc < rg.j1; jc += bl.nc) {
    const int64_t nc = std::min(bl.nc, rg.j1 - jc);
    const int64_t n_panels = ceil_div(nc, kNR);
    for (int64_t pc = 0; pc < k; pc += kc_blk) {
      const int64_t kc = std::min(kc_blk, k - pc);
      const float* b_block = prepacked_b ? prepacked_b + pc * n_padded + jc * kc : packed_b;
      if (prepacked_b) {
        // already packed
      } else if (pack_per_panel) {
        // below, panel by panel
      } else if (pr.trans_b) {
        for (int64_t jp = 0; jp < n_panels; ++jp)
          pack_bt_panel(pr.b, pr.ldb, jc + jp * kNR, std::min<int64_t>(kNR, nc - jp * kNR), pc,
                        kc, packed_b + jp * kc * kNR);
      } else {
        pack_b_block_rows(pr.b, pr.ldb, jc, nc, pc, kc, packed_b);
      }
      const Epilogue* scalar_act;
      TileStore out = store_for_slice(pr, pc, kc, &scalar_act);
      const float* bias = out.bias;

      for (int64_t ic = rg.i0; ic < rg.i1; ic += bl.mc) {
        const int64_t mc = std::min(bl.mc, rg.i1 - ic);
        if (!a_in_place)
          for (int64_t ip = 0; ip * kMR < mc; ++ip)
            pack_a_panel(pr.trans_a, pr.a, pr.lda, ic + ip * kMR,
                         std::min<int64_t>(kMR, mc - ip * kMR), pc, kc,
                         packed_a + ip * kMR * kc);
#if defined(__AVX512F__)
        // Only when C has one row: a one-row region at the end of a longer C
        // (another thread count) must keep the tile arithmetic of the others.
        if (a_in_place && pr.m == 1 && !pack_per_panel) {
          row_times_panels(pr, rg, jc, n_panels, pc, kc, b_block, out, scalar_act);
          continue;
        }
        if (wide) {  // column groups outer: a group's B (kc x 64) stays in L1
          for (int64_t g = 0; g * kWideCols < nc; ++g)
            wide_tiles(pr, ic, mc, jc + g * kWideCols, pc, kc, b_block + g * kc * kWideCols,
                       out, scalar_act);
          continue;
        }
#endif
        for (int64_t jp = 0; jp < n_panels; ++jp) {
          const int64_t j = jc + jp * kNR;
          const int64_t cols = std::min<int64_t>(kNR, rg.j1 - j);
          const float* bp = b_block + jp * kc * kNR;
          if (pack_per_panel) {  // one panel slot, reused: stays in L1
            pack_bt_panel(pr.b, pr.ldb, j, std::min<int64_t>(kNR, nc - jp * kNR), pc, kc,
                          packed_b);
            bp = packed_b;
          }
          out.bias = bias ? bias + j : nullptr;
          for (int64_t ip = 0; ip * kMR < mc; ++ip) {
            const int64_t i = ic + ip * kMR;
            if (a_in_place)
              compute_tile(kc, pr.a + i * pr.lda + pc, pr.lda, bp, kNR, pr.c + i * pr.ldc + j,
                           pr.ldc, std::min<int64_t>(kMR, rg.i1 - i), cols, out, scalar_act);
            else
              compute_tile(kc, packed_a + ip * kMR * kc, -1, bp, kNR, pr.c + i * pr.ldc + j,
                           pr.ldc, std::min<int64_t>(kMR, rg.i1 - i), cols, out, scalar_act);
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
// Each column is summed on its own, so the chunking (narrower chunks when a
// narrow row would leave threads idle) does not change the results.
void multiply_single_row(const Problem& pr, int threads) {
  const int64_t a_step = pr.trans_a ? pr.lda : 1;
#if defined(__AVX512F__)
  if (pr.n <= 16) {  // one chunk on one thread whatever the count: same bits
    float acc[16];
    gemv_narrow_avx512(pr.k, pr.a, a_step, pr.b, pr.ldb, pr.n, acc);
    finish_columns(pr.alpha, pr.beta, pr.c, pr.ep, 0, pr.n, acc);
    return;
  }
#endif
  const int64_t width = std::clamp<int64_t>(ceil_div(ceil_div(pr.n, threads), 16) * 16, 16,
                                            kGemvChunk);
  const int64_t chunks = ceil_div(pr.n, width);
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
    const int64_t j0 = chunk * width;
    gemv_columns(pr.k, pr.alpha, pr.a, a_step, pr.b, pr.ldb, pr.beta, pr.c, pr.ep, j0,
                 std::min(pr.n, j0 + width), acc);
  }
  if (out_of_memory) throw std::bad_alloc();
}

// The blocked path for a problem; B from prepacked_b when it is given.
void run_blocked(const Problem& pr, int threads, const float* prepacked_b) {
  const Blocking& bl = blocking();
  const int64_t kc_max = slice_depth(pr.k);
  const size_t b_floats =
      prepacked_b ? 0 : static_cast<size_t>(kc_max * std::min(bl.nc, ceil_div(pr.n, kNR) * kNR));
  const size_t a_floats = static_cast<size_t>(kc_max * ceil_div(std::min(bl.mc, pr.m), kMR) * kMR);

  std::atomic<bool> out_of_memory{false};
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    const Region rg = region_of_thread(pr, omp_get_thread_num(), omp_get_num_threads());
    if (rg.i1 > rg.i0 && rg.j1 > rg.j0) {
      try {
        float* packed_b = prepacked_b ? nullptr : workspace_floats(b_floats, kSlotPackedB);
        float* packed_a = workspace_floats(a_floats, kSlotPackedA);
        multiply_region(pr, rg, packed_a, packed_b, prepacked_b);
      } catch (const std::bad_alloc&) {
        out_of_memory = true;
      }
    }
  }
  if (out_of_memory) throw std::bad_alloc();
}

// An explicit count is still capped by max_threads(), so the post-fork
// single-thread clamp and threadpoolctl limits hold for every caller.
int threads_for(const Problem& pr, int num_threads) {
  int threads = num_threads > 0 ? std::min(num_threads, max_threads())
                                : threads_for_work(2.0 * pr.m * pr.n * pr.k);
  return in_parallel_region() ? 1 : threads;
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
  const int threads = threads_for(pr, num_threads);
  if (m == 1 && !trans_b) {
    multiply_single_row(pr, threads);
    return;
  }
  run_blocked(pr, threads, nullptr);
}

void sgemm_packed_b_layout(int64_t k, int64_t n, int64_t* kc, int64_t* floats) {
  *kc = k > 0 ? slice_depth(k) : 0;
  *floats = std::max<int64_t>(k, 0) * ceil_div(std::max<int64_t>(n, 0), kNR) * kNR;
}

void sgemm_pack_b(bool trans_b, int64_t k, int64_t n, const float* b, int64_t ldb, float* dst,
                  int num_threads) {
  if (k <= 0 || n <= 0) return;
  const int64_t kc_blk = slice_depth(k);
  const int64_t n_padded = ceil_div(n, kNR) * kNR;
  const int64_t slices = ceil_div(k, kc_blk);
  int threads = num_threads > 0 ? std::min(num_threads, max_threads())
                                : threads_for_work(static_cast<double>(k) * n / 8);
  if (in_parallel_region()) threads = 1;
  // Slice s: panels of kNR columns, each kc x kNR, covering all n columns.
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static)
  for (int64_t s = 0; s < slices; ++s) {
    const int64_t pc = s * kc_blk, kc = std::min(kc_blk, k - pc);
    float* d = dst + pc * n_padded;
    if (trans_b)
      for (int64_t jp = 0; jp * kNR < n; ++jp)
        pack_bt_panel(b, ldb, jp * kNR, std::min<int64_t>(kNR, n - jp * kNR), pc, kc,
                      d + jp * kc * kNR);
    else
      pack_b_block_rows(b, ldb, 0, n, pc, kc, d);
  }
}

void sgemm_prepacked_b(bool trans_a, int64_t m, int64_t n, int64_t k, float alpha,
                       const float* a, int64_t lda, const float* packed_b, float beta, float* c,
                       int64_t ldc, const Epilogue* epilogue, int num_threads) {
  const Problem pr{trans_a, false, m, n, k, alpha, beta, a, lda, nullptr, 0, c, ldc, epilogue};
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == 0.0f) {
    scale_and_finish(pr);
    return;
  }
  run_blocked(pr, threads_for(pr, num_threads), packed_b);
}

}  // namespace PYCNN_ISA_NS
}  // namespace pycnn
