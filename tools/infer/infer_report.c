/* Progress on a terminal (tiles done, tiles/s, ETA), one line per failed input,
 * and a summary as text and JSON. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "atomic_file.h"
#include "infer_report.h"
#include "json_out.h"

typedef struct failure {
    char *file;
    char *why;
} failure;

struct infer_report {
    int total, done, skipped, failed;
    int quiet, tty;
    const char *program;
    double start, last_draw;
    failure *fails;
    int n_fails, cap_fails;
    /* Scene mode: windows of the scene being worked on and of the run. */
    int scene_mode, items_started;
    long long win_item_total, win_item_done, win_started, win_done;
    char item[96];
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

infer_report *infer_report_create(const char *program, int total, int quiet)
{
    infer_report *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->total = total;
    r->program = program;
    r->quiet = quiet;
    r->tty = isatty(STDERR_FILENO);
    r->start = now_s();
    return r;
}

static void draw(infer_report *r, int force)
{
    if (r->quiet || !r->tty)
        return;
    double t = now_s();
    if (!force && t - r->last_draw < 0.2)
        return;
    r->last_draw = t;
    int handled = r->done + r->skipped + r->failed;
    double el = t - r->start;
    if (r->scene_mode) {
        /* Scenes not yet begun are guessed at the mean window count so far. */
        double rate = el > 0 ? r->win_done / el : 0;
        int later = r->total - handled - (r->win_item_done < r->win_item_total ? 1 : 0);
        double mean = r->items_started ? (double)r->win_started / r->items_started : 0;
        double left = (double)(r->win_item_total - r->win_item_done) + (later > 0 ? later * mean : 0);
        int busy = r->win_item_done < r->win_item_total;
        fprintf(stderr, "\rimage %d/%d  %.24s: %lld/%lld windows  %.1f windows/s  ETA %.0fs  (%d skipped, %d failed)   ",
                handled + busy, r->total, r->item, r->win_item_done, r->win_item_total, rate, rate > 0 ? left / rate : 0,
                r->skipped, r->failed);
        fflush(stderr);
        return;
    }
    double rate = el > 0 ? r->done / el : 0;
    double eta = rate > 0 ? (r->total - handled) / rate : 0;
    fprintf(stderr, "\r%d/%d tiles  %.1f tiles/s  ETA %.0fs  (%d skipped, %d failed)   ", handled, r->total, rate, eta, r->skipped, r->failed);
    fflush(stderr);
}

void infer_report_done(infer_report *r) { r->done++; draw(r, 0); }

void infer_report_begin_item(infer_report *r, const char *name, int windows)
{
    r->scene_mode = 1;
    r->items_started++;
    r->win_item_total = windows;
    r->win_item_done = 0;
    r->win_started += windows;
    snprintf(r->item, sizeof r->item, "%s", name);
    draw(r, 1);
}

void infer_report_windows_done(infer_report *r, int n)
{
    r->win_item_done += n;
    r->win_done += n;
    draw(r, 0);
}
void infer_report_skipped(infer_report *r) { r->skipped++; draw(r, 0); }

void infer_report_failure(infer_report *r, const char *file, const char *why)
{
    size_t n = strlen(file); /* library messages often start with the file name already */
    if (!strncmp(why, file, n) && !strncmp(why + n, ": ", 2))
        why += n + 2;
    r->failed++;
    r->win_item_total = r->win_item_done; /* a failed scene is over */
    if (r->tty && !r->quiet)
        fprintf(stderr, "\r%*s\r", 120, "");
    fprintf(stderr, "%s: %s: %s\n", r->program, file, why);
    if (r->n_fails == r->cap_fails) {
        int cap = r->cap_fails ? r->cap_fails * 2 : 16;
        failure *f = realloc(r->fails, (size_t)cap * sizeof *f);
        if (!f)
            return;
        r->fails = f;
        r->cap_fails = cap;
    }
    r->fails[r->n_fails].file = strdup(file);
    r->fails[r->n_fails].why = strdup(why);
    r->n_fails++;
    draw(r, 1);
}

void infer_report_batch_error(infer_report *r, const char *file, const char *why) { infer_report_failure(r, file, why); }
int infer_report_failures(const infer_report *r) { return r->failed; }

static void write_json(const infer_report *r, FILE *f, double secs, int interrupted)
{
    if (r->scene_mode)
        fprintf(f, "{\"windows\":%lld,\"windows_per_second\":%.3f,", r->win_done, secs > 0 ? r->win_done / secs : 0.0);
    fprintf(f, "%s\"tiles\":%d,\"written\":%d,\"skipped\":%d,\"failed\":%d,\"interrupted\":%s,\"seconds\":%.3f,\"tiles_per_second\":%.3f,\"failures\":[",
            r->scene_mode ? "" : "{", r->total, r->done, r->skipped, r->failed, interrupted ? "true" : "false", secs, secs > 0 ? r->done / secs : 0.0);
    for (int i = 0; i < r->n_fails; i++) {
        fprintf(f, "%s{\"file\":", i ? "," : "");
        json_write_string(f, r->fails[i].file);
        fprintf(f, ",\"error\":");
        json_write_string(f, r->fails[i].why);
        fprintf(f, "}");
    }
    /* What the timing was measured on: the CPU and the ISA oneDNN ran. */
    char cpu[256];
    fprintf(f, "],\"machine\":{\"cpu\":");
    json_write_string(f, unet_cpu_model(cpu, sizeof cpu));
    fprintf(f, ",\"isa\":");
    json_write_string(f, unet_cpu_isa());
    fprintf(f, "}}\n");
}

void infer_report_finish(infer_report *r, int json, const char *json_file, int interrupted)
{
    double secs = now_s() - r->start;
    draw(r, 1);
    if (r->tty && !r->quiet)
        fprintf(stderr, "\n");
    if ((!r->quiet || r->failed) && r->scene_mode)
        fprintf(stderr, "%d written, %d skipped (already done), %d failed in %.2f s (%lld windows, %.2f windows/s)%s\n",
                r->done, r->skipped, r->failed, secs, r->win_done, secs > 0 ? r->win_done / secs : 0.0,
                interrupted ? "; interrupted, finished masks kept" : "");
    else if (!r->quiet || r->failed)
        fprintf(stderr, "%d written, %d skipped (already done), %d failed in %.2f s (%.2f tiles/s)%s\n",
                r->done, r->skipped, r->failed, secs, secs > 0 ? r->done / secs : 0.0,
                interrupted ? "; interrupted, finished masks kept" : "");
    if (json)
        write_json(r, stdout, secs, interrupted);
    if (json_file) {
        atomic_file a;
        if (atomic_file_open(&a, json_file) == UNET_OK) {
            errno = 0;
            write_json(r, a.f, secs, interrupted);
            int e = ferror(a.f) ? (errno ? errno : EIO) : 0;
            if (atomic_file_commit(&a, e) != UNET_OK)
                fprintf(stderr, "%s: %s\n", r->program, unet_last_error());
        } else {
            fprintf(stderr, "%s: %s\n", r->program, unet_last_error());
        }
    }
}

void infer_report_profile(const unet_session *s, FILE *f)
{
    int n = unet_session_profile_count(s);
    double total = 0;
    for (int i = 0; i < n; i++) {
        const char *name, *op, *impl;
        double ms;
        unet_session_profile_entry(s, i, &name, &op, &impl, &ms);
        total += ms;
    }
    fprintf(f, "profile of the last batch (%d steps, %.2f ms):\n%-32s %-18s %-28s %9s %6s\n", n, total, "node", "op", "implementation", "ms", "%");
    for (int i = 0; i < n; i++) {
        const char *name, *op, *impl;
        double ms;
        unet_session_profile_entry(s, i, &name, &op, &impl, &ms);
        fprintf(f, "%-32.32s %-18.18s %-28.28s %9.3f %5.1f%%\n", name, op, impl, ms, total > 0 ? 100 * ms / total : 0);
    }
}

void infer_report_free(infer_report *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->n_fails; i++) {
        free(r->fails[i].file);
        free(r->fails[i].why);
    }
    free(r->fails);
    free(r);
}

void infer_report_counts(const infer_report *r, long long out[INFER_REPORT_COUNTS])
{
    out[0] = r->total;
    out[1] = r->done;
    out[2] = r->skipped;
    out[3] = r->failed;
    out[4] = r->win_done;
    out[5] = r->scene_mode;
}

int infer_report_failure_listed(const infer_report *r) { return r->n_fails; }

void infer_report_failure_at(const infer_report *r, int i, const char **file, const char **why)
{
    *file = r->fails[i].file ? r->fails[i].file : "";
    *why = r->fails[i].why ? r->fails[i].why : "";
}

void infer_report_set_counts(infer_report *r, const long long in[INFER_REPORT_COUNTS])
{
    r->total = (int)in[0];
    r->done = (int)in[1];
    r->skipped = (int)in[2];
    r->failed = (int)in[3];
    r->win_done = in[4];
    r->scene_mode = in[5] != 0;
}

void infer_report_append_failure(infer_report *r, const char *file, const char *why)
{
    if (r->n_fails == r->cap_fails) {
        int cap = r->cap_fails ? r->cap_fails * 2 : 16;
        failure *f = realloc(r->fails, (size_t)cap * sizeof *f);
        if (!f)
            return;
        r->fails = f;
        r->cap_fails = cap;
    }
    r->fails[r->n_fails].file = strdup(file);
    r->fails[r->n_fails].why = strdup(why);
    r->n_fails++;
}
