/* atomic_file: the one atomic writer of the project. Named and unnamed
 * (O_TMPFILE) temporary files: the target gets the whole content, an
 * existing target is replaced, a discarded or failed write leaves neither
 * the target nor a temporary file, and errors name the file. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "atomic_file.h"

static char dir[256];

static int make_dir(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/unet-test-atomic-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void path_of(char *buf, size_t size, const char *name) { snprintf(buf, size, "%s/%s", dir, name); }

/* The number of entries of dir (other than . and ..). */
static int entries(void)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static void assert_content(const char *path, const char *want)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char got[256] = {0};
    size_t n = fread(got, 1, sizeof got - 1, f);
    fclose(f);
    assert_int_equal(n, strlen(want));
    assert_string_equal(got, want);
}

static void write_with(int unnamed, const char *path, const char *text)
{
    atomic_file a;
    assert_int_equal(unnamed ? atomic_file_open_unnamed(&a, path) : atomic_file_open(&a, path), UNET_OK);
    assert_int_equal(fputs(text, a.f) >= 0, 1);
    assert_int_equal(atomic_file_commit(&a, 0), UNET_OK);
}

static void check_kind(int unnamed)
{
    char path[300];
    path_of(path, sizeof path, unnamed ? "unnamed.txt" : "named.txt");
    write_with(unnamed, path, "first");
    assert_content(path, "first");
    write_with(unnamed, path, "second, longer"); /* replaces an existing file */
    assert_content(path, "second, longer");
    assert_int_equal(entries(), 1);

    /* Discarded: the old content stays, no temporary file. */
    atomic_file a;
    assert_int_equal(unnamed ? atomic_file_open_unnamed(&a, path) : atomic_file_open(&a, path), UNET_OK);
    fputs("half", a.f);
    atomic_file_discard(&a);
    assert_content(path, "second, longer");
    assert_int_equal(entries(), 1);

    /* A write error reported by the caller: nothing changes, the message names the file. */
    assert_int_equal(unnamed ? atomic_file_open_unnamed(&a, path) : atomic_file_open(&a, path), UNET_OK);
    fputs("broken", a.f);
    assert_int_equal(atomic_file_commit(&a, 28 /* ENOSPC */), UNET_ERR_IO);
    assert_non_null(strstr(unet_last_error(), path));
    assert_content(path, "second, longer");
    assert_int_equal(entries(), 1);

    /* A folder in the way: the rename or link fails and leaves nothing. */
    char sub[300];
    path_of(sub, sizeof sub, "a_folder");
    assert_int_equal(mkdir(sub, 0755), 0);
    assert_int_equal(unnamed ? atomic_file_open_unnamed(&a, sub) : atomic_file_open(&a, sub), UNET_OK);
    fputs("x", a.f);
    assert_int_equal(atomic_file_commit(&a, 0), UNET_ERR_IO);
    assert_non_null(strstr(unet_last_error(), sub));
    assert_int_equal(rmdir(sub), 0);
    assert_int_equal(entries(), 1);
    assert_int_equal(unlink(path), 0);
}

static void test_named(void **state)
{
    (void)state;
    check_kind(0);
}

static void test_unnamed(void **state)
{
    (void)state;
    check_kind(1);
}

/* A folder that does not exist: refused at open, naming it. */
static void test_missing_folder(void **state)
{
    (void)state;
    char path[300];
    path_of(path, sizeof path, "no/such/file.txt");
    atomic_file a;
    assert_int_equal(atomic_file_open(&a, path), UNET_ERR_IO);
    assert_non_null(strstr(unet_last_error(), path));
    assert_int_equal(atomic_file_open_unnamed(&a, path), UNET_ERR_IO);
    assert_non_null(strstr(unet_last_error(), path));
    assert_int_equal(atomic_file_write_all(path, "x", 1), UNET_ERR_IO);
    assert_int_equal(entries(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_named),
        cmocka_unit_test(test_unnamed),
        cmocka_unit_test(test_missing_folder),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
