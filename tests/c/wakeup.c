/*
 * wakeup.c: a single-threaded program with its own event loop.
 *
 * It never blocks in rtr_receive_message: it waits in poll() on a pipe that
 * its wakeup routine (rtr_set_wakeup) writes to, and on the library's
 * wakeup descriptor (rtr_get_wakeup_fd, an extension); when woken it
 * receives with a timeout of 0 until RTR_STS_TIMOUT. It serves its own
 * key range and runs its own client, so everything happens in one thread.
 *
 * Output (checked by ffi/tests/c_programs.rs):
 *     wakeup: committed=20 routine_calls>=1 fd_ok=yes
 */
#define _POSIX_C_SOURCE 200809L

#include <poll.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rtr.h"

#define FACILITY "TEST_WAKEUP"
#define NUM_TX 20

static int wake_pipe[2];
static atomic_int routine_calls;

/* The wakeup routine: no RTR calls, just a byte into the pipe. */
static void on_wakeup(void)
{
    atomic_fetch_add(&routine_calls, 1);
    char b = 1;
    ssize_t n = write(wake_pipe[1], &b, 1);
    (void)n;
}

static void check(const char *what, rtr_status_t s)
{
    if (s != RTR_STS_OK) {
        fprintf(stderr, "%s: %s\n", what, rtr_error_text(s));
        exit(1);
    }
}

int main(void)
{
    if (pipe(wake_pipe) != 0) {
        perror("pipe");
        return 1;
    }
    check("rtr_set_wakeup", rtr_set_wakeup(on_wakeup));
    int fd = -1;
    check("rtr_get_wakeup_fd", rtr_get_wakeup_fd(&fd));
    if (rtr_get_wakeup_fd(NULL) != RTR_STS_INVPTR) {
        fprintf(stderr, "rtr_get_wakeup_fd(NULL) must return RTR_STS_INVPTR\n");
        return 1;
    }

    uint32_t lo = 0, hi = 1000;
    rtr_keyseg_t key = {rtr_keyseg_unsigned, 4, 0, &lo, &hi};
    rtr_channel_t srv, cli;
    check("open server", rtr_open_channel(&srv, RTR_F_OPE_SERVER, FACILITY, RTR_NO_RCPNAM, RTR_NO_PEVTNUM,
                                          RTR_NO_ACCESS, 1, &key));
    check("open client", rtr_open_channel(&cli, RTR_F_OPE_CLIENT, FACILITY, RTR_NO_RCPNAM, RTR_NO_PEVTNUM,
                                          RTR_NO_ACCESS, RTR_NO_NUMSEG, RTR_NO_PKEYSEG));

    int committed = 0, opened = 0, started = 0, fd_ok = 1;
    while (committed < NUM_TX) {
        if (opened == 2 && started == committed) {
            uint32_t k = (uint32_t)started;
            check("send", rtr_send_to_server(cli, RTR_F_SEN_ACCEPT, &k, sizeof k, RTR_NO_MSGFMT));
            started++;
        }
        struct pollfd p[2] = {{wake_pipe[0], POLLIN, 0}, {fd, POLLIN, 0}};
        int n = poll(p, 2, 10000);
        if (n <= 0) {
            fprintf(stderr, "poll: nothing within 10 s\n");
            return 1;
        }
        if (p[0].revents & POLLIN) {
            char buf[64];
            ssize_t r = read(wake_pipe[0], buf, sizeof buf);
            (void)r;
        }
        /* Drain: receive with a timeout of 0 until nothing waits. */
        for (;;) {
            rtr_channel_t ch;
            rtr_msgsb_t sb;
            char buf[256];
            rtr_status_t s = rtr_receive_message(&ch, RTR_NO_FLAGS, RTR_ANYCHAN, buf, sizeof buf, 0, &sb);
            if (s == RTR_STS_TIMOUT)
                break;
            check("receive", s);
            if (sb.msgtype == rtr_mt_opened)
                opened++;
            else if (ch == cli && sb.msgtype == rtr_mt_accepted)
                committed++;
            else if (sb.msgtype == rtr_mt_rejected) {
                fprintf(stderr, "rejected: %s\n", rtr_error_text(((rtr_status_data_t *)buf)->status));
                return 1;
            }
            /* The server's msg1 needs nothing: the next receive accepts it. */
        }
        /* Nothing waits now (the receive above said so): the descriptor is
         * not readable, unless a message arrived meanwhile. */
        struct pollfd q = {fd, POLLIN, 0};
        if (poll(&q, 1, 0) < 0)
            fd_ok = 0;
    }
    check("rtr_set_wakeup(NULL)", rtr_set_wakeup(NULL));
    printf("wakeup: committed=%d routine_calls>=1 fd_ok=%s\n", committed,
           atomic_load(&routine_calls) >= 1 && fd_ok ? "yes" : "no");
    return 0;
}
