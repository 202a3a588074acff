/* How the programs stop on request (see cli_signals.h). */
#include <string.h>

#include "cli_signals.h"

static volatile sig_atomic_t *stop_flag;

static void on_stop_signal(int sig)
{
    (void)sig;
    if (stop_flag)
        *stop_flag = 1;
}

void cli_catch_stop_signals(volatile sig_atomic_t *flag, int second_kills)
{
    stop_flag = flag;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sa.sa_flags = second_kills ? SA_RESETHAND : 0;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
}
