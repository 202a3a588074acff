/* Progress, failures and the summary of an inference run. */
#ifndef UNET_TOOLS_INFER_REPORT_H
#define UNET_TOOLS_INFER_REPORT_H

#include <stdio.h>
#include <unet/unet.h>

typedef struct infer_report infer_report;

/* program prefixes the messages ("unet-infer", "unet-eval"). */
infer_report *infer_report_create(const char *program, int total, int quiet);
void infer_report_done(infer_report *r);
void infer_report_skipped(infer_report *r);
/* Scene mode: the progress line counts the windows of the scene begun last
 * (done/total, windows/s, ETA) and the summary gives windows and windows/s. */
void infer_report_begin_item(infer_report *r, const char *name, int windows);
void infer_report_windows_done(infer_report *r, int n);
void infer_report_failure(infer_report *r, const char *file, const char *why);
void infer_report_batch_error(infer_report *r, const char *file, const char *why);
int infer_report_failures(const infer_report *r);
/* Final line on stderr, JSON on stdout (json) and/or to json_file. */
void infer_report_finish(infer_report *r, int json, const char *json_file, int interrupted);
void infer_report_profile(const unet_session *s, FILE *f);
void infer_report_free(infer_report *r);

/* Combining the reports of several processes (infer_mpi.c). Counts are
 * total, done, skipped, failed, windows, scene mode (0/1). */
#define INFER_REPORT_COUNTS 6
void infer_report_counts(const infer_report *r, long long out[INFER_REPORT_COUNTS]);
/* Failures kept in the list (their lines were printed when they happened). */
int infer_report_failure_listed(const infer_report *r);
void infer_report_failure_at(const infer_report *r, int i, const char **file, const char **why);
/* Sets r's counts to the combined ones and appends another process's failure
 * to the list, without printing either. */
void infer_report_set_counts(infer_report *r, const long long in[INFER_REPORT_COUNTS]);
void infer_report_append_failure(infer_report *r, const char *file, const char *why);

#endif
