/* Batch normalisation synchronised over ranks (layer_bn.c with spec.sync),
 * without MPI: R threads stand for R ranks, each running its own layer plan
 * on its slice of a batch, and reduce_sums is a barrier plus a sum over the
 * threads' contributions in rank order. The reference is the one-process BN
 * (oneDNN's, on the whole batch): the ranks' outputs, input gradients and
 * running statistics must match it, and the sum of their scale/shift
 * gradients must equal its gradients. Covered: a plain layout (3 channels),
 * a blocked one with padded channels (12 channels in nChw8c), and unequal
 * slices (1 + 3 samples). */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "layers.h"
#include "net_ext.h"

#define CHECK_OK(call)                                                   \
    do {                                                                 \
        unet_status s_ = (call);                                         \
        if (s_ != UNET_OK)                                               \
            fail_msg("%s failed: %s", #call, unet_last_error());         \
    } while (0)

#define MAX_RANKS 3

/* One BN layer on one plan: plain x -> (layout) -> BN -> plain y; plain dy
 * -> BN backward -> plain dx. */
typedef struct rig {
    layer_plan *p;
    lp_tensor *x, *y, *dy, *dx;
    float *scale, *shift, *dscale, *dshift, *rmean, *rvar;
    size_t n_elems;
} rig;

static void rig_build(rig *r, int n, int c, int h, int w, int blocked, const float *scale,
                      const float *shift, const train_dist *sync)
{
    memset(r, 0, sizeof *r);
    CHECK_OK(lp_create(&r->p));
    const dnnl_dims_t dims = {n, c, h, w};
    dnnl_memory_desc_t plain, lay;
    lp_plain_md(&plain, 4, dims);
    CHECK_OK(lp_tensor_new(r->p, &plain, "x", &r->x));
    lp_pin(r->x);
    lp_tensor *src = r->x;
    if (blocked) {
        assert_int_equal(dnnl_memory_desc_init_by_tag(&lay, 4, dims, dnnl_f32, dnnl_nChw8c),
                         dnnl_success);
        CHECK_OK(lp_tensor_new(r->p, &lay, "x.blocked", &src));
        CHECK_OK(lp_add_reorder(r->p, LP_FWD, LP_ALWAYS, r->x, src, "x.blocked"));
    }
    r->scale = malloc((size_t)c * sizeof(float));
    r->shift = malloc((size_t)c * sizeof(float));
    r->dscale = calloc((size_t)c, sizeof(float));
    r->dshift = calloc((size_t)c, sizeof(float));
    r->rmean = malloc((size_t)c * sizeof(float));
    r->rvar = malloc((size_t)c * sizeof(float));
    assert_true(r->scale && r->shift && r->dscale && r->dshift && r->rmean && r->rvar);
    for (int i = 0; i < c; i++) {
        r->scale[i] = scale[i];
        r->shift[i] = shift[i];
        r->rmean[i] = 0.5f;
        r->rvar[i] = 2.0f;
    }
    const bn_spec spec = {.name = "sync.bn", .epsilon = NET_BN_EPSILON, .momentum = 0.1f,
                          .scale = r->scale, .shift = r->shift, .running_mean = r->rmean,
                          .running_var = r->rvar, .dscale = r->dscale, .dshift = r->dshift,
                          .sync = sync};
    bn_layer *l;
    lp_tensor *y, *dx;
    CHECK_OK(bn_layer_create(r->p, &spec, src, &l, &y));
    CHECK_OK(lp_tensor_new(r->p, &plain, "y", &r->y));
    lp_pin(r->y);
    CHECK_OK(lp_add_reorder(r->p, LP_FWD, LP_ALWAYS, y, r->y, "y"));
    CHECK_OK(lp_tensor_new(r->p, &plain, "dy", &r->dy));
    lp_pin(r->dy);
    CHECK_OK(bn_layer_backward(r->p, l, r->dy, &dx));
    CHECK_OK(lp_tensor_new(r->p, &plain, "dx", &r->dx));
    lp_pin(r->dx);
    CHECK_OK(lp_add_reorder(r->p, LP_BWD, LP_ALWAYS, dx, r->dx, "dx"));
    CHECK_OK(lp_finalize(r->p));
    r->n_elems = (size_t)n * (size_t)c * (size_t)h * (size_t)w;
}

static void rig_free(rig *r)
{
    lp_free(r->p);
    free(r->scale);
    free(r->shift);
    free(r->dscale);
    free(r->dshift);
    free(r->rmean);
    free(r->rvar);
}

/* ---- R threads as R ranks ------------------------------------------------------ */

typedef struct group {
    int size;
    pthread_barrier_t barrier;
    double *slot[MAX_RANKS]; /* each rank's vector during a reduction */
    size_t n;
    double *result;
} group;

typedef struct member {
    group *g;
    int rank;
    train_dist hooks;
    rig r;
    const float *x, *dy; /* this rank's slice */
    unet_status status;
    char message[256];
} member;

/* Sum in rank order, the same on every thread; two barriers keep the slots
 * alive until everyone has read them. */
static void reduce_sums(void *ctx, double *v, size_t n)
{
    member *m = ctx;
    group *g = m->g;
    g->slot[m->rank] = v;
    if (m->rank == 0)
        g->n = n;
    pthread_barrier_wait(&g->barrier);
    if (m->rank == 0)
        for (size_t i = 0; i < n; i++) {
            double s = 0;
            for (int r = 0; r < g->size; r++)
                s += g->slot[r][i];
            g->result[i] = s;
        }
    pthread_barrier_wait(&g->barrier);
    memcpy(v, g->result, n * sizeof *v);
    pthread_barrier_wait(&g->barrier);
}

static void *member_main(void *arg)
{
    member *m = arg;
    memcpy(lp_data(m->r.x), m->x, m->r.n_elems * sizeof(float));
    memcpy(lp_data(m->r.dy), m->dy, m->r.n_elems * sizeof(float));
    m->status = lp_run(m->r.p, LP_FWD, LP_TRAIN);
    if (m->status == UNET_OK)
        m->status = lp_run(m->r.p, LP_BWD, LP_ALWAYS);
    if (m->status != UNET_OK)
        snprintf(m->message, sizeof m->message, "%s", unet_last_error());
    return NULL;
}

static float frand(uint64_t *s, float lo, float hi)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return lo + (hi - lo) * (float)((*s >> 40) & 0xffffff) / 16777216.0f;
}

static double max_abs(const float *v, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs(v[i]));
    return m;
}

/* counts[r] samples per rank; the reference runs them all as one batch. */
static void check_sync(int c, int h, int w, int blocked, int ranks, const int *counts)
{
    int n = 0;
    for (int r = 0; r < ranks; r++)
        n += counts[r];
    const size_t per = (size_t)c * (size_t)h * (size_t)w, total = (size_t)n * per;
    float *x = malloc(total * sizeof *x), *dy = malloc(total * sizeof *dy);
    float *scale = malloc((size_t)c * sizeof *scale), *shift = malloc((size_t)c * sizeof *shift);
    assert_true(x && dy && scale && shift);
    uint64_t seed = 42;
    for (size_t i = 0; i < total; i++) {
        /* channel-dependent offsets: a mean far from 0 tests the variance sum */
        x[i] = frand(&seed, -1, 1) + 3.0f * (float)((i / (size_t)(h * w)) % (size_t)c);
        dy[i] = frand(&seed, -1, 1);
    }
    for (int i = 0; i < c; i++) {
        scale[i] = frand(&seed, 0.5f, 1.5f);
        shift[i] = frand(&seed, -0.5f, 0.5f);
    }

    /* Reference: one process, whole batch. */
    rig ref;
    rig_build(&ref, n, c, h, w, blocked, scale, shift, NULL);
    memcpy(lp_data(ref.x), x, total * sizeof(float));
    memcpy(lp_data(ref.dy), dy, total * sizeof(float));
    CHECK_OK(lp_run(ref.p, LP_FWD, LP_TRAIN));
    CHECK_OK(lp_run(ref.p, LP_BWD, LP_ALWAYS));

    group g = {.size = ranks};
    g.result = malloc(((size_t)2 * (size_t)c + 1) * sizeof *g.result);
    assert_non_null(g.result);
    assert_int_equal(pthread_barrier_init(&g.barrier, NULL, (unsigned)ranks), 0);
    member m[MAX_RANKS];
    pthread_t th[MAX_RANKS];
    int first = 0;
    for (int r = 0; r < ranks; r++) {
        memset(&m[r], 0, sizeof m[r]);
        m[r].g = &g;
        m[r].rank = r;
        m[r].hooks = (train_dist){.rank = r, .size = ranks, .ctx = &m[r],
                                  .reduce_sums = reduce_sums};
        rig_build(&m[r].r, counts[r], c, h, w, blocked, scale, shift, &m[r].hooks);
        m[r].x = x + (size_t)first * per;
        m[r].dy = dy + (size_t)first * per;
        first += counts[r];
    }
    for (int r = 0; r < ranks; r++)
        assert_int_equal(pthread_create(&th[r], NULL, member_main, &m[r]), 0);
    for (int r = 0; r < ranks; r++)
        pthread_join(th[r], NULL);
    for (int r = 0; r < ranks; r++)
        if (m[r].status != UNET_OK)
            fail_msg("rank %d: %s", r, m[r].message);

    const double ytol = 2e-5 * fmax(1.0, max_abs(lp_data(ref.y), total));
    const double dxtol = 2e-5 * max_abs(lp_data(ref.dx), total);
    first = 0;
    for (int r = 0; r < ranks; r++) {
        const float *y = lp_data(m[r].r.y), *dx = lp_data(m[r].r.dx);
        const float *ry = lp_data(ref.y) + (size_t)first * per;
        const float *rdx = lp_data(ref.dx) + (size_t)first * per;
        for (size_t i = 0; i < m[r].r.n_elems; i++) {
            if (fabs(y[i] - ry[i]) > ytol)
                fail_msg("rank %d y[%zu] = %g, one process %g", r, i, y[i], ry[i]);
            if (fabs(dx[i] - rdx[i]) > dxtol)
                fail_msg("rank %d dx[%zu] = %g, one process %g", r, i, dx[i], rdx[i]);
        }
        for (int k = 0; k < c; k++) {
            if (fabs(m[r].r.rmean[k] - ref.rmean[k]) > 1e-5 * fmax(1, fabs(ref.rmean[k])) ||
                fabs(m[r].r.rvar[k] - ref.rvar[k]) > 1e-5 * fmax(1, fabs(ref.rvar[k])))
                fail_msg("rank %d running statistics of channel %d: %g %g, one process %g %g",
                         r, k, m[r].r.rmean[k], m[r].r.rvar[k], ref.rmean[k], ref.rvar[k]);
        }
        first += counts[r];
    }
    const double gtol = 2e-5 * fmax(max_abs(ref.dscale, (size_t)c), max_abs(ref.dshift, (size_t)c));
    for (int k = 0; k < c; k++) {
        double s = 0, b = 0;
        for (int r = 0; r < ranks; r++) {
            s += m[r].r.dscale[k];
            b += m[r].r.dshift[k];
        }
        if (fabs(s - ref.dscale[k]) > gtol || fabs(b - ref.dshift[k]) > gtol)
            fail_msg("channel %d: summed dscale %g dshift %g, one process %g %g", k, s, b,
                     ref.dscale[k], ref.dshift[k]);
    }
    /* The ranks' parts are not the whole: each differs from the total. */
    assert_true(fabs(m[0].r.dshift[0] - ref.dshift[0]) > gtol);

    for (int r = 0; r < ranks; r++)
        rig_free(&m[r].r);
    rig_free(&ref);
    pthread_barrier_destroy(&g.barrier);
    free(g.result);
    free(x);
    free(dy);
    free(scale);
    free(shift);
}

static void test_plain_two_ranks(void **state)
{
    (void)state;
    const int counts[2] = {2, 2};
    check_sync(3, 5, 4, 0, 2, counts);
}

static void test_blocked_padded_three_ranks(void **state)
{
    (void)state;
    const int counts[3] = {2, 2, 2};
    check_sync(12, 6, 6, 1, 3, counts);
}

static void test_unequal_slices(void **state)
{
    (void)state;
    const int counts[2] = {1, 3};
    check_sync(12, 4, 8, 1, 2, counts);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_two_ranks),
        cmocka_unit_test(test_blocked_padded_three_ranks),
        cmocka_unit_test(test_unequal_slices),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
