/* Peak single-precision FMA throughput of this machine.
 *
 *   peak_fma THREADS SECONDS   -> prints GFLOP/s summed over THREADS threads
 *
 * Each thread runs 12 independent FMA chains (enough to hide the FMA latency
 * of 4-5 cycles on 2 ports), so the loop is bound by FMA issue rate only.
 * Built twice by bench/peak.py: -DWIDTH=16 (AVX-512) and -DWIDTH=8 (AVX2).
 */
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#if WIDTH == 16
typedef __m512 vec;
#define SET1 _mm512_set1_ps
#define FMA _mm512_fmadd_ps
#define ADD _mm512_add_ps
#define STORE _mm512_storeu_ps
#else
typedef __m256 vec;
#define SET1 _mm256_set1_ps
#define FMA _mm256_fmadd_ps
#define ADD _mm256_add_ps
#define STORE _mm256_storeu_ps
#endif

#define CHAINS 12
#define INNER 1000

float sink[64]; /* printed at the end, so the work cannot be dropped */

/* Runs `blocks` blocks of INNER steps of CHAINS FMAs. The chains are named
 * variables (not an array) so they live in registers. */
static void run(long blocks, float seed) {
    vec a = SET1(0.999999f), b = SET1(1e-7f);
    vec c0 = SET1(seed), c1 = SET1(seed + 1), c2 = SET1(seed + 2), c3 = SET1(seed + 3);
    vec c4 = SET1(seed + 4), c5 = SET1(seed + 5), c6 = SET1(seed + 6), c7 = SET1(seed + 7);
    vec c8 = SET1(seed + 8), c9 = SET1(seed + 9), c10 = SET1(seed + 10), c11 = SET1(seed + 11);
    for (long blk = 0; blk < blocks; ++blk)
        for (int i = 0; i < INNER; ++i) {
            c0 = FMA(c0, a, b); c1 = FMA(c1, a, b); c2 = FMA(c2, a, b);
            c3 = FMA(c3, a, b); c4 = FMA(c4, a, b); c5 = FMA(c5, a, b);
            c6 = FMA(c6, a, b); c7 = FMA(c7, a, b); c8 = FMA(c8, a, b);
            c9 = FMA(c9, a, b); c10 = FMA(c10, a, b); c11 = FMA(c11, a, b);
        }
    vec s = ADD(ADD(ADD(c0, c1), ADD(c2, c3)), ADD(ADD(c4, c5), ADD(c6, c7)));
    s = ADD(s, ADD(ADD(c8, c9), ADD(c10, c11)));
#pragma omp critical
    {
        float tmp[16];
        STORE(tmp, s);
        sink[0] += tmp[0];
    }
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    double seconds = argc > 2 ? atof(argv[2]) : 0.2;
    omp_set_num_threads(threads);
    /* Calibrate on one thread, then time every thread doing the same work. */
    long blocks = 1;
    for (;;) {
        double t = omp_get_wtime();
        run(blocks, 1.0f);
        t = omp_get_wtime() - t;
        if (t > seconds / 4) { blocks = (long)(blocks * seconds / t) + 1; break; }
        blocks *= 2;
    }
    double best = 0.0;
    for (int rep = 0; rep < 3; ++rep) { /* best of 3: ignore a preempted run */
        double t0 = omp_get_wtime();
#pragma omp parallel
        run(blocks, (float)omp_get_thread_num());
        double t = omp_get_wtime() - t0;
        double flops = 2.0 * WIDTH * CHAINS * (double)INNER * blocks * threads;
        if (flops / t > best) best = flops / t;
    }
    printf("%.3f\n", best / 1e9);
    fprintf(stderr, "checksum %g\n", (double)sink[0]);
    return 0;
}
