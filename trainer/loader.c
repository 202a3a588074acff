/* Batch loader thread with two buffers (see loader.h). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unet/image.h>

#include "augment.h"
#include "crops.h"
#include "error.h"
#include "loader.h"

enum slot_state { SLOT_FREE, SLOT_FILLING, SLOT_READY };

typedef struct slot {
    int state;
    loader_batch b;
    unet_status status;
    char message[512]; /* the loader thread's error, handed to the caller's thread */
} slot;

struct loader {
    int batch, width, height, n_classes, ignore_label;
    pthread_t thread;
    int thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int quit;
    /* The pass. */
    uint64_t generation;
    const tile_set *set;
    int *items, n_items, items_cap;
    int n_batches, next_fill, next_get, augment;
    uint64_t aug_seed;
    const crop_source *crops; /* a crop pass (loader_start_crops); NULL: tiles */
    uint64_t crop_seed;
    uint64_t sample_stride, sample_offset; /* loader_set_sample_numbering; 0: batch, 0 */
    slot slots[2];
    int held; /* slot handed out by the last loader_next, -1 when none */
    /* Per-thread scratch (only the loader thread touches them). */
    uint8_t *tmp_rgb;
    uint8_t *crop_rgb, *crop_mask; /* a crop before augmentation */
};

static int ceil_div(int a, int b) { return (a + b - 1) / b; }

/* Augments (or copies) one tile-sized RGB picture and mask into sample k of b. */
static void put_sample(loader *ld, const uint8_t *rgb, const uint8_t *mask, uint64_t sample,
                       int augment, uint64_t aug_seed, loader_batch *b, int k)
{
    const size_t hw = (size_t)ld->width * (size_t)ld->height;
    float *x = b->x + (size_t)k * 3 * hw;
    uint8_t *y = b->y + (size_t)k * hw;
    aug_params p;
    if (augment) {
        aug_draw(aug_seed, sample, ld->width == ld->height, &p);
        aug_transform(rgb, ld->tmp_rgb, ld->width, ld->height, 3, p.op);
        aug_transform(mask, y, ld->width, ld->height, 1, p.op);
        aug_to_planar(ld->tmp_rgb, ld->width, ld->height, &p, x);
    } else {
        memcpy(y, mask, hw);
        aug_to_planar(rgb, ld->width, ld->height, NULL, x);
    }
}

/* Reads and prepares sample k of batch b into s (loader thread). */
static unet_status fill_sample(loader *ld, const tile_set *set, int tile_index, uint64_t sample,
                               int augment, uint64_t aug_seed, loader_batch *b, int k)
{
    if (ld->crops) {
        crop_window win;
        crop_draw(ld->crops, ld->crop_seed, sample, &win);
        UNET_TRY(crop_render(ld->crops, set, &win, ld->width, ld->height, ld->n_classes,
                             ld->ignore_label, ld->crop_rgb, ld->crop_mask));
        put_sample(ld, ld->crop_rgb, ld->crop_mask, sample, augment, aug_seed, b, k);
        return UNET_OK;
    }
    char path[4096];
    UNET_TRY(tile_image_path(set, tile_index, path, sizeof path));
    unet_image img;
    UNET_TRY(unet_image_read(path, UNET_IMAGE_FORCE_RGB, &img));
    if (img.width != ld->width || img.height != ld->height) {
        unet_status s = unet_set_error(UNET_ERR_SHAPE, "%s is %dx%d, the other tiles %dx%d", path,
                                       img.width, img.height, ld->width, ld->height);
        unet_image_free(&img);
        return s;
    }
    UNET_TRY(tile_mask_path(set, tile_index, path, sizeof path));
    int mw, mh;
    uint8_t *mask;
    unet_status s = tile_read_mask(path, ld->n_classes, ld->ignore_label, &mw, &mh, &mask);
    if (s == UNET_OK && (mw != ld->width || mh != ld->height)) {
        s = unet_set_error(UNET_ERR_SHAPE, "%s is %dx%d, its image %dx%d", path, mw, mh,
                           ld->width, ld->height);
        free(mask);
    }
    if (s != UNET_OK) {
        unet_image_free(&img);
        return s;
    }
    put_sample(ld, img.pixels, mask, sample, augment, aug_seed, b, k);
    free(mask);
    unet_image_free(&img);
    return UNET_OK;
}

/* Fills batch number bi of the current pass into slot s (loader thread, lock
 * not held; the pass fields it reads do not change while a slot is filling). */
static void fill_batch(loader *ld, int bi, slot *s)
{
    const int first = bi * ld->batch;
    int n_valid = ld->n_items - first;
    if (n_valid > ld->batch)
        n_valid = ld->batch;
    s->b.index = bi;
    s->b.n_valid = n_valid;
    s->status = UNET_OK;
    s->message[0] = '\0';
    const size_t hw = (size_t)ld->width * (size_t)ld->height;
    const uint64_t base = ld->sample_stride ? (uint64_t)bi * ld->sample_stride + ld->sample_offset
                                            : (uint64_t)first;
    for (int k = 0; k < n_valid && s->status == UNET_OK; k++)
        s->status = fill_sample(ld, ld->set, ld->items[first + k], base + (uint64_t)k,
                                ld->augment, ld->aug_seed, &s->b, k);
    for (int k = n_valid; k < ld->batch && s->status == UNET_OK; k++) {
        memcpy(s->b.x + (size_t)k * 3 * hw, s->b.x + (size_t)(n_valid - 1) * 3 * hw,
               3 * hw * sizeof(float));
        memcpy(s->b.y + (size_t)k * hw, s->b.y + (size_t)(n_valid - 1) * hw, hw);
    }
    if (s->status != UNET_OK)
        snprintf(s->message, sizeof s->message, "%s", unet_last_error());
}

static void *loader_main(void *arg)
{
    loader *ld = arg;
    pthread_mutex_lock(&ld->mu);
    while (!ld->quit) {
        slot *s = ld->next_fill < ld->n_batches ? &ld->slots[ld->next_fill % 2] : NULL;
        if (!s || s->state != SLOT_FREE) {
            pthread_cond_wait(&ld->cv, &ld->mu);
            continue;
        }
        const int bi = ld->next_fill++;
        const uint64_t gen = ld->generation;
        s->state = SLOT_FILLING;
        pthread_mutex_unlock(&ld->mu);
        fill_batch(ld, bi, s);
        pthread_mutex_lock(&ld->mu);
        s->state = gen == ld->generation ? SLOT_READY : SLOT_FREE;
        pthread_cond_broadcast(&ld->cv);
    }
    pthread_mutex_unlock(&ld->mu);
    return NULL;
}

unet_status loader_create(int batch, int width, int height, int n_classes, int ignore_label,
                          loader **out)
{
    *out = NULL;
    if (batch < 1 || width < 1 || height < 1 || (uint64_t)width * (uint64_t)height > (1u << 28))
        return unet_set_error(UNET_ERR_ARG, "loader: batch %d of %dx%d tiles", batch, width,
                              height);
    loader *ld = calloc(1, sizeof *ld);
    if (!ld)
        return unet_set_error(UNET_ERR_NOMEM, "loader: out of memory");
    ld->batch = batch;
    ld->width = width;
    ld->height = height;
    ld->n_classes = n_classes;
    ld->ignore_label = ignore_label;
    ld->held = -1;
    const size_t hw = (size_t)width * (size_t)height;
    int ok = 1;
    for (int i = 0; i < 2; i++) {
        ld->slots[i].b.x = malloc((size_t)batch * 3 * hw * sizeof(float));
        ld->slots[i].b.y = malloc((size_t)batch * hw);
        ok = ok && ld->slots[i].b.x && ld->slots[i].b.y;
    }
    ld->tmp_rgb = malloc(3 * hw);
    ld->crop_rgb = malloc(3 * hw);
    ld->crop_mask = malloc(hw);
    ok = ok && ld->tmp_rgb && ld->crop_rgb && ld->crop_mask;
    if (!ok) {
        loader_free(ld);
        return unet_set_error(UNET_ERR_NOMEM, "loader: batch buffers (%d x %dx%d): out of memory",
                              batch, width, height);
    }
    pthread_mutex_init(&ld->mu, NULL);
    pthread_cond_init(&ld->cv, NULL);
    if (pthread_create(&ld->thread, NULL, loader_main, ld) != 0) {
        pthread_mutex_destroy(&ld->mu);
        pthread_cond_destroy(&ld->cv);
        loader_free(ld);
        return unet_set_error(UNET_ERR_IO, "loader: cannot start a thread");
    }
    ld->thread_started = 1;
    *out = ld;
    return UNET_OK;
}

void loader_free(loader *ld)
{
    if (!ld)
        return;
    if (ld->thread_started) {
        pthread_mutex_lock(&ld->mu);
        ld->quit = 1;
        pthread_cond_broadcast(&ld->cv);
        pthread_mutex_unlock(&ld->mu);
        pthread_join(ld->thread, NULL);
        pthread_mutex_destroy(&ld->mu);
        pthread_cond_destroy(&ld->cv);
    }
    for (int i = 0; i < 2; i++) {
        free(ld->slots[i].b.x);
        free(ld->slots[i].b.y);
    }
    free(ld->tmp_rgb);
    free(ld->crop_rgb);
    free(ld->crop_mask);
    free(ld->items);
    free(ld);
}

/* Begins a pass of n_items samples: tiles items[] (crops NULL) or crops
 * (items NULL). */
static unet_status begin_pass(loader *ld, const tile_set *set, const int *items,
                              const crop_source *crops, uint64_t crop_seed, int n_items,
                              int first_batch, int augment, uint64_t aug_seed)
{
    pthread_mutex_lock(&ld->mu);
    /* Abandon the running pass; wait for a batch being filled to finish,
     * since the thread reads the pass fields while filling. */
    ld->generation++;
    while (ld->slots[0].state == SLOT_FILLING || ld->slots[1].state == SLOT_FILLING)
        pthread_cond_wait(&ld->cv, &ld->mu);
    unet_status s = UNET_OK;
    if (n_items > ld->items_cap) {
        int *v = realloc(ld->items, (size_t)n_items * sizeof *v);
        if (v) {
            ld->items = v;
            ld->items_cap = n_items;
        } else {
            s = unet_set_error(UNET_ERR_NOMEM, "loader: out of memory");
        }
    }
    ld->slots[0].state = ld->slots[1].state = SLOT_FREE;
    ld->held = -1;
    if (s == UNET_OK) {
        if (items)
            memcpy(ld->items, items, (size_t)n_items * sizeof *items);
        else
            memset(ld->items, 0, (size_t)n_items * sizeof *ld->items); /* unused by crops */
        ld->crops = crops;
        ld->crop_seed = crop_seed;
        ld->set = set;
        ld->n_items = n_items;
        ld->n_batches = ceil_div(n_items, ld->batch);
        ld->next_fill = ld->next_get = first_batch < 0 ? 0 : first_batch;
        ld->augment = augment;
        ld->aug_seed = aug_seed;
    } else {
        ld->n_batches = ld->next_fill = ld->next_get = 0;
    }
    pthread_cond_broadcast(&ld->cv);
    pthread_mutex_unlock(&ld->mu);
    return s;
}

unet_status loader_start(loader *ld, const tile_set *set, const int *items, int n_items,
                         int first_batch, int augment, uint64_t aug_seed)
{
    if (n_items < 1)
        return unet_set_error(UNET_ERR_ARG, "loader: a pass needs at least one tile");
    for (int i = 0; i < n_items; i++)
        if (items[i] < 0 || items[i] >= set->n)
            return unet_set_error(UNET_ERR_ARG, "loader: tile index %d outside 0..%d", items[i],
                                  set->n - 1);
    return begin_pass(ld, set, items, NULL, 0, n_items, first_batch, augment, aug_seed);
}

unet_status loader_start_crops(loader *ld, const tile_set *set, const crop_source *crops,
                               int n_samples, int first_batch, int augment, uint64_t aug_seed,
                               uint64_t crop_seed)
{
    if (n_samples < 1 || !crops || crops->n_tiles < 1)
        return unet_set_error(UNET_ERR_ARG, "loader: a crop pass needs samples and tiles");
    if (crops->tile_width != ld->width || crops->tile_height != ld->height)
        return unet_set_error(UNET_ERR_ARG, "loader: crops laid out from %dx%d tiles, batches "
                              "of %dx%d", crops->tile_width, crops->tile_height, ld->width,
                              ld->height);
    return begin_pass(ld, set, NULL, crops, crop_seed, n_samples, first_batch, augment,
                      aug_seed);
}

unet_status loader_next(loader *ld, const loader_batch **out)
{
    *out = NULL;
    pthread_mutex_lock(&ld->mu);
    if (ld->held >= 0) {
        ld->slots[ld->held].state = SLOT_FREE;
        ld->held = -1;
        pthread_cond_broadcast(&ld->cv);
    }
    if (ld->next_get >= ld->n_batches) {
        pthread_mutex_unlock(&ld->mu);
        return unet_set_error(UNET_ERR_ARG, "loader: the pass has no more batches");
    }
    const int bi = ld->next_get;
    slot *s = &ld->slots[bi % 2];
    while (!(s->state == SLOT_READY && s->b.index == bi))
        pthread_cond_wait(&ld->cv, &ld->mu);
    ld->next_get++;
    ld->held = bi % 2;
    unet_status st = s->status;
    pthread_mutex_unlock(&ld->mu);
    if (st != UNET_OK)
        return unet_set_error(st, "%s", s->message);
    *out = &s->b;
    return UNET_OK;
}

void loader_set_sample_numbering(loader *ld, uint64_t stride, uint64_t offset)
{
    pthread_mutex_lock(&ld->mu);
    ld->sample_stride = stride;
    ld->sample_offset = stride ? offset : 0;
    pthread_mutex_unlock(&ld->mu);
}
