/* rss.h — the process's resident memory as the kernel counts it (Linux /proc/self), and its
 * peak over a phase of the run.
 *
 * Resident set: every page of this process in RAM — heap, stacks, the pages of memory-mapped
 * files it has touched (a model's weights read in place), shared libraries. The peak (VmHWM,
 * "high water mark") only grows, from process start; writing "5" to /proc/self/clear_refs
 * (Linux ≥ 4.0) sets it back to the current resident set, so a phase's peak is read as
 * qb_rss_peak_reset() … phase … qb_rss_peak_bytes().
 *
 * Invariant: each function returns 0 where the figure is unavailable (no /proc, a kernel
 * without the reset), never a figure from a different scope: callers store 0 as NULL. */
#ifndef QB_RSS_H
#define QB_RSS_H

#include <stdint.h>

/* VmRSS now, in bytes; 0 when unknown. */
int64_t qb_rss_bytes(void);
/* Sets the peak back to the current resident set; 1 when done, 0 when the kernel cannot. */
int qb_rss_peak_reset(void);
/* VmHWM in bytes (the peak since the last reset, or since the process started); 0 when unknown. */
int64_t qb_rss_peak_bytes(void);

#endif
