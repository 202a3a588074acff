/* unet-infer's MPI side (see infer_mpi.h). */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unet/image.h>

#include "infer_mpi.h"
#include "launch_env.h"

struct infer_mpi {
    int rank, size, local_size;
    int *owner; /* rank of each input */
    int n;
};

int infer_mpi_init(int *argc, char ***argv, infer_mpi **out)
{
    *out = NULL;
    if (launch_env_size() == 1)
        return 0; /* alone: no MPI */
    if (MPI_Init(argc, argv) != MPI_SUCCESS) {
        fprintf(stderr, "unet-infer: MPI_Init failed\n");
        return 2;
    }
    infer_mpi *m = calloc(1, sizeof *m);
    if (!m) {
        fprintf(stderr, "unet-infer: out of memory\n");
        MPI_Abort(MPI_COMM_WORLD, 2);
        return 2;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &m->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &m->size);
    m->local_size = launch_env_local_size();
    if (m->local_size < 1) {
        MPI_Comm node;
        MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, m->rank, MPI_INFO_NULL, &node);
        MPI_Comm_size(node, &m->local_size);
        MPI_Comm_free(&node);
    }
    *out = m;
    return 0;
}

int infer_mpi_rank(const infer_mpi *m) { return m ? m->rank : 0; }
int infer_mpi_size(const infer_mpi *m) { return m ? m->size : 1; }
int infer_mpi_default_threads(const infer_mpi *m)
{
    return launch_env_threads(m ? m->local_size : 1);
}

typedef struct weighted {
    double pixels;
    int index;
} weighted;

static int by_pixels_desc(const void *a, const void *b)
{
    const weighted *x = a, *y = b;
    if (x->pixels != y->pixels)
        return x->pixels < y->pixels ? 1 : -1;
    return x->index - y->index;
}

int infer_mpi_plan(infer_mpi *m, const input_list *files, int scene)
{
    if (!m)
        return 0;
    free(m->owner);
    m->n = files->n;
    m->owner = malloc((size_t)(files->n ? files->n : 1) * sizeof *m->owner);
    if (!m->owner)
        return -1;
    if (!scene) {
        for (int i = 0; i < files->n; i++)
            m->owner[i] = (int)((long long)i * m->size / files->n);
        return 0;
    }
    weighted *w = malloc((size_t)(files->n ? files->n : 1) * sizeof *w);
    double *load = calloc((size_t)m->size, sizeof *load);
    if (!w || !load) {
        free(w);
        free(load);
        return -1;
    }
    for (int i = 0; i < files->n; i++) {
        w[i].index = i;
        w[i].pixels = 1; /* unreadable: its owner reports the failure */
        unet_image_reader *r;
        if (unet_image_reader_open(files->paths[i], UNET_IMAGE_DEFAULT, &r) == UNET_OK) {
            int width, height, channels;
            unet_image_reader_size(r, &width, &height, &channels);
            w[i].pixels = (double)width * (double)height;
            unet_image_reader_close(r);
        }
    }
    qsort(w, (size_t)files->n, sizeof *w, by_pixels_desc);
    for (int k = 0; k < files->n; k++) {
        int best = 0;
        for (int r = 1; r < m->size; r++)
            if (load[r] < load[best])
                best = r;
        m->owner[w[k].index] = best;
        load[best] += w[k].pixels;
    }
    free(w);
    free(load);
    return 0;
}

int infer_mpi_mine(const infer_mpi *m, int i)
{
    return !m || !m->owner || i >= m->n || m->owner[i] == m->rank;
}

int infer_mpi_share(const infer_mpi *m, int n)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        k += infer_mpi_mine(m, i);
    return k;
}

/* Failures as "file\0why\0" pairs. */
static char *pack_failures(const infer_report *r, int *len)
{
    size_t n = 0;
    const int k = infer_report_failure_listed(r);
    for (int i = 0; i < k; i++) {
        const char *f, *w;
        infer_report_failure_at(r, i, &f, &w);
        n += strlen(f) + strlen(w) + 2;
    }
    if (n > (size_t)1 << 30)
        n = 0; /* absurd: send none rather than overflow an int */
    char *buf = malloc(n ? n : 1);
    size_t at = 0;
    for (int i = 0; buf && n && i < k; i++) {
        const char *f, *w;
        infer_report_failure_at(r, i, &f, &w);
        memcpy(buf + at, f, strlen(f) + 1);
        at += strlen(f) + 1;
        memcpy(buf + at, w, strlen(w) + 1);
        at += strlen(w) + 1;
    }
    *len = buf ? (int)at : 0;
    return buf;
}

int infer_mpi_finish(infer_mpi *m, infer_report *r, int json, const char *json_file,
                     int interrupted)
{
    if (!m) {
        infer_report_finish(r, json, json_file, interrupted);
        return interrupted ? 3 : infer_report_failures(r) ? 1 : 0;
    }
    long long mine[INFER_REPORT_COUNTS + 1], all[INFER_REPORT_COUNTS + 1];
    infer_report_counts(r, mine);
    mine[INFER_REPORT_COUNTS] = interrupted != 0;
    MPI_Allreduce(mine, all, INFER_REPORT_COUNTS + 1, MPI_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
    const int any_interrupted = all[INFER_REPORT_COUNTS] > 0;
    int len = 0;
    char *buf = pack_failures(r, &len);
    int *lens = NULL, *offs = NULL;
    char *recv = NULL;
    if (m->rank == 0) {
        lens = calloc((size_t)m->size, sizeof *lens);
        offs = calloc((size_t)m->size, sizeof *offs);
    }
    MPI_Gather(&len, 1, MPI_INT, lens, 1, MPI_INT, 0, MPI_COMM_WORLD);
    long long total = 0;
    if (m->rank == 0 && lens && offs) {
        for (int i = 0; i < m->size; i++) {
            offs[i] = (int)total;
            total += lens[i];
        }
        if (total > (long long)1 << 30)
            total = 0;
        recv = malloc(total ? (size_t)total : 1);
    }
    /* Rank 0 gathers its own list too but keeps it as it is. */
    MPI_Gatherv(buf, len, MPI_CHAR, recv, lens, offs, MPI_CHAR, 0, MPI_COMM_WORLD);
    if (m->rank == 0) {
        infer_report_set_counts(r, all);
        for (int i = 1; recv && total && i < m->size; i++) {
            const char *p = recv + offs[i], *end = p + lens[i];
            while (p < end) {
                const char *f = p, *w = p + strlen(p) + 1;
                if (w >= end)
                    break;
                infer_report_append_failure(r, f, w);
                p = w + strlen(w) + 1;
            }
        }
        infer_report_finish(r, json, json_file, any_interrupted);
    }
    free(buf);
    free(lens);
    free(offs);
    free(recv);
    /* One exit status everywhere, so mpirun returns it. */
    return any_interrupted ? 3 : all[3] > 0 ? 1 : 0;
}

void infer_mpi_end(infer_mpi *m)
{
    if (!m)
        return;
    free(m->owner);
    free(m);
    MPI_Finalize();
}
