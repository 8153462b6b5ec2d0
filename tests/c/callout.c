/*
 * callout.c: call-out servers. A router call-out and a backend call-out
 * (no key range) see every message of the transactions and vote: when both
 * accept, the transaction commits; when the router call-out rejects, it is
 * rejected with the call-out's reason.
 *
 * Output (checked by ffi/tests/c_programs.rs):
 *     callout: tr_saw=yes be_saw=yes first=accepted second=rejected reason=31
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rtr.h"

#define FACILITY "TEST_CALLOUT"

static void check(const char *what, rtr_status_t s)
{
    if (s != RTR_STS_OK) {
        fprintf(stderr, "%s: %s\n", what, rtr_error_text(s));
        exit(1);
    }
}

/* Next message on `ch` (5 s): its type; its status data in `*sd` if given. */
static int recv_on(rtr_channel_t ch, rtr_status_data_t *sd)
{
    rtr_channel_t list[] = {ch, RTR_CHAN_ENDLIST};
    rtr_channel_t got;
    char buf[256];
    rtr_msgsb_t sb;
    check("receive", rtr_receive_message(&got, RTR_NO_FLAGS, list, buf, sizeof buf, 5000, &sb));
    if (sd != NULL)
        memcpy(sd, buf, sizeof *sd);
    return (int)sb.msgtype;
}

static rtr_channel_t open_server(rtr_ope_flag_t extra, int keyed)
{
    rtr_channel_t ch;
    uint32_t lo = 0, hi = 99;
    rtr_keyseg_t key = {rtr_keyseg_unsigned, 4, 0, &lo, &hi};
    check("open server", rtr_open_channel(&ch, RTR_F_OPE_SERVER | RTR_F_OPE_EXPLICIT_ACCEPT | extra, FACILITY,
                                          RTR_NO_RCPNAM, RTR_NO_PEVTNUM, RTR_NO_ACCESS, keyed ? 1 : 0,
                                          keyed ? &key : RTR_NO_PKEYSEG));
    if (recv_on(ch, NULL) != rtr_mt_opened) {
        fprintf(stderr, "server not opened\n");
        exit(1);
    }
    return ch;
}

int main(void)
{
    rtr_channel_t srv = open_server(0, 1);
    rtr_channel_t tr = open_server(RTR_F_OPE_TR_CALL_OUT, 0);
    rtr_channel_t be = open_server(RTR_F_OPE_BE_CALL_OUT, 0);
    rtr_channel_t c;
    check("open client", rtr_open_channel(&c, RTR_F_OPE_CLIENT, FACILITY, RTR_NO_RCPNAM, RTR_NO_PEVTNUM,
                                          RTR_NO_ACCESS, RTR_NO_NUMSEG, RTR_NO_PKEYSEG));
    if (recv_on(c, NULL) != rtr_mt_opened)
        return 1;
    uint32_t key = 7;
    check("send", rtr_send_to_server(c, RTR_F_SEN_ACCEPT, &key, sizeof key, RTR_NO_MSGFMT));
    int tr_saw = recv_on(tr, NULL) == rtr_mt_msg1;
    int be_saw = recv_on(be, NULL) == rtr_mt_msg1;
    if (recv_on(srv, NULL) != rtr_mt_msg1)
        return 1;
    check("accept tr", rtr_accept_tx(tr, RTR_NO_FLAGS, RTR_NO_REASON));
    check("accept be", rtr_accept_tx(be, RTR_NO_FLAGS, RTR_NO_REASON));
    check("accept srv", rtr_accept_tx(srv, RTR_NO_FLAGS, RTR_NO_REASON));
    int first = recv_on(c, NULL);
    recv_on(tr, NULL);
    recv_on(be, NULL);
    recv_on(srv, NULL);
    key = 8;
    check("send 2", rtr_send_to_server(c, RTR_F_SEN_ACCEPT, &key, sizeof key, RTR_NO_MSGFMT));
    recv_on(tr, NULL);
    recv_on(be, NULL);
    recv_on(srv, NULL);
    check("reject tr", rtr_reject_tx(tr, RTR_NO_FLAGS, 31));
    rtr_status_data_t sd;
    int second = recv_on(c, &sd);
    printf("callout: tr_saw=%s be_saw=%s first=%s second=%s reason=%u\n", tr_saw ? "yes" : "no",
           be_saw ? "yes" : "no", first == rtr_mt_accepted ? "accepted" : "other",
           second == rtr_mt_rejected ? "rejected" : "other", (unsigned)sd.reason);
    return 0;
}
