/* fingerprint.c — see fingerprint.h. Every field is read, never assumed: a file that is
 * missing (a container without /sys) leaves the field empty or 0 rather than failing. */
#define _GNU_SOURCE
#include "fingerprint.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "../common/json.h"
#include "../common/qb.h"

#ifdef QB_HAVE_ONEDNN
#include <dnnl.h>
#endif
#ifdef QB_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

/* From OpenBLAS itself (its cblas.h is not the only one a Debian machine may select). */
extern char *openblas_get_config(void);
extern int openblas_get_num_threads(void);

/* The value after "key\t: " on the first matching /proc/cpuinfo line, or NULL. */
static char *cpuinfo_field(const char *key) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return NULL;
    char line[8192];
    char *val = NULL;
    size_t klen = strlen(key);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, klen) != 0) continue;
        char *colon = strchr(line, ':');
        if (!colon) continue;
        char *v = colon + 1 + (colon[1] == ' ');
        v[strcspn(v, "\n")] = '\0';
        val = qb_strdup(v);
        break;
    }
    fclose(f);
    return val;
}

/* The CPU flags that decide which of our kernels can run, in a fixed order. */
static char *select_flags(const char *all) {
    static const char *const wanted[] = {"sse4_2", "avx", "f16c", "fma", "avx2", "avx512f", "avx512bw", "avx512vl",
                                         "avx512_vnni", "avx512_bf16", "avx512_fp16", "avx_vnni", "amx_tile",
                                         "amx_bf16", "amx_int8", "asimd", "sve", NULL};
    char *out = qb_calloc(1, 256);
    size_t k = 0;
    for (int i = 0; wanted[i] && all; i++) {
        size_t n = strlen(wanted[i]);
        for (const char *p = all; (p = strstr(p, wanted[i])) != NULL; p += n)
            if ((p == all || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0')) {
                k += (size_t)snprintf(out + k, 256 - k, "%s%s", k ? " " : "", wanted[i]);
                break;
            }
    }
    return out;
}

static int64_t read_size_file(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    long long v = 0;
    char unit = 0;
    int n = fscanf(f, "%lld%c", &v, &unit);
    fclose(f);
    if (n < 1) return 0;
    return unit == 'K' ? v * 1024 : unit == 'M' ? v * 1024 * 1024 : v;
}

/* Sizes of the data/unified caches of cpu0 per level, from sysfs. */
static void read_caches(qb_machine *m) {
    for (int i = 0; i < 8; i++) {
        char path[128], type[32] = "";
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/type", i);
        FILE *f = fopen(path, "r");
        if (!f) break;
        if (fscanf(f, "%31s", type) != 1) type[0] = '\0';
        fclose(f);
        if (strcmp(type, "Instruction") == 0) continue;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/level", i);
        int64_t level = read_size_file(path);
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
        int64_t size = read_size_file(path);
        if (level == 1) m->l1d_bytes = size;
        else if (level == 2) m->l2_bytes = size;
        else if (level == 3) m->l3_bytes = size;
    }
}

static char *os_name(void) {
    FILE *f = fopen("/etc/os-release", "r");
    char line[512], *name = NULL;
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "PRETTY_NAME=", 12) != 0) continue;
        char *v = line + 12;
        v[strcspn(v, "\n")] = '\0';
        if (*v == '"') {
            v++;
            v[strcspn(v, "\"")] = '\0';
        }
        name = qb_strdup(v);
    }
    if (f) fclose(f);
    return name ? name : qb_strdup("unknown");
}

static void collect_cuda(qb_machine *m) {
#ifdef QB_HAVE_CUDA
    int drv = 0, rt = 0, n = 0;
    cudaDriverGetVersion(&drv);
    cudaRuntimeGetVersion(&rt);
    m->cuda_driver = drv ? qb_asprintf("%d.%d", drv / 1000, drv % 1000 / 10) : qb_strdup("none");
    m->cuda_runtime = qb_asprintf("%d.%d", rt / 1000, rt % 1000 / 10);
    if (drv && cudaGetDeviceCount(&n) == cudaSuccess && n > 0) {
        char *list = qb_calloc(1, 1);
        for (int i = 0; i < n; i++) {
            struct cudaDeviceProp p;
            if (cudaGetDeviceProperties(&p, i) != cudaSuccess) continue;
            char *next = qb_asprintf("%s%s%s (sm_%d%d, %.1f GiB)", list, *list ? "; " : "", p.name, p.major, p.minor,
                                     (double)p.totalGlobalMem / (1u << 30));
            free(list);
            list = next;
        }
        m->gpus = list;
    }
#else
    (void)m;
#endif
}

void qb_machine_collect(qb_machine *m) {
    memset(m, 0, sizeof *m);
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    m->hostname = qb_strdup(host);
    m->cpu_model = cpuinfo_field("model name");
    if (!m->cpu_model) m->cpu_model = qb_strdup("unknown");
    char *flags = cpuinfo_field("flags");
    if (!flags) flags = cpuinfo_field("Features"); /* arm64 */
    m->cpu_flags = select_flags(flags);
    free(flags);
    m->cores = sysconf(_SC_NPROCESSORS_ONLN);
    read_caches(m);
    m->mem_bytes = (int64_t)sysconf(_SC_PHYS_PAGES) * sysconf(_SC_PAGESIZE);
    m->os = os_name();
    struct utsname u;
    m->kernel = uname(&u) == 0 ? qb_asprintf("%s %s %s", u.sysname, u.release, u.machine) : qb_strdup("unknown");
    m->compiler = qb_strdup(qb_build_compiler);
    m->cflags = qb_strdup(qb_build_cflags);
    m->sqlite_version = qb_strdup(sqlite3_libversion());
    m->openblas = qb_asprintf("%s (threads %d)", openblas_get_config(), openblas_get_num_threads());
#ifdef QB_HAVE_ONEDNN
    const dnnl_version_t *v = dnnl_version();
    m->onednn = qb_asprintf("%d.%d.%d (%s)", v->major, v->minor, v->patch, v->hash);
#endif
    collect_cuda(m);
    m->version = qb_version;
    m->git_commit = qb_git_commit;

    qb_json_doc d;
    qb_json *j = qb_json_doc_begin(&d);
    qb_json_kstr(j, "hostname", m->hostname);
    qb_json_kstr(j, "cpu_model", m->cpu_model);
    qb_json_kstr(j, "cpu_flags", m->cpu_flags);
    qb_json_kint(j, "cores", m->cores);
    qb_json_kint(j, "l1d_bytes", m->l1d_bytes);
    qb_json_kint(j, "l2_bytes", m->l2_bytes);
    qb_json_kint(j, "l3_bytes", m->l3_bytes);
    qb_json_kint(j, "mem_bytes", m->mem_bytes);
    qb_json_kstr(j, "os", m->os);
    qb_json_kstr(j, "kernel", m->kernel);
    qb_json_kstr(j, "compiler", m->compiler);
    qb_json_kstr(j, "cflags", m->cflags);
    qb_json_kstr(j, "sqlite_version", m->sqlite_version);
    qb_json_kstr(j, "openblas", m->openblas);
    qb_json_kstr(j, "onednn", m->onednn);
    qb_json_kstr(j, "cuda_driver", m->cuda_driver);
    qb_json_kstr(j, "cuda_runtime", m->cuda_runtime);
    qb_json_kstr(j, "gpus", m->gpus);
    m->json = qb_json_doc_end(&d);
    snprintf(m->id, sizeof m->id, "%016llx", (unsigned long long)qb_fnv1a(QB_FNV_INIT, m->json, strlen(m->json)));
}

void qb_machine_free(qb_machine *m) {
    char **fields[] = {&m->hostname, &m->cpu_model, &m->cpu_flags, &m->os, &m->kernel, &m->compiler, &m->cflags,
                       &m->sqlite_version, &m->openblas, &m->onednn, &m->cuda_driver, &m->cuda_runtime, &m->gpus, &m->json};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        free(*fields[i]);
        *fields[i] = NULL;
    }
}
