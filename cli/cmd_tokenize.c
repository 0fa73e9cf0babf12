/* cmd_tokenize.c — `quantbench tokenize`: a text → the token ids and pieces of a GGUF model's
 * tokenizer (datasets/tokenizer.h), as llama.cpp's llama-tokenize prints them. The oracle test
 * (datasets/tests/oracle_tokenizer.py) drives it with --json. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/io.h"
#include "../common/json.h"
#include "../datasets/tokenizer.h"
#include "cli.h"

static const char usage[] =
    "Usage: quantbench tokenize --model M.gguf (--text FILE | --prompt STRING) [--no-special] [--json]\n"
    "\n"
    "Tokenizes a text with the model's tokenizer (tokenizer.ggml.*: SentencePiece 'llama' or\n"
    "byte-level BPE 'gpt2' with the llama-bpe, qwen2 or gpt-2 pre-tokenizer), giving the ids\n"
    "llama.cpp gives (special tokens in the text are not parsed), one 'id -> piece' per line.\n"
    "\n"
    "  --model M.gguf   the GGUF file whose vocabulary to use (only its metadata is read)\n"
    "  --text FILE      tokenize the bytes of FILE\n"
    "  --prompt STRING  tokenize STRING\n"
    "  --no-special     do not add BOS/EOS (default: as the model's metadata says)\n"
    "  --json           {\"model\", \"add_special\", \"n_tokens\", \"ids\", \"pieces\", \"tokenize_ns\"};\n"
    "                   pieces are shown as UTF-8, U+FFFD standing for bytes that are\n"
    "                   not well-formed UTF-8\n";

/* A piece as a JSON-safe NUL-terminated string: bytes that are not part of well-formed UTF-8
 * (and NUL) become U+FFFD. out must hold 3·n + 1 bytes. */
static void piece_utf8(const char *p, size_t n, char *out) {
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        const unsigned char *u = (const unsigned char *)p + i;
        size_t len = u[0] < 0x80 ? 1 : (u[0] & 0xe0) == 0xc0 ? 2 : (u[0] & 0xf0) == 0xe0 ? 3 : (u[0] & 0xf8) == 0xf0 ? 4 : 0;
        int ok = u[0] != 0 && len && i + len <= n && !(u[0] == 0xc0 || u[0] == 0xc1 || u[0] > 0xf4);
        for (size_t j = 1; ok && j < len; j++) ok = (u[j] & 0xc0) == 0x80;
        if (ok) {
            memcpy(out + k, u, len), k += len, i += len;
        } else {
            memcpy(out + k, "\xef\xbf\xbd", 3), k += 3, i++;
        }
    }
    out[k] = '\0';
}

qb_status cmd_tokenize(qb_cli *cli, int argc, char **argv) {
    static const struct option opts[] = {QB_COMMON_OPTIONS,
                                         {"model", required_argument, NULL, 'm'},
                                         {"text", required_argument, NULL, 't'},
                                         {"prompt", required_argument, NULL, 'p'},
                                         {"no-special", no_argument, NULL, 'n'},
                                         {NULL, 0, NULL, 0}};
    const char *model = NULL, *text_path = NULL, *prompt = NULL;
    int c, add_special = 1;
    while ((c = qb_cli_next(cli, argc, argv, opts, usage)) != QB_CLI_DONE) {
        if (c == QB_CLI_HELP) return QB_OK;
        if (c == QB_CLI_ERROR) return QB_EUSAGE;
        if (c == 'm') model = optarg;
        else if (c == 't') text_path = optarg;
        else if (c == 'p') prompt = optarg;
        else if (c == 'n') add_special = 0;
        else return qb_fail(QB_EUSAGE, "unexpected option");
    }
    if (optind != argc) return qb_fail(QB_EUSAGE, "unexpected argument '%s'", argv[optind]);
    if (!model) return qb_fail(QB_EUSAGE, "--model M.gguf is required");
    if (!text_path == !prompt) return qb_fail(QB_EUSAGE, "give exactly one of --text FILE and --prompt STRING");

    qb_gguf g;
    qb_status st = qb_gguf_open(&g, model);
    if (st) return st;
    qb_tokenizer *t = NULL;
    st = qb_tokenizer_from_gguf(&g, model, &t);
    qb_gguf_close(&g);
    if (st) return st;
    qb_map m = {0};
    const char *text = prompt;
    size_t len = prompt ? strlen(prompt) : 0;
    if (text_path) {
        st = qb_map_file(&m, text_path);
        if (st) {
            qb_tokenizer_free(t);
            return st;
        }
        text = m.data ? m.data : "", len = m.size;
    }
    int32_t *ids = NULL;
    size_t n = 0;
    int64_t t0 = qb_now_ns();
    st = qb_tokenize(t, text, len, add_special, &ids, &n);
    int64_t t_ns = qb_now_ns() - t0;
    if (text_path) qb_unmap(&m);
    if (st) {
        qb_tokenizer_free(t);
        return qb_fail_context(st, "%s", text_path ? text_path : "--prompt");
    }

    size_t cap = 256;
    char *piece = qb_malloc(cap), *safe = qb_malloc(3 * cap + 1);
    qb_json j;
    if (cli->json) {
        qb_json_begin(&j, stdout);
        qb_json_kstr(&j, "model", model);
        qb_json_kint(&j, "add_special", add_special);
        qb_json_kint(&j, "n_tokens", (int64_t)n);
        qb_json_kint(&j, "tokenize_ns", t_ns);
        qb_json_key(&j, "ids");
        qb_json_arr(&j);
        for (size_t i = 0; i < n; i++) qb_json_int(&j, ids[i]);
        qb_json_arr_end(&j);
        qb_json_key(&j, "pieces");
        qb_json_arr(&j);
    }
    for (size_t i = 0; i < n; i++) {
        size_t pl = qb_token_piece(t, ids[i], piece, cap);
        if (pl > cap) {
            cap = pl;
            piece = qb_realloc(piece, cap), safe = qb_realloc(safe, 3 * cap + 1);
            qb_token_piece(t, ids[i], piece, cap);
        }
        if (cli->json) {
            piece_utf8(piece, pl, safe);
            qb_json_str(&j, safe);
        } else {
            printf("%6d -> '", ids[i]);
            fwrite(piece, 1, pl, stdout);
            printf("'\n");
        }
    }
    if (cli->json) {
        qb_json_arr_end(&j);
        qb_json_end(&j);
    }
    free(piece), free(safe), free(ids);
    qb_tokenizer_free(t);
    return QB_OK;
}
