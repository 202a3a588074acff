/* The search's exchanges with the other ranks (cv_options.ranks; see cv_state.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unet/metrics.h>

#include "cv_state.h"

/* ---- the other ranks (cv_options.ranks) ------------------------------------------ */

/* What a rank tells the others at each synchronisation point. Sent as bytes:
 * every rank runs the same program, so they mean the same everywhere. */
typedef struct rank_note {
    int32_t status;      /* unet_status of this rank so far */
    int32_t interrupted; /* a run stopped by a stop request (or, when asked, one pending) */
    int32_t counts[5];   /* runs it trained, resumed, ... since the last note (counter()) */
    int32_t values[2];   /* rank 0's decisions, for everyone */
    char message[480];   /* why it failed */
} rank_note;

static int *counter(cv_outcome *out, int i)
{
    int *const c[5] = {&out->runs, &out->trained, &out->resumed, &out->skipped, &out->carried};
    return c[i];
}

/* Every rank's note and payload (bytes each; payloads gets size x bytes, rank
 * by rank) to every rank, at the same point of every rank's search. After it
 * the run counters add up every rank's runs, a failure on any rank is every
 * rank's (the first failing rank's status and message), a stop on any rank
 * stops all (check_stop: a stop request not yet acted on counts too), and
 * values holds rank 0's. One process: nothing to exchange, s as it is. */
unet_status cv_exchange(search *S, unet_status s, int *interrupted, int check_stop,
                            int32_t values[2], const void *payload, void *payloads, size_t bytes)
{
    if (S->size == 1) {
        if (bytes)
            memcpy(payloads, payload, bytes);
        return s;
    }
    rank_note mine;
    memset(&mine, 0, sizeof mine);
    mine.status = s;
    mine.interrupted = (interrupted && *interrupted) || (check_stop && cv_stop_requested(S));
    for (int i = 0; i < 5; i++)
        mine.counts[i] = *counter(S->out, i) - S->counted[i];
    if (values)
        memcpy(mine.values, values, sizeof mine.values);
    if (s != UNET_OK)
        snprintf(mine.message, sizeof mine.message, "%s", unet_last_error());
    const size_t stride = sizeof mine + bytes;
    char *buf = malloc(stride * (size_t)(S->size + 1));
    if (!buf) {
        S->out->abort_others = 1; /* the others wait in the exchange */
        return unet_set_error(UNET_ERR_NOMEM, "out of memory");
    }
    char *all = buf + stride;
    memcpy(buf, &mine, sizeof mine);
    if (bytes)
        memcpy(buf + sizeof mine, payload, bytes);
    const cv_ranks *R = S->o->ranks;
    if (R->allgather(R->ctx, buf, all, stride) != UNET_OK) {
        free(buf);
        S->out->abort_others = 1;
        return UNET_ERR_IO;
    }
    int first = -1, stop = 0, alike = 1; /* alike: every rank failed with the same message */
    unet_status agreed = UNET_OK;
    char why[sizeof mine.message];
    for (int r = 0; r < S->size; r++) {
        rank_note n;
        memcpy(&n, all + (size_t)r * stride, sizeof n);
        n.message[sizeof n.message - 1] = '\0';
        if (r != S->rank)
            for (int i = 0; i < 5; i++)
                *counter(S->out, i) += n.counts[i];
        if (n.status != UNET_OK && first < 0) {
            first = r;
            agreed = (unet_status)n.status;
            memcpy(why, n.message, sizeof why);
        }
        alike = alike && n.status != UNET_OK && strcmp(n.message, why) == 0;
        stop |= n.interrupted != 0;
        if (r == 0 && values)
            memcpy(values, n.values, sizeof n.values);
        if (bytes)
            memcpy((char *)payloads + (size_t)r * bytes, all + (size_t)r * stride + sizeof n,
                   bytes);
    }
    free(buf);
    for (int i = 0; i < 5; i++)
        S->counted[i] = *counter(S->out, i);
    if (interrupted)
        *interrupted = stop;
    if (first < 0)
        return UNET_OK;
    S->out->failed_everywhere = 1;
    if (alike) /* e.g. a bad --grid: no rank to blame */
        return unet_set_error(agreed, "%s", why);
    return unet_set_error(agreed, "rank %d: %s", first, why);
}

