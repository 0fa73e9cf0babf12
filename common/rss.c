/* rss.c — see rss.h. */
#include "rss.h"

#include <stdio.h>
#include <string.h>

/* The "<key>:  <n> kB" line of /proc/self/status, in bytes; 0 when absent. */
static int64_t status_kb(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    const size_t k = strlen(key);
    long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, k) == 0 && line[k] == ':') {
            if (sscanf(line + k + 1, "%lld", &kb) != 1 || kb < 0) kb = 0;
            break;
        }
    fclose(f);
    return (int64_t)kb * 1024;
}

int64_t qb_rss_bytes(void) { return status_kb("VmRSS"); }

int qb_rss_peak_reset(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return 0;
    const int ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok; /* the kernel answers the write at the flush */
}

int64_t qb_rss_peak_bytes(void) { return status_kb("VmHWM"); }
