/*
 * forget.c: RTR_F_ACC_FORGET and RTR_F_REP_FORGET on a server channel.
 * One server with explicit accept serves two clients: it can take the
 * second transaction only because its forgetting vote released it from the
 * first, and it is told neither outcome. RTR_F_REP_FORGET without
 * RTR_F_REP_ACCEPT on an explicit-accept server is RTR_STS_INVFLAGS.
 *
 * Output (checked by ffi/tests/c_programs.rs):
 *     forget: released=yes c1=accepted c2=accepted server_quiet=yes invflags=yes
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rtr.h"

#define FACILITY "TEST_FORGET"

static void check(const char *what, rtr_status_t s)
{
    if (s != RTR_STS_OK) {
        fprintf(stderr, "%s: %s\n", what, rtr_error_text(s));
        exit(1);
    }
}

/* Receive on `ch` within `wait_ms`; returns the message type, or -1 on timeout. */
static int recv_on(rtr_channel_t ch, int wait_ms, rtr_msgsb_t *sb)
{
    rtr_channel_t list[] = {ch, RTR_CHAN_ENDLIST};
    rtr_channel_t got;
    char buf[256];
    rtr_status_t s = rtr_receive_message(&got, RTR_NO_FLAGS, list, buf, sizeof buf, (rtr_timout_t)wait_ms, sb);
    if (s == RTR_STS_TIMOUT)
        return -1;
    check("receive", s);
    return (int)sb->msgtype;
}

static rtr_channel_t open_ch(rtr_ope_flag_t flags)
{
    rtr_channel_t ch;
    uint32_t lo = 0, hi = 100;
    rtr_keyseg_t key = {rtr_keyseg_unsigned, 4, 0, &lo, &hi};
    int server = (flags & RTR_F_OPE_SERVER) != 0;
    check("open", rtr_open_channel(&ch, flags, FACILITY, RTR_NO_RCPNAM, RTR_NO_PEVTNUM, RTR_NO_ACCESS,
                                   server ? 1 : 0, server ? &key : RTR_NO_PKEYSEG));
    rtr_msgsb_t sb;
    if (recv_on(ch, 5000, &sb) != rtr_mt_opened) {
        fprintf(stderr, "open refused\n");
        exit(1);
    }
    return ch;
}

static void send_key(rtr_channel_t ch, uint32_t key)
{
    check("send", rtr_send_to_server(ch, RTR_NO_FLAGS, &key, sizeof key, RTR_NO_MSGFMT));
}

int main(void)
{
    rtr_channel_t srv = open_ch(RTR_F_OPE_SERVER | RTR_F_OPE_EXPLICIT_ACCEPT);
    rtr_channel_t c1 = open_ch(RTR_F_OPE_CLIENT);
    rtr_channel_t c2 = open_ch(RTR_F_OPE_CLIENT);
    rtr_msgsb_t sb;

    send_key(c1, 1);
    if (recv_on(srv, 5000, &sb) != rtr_mt_msg1)
        return 1;
    rtr_tid_t first = sb.tid;
    check("accept forget", rtr_accept_tx(srv, RTR_F_ACC_FORGET, RTR_NO_REASON));

    send_key(c2, 2);
    int released = recv_on(srv, 5000, &sb) == rtr_mt_msg1 && memcmp(&sb.tid, &first, sizeof first) != 0;
    /* The bare forget needs the accept on an explicit-accept server. */
    int invflags = rtr_reply_to_client(srv, RTR_F_REP_FORGET, "r", 1, RTR_NO_MSGFMT) == RTR_STS_INVFLAGS;
    check("reply accept forget", rtr_reply_to_client(srv, RTR_F_REP_ACCEPT | RTR_F_REP_FORGET, "r", 1, RTR_NO_MSGFMT));

    check("accept c1", rtr_accept_tx(c1, RTR_NO_FLAGS, RTR_NO_REASON));
    int c1_ok = recv_on(c1, 5000, &sb) == rtr_mt_accepted;
    check("accept c2", rtr_accept_tx(c2, RTR_NO_FLAGS, RTR_NO_REASON));
    int c2_ok = recv_on(c2, 5000, &sb) == rtr_mt_reply && recv_on(c2, 5000, &sb) == rtr_mt_accepted;
    int quiet = recv_on(srv, 300, &sb) == -1;

    printf("forget: released=%s c1=%s c2=%s server_quiet=%s invflags=%s\n", released ? "yes" : "no",
           c1_ok ? "accepted" : "other", c2_ok ? "accepted" : "other", quiet ? "yes" : "no", invflags ? "yes" : "no");
    check("close", rtr_close_channel(srv, RTR_NO_FLAGS));
    return 0;
}
