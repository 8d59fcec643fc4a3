#include "core/threading.hpp"

#include <omp.h>
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>

namespace pycnn {
namespace {

// OpenMP's thread count is per thread (omp_set_num_threads only changes the
// caller's ICV). pycnn.set_num_threads must reach every thread, so it bumps a
// generation; each thread re-applies the user's value once when it sees a
// new generation, and otherwise leaves its ICV alone (threadpoolctl's limits
// stay in force).
std::atomic<int> g_user_threads{0};
std::atomic<unsigned> g_generation{0};
thread_local unsigned t_seen_generation = 0;

// Set once this thread started a team of > 1 threads. libgomp keeps that
// team's pool for reuse; after fork() the pool's threads do not exist in the
// child and its next parallel region waits for them forever.
thread_local bool t_ran_parallel = false;
bool g_forked_single = false;

void sync_with_user_setting() {
  const unsigned gen = g_generation.load(std::memory_order_acquire);
  if (gen != t_seen_generation) {
    t_seen_generation = gen;
    if (int n = g_user_threads.load(std::memory_order_relaxed); n > 0) omp_set_num_threads(n);
  }
}

void after_fork_in_child() {
  if (t_ran_parallel) g_forked_single = true;
}

// Team placement. On a VM whose vCPUs halt while idle, the guest scheduler
// wakes an OpenMP worker that slept (after GOMP_SPINCOUNT) on the caller's
// own vCPU, as it takes the long-halted one for preempted; caller and worker
// then share one vCPU until the load balancer parts them. Measured on the
// 2-vCPU development VM: a 3x3 64->64 conv at 2 threads ran at 1-thread speed
// for the 8 calls (~25 ms) after a 50 ms pause; seed-000 batch-1 predicts
// after such pauses took 9.3 ms at 2 threads unbound (8.6 at 1) and 4.8 ms
// with the workers bound. So when a team takes every CPU the caller may run on, each worker is
// bound to one of the CPUs the caller is not on. The caller stays unbound
// (binding it would bind every thread it creates later); if it moves to a
// worker's CPU, the next team re-binds the workers. Off when the user binds
// threads through OpenMP's own variables.
bool placement_wanted() {
  static const bool wanted = [] {
    for (const char* v : {"OMP_PROC_BIND", "OMP_PLACES", "GOMP_CPU_AFFINITY", "KMP_AFFINITY"})
      if (const char* e = std::getenv(v); e && *e) return false;
    const char* e = std::getenv("PYCNN_BIND_WORKERS");
    return !(e && e[0] == '0');
  }();
  return wanted;
}

thread_local int t_placed_team = 0;   // team size the workers were placed for
thread_local int t_placed_cpu = -1;   // the caller's CPU then

void place_team(int nt) {
  const int cpu = sched_getcpu();
  if (nt == t_placed_team && cpu == t_placed_cpu) return;
  t_placed_team = nt;
  t_placed_cpu = cpu;
  if (cpu < 0 || !placement_wanted()) return;
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) return;
  if (CPU_COUNT(&allowed) != nt || !CPU_ISSET(cpu, &allowed)) return;
  int others[CPU_SETSIZE];
  int count = 0;
  for (int c = 0; c < CPU_SETSIZE && count < nt - 1; ++c)
    if (CPU_ISSET(c, &allowed) && c != cpu) others[count++] = c;
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num();
    if (t > 0 && t - 1 < count && omp_get_num_threads() == nt) {
      cpu_set_t one;
      CPU_ZERO(&one);
      CPU_SET(others[t - 1], &one);
      pthread_setaffinity_np(pthread_self(), sizeof(one), &one);
    }
  }
}

}  // namespace

int max_threads() {
  if (g_forked_single) return 1;
  sync_with_user_setting();
  return std::max(1, omp_get_max_threads());
}

void set_max_threads(int n) {
  n = std::max(1, n);
  g_user_threads.store(n, std::memory_order_relaxed);
  g_generation.fetch_add(1, std::memory_order_release);
  sync_with_user_setting();
}

int threads_for_work(double flops) {
  if (omp_in_parallel() || !(flops > 0)) return 1;
  // ~0.2 MFLOP per thread keeps the fork/join cost (a few us) under ~5%.
  constexpr double kFlopsPerThread = 2.0e5;
  int want = static_cast<int>(std::min(flops / kFlopsPerThread, 1.0e6));
  int nt = std::clamp(want, 1, max_threads());
  if (nt > 1) {
    t_ran_parallel = true;
    place_team(nt);
  }
  return nt;
}

bool in_parallel_region() { return omp_in_parallel() != 0; }

bool forked_single_threaded() { return g_forked_single; }

void install_fork_handler() {
  static std::once_flag once;
  std::call_once(once, [] { pthread_atfork(nullptr, nullptr, &after_fork_in_child); });
}

}  // namespace pycnn
