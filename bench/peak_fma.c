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

static float sink[64];

/* Runs `blocks` blocks of INNER x CHAINS FMAs; the sum is stored so the
 * compiler cannot drop the work. */
static void run(long blocks, float seed) {
    vec a = SET1(0.999999f), b = SET1(1e-7f);
    vec acc[CHAINS];
    for (int c = 0; c < CHAINS; ++c) acc[c] = SET1(seed + (float)c);
    for (long blk = 0; blk < blocks; ++blk)
        for (int i = 0; i < INNER; ++i)
            for (int c = 0; c < CHAINS; ++c) acc[c] = FMA(acc[c], a, b);
    vec s = acc[0];
    for (int c = 1; c < CHAINS; ++c) s = ADD(s, acc[c]);
    STORE(sink, s);
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
    return 0;
}
