/* The files of one run beside MODEL.onnx, and its epoch logs; see run_files.h. */
#include "run_files.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "error.h"
#include "text_file.h"
#include "text_format.h"

unet_status run_paths_make(const char *out, const char *checkpoint_dir, run_paths *p)
{
    memset(p, 0, sizeof *p);
    const size_t n = strlen(out);
    const int has_ext = n > 5 && strcmp(out + n - 5, ".onnx") == 0;
    p->stem = has_ext ? strndup(out, n - 5) : strdup(out);
    if (!p->stem)
        return unet_set_error(UNET_ERR_NOMEM, "%s: out of memory", out);
    p->last_model = str_concat(p->stem, ".last.onnx");
    p->csv = str_concat(p->stem, ".log.csv");
    p->jsonl = str_concat(p->stem, ".log.jsonl");
    p->ckpt_dir = checkpoint_dir ? strdup(checkpoint_dir) : str_concat(p->stem, ".ckpt");
    p->ckpt = p->ckpt_dir ? str_concat(p->ckpt_dir, "/last.ckpt") : NULL;
    return p->last_model && p->csv && p->jsonl && p->ckpt_dir && p->ckpt
               ? UNET_OK : unet_set_error(UNET_ERR_NOMEM, "%s: out of memory", out);
}

void run_paths_free(run_paths *p)
{
    free(p->stem);
    free(p->last_model);
    free(p->csv);
    free(p->jsonl);
    free(p->ckpt_dir);
    free(p->ckpt);
}


/* The epoch number (1-based) a log line starts with: "N," in CSV, {"epoch":N in JSONL. */
static long log_line_epoch(const char *line)
{
    const char *p = line;
    if (strncmp(p, "{\"epoch\":", 9) == 0)
        p += 9;
    char *end;
    const long v = strtol(p, &end, 10);
    return end == p ? -1 : v;
}

/* Keeps the header (CSV) and the lines of epochs <= keep_epochs: epochs a
 * resumed run repeats are logged again. */
static unet_status truncate_log(const char *path, int has_header, uint64_t keep_epochs)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return UNET_OK; /* nothing logged yet */
    sbuf out = {0};
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int first = 1;
    while ((n = getline(&line, &cap, f)) > 0) {
        const long e = log_line_epoch(line);
        if ((first && has_header) || (e >= 1 && (uint64_t)e <= keep_epochs))
            sb_printf(&out, "%s", line);
        first = 0;
    }
    free(line);
    fclose(f);
    unet_status r = out.nomem ? unet_set_error(UNET_ERR_NOMEM, "%s: out of memory", path)
                              : atomic_file_write_all(path, out.s ? out.s : "", out.len);
    free(out.s);
    return r;
}

static unet_status append_line(const char *path, const char *text)
{
    FILE *f = fopen(path, "ab");
    if (!f)
        return unet_set_error(UNET_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    int ok = fputs(text, f) >= 0;
    if (fclose(f) != 0)
        ok = 0;
    return ok ? UNET_OK : unet_set_error(UNET_ERR_IO, "cannot write %s: %s", path, strerror(errno));
}

static unet_status write_csv_header(const run_paths *p, const unet_palette *pal)
{
    sbuf b = {0};
    sb_printf(&b, "epoch,partial,step,lr,train_loss,train_accuracy,val_loss,val_pixel_accuracy,"
                  "val_miou,val_macro_f1,best,epoch_seconds,tiles_per_second");
    char nm[UNET_PALETTE_NAME_MAX];
    for (int k = 0; k < pal->n_classes; k++) {
        csv_column_name(pal->classes[k].name, nm, sizeof nm);
        sb_printf(&b, ",iou_%s", nm);
    }
    for (int k = 0; k < pal->n_classes; k++) {
        csv_column_name(pal->classes[k].name, nm, sizeof nm);
        sb_printf(&b, ",f1_%s", nm);
    }
    sb_printf(&b, "\n");
    unet_status rc = b.nomem ? unet_set_error(UNET_ERR_NOMEM, "%s: out of memory", p->csv)
                             : atomic_file_write_all(p->csv, b.s, b.len);
    free(b.s);
    return rc;
}

unet_status run_logs_start(const run_paths *p, const unet_palette *pal, int resuming, uint64_t keep_epochs)
{
    if (!resuming) {
        UNET_TRY(write_csv_header(p, pal));
        return atomic_file_write_all(p->jsonl, "", 0);
    }
    UNET_TRY(truncate_log(p->csv, 1, keep_epochs));
    UNET_TRY(truncate_log(p->jsonl, 0, keep_epochs));
    return text_file_exists(p->csv) ? UNET_OK : write_csv_header(p, pal);
}

unet_status run_logs_append(const run_paths *p, const char *csv_line, const char *json_line)
{
    UNET_TRY(append_line(p->csv, csv_line));
    return append_line(p->jsonl, json_line);
}
