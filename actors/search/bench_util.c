/*  What the search benchmarks share (bench_util.h).  */
#include "bench_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

double
bench_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

double
bench_cpu_s (void)
{
    struct rusage usage;
    if (getrusage (RUSAGE_SELF, &usage))
        return 0;
    return (double) (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
         + (double) (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

double
bench_thread_cpu_s (void)
{
    struct timespec ts;
    if (clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts))
        return 0;
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

long
bench_status_kib (const char *field)
{
    char line [256];
    long kib = 0;
    size_t len = strlen (field);
    FILE *file = fopen ("/proc/self/status", "r");
    while (file && fgets (line, sizeof line, file))
        if (strncmp (line, field, len) == 0 && line [len] == ':')
            kib = atol (line + len + 1);
    if (file)
        fclose (file);
    return kib;
}
