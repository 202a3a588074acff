/* TensorProto -> dense row-major bytes, with every declared size checked
 * against what the file holds before anything is allocated or copied.
 * External data is read only from plain relative paths under the model's
 * folder (no absolute paths, no "..", no symlinks, regular files only). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "onnx.pb-c.h"
#include "graph.h"
#include "tensor_data.h"

size_t unet_dtype_size(int dtype)
{
    switch (dtype) {
    case UNET_DTYPE_FLOAT: case UNET_DTYPE_INT32: case UNET_DTYPE_UINT32: return 4;
    case UNET_DTYPE_UINT8: case UNET_DTYPE_INT8: case UNET_DTYPE_BOOL: return 1;
    case UNET_DTYPE_UINT16: case UNET_DTYPE_INT16: case UNET_DTYPE_FLOAT16:
    case UNET_DTYPE_BFLOAT16: return 2;
    case UNET_DTYPE_INT64: case UNET_DTYPE_DOUBLE: case UNET_DTYPE_UINT64: return 8;
    default: return 0;
    }
}

const char *unet_dtype_name(int dtype)
{
    switch (dtype) {
    case UNET_DTYPE_FLOAT: return "float32";
    case UNET_DTYPE_UINT8: return "uint8";
    case UNET_DTYPE_INT8: return "int8";
    case UNET_DTYPE_UINT16: return "uint16";
    case UNET_DTYPE_INT16: return "int16";
    case UNET_DTYPE_INT32: return "int32";
    case UNET_DTYPE_INT64: return "int64";
    case UNET_DTYPE_STRING: return "string";
    case UNET_DTYPE_BOOL: return "bool";
    case UNET_DTYPE_FLOAT16: return "float16";
    case UNET_DTYPE_DOUBLE: return "float64";
    case UNET_DTYPE_UINT32: return "uint32";
    case UNET_DTYPE_UINT64: return "uint64";
    case UNET_DTYPE_BFLOAT16: return "bfloat16";
    default: return "undefined";
    }
}

static int path_is_plain_relative(const char *p)
{
    if (!p[0] || p[0] == '/')
        return 0;
    const char *s = p;
    while (*s) {
        const char *e = strchr(s, '/');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len == 0 || (len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
            return 0;
        if (memchr(s, '\\', len))
            return 0;
        s += len;
        if (*s == '/')
            s++;
    }
    return 1;
}

static unet_status read_external(const Onnx__TensorProto *t, const char *tname,
                                 const tensor_load_ctx *ctx, size_t want, void *dst)
{
    const char *location = NULL;
    int64_t offset = 0, length = -1;
    for (size_t i = 0; i < t->n_external_data; i++) {
        const Onnx__StringStringEntryProto *e = t->external_data[i];
        if (!e->key || !e->value)
            continue;
        char *end;
        if (strcmp(e->key, "location") == 0) {
            location = e->value;
        } else if (strcmp(e->key, "offset") == 0) {
            errno = 0;
            offset = strtoll(e->value, &end, 10);
            if (errno || *end || offset < 0)
                return unet_set_error(UNET_ERR_INVALID, "tensor '%s': external data offset '%s' is not a non-negative integer", tname, e->value);
        } else if (strcmp(e->key, "length") == 0) {
            errno = 0;
            length = strtoll(e->value, &end, 10);
            if (errno || *end || length < 0)
                return unet_set_error(UNET_ERR_INVALID, "tensor '%s': external data length '%s' is not a non-negative integer", tname, e->value);
        }
    }
    if (!ctx->allow_external)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "tensor '%s': external data is refused (the load options set refuse_external_data)", tname);
    if (!ctx->base_dir)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "tensor '%s': external data is not allowed when loading from memory without a base folder", tname);
    if (!location)
        return unet_set_error(UNET_ERR_INVALID, "tensor '%s': external data has no location", tname);
    if (!path_is_plain_relative(location))
        return unet_set_error(UNET_ERR_INVALID, "tensor '%s': external data location '%s' is not a plain relative path under the model's folder (absolute paths and '..' are refused)", tname, location);
    if (length >= 0 && (uint64_t)length != want)
        return unet_set_error(UNET_ERR_INVALID, "tensor '%s': external data length %lld, expected %zu bytes from its dims", tname, (long long)length, want);

    /* Walk the path component by component with O_NOFOLLOW so that no symlink,
     * anywhere on the path, can lead outside the model's folder. */
    int dirfd = open(ctx->base_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        return unet_set_error(UNET_ERR_IO, "tensor '%s': cannot open model folder '%s': %s", tname, ctx->base_dir, strerror(errno));
    char comp[4096];
    const char *s = location;
    int fd = -1;
    while (*s) {
        const char *e = strchr(s, '/');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len >= sizeof comp) {
            close(dirfd);
            return unet_set_error(UNET_ERR_INVALID, "tensor '%s': external data path too long", tname);
        }
        memcpy(comp, s, len);
        comp[len] = '\0';
        int last = e == NULL;
        int nfd = openat(dirfd, comp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (last ? 0 : O_DIRECTORY));
        int err = errno;
        /* A symlinked folder fails with ENOTDIR (O_DIRECTORY wins): say why. */
        struct stat lst;
        int is_link = nfd < 0 && fstatat(dirfd, comp, &lst, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(lst.st_mode);
        close(dirfd);
        if (nfd < 0 && is_link)
            return unet_set_error(UNET_ERR_IO, "tensor '%s': external data '%s' in '%s': '%s' is a symbolic link (symlinks are refused)", tname, location, ctx->base_dir, comp);
        if (nfd < 0)
            return unet_set_error(UNET_ERR_IO, "tensor '%s': cannot open external data '%s' in '%s': %s", tname, location, ctx->base_dir, strerror(err));
        if (last) {
            fd = nfd;
            break;
        }
        dirfd = nfd;
        s = e + 1;
    }
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink > 1) {
        if (fd >= 0)
            close(fd);
        return unet_set_error(UNET_ERR_INVALID, "tensor '%s': external data '%s' is not a regular file with one link", tname, location);
    }
    if ((uint64_t)offset > (uint64_t)st.st_size || want > (uint64_t)st.st_size - (uint64_t)offset) {
        close(fd);
        return unet_set_error(UNET_ERR_INVALID, "tensor '%s': external data '%s' holds %lld bytes, offset %lld + %zu bytes runs past its end", tname, location, (long long)st.st_size, (long long)offset, want);
    }
    size_t done = 0;
    while (done < want) {
        ssize_t r = pread(fd, (char *)dst + done, want - done, offset + (off_t)done);
        if (r <= 0) {
            close(fd);
            return unet_set_error(UNET_ERR_IO, "tensor '%s': reading external data '%s' failed", tname, location);
        }
        done += (size_t)r;
    }
    close(fd);
    return UNET_OK;
}

unet_status tensor_from_proto(const Onnx__TensorProto *t, const tensor_load_ctx *ctx,
                              int *dtype, int *rank, int64_t *dims, void **data, size_t *nbytes)
{
    const char *tname = t->name ? t->name : "(unnamed)";
    if (t->n_dims > UNET_MAX_RANK)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "tensor '%s': rank %zu exceeds the supported %d", tname, t->n_dims, UNET_MAX_RANK);
    if (t->segment)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "tensor '%s': segmented tensors are not supported", tname);
    int dt = t->has_data_type ? t->data_type : 0;
    size_t esz = unet_dtype_size(dt);
    if (esz == 0)
        return unet_set_error(UNET_ERR_UNSUPPORTED, "tensor '%s': data type %s (%d) is not supported", tname, unet_dtype_name(dt), dt);
    for (size_t i = 0; i < t->n_dims; i++) {
        if (t->dims[i] < 0)
            return unet_set_error(UNET_ERR_INVALID, "tensor '%s': dimension %zu is negative (%lld)", tname, i, (long long)t->dims[i]);
        dims[i] = t->dims[i];
    }
    int64_t numel;
    if (shape_numel(dims, (int)t->n_dims, &numel) != UNET_OK)
        return unet_wrap_error(UNET_ERR_LIMIT, "tensor '%s'", tname);
    if ((uint64_t)numel > ctx->max_elements)
        return unet_set_error(UNET_ERR_LIMIT, "tensor '%s': %lld elements exceed the cap of %llu", tname, (long long)numel, (unsigned long long)ctx->max_elements);
    /* The cap is the caller's to raise: the byte count may still wrap. */
    if ((uint64_t)numel > SIZE_MAX / esz)
        return unet_set_error(UNET_ERR_LIMIT, "tensor '%s': %lld elements of %s do not fit in memory", tname, (long long)numel, unet_dtype_name(dt));
    size_t bytes = (size_t)numel * esz;

    /* Decide where the data comes from and check its length before allocating. */
    int external = t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    size_t typed_count = 0;
    const char *typed_field = NULL;
    switch (dt) {
    case UNET_DTYPE_FLOAT: typed_count = t->n_float_data; typed_field = "float_data"; break;
    case UNET_DTYPE_DOUBLE: typed_count = t->n_double_data; typed_field = "double_data"; break;
    case UNET_DTYPE_INT64: typed_count = t->n_int64_data; typed_field = "int64_data"; break;
    case UNET_DTYPE_UINT32: case UNET_DTYPE_UINT64: typed_count = t->n_uint64_data; typed_field = "uint64_data"; break;
    default: typed_count = t->n_int32_data; typed_field = "int32_data"; break;
    }
    if (!external && t->has_raw_data) {
        if (t->raw_data.len != bytes)
            return unet_set_error(UNET_ERR_INVALID, "tensor '%s': raw_data has %zu bytes, expected %zu (%lld elements of %s)", tname, t->raw_data.len, bytes, (long long)numel, unet_dtype_name(dt));
    } else if (!external) {
        if (typed_count != (size_t)numel)
            return unet_set_error(UNET_ERR_INVALID, "tensor '%s': %s has %zu values, expected %lld from its dims", tname, typed_field, typed_count, (long long)numel);
    }

    void *buf = malloc(bytes ? bytes : 1);
    if (!buf)
        return unet_set_error(UNET_ERR_NOMEM, "tensor '%s': cannot allocate %zu bytes", tname, bytes);
    if (external) {
        unet_status s = read_external(t, tname, ctx, bytes, buf);
        if (s != UNET_OK) {
            free(buf);
            return s;
        }
    } else if (t->has_raw_data) {
        if (bytes)
            memcpy(buf, t->raw_data.data, bytes); /* little-endian host assumed (x86-64, aarch64) */
    } else {
        for (size_t i = 0; i < (size_t)numel; i++) {
            switch (dt) {
            case UNET_DTYPE_FLOAT: ((float *)buf)[i] = t->float_data[i]; break;
            case UNET_DTYPE_DOUBLE: ((double *)buf)[i] = t->double_data[i]; break;
            case UNET_DTYPE_INT64: ((int64_t *)buf)[i] = t->int64_data[i]; break;
            case UNET_DTYPE_UINT64: ((uint64_t *)buf)[i] = t->uint64_data[i]; break;
            case UNET_DTYPE_UINT32: ((uint32_t *)buf)[i] = (uint32_t)t->uint64_data[i]; break;
            case UNET_DTYPE_INT32: ((int32_t *)buf)[i] = t->int32_data[i]; break;
            case UNET_DTYPE_INT16: ((int16_t *)buf)[i] = (int16_t)t->int32_data[i]; break;
            case UNET_DTYPE_UINT16: case UNET_DTYPE_FLOAT16: case UNET_DTYPE_BFLOAT16:
                ((uint16_t *)buf)[i] = (uint16_t)t->int32_data[i]; break;
            case UNET_DTYPE_INT8: ((int8_t *)buf)[i] = (int8_t)t->int32_data[i]; break;
            default: ((uint8_t *)buf)[i] = (uint8_t)t->int32_data[i]; break; /* uint8, bool */
            }
        }
    }
    *dtype = dt;
    *rank = (int)t->n_dims;
    *data = buf;
    *nbytes = bytes;
    return UNET_OK;
}
