/* Folder and file tests of the programs' inputs and outputs. */
#ifndef UNET_TOOLS_CLI_FILES_H
#define UNET_TOOLS_CLI_FILES_H

int cli_is_dir(const char *path);
int cli_is_file(const char *path); /* a regular file */
/* Creates path and its missing parents (as mkdir -p); 0, or -1 with errno. */
int cli_mkdir_p(const char *path);

#endif
