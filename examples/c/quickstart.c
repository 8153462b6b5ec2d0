/* The README's C quick start: a server and a client channel in one
 * program, one transaction. (Kept in step with README.md.) */
#include <rtr.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char buf[RTR_MAX_MSGLEN];

/* Stops the program with the status text when a call did not succeed. */
static void check(rtr_status_t sts, const char *what) {
    if (sts != RTR_STS_OK) {
        fprintf(stderr, "%s: %s\n", what, rtr_error_text(sts));
        exit(1);
    }
}

/* The next message of one channel, within 5 seconds. */
static rtr_msgsb_t next(rtr_channel_t ch, const char *what) {
    rtr_channel_t only[] = { ch, RTR_CHAN_ENDLIST }, from;
    rtr_msgsb_t sb;
    check(rtr_receive_message(&from, RTR_NO_FLAGS, only, buf, sizeof buf, 5000, &sb), what);
    return sb;
}

/* The status an opened, closed, accepted or rejected message carries. */
static rtr_status_t carried(void) {
    rtr_status_data_t s;
    memcpy(&s, buf, sizeof s);
    return s.status;
}

int main(void) {
    rtr_channel_t srv, cli;
    rtr_msgsb_t sb;
    rtr_tid_t tid;
    uint32_t lo = 0, hi = 999;
    rtr_keyseg_t key = { rtr_keyseg_unsigned, 4, 0, &lo, &hi };  /* 4-byte key at offset 0 */

    check(rtr_open_channel(&srv, RTR_F_OPE_SERVER, "BANK", RTR_NO_RCPNAM, RTR_NO_PEVTNUM,
                           RTR_NO_ACCESS, 1, &key), "open server");
    if (next(srv, "server open").msgtype != rtr_mt_opened) check(carried(), "server open");
    check(rtr_open_channel(&cli, RTR_F_OPE_CLIENT, "BANK", RTR_NO_RCPNAM, RTR_NO_PEVTNUM,
                           RTR_NO_ACCESS, RTR_NO_NUMSEG, RTR_NO_PKEYSEG), "open client");
    if (next(cli, "client open").msgtype != rtr_mt_opened) check(carried(), "client open");

    uint32_t account = 42;                                /* the key */
    check(rtr_send_to_server(cli, RTR_F_SEN_ACCEPT, &account, sizeof account, RTR_NO_MSGFMT), "send");
    check(rtr_get_tid(cli, RTR_F_TID_RTR, &tid), "tid");
    /* The server applies each message it receives; receiving again is its
     * (implicit) accept. A journaled node first presents again what an
     * earlier run committed but did not finish (rtr_mt_msg1_uncertain). */
    do {
        sb = next(srv, "server");
    } while ((sb.msgtype != rtr_mt_accepted && sb.msgtype != rtr_mt_rejected) ||
             memcmp(&sb.tid, &tid, sizeof tid) != 0);
    if (next(cli, "client").msgtype != rtr_mt_accepted) {
        fprintf(stderr, "rejected: %s\n", rtr_error_text(carried()));
        return 1;
    }
    /* Receiving once more finishes the transaction at the server
     * (RTR_STS_TIMOUT at once: nothing else waits); one left unfinished
     * (a crash) is presented again to the next run, whose loop takes it. */
    rtr_channel_t srv_only[] = { srv, RTR_CHAN_ENDLIST }, from;
    rtr_status_t sts = rtr_receive_message(&from, RTR_NO_FLAGS, srv_only, buf, sizeof buf, 0, &sb);
    if (sts != RTR_STS_TIMOUT) check(sts, "server finish");
    check(rtr_close_channel(cli, RTR_NO_FLAGS), "close client");
    check(rtr_close_channel(srv, RTR_NO_FLAGS), "close server");
    printf("committed\n");
    return 0;
}
