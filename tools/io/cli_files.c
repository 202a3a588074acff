/* Folder and file tests of the programs (see cli_files.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_files.h"

int cli_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int cli_is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int cli_mkdir_p(const char *path)
{
    char *tmp = strdup(path);
    if (!tmp) {
        errno = ENOMEM;
        return -1;
    }
    int rc = 0;
    for (char *p = tmp + 1; *p && rc == 0; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
            rc = -1;
        *p = '/';
    }
    if (rc == 0 && mkdir(tmp, 0777) != 0 && (errno != EEXIST || !cli_is_dir(tmp)))
        rc = -1;
    const int saved = errno;
    free(tmp);
    errno = saved;
    return rc;
}
