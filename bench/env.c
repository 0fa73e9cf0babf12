/* env.c — the machine state a run's figures depend on beyond the fingerprint: frequency
 * governor and boost, load average, the FTZ/DAZ bits, cache sizes for level tagging. */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

#include "bench.h"

static int read_line(const char *path, char *buf, size_t n) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int ok = fgets(buf, (int)n, f) != NULL;
    fclose(f);
    if (ok) buf[strcspn(buf, "\n")] = '\0';
    return ok;
}

static int64_t parse_size(const char *s) {
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*end == 'K') v *= 1024;
    else if (*end == 'M') v *= 1024 * 1024;
    return v;
}

void qb_bench_env_collect(qb_bench_env *e) {
    memset(e, 0, sizeof *e);
    if (!read_line("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor", e->governor, sizeof e->governor))
        snprintf(e->governor, sizeof e->governor, "unavailable");
    char b[32];
    if (read_line("/sys/devices/system/cpu/cpufreq/boost", b, sizeof b))
        snprintf(e->boost, sizeof e->boost, "%s", atoi(b) ? "on" : "off");
    else if (read_line("/sys/devices/system/cpu/intel_pstate/no_turbo", b, sizeof b))
        snprintf(e->boost, sizeof e->boost, "%s", atoi(b) ? "off" : "on");
    else
        snprintf(e->boost, sizeof e->boost, "unavailable");
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf %lf %lf", &e->loadavg[0], &e->loadavg[1], &e->loadavg[2]) != 3) e->loadavg[0] = -1;
        fclose(f);
    }
#if defined(__x86_64__) || defined(__i386__)
    unsigned csr = _mm_getcsr();
    e->ftz = (csr >> 15) & 1;
    e->daz = (csr >> 6) & 1;
#endif
    for (int i = 0; i < 8; i++) {
        char path[128], type[32], level[8], size[32];
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/type", i);
        if (!read_line(path, type, sizeof type)) break;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/level", i);
        if (!read_line(path, level, sizeof level)) continue;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
        if (!read_line(path, size, sizeof size) || strcmp(type, "Instruction") == 0) continue;
        int64_t v = parse_size(size);
        if (atoi(level) == 1) e->l1d_bytes = v;
        else if (atoi(level) == 2) e->l2_bytes = v;
        else if (atoi(level) == 3) e->l3_bytes = v;
    }
    if (e->l1d_bytes <= 0) e->l1d_bytes = 32 << 10;
    if (e->l2_bytes <= 0) e->l2_bytes = 1 << 20;
    if (e->l3_bytes <= 0) e->l3_bytes = 32 << 20;
    cpu_set_t set;
    e->cpus = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
    if (e->cpus < 1) e->cpus = 1;
}

const char *qb_bench_level(const qb_bench_env *e, double ws, int threads) {
    double per_thread = ws / (threads > 0 ? threads : 1);
    if (per_thread <= (double)e->l1d_bytes) return "L1";
    if (per_thread <= (double)e->l2_bytes) return "L2";
    if (ws <= (double)e->l3_bytes) return "L3";
    return "DRAM";
}
