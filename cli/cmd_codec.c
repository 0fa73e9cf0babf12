/* cmd_codec.c — `quantbench encode` and `decode`: raw little-endian float32 ⇄ a format's
 * native bytes, the interop hook every format supports. Inputs are memory-mapped; outputs
 * appear only when complete (common/io.h). */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../common/io.h"
#include "cli.h"

static const char encode_usage[] =
    "Usage: quantbench encode --format F [--cols N] [--imatrix FILE] IN.f32 OUT.bin\n"
    "\n"
    "Quantizes IN (little-endian float32, rows of N values; default one row) into format F's\n"
    "native bytes. --imatrix gives per-column importance weights (N float32 values, ≥ 0) to\n"
    "formats that use them. NaN and Inf are encoded by formats that can represent them and\n"
    "rejected, with their row and column, by those that cannot.\n";

static const char decode_usage[] =
    "Usage: quantbench decode --format F [--cols N] IN.bin OUT.f32\n"
    "\n"
    "Dequantizes IN, format F's native bytes for rows of N values (default one row), into\n"
    "little-endian float32.\n";

typedef struct codec_args {
    const qb_format *fmt;
    int64_t cols;
    const char *imatrix, *in, *out;
} codec_args;

/* *help is set when --help was printed (then there is nothing to do). */
static qb_status parse(qb_cli *cli, int argc, char **argv, const char *usage, int allow_imatrix, codec_args *a, int *help) {
    static const struct option opts[] = {QB_COMMON_OPTIONS, {"format", required_argument, NULL, 'f'},
                                         {"cols", required_argument, NULL, 'c'}, {"imatrix", required_argument, NULL, 'i'},
                                         {NULL, 0, NULL, 0}};
    memset(a, 0, sizeof *a);
    *help = 0;
    int c;
    qb_status st = QB_OK;
    while (!st && (c = qb_cli_next(cli, argc, argv, opts, usage)) != QB_CLI_DONE) {
        switch (c) {
        case QB_CLI_HELP: *help = 1; return QB_OK;
        case QB_CLI_ERROR: return QB_EUSAGE;
        case 'f': st = qb_format_require(optarg, &a->fmt); break;
        case 'c': st = qb_cli_int("cols", optarg, 1, INT64_C(1) << 40, &a->cols); break;
        case 'i':
            if (!allow_imatrix) return qb_fail(QB_EUSAGE, "decode takes no --imatrix");
            a->imatrix = optarg;
            break;
        default: return qb_fail(QB_EUSAGE, "unexpected option");
        }
    }
    if (st) return st;
    if (!a->fmt) return qb_fail(QB_EUSAGE, "--format is required (see 'quantbench formats')");
    if (argc - optind != 2) return qb_fail(QB_EUSAGE, "expected two files, IN and OUT");
    a->in = argv[optind];
    a->out = argv[optind + 1];
    return QB_OK;
}

static qb_status write_file(const char *path, const void *p, size_t n) {
    qb_outfile o;
    qb_status st = qb_out_open(&o, path);
    if (st) return st;
    st = qb_out_write(&o, p, n);
    if (st) {
        qb_out_abort(&o);
        return st;
    }
    return qb_out_commit(&o);
}

static qb_status load_imatrix(const char *path, int64_t cols, qb_map *m) {
    qb_status st = qb_map_file(m, path);
    if (st) return st;
    if (m->size != (size_t)cols * 4) {
        st = qb_fail(QB_EINPUT, "importance file '%s' has %zu bytes; expected %" PRId64 " float32 values (one per column)",
                     path, m->size, cols);
    } else {
        const float *w = m->data;
        for (int64_t i = 0; i < cols && !st; i++)
            if (!(w[i] >= 0.0f) || isinf(w[i]))
                st = qb_fail(QB_EINPUT, "importance file '%s': value %" PRId64 " is %g; weights must be finite and ≥ 0",
                             path, i, (double)w[i]);
    }
    if (st) qb_unmap(m);
    return st;
}

qb_status cmd_encode(qb_cli *cli, int argc, char **argv) {
    codec_args a;
    int help;
    qb_status st = parse(cli, argc, argv, encode_usage, 1, &a, &help);
    if (st || help) return st;
    qb_map in, imp = {0};
    if ((st = qb_map_file(&in, a.in))) return st;
    int64_t n = (int64_t)(in.size / 4);
    if (in.size == 0) st = qb_fail(QB_EINPUT, "input '%s' is empty", a.in);
    else if (in.size % 4) st = qb_fail(QB_EINPUT, "input '%s' has %zu bytes, not a multiple of 4 (float32)", a.in, in.size);
    else if (a.cols && n % a.cols)
        st = qb_fail(QB_EINPUT, "input '%s' holds %" PRId64 " floats, not a whole number of rows of %" PRId64, a.in, n, a.cols);
    int64_t cols = a.cols ? a.cols : n, rows = cols ? n / cols : 0;
    size_t nbytes = 0;
    if (!st) st = qb_format_bytes(a.fmt, rows, cols, &nbytes);
    if (!st && a.imatrix) st = load_imatrix(a.imatrix, cols, &imp);
    if (!st) {
        void *q = qb_malloc(nbytes);
        st = a.fmt->quantize(in.data, q, rows, cols, imp.data);
        if (st) st = qb_fail_context(st, "%s", a.in);
        else st = write_file(a.out, q, nbytes);
        free(q);
    }
    qb_unmap(&imp);
    qb_unmap(&in);
    return st;
}

qb_status cmd_decode(qb_cli *cli, int argc, char **argv) {
    codec_args a;
    int help;
    qb_status st = parse(cli, argc, argv, decode_usage, 0, &a, &help);
    if (st || help) return st;
    const qb_format *f = a.fmt;
    qb_map in;
    if ((st = qb_map_file(&in, a.in))) return st;
    int64_t rows = 0, cols = a.cols;
    size_t payload = in.size - (in.size >= (size_t)f->tensor_extra_bytes ? (size_t)f->tensor_extra_bytes : in.size);
    if (in.size == 0) {
        st = qb_fail(QB_EINPUT, "input '%s' is empty", a.in);
    } else if (in.size <= (size_t)f->tensor_extra_bytes) {
        st = qb_fail(QB_EINPUT, "input '%s' has %zu bytes, too few for %s's %d-byte tensor header", a.in, in.size, f->name,
                     f->tensor_extra_bytes);
    } else if (cols) {
        size_t row_bytes = 0;
        st = qb_format_bytes(f, 1, cols, &row_bytes);
        row_bytes -= (size_t)f->tensor_extra_bytes;
        if (!st && payload % row_bytes)
            st = qb_fail(QB_EINPUT, "input '%s' has %zu bytes, not a whole number of %s rows of %" PRId64 " values (%zu bytes each)",
                         a.in, in.size, f->name, cols, row_bytes);
        rows = st ? 0 : (int64_t)(payload / row_bytes);
    } else { /* one row: the size alone fixes the number of blocks */
        size_t blocks = payload - (payload >= (size_t)f->row_extra_bytes ? (size_t)f->row_extra_bytes : payload);
        if (payload <= (size_t)f->row_extra_bytes || blocks % (size_t)f->block_bytes)
            st = qb_fail(QB_EINPUT, "input '%s' has %zu bytes, not one %s row (%d-byte header + %d-byte blocks); give --cols",
                         a.in, in.size, f->name, f->row_extra_bytes + f->tensor_extra_bytes, f->block_bytes);
        rows = 1;
        cols = (int64_t)(blocks / (size_t)f->block_bytes) * f->block_elems;
    }
    if (!st) {
        float *y = qb_malloc((size_t)(rows * cols) * sizeof(float));
        f->dequantize(in.data, y, rows, cols);
        st = write_file(a.out, y, (size_t)(rows * cols) * sizeof(float));
        free(y);
    }
    qb_unmap(&in);
    return st;
}
