/* gemv.c — see gemv.h. */
#include "gemv.h"

size_t qb_gemv_scratch_bytes(const qb_gemv_mat *m, int nm, int64_t n) {
    size_t bytes = 0;
    for (int i = 0; i < nm; i++)
        if (m[i].f->act_prep) bytes += (size_t)n * m[i].f->act_prep_bytes(m[i].cols);
    return bytes ? bytes + 63 : 0; /* room to start the rows on a cache line */
}

void qb_gemv_init(qb_gemv_job *j, const qb_gemv_mat *m, int nm, int64_t n, int members, void *scratch) {
    j->nm = nm;
    j->n = n;
    j->members = members < 1 ? 1 : members;
    j->first[0] = 0;
    unsigned char *next = scratch ? (unsigned char *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63) : NULL;
    for (int i = 0; i < nm; i++) {
        j->m[i] = m[i];
        const int64_t r = (int64_t)(QB_GEMV_MIN_CHUNK_BYTES / (m[i].rb ? m[i].rb : 1));
        j->min_rows[i] = r < QB_GEMV_ALIGN ? QB_GEMV_ALIGN : (r + QB_GEMV_ALIGN - 1) / QB_GEMV_ALIGN * QB_GEMV_ALIGN;
        j->first[i + 1] = j->first[i] + m[i].rows;
        j->prep[i] = NULL, j->pb[i] = 0;
        if (!m[i].f->act_prep) continue;
        int k = 0; /* an earlier product prepared these rows the same way: its rows */
        while (k < i && !(m[k].f->act_prep == m[i].f->act_prep && m[k].act == m[i].act && m[k].ab == m[i].ab && m[k].cols == m[i].cols)) k++;
        j->pb[i] = m[i].f->act_prep_bytes(m[i].cols);
        if (k < i) {
            j->prep[i] = j->prep[k];
            continue;
        }
        for (int64_t t = 0; t < n; t++) m[i].f->act_prep((const unsigned char *)m[i].act + (size_t)t * m[i].ab, m[i].cols, next + (size_t)t * j->pb[i]);
        j->prep[i] = next;
        next += (size_t)n * j->pb[i];
    }
    atomic_init(&j->next, 0);
}

void qb_gemv_run(void *job, int t, int nt) {
    qb_gemv_job *j = job;
    (void)t, (void)nt;
    long long cur = atomic_load_explicit(&j->next, memory_order_relaxed);
    for (;;) {
        if (cur >= j->first[j->nm]) return;
        int i = 0;
        while (cur >= j->first[i + 1]) i++;
        const qb_gemv_mat *m = &j->m[i];
        /* guided: the rows left in this matrix over twice the team, whole QB_GEMV_ALIGN units
         * (so every chunk of a matrix starts aligned), at least min_rows, at most what is left */
        const int64_t r0 = cur - j->first[i], left = m->rows - r0;
        int64_t size = (left / (2 * j->members) + QB_GEMV_ALIGN - 1) / QB_GEMV_ALIGN * QB_GEMV_ALIGN;
        if (size < j->min_rows[i]) size = j->min_rows[i];
        if (size > left) size = left;
        if (!atomic_compare_exchange_weak_explicit(&j->next, &cur, cur + size, memory_order_relaxed, memory_order_relaxed))
            continue; /* cur now holds the cursor another member moved */
        const uint8_t *w = m->w, *a = m->act;
        /* rows in twos where the format has vec_dot2 (the same bits as one at a time): row r
         * beside row r + half, two long streams; adjacent rows in twos, streams that keep
         * jumping back, measured 3x slower from DRAM on Zen 4 */
        const int64_t half = m->f->vec_dot2 ? size / 2 : 0;
        const uint8_t *a2 = j->prep[i] ? j->prep[i] : a; /* what vec_dot2 reads (format.h) */
        const size_t ab2 = j->prep[i] ? j->pb[i] : m->ab;
        for (int64_t r = r0; r < r0 + half; r++)
            for (int64_t tk = 0; tk < j->n; tk++) {
                float out[2];
                m->f->vec_dot2(w + (size_t)r * m->rb, (size_t)half * m->rb, a2 + (size_t)tk * ab2, m->cols, out);
                m->y[tk * m->ldy + r] = out[0], m->y[tk * m->ldy + r + half] = out[1];
            }
        for (int64_t r = r0 + 2 * half; r < r0 + size; r++)
            for (int64_t tk = 0; tk < j->n; tk++) m->y[tk * m->ldy + r] = m->f->vec_dot(w + (size_t)r * m->rb, a + (size_t)tk * m->ab, m->cols);
        cur = atomic_load_explicit(&j->next, memory_order_relaxed);
    }
}
