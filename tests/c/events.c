/*
 * events.c: rtr_broadcast_event between clients and servers of one
 * facility: subscriptions by event number lists and ranges, recipient
 * names matched against specifications with wildcards, both directions,
 * and the bad-input statuses.
 *
 * Output (checked by ffi/tests/c_programs.rs):
 *     events: srv*=A *=AB 11=B to_clients=X data=ok bad=ok
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rtr.h"

#define FACILITY "TEST_EVENTS"

static void check(const char *what, rtr_status_t s)
{
    if (s != RTR_STS_OK) {
        fprintf(stderr, "%s: %s\n", what, rtr_error_text(s));
        exit(1);
    }
}

static rtr_channel_t open_ch(rtr_ope_flag_t flags, const char *rcpnam, rtr_evtnum_t *events)
{
    rtr_channel_t ch;
    uint32_t lo = 0, hi = 100;
    rtr_keyseg_t key = {rtr_keyseg_unsigned, 4, 0, &lo, &hi};
    int server = (flags & RTR_F_OPE_SERVER) != 0;
    check("open", rtr_open_channel(&ch, flags, FACILITY, rcpnam, events, RTR_NO_ACCESS, server ? 1 : 0,
                                   server ? &key : RTR_NO_PKEYSEG));
    rtr_channel_t list[] = {ch, RTR_CHAN_ENDLIST};
    rtr_msgsb_t sb;
    char buf[64];
    rtr_channel_t got;
    check("opened", rtr_receive_message(&got, RTR_NO_FLAGS, list, buf, sizeof buf, 5000, &sb));
    if (sb.msgtype != rtr_mt_opened) {
        fprintf(stderr, "open refused\n");
        exit(1);
    }
    return ch;
}

/* 1 if `ch` receives user event `evt` within the wait, 0 if nothing comes. */
static int got_event(rtr_channel_t ch, rtr_evtnum_t evt, int wait_ms, char *data, size_t len)
{
    rtr_channel_t list[] = {ch, RTR_CHAN_ENDLIST};
    rtr_msgsb_t sb;
    rtr_channel_t got;
    char buf[256];
    rtr_status_t s = rtr_receive_message(&got, RTR_NO_FLAGS, list, buf, sizeof buf, (rtr_timout_t)wait_ms, &sb);
    if (s == RTR_STS_TIMOUT)
        return 0;
    check("receive", s);
    if (sb.msgtype != rtr_mt_user_event || sb.evtnum != evt) {
        fprintf(stderr, "unexpected message type %d event %d\n", (int)sb.msgtype, (int)sb.evtnum);
        exit(1);
    }
    if (data) {
        size_t n = sb.msglen < len - 1 ? sb.msglen : len - 1;
        memcpy(data, buf, n);
        data[n] = 0;
    }
    return 1;
}

int main(void)
{
    rtr_evtnum_t a_events[] = {RTR_EVTNUM_USERDEF, 1, RTR_EVTNUM_UP_TO, 10, RTR_EVTNUM_ENDLIST};
    rtr_evtnum_t b_events[] = {RTR_EVTNUM_USERDEF, RTR_EVTNUM_ENDLIST};
    rtr_evtnum_t x_events[] = {RTR_EVTNUM_USERDEF, 20, RTR_EVTNUM_ENDLIST};
    rtr_channel_t a = open_ch(RTR_F_OPE_SERVER, "srvA", a_events);
    rtr_channel_t b = open_ch(RTR_F_OPE_SERVER, "other", b_events);
    rtr_channel_t c = open_ch(RTR_F_OPE_SERVER, "srvC", RTR_NO_PEVTNUM);
    rtr_channel_t x = open_ch(RTR_F_OPE_CLIENT, RTR_NO_RCPNAM, x_events);

    char who[8];
    int n = 0;
#define WHO(ch, name)                                                                                                  \
    if (got_event(ch, evt, 300, NULL, 0))                                                                              \
    who[n++] = name
    /* evt 5 to "srv*": A (subscribed 1..10, named srvA); not B (name), not C (no subscription). */
    rtr_evtnum_t evt = 5;
    check("broadcast", rtr_broadcast_event(x, RTR_NO_FLAGS, "hi", 2, evt, "srv*", RTR_NO_MSGFMT));
    WHO(a, 'A');
    WHO(b, 'B');
    WHO(c, 'C');
    who[n] = 0;
    printf("events: srv*=%s", who);
    n = 0;
    check("broadcast", rtr_broadcast_event(x, RTR_NO_FLAGS, RTR_NO_MSG, 0, evt, "*", RTR_NO_MSGFMT));
    WHO(a, 'A');
    WHO(b, 'B');
    WHO(c, 'C');
    who[n] = 0;
    printf(" *=%s", who);
    n = 0;
    evt = 11;
    check("broadcast", rtr_broadcast_event(x, RTR_NO_FLAGS, RTR_NO_MSG, 0, evt, "*", RTR_NO_MSGFMT));
    WHO(a, 'A');
    WHO(b, 'B');
    WHO(c, 'C');
    who[n] = 0;
    printf(" 11=%s", who);
    /* A server to the clients: x is unnamed, so an empty spec reaches it. */
    char data[64];
    check("broadcast", rtr_broadcast_event(a, RTR_NO_FLAGS, "news", 4, 20, RTR_NO_RCPNAM, RTR_NO_MSGFMT));
    int to_x = got_event(x, 20, 2000, data, sizeof data);
    printf(" to_clients=%s data=%s", to_x ? "X" : "-", to_x && strcmp(data, "news") == 0 ? "ok" : "bad");

    /* Bad input. */
    int bad = rtr_broadcast_event(x, RTR_NO_FLAGS, RTR_NO_MSG, 0, 251, "*", RTR_NO_MSGFMT) == RTR_STS_INVEVTNUM &&
              rtr_broadcast_event(x, RTR_NO_FLAGS, RTR_NO_MSG, 0, -1, "*", RTR_NO_MSGFMT) == RTR_STS_INVEVTNUM &&
              rtr_broadcast_event(x, 1, RTR_NO_MSG, 0, 1, "*", RTR_NO_MSGFMT) == RTR_STS_INVFLAGS &&
              rtr_broadcast_event(x, RTR_NO_FLAGS, RTR_NO_MSG, 64001, 1, "*", RTR_NO_MSGFMT) == RTR_STS_INVMSGLEN &&
              rtr_broadcast_event(999999, RTR_NO_FLAGS, RTR_NO_MSG, 0, 1, "*", RTR_NO_MSGFMT) == RTR_STS_INVCHANNEL;
    rtr_evtnum_t bad_events[] = {RTR_EVTNUM_USERDEF, 300, RTR_EVTNUM_ENDLIST};
    rtr_channel_t y;
    bad = bad && rtr_open_channel(&y, RTR_F_OPE_CLIENT, FACILITY, RTR_NO_RCPNAM, bad_events, RTR_NO_ACCESS,
                                  RTR_NO_NUMSEG, RTR_NO_PKEYSEG) == RTR_STS_INVPEVTNUM;
    printf(" bad=%s\n", bad ? "ok" : "FAILED");
    return 0;
}
