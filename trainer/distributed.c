/* Data-parallel training over MPI (see distributed.h and dist_hooks.h).
 *
 * Gradients: as backward reports parameters ready (reverse layer order, the
 * same on every rank), their grads are packed back to back into one buffer;
 * whenever the open bucket reaches UNET_BUCKET_MB (default 4 MiB) an
 * MPI_Iallreduce (sum, in place) starts on it, and every later event calls
 * MPI_Testall so the transfers progress while backward computes. After
 * backward the last bucket is started, all are waited for and the sums are
 * unpacked into the grads. Small sums (BN statistics, loss, stop flags) are
 * blocking MPI_Allreduce calls on a second communicator. Every collective is
 * issued in the same order on every rank. */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cv_search.h"
#include "distributed.h"
#include "error.h"
#include "launch_env.h"

typedef struct placed {
    int idx;
    size_t off;
} placed;

struct dist {
    int rank, size, local_size;
    MPI_Comm grads_comm, small_comm, search_comm;
    unet_params *params;
    float *buf;           /* all trainable grads, packed in ready order */
    size_t n_floats, fill, bucket_start, bucket_floats;
    placed *place;
    int n_place, n_trainable;
    MPI_Request *req;
    int n_req, cap_req;
    unet_status failure;
    char failure_msg[256];
    dist_stats stats;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int dist_available(void) { return 1; }

int dist_init(int *argc, char ***argv, const char *prog, dist **out)
{
    *out = NULL;
    if (launch_env_size() == 1)
        return 0; /* alone: no MPI at all, the one-process path */
    int provided = 0;
    /* The loader thread never calls MPI; oneDNN's OpenMP threads neither. */
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "%s: error: MPI_Init failed\n", prog);
        return 1;
    }
    dist *d = calloc(1, sizeof *d);
    if (!d) {
        fprintf(stderr, "%s: error: out of memory\n", prog);
        MPI_Abort(MPI_COMM_WORLD, 1);
        return 1;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->size);
    MPI_Comm_dup(MPI_COMM_WORLD, &d->grads_comm);
    MPI_Comm_dup(MPI_COMM_WORLD, &d->small_comm);
    MPI_Comm_dup(MPI_COMM_WORLD, &d->search_comm);
    d->local_size = launch_env_local_size();
    if (d->local_size < 1) {
        MPI_Comm node;
        MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL, &node);
        MPI_Comm_size(node, &d->local_size);
        MPI_Comm_free(&node);
    }
    *out = d;
    return 0;
}

int dist_rank(const dist *d) { return d ? d->rank : 0; }
int dist_size(const dist *d) { return d ? d->size : 1; }
int dist_default_threads(const dist *d) { return launch_env_threads(d ? d->local_size : 1); }

static void fail(dist *d, unet_status s, const char *msg)
{
    if (d->failure == UNET_OK) {
        d->failure = s;
        snprintf(d->failure_msg, sizeof d->failure_msg, "%s", msg);
    }
}

static void reduce_sums(void *ctx, double *v, size_t n)
{
    dist *d = ctx;
    const double t0 = now_s();
    if (n > (size_t)INT32_MAX ||
        MPI_Allreduce(MPI_IN_PLACE, v, (int)n, MPI_DOUBLE, MPI_SUM, d->small_comm) != MPI_SUCCESS)
        fail(d, UNET_ERR_IO, "MPI_Allreduce of statistics failed");
    d->stats.wait_seconds += now_s() - t0;
}

static int add_request(dist *d)
{
    if (d->n_req == d->cap_req) {
        const int cap = d->cap_req ? 2 * d->cap_req : 16;
        MPI_Request *r = realloc(d->req, (size_t)cap * sizeof *r);
        if (!r)
            return -1;
        d->req = r;
        d->cap_req = cap;
    }
    return d->n_req++;
}

/* Starts the sum of the open bucket, buf[bucket_start, fill). */
static void start_bucket(dist *d)
{
    const size_t n = d->fill - d->bucket_start;
    if (n == 0)
        return;
    const int r = add_request(d);
    if (r < 0 || n > (size_t)INT32_MAX) {
        fail(d, UNET_ERR_NOMEM, "gradient bucket: out of memory");
        return;
    }
    if (MPI_Iallreduce(MPI_IN_PLACE, d->buf + d->bucket_start, (int)n, MPI_FLOAT, MPI_SUM,
                       d->grads_comm, &d->req[r]) != MPI_SUCCESS)
        fail(d, UNET_ERR_IO, "MPI_Iallreduce of gradients failed");
    d->bucket_start = d->fill;
}

static void grads_ready(void *ctx, const int *idx, int n)
{
    dist *d = ctx;
    for (int i = 0; i < n; i++) {
        const net_param *q = &d->params->p[idx[i]];
        if (!q->grad || d->fill + q->count > d->n_floats || d->n_place >= d->n_trainable) {
            fail(d, UNET_ERR_ARG, "gradients reported twice or for an untrained parameter");
            return;
        }
        memcpy(d->buf + d->fill, q->grad, q->count * sizeof(float));
        d->place[d->n_place++] = (placed){idx[i], d->fill};
        d->fill += q->count;
    }
    if (d->fill - d->bucket_start >= d->bucket_floats)
        start_bucket(d);
    if (d->n_req > 0) {
        /* Lets the transfers move on while backward computes (no progress thread). */
        const double t0 = now_s();
        int done;
        MPI_Testall(d->n_req, d->req, &done, MPI_STATUSES_IGNORE);
        d->stats.wait_seconds += now_s() - t0;
    }
}

static unet_status grads_finish(void *ctx)
{
    dist *d = ctx;
    start_bucket(d);
    const double t0 = now_s();
    if (d->n_req > 0 && MPI_Waitall(d->n_req, d->req, MPI_STATUSES_IGNORE) != MPI_SUCCESS)
        fail(d, UNET_ERR_IO, "waiting for the gradient sums failed");
    const double dt = now_s() - t0;
    d->stats.wait_seconds += dt;
    d->stats.grad_seconds += dt;
    d->stats.buckets = d->n_req;
    d->stats.steps++;
    if (d->failure == UNET_OK && d->n_place != d->n_trainable)
        fail(d, UNET_ERR_ARG, "backward reported fewer gradients than there are parameters");
    for (int i = 0; i < d->n_place && d->failure == UNET_OK; i++) {
        const net_param *q = &d->params->p[d->place[i].idx];
        memcpy(q->grad, d->buf + d->place[i].off, q->count * sizeof(float));
    }
    d->n_req = 0;
    d->n_place = 0;
    d->fill = d->bucket_start = 0;
    if (d->failure != UNET_OK)
        return unet_set_error(d->failure, "rank %d: %s", d->rank, d->failure_msg);
    return UNET_OK;
}

static int any(void *ctx, int flags)
{
    dist *d = ctx;
    int v = flags;
    const double t0 = now_s();
    if (MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_BOR, d->small_comm) != MPI_SUCCESS)
        fail(d, UNET_ERR_IO, "MPI_Allreduce of stop flags failed");
    d->stats.wait_seconds += now_s() - t0;
    return v;
}

static unet_status check_same(void *ctx, uint64_t checksum, uint64_t step)
{
    dist *d = ctx;
    /* max of h and of ~h: all equal exactly when max(h) == ~max(~h) = min(h). */
    uint64_t v[2] = {checksum, ~checksum};
    if (MPI_Allreduce(MPI_IN_PLACE, v, 2, MPI_UINT64_T, MPI_MAX, d->small_comm) != MPI_SUCCESS)
        return unet_set_error(UNET_ERR_IO, "MPI_Allreduce of weight checksums failed");
    if (v[0] != ~v[1])
        return unet_set_error(UNET_ERR_INVALID,
                              "after step %llu the %d processes hold different weights (checksum "
                              "of rank %d: %016llx, others up to %016llx): they must stay "
                              "identical; the last checkpoint that all agreed on is kept",
                              (unsigned long long)step, d->size, d->rank,
                              (unsigned long long)checksum, (unsigned long long)v[0]);
    return UNET_OK;
}

unet_status dist_attach(dist *d, unet_params *params, train_dist *hooks)
{
    memset(hooks, 0, sizeof *hooks);
    d->params = params;
    d->n_floats = params_trainable_count(params);
    d->n_trainable = 0;
    for (int i = 0; i < params->n; i++)
        d->n_trainable += params->p[i].trainable;
    free(d->buf);
    free(d->place);
    d->buf = malloc((d->n_floats ? d->n_floats : 1) * sizeof *d->buf);
    d->place = malloc((size_t)(d->n_trainable ? d->n_trainable : 1) * sizeof *d->place);
    if (!d->buf || !d->place)
        return unet_set_error(UNET_ERR_NOMEM, "gradient buffer of %zu floats: out of memory",
                              d->n_floats);
    double mb = 4;
    const char *e = getenv("UNET_BUCKET_MB");
    if (e && atof(e) > 0)
        mb = atof(e);
    d->bucket_floats = (size_t)(mb * 1048576.0 / sizeof(float));
    if (d->bucket_floats < 1)
        d->bucket_floats = 1;
    d->stats.gradient_floats = d->n_floats;
    hooks->rank = d->rank;
    hooks->size = d->size;
    hooks->ctx = d;
    hooks->reduce_sums = reduce_sums;
    hooks->grads_ready = grads_ready;
    hooks->grads_finish = grads_finish;
    hooks->any = any;
    hooks->check_same = check_same;
    return UNET_OK;
}

void dist_get_stats(const dist *d, dist_stats *out)
{
    if (d)
        *out = d->stats;
    else
        memset(out, 0, sizeof *out);
}

/* The search's exchange after each round. A rank that finished its runs
 * waits here while others still train: it polls with sleeps instead of
 * blocking in MPI, whose wait spins on a core the others need. */
static unet_status search_allgather(void *ctx, const void *mine, void *all, size_t bytes)
{
    dist *d = ctx;
    if (bytes > (size_t)INT32_MAX)
        return unet_set_error(UNET_ERR_LIMIT, "search exchange of %zu bytes per rank", bytes);
    MPI_Request req;
    if (MPI_Iallgather(mine, (int)bytes, MPI_BYTE, all, (int)bytes, MPI_BYTE, d->search_comm,
                       &req) != MPI_SUCCESS)
        return unet_set_error(UNET_ERR_IO, "rank %d: MPI_Iallgather of search results failed",
                              d->rank);
    const struct timespec nap = {0, 2 * 1000 * 1000};
    for (;;) {
        int done = 0;
        if (MPI_Test(&req, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS)
            return unet_set_error(UNET_ERR_IO, "rank %d: waiting for the search results failed",
                                  d->rank);
        if (done)
            return UNET_OK;
        nanosleep(&nap, NULL);
    }
}

static unet_status search_attach(void *ctx, unet_params *params, train_dist *hooks)
{
    return dist_attach(ctx, params, hooks);
}

void dist_search_ranks(dist *d, struct cv_ranks *out)
{
    if (!d) {
        *out = (cv_ranks){.rank = 0, .size = 1};
        return;
    }
    *out = (cv_ranks){.rank = d->rank, .size = d->size, .ctx = d,
                      .allgather = search_allgather, .attach = search_attach};
}

void dist_abort(dist *d, int status)
{
    if (d)
        MPI_Abort(MPI_COMM_WORLD, status);
}

void dist_finish(dist *d)
{
    if (!d)
        return;
    MPI_Comm_free(&d->grads_comm);
    MPI_Comm_free(&d->small_comm);
    MPI_Comm_free(&d->search_comm);
    free(d->buf);
    free(d->place);
    free(d->req);
    free(d);
    MPI_Finalize();
}
