/*  What the search benchmarks (mg-hnsw-bench, mg-search-bench) share: a
    monotonic clock and the process's memory as the kernel counts it.  */
#ifndef SEARCH_BENCH_UTIL_H_INCLUDED
#define SEARCH_BENCH_UTIL_H_INCLUDED

//  Milliseconds of the monotonic clock.
double bench_now_ms (void);

//  Seconds of CPU (user and system, all threads) the process has used.
double bench_cpu_s (void);

//  Seconds of CPU the calling thread has used.
double bench_thread_cpu_s (void);

//  A field of /proc/self/status in KiB (VmRSS, VmHWM), 0 when unreadable.
long bench_status_kib (const char *field);

#endif
