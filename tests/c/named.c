/*
 * named.c: named partitions (rtr_keyseg_partition). Two servers name
 * partition "Accounts" for keys 0..99 and share it; a third naming it for
 * keys 100..199 is refused (rtr_mt_closed, RTR_STS_KEYOVERLAP); a bad name is
 * RTR_STS_INVPKEYSEG at once. A client's transaction reaches the partition.
 *
 * Output (checked by ffi/tests/c_programs.rs):
 *     named: shared=yes other_range=keyoverlap bad_name=invpkeyseg tx=accepted
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rtr.h"

#define FACILITY "TEST_NAMED"

static void check(const char *what, rtr_status_t s)
{
    if (s != RTR_STS_OK) {
        fprintf(stderr, "%s: %s\n", what, rtr_error_text(s));
        exit(1);
    }
}

/* Receive on `ch` within 5 s: the message type; the status in `*status`. */
static int recv_on(rtr_channel_t ch, rtr_status_t *status)
{
    rtr_channel_t list[] = {ch, RTR_CHAN_ENDLIST};
    rtr_channel_t got;
    char buf[256];
    rtr_msgsb_t sb;
    check("receive", rtr_receive_message(&got, RTR_NO_FLAGS, list, buf, sizeof buf, 5000, &sb));
    if (status != NULL) {
        rtr_status_data_t sd;
        memcpy(&sd, buf, sizeof sd);
        *status = sd.status;
    }
    return (int)sb.msgtype;
}

/* Open a server for keys lo..hi of partition `name`: the status of the
 * call, and in `*ch` the channel. */
static rtr_status_t open_named(rtr_channel_t *ch, const char *name, uint32_t lo, uint32_t hi)
{
    rtr_keyseg_t keys[2] = {
        {rtr_keyseg_unsigned, 4, 0, &lo, &hi},
        {rtr_keyseg_partition, 0, 0, (void *)name, NULL},
    };
    return rtr_open_channel(ch, RTR_F_OPE_SERVER, FACILITY, RTR_NO_RCPNAM, RTR_NO_PEVTNUM, RTR_NO_ACCESS, 2, keys);
}

int main(void)
{
    rtr_channel_t s1, s2, s3, s4, c;
    rtr_status_t st;
    check("open s1", open_named(&s1, "Accounts", 0, 99));
    check("open s2", open_named(&s2, "ACCOUNTS", 0, 99));
    int shared = recv_on(s1, NULL) == rtr_mt_opened && recv_on(s2, NULL) == rtr_mt_opened;
    check("open s3", open_named(&s3, "accounts", 100, 199));
    int overlap = recv_on(s3, &st) == rtr_mt_closed && st == RTR_STS_KEYOVERLAP;
    rtr_status_t bad = open_named(&s4, "9 bad", 100, 199);
    check("open client", rtr_open_channel(&c, RTR_F_OPE_CLIENT, FACILITY, RTR_NO_RCPNAM, RTR_NO_PEVTNUM,
                                          RTR_NO_ACCESS, RTR_NO_NUMSEG, RTR_NO_PKEYSEG));
    if (recv_on(c, NULL) != rtr_mt_opened) {
        fprintf(stderr, "client not opened\n");
        return 1;
    }
    uint32_t key = 42;
    check("send", rtr_send_to_server(c, RTR_F_SEN_ACCEPT, &key, sizeof key, RTR_NO_MSGFMT));
    /* Either server of the partition takes it; receiving again accepts. */
    rtr_channel_t servers[] = {s1, s2, RTR_CHAN_ENDLIST};
    rtr_channel_t got;
    char buf[256];
    rtr_msgsb_t sb;
    check("server receive", rtr_receive_message(&got, RTR_NO_FLAGS, servers, buf, sizeof buf, 5000, &sb));
    rtr_channel_t again[] = {got, RTR_CHAN_ENDLIST};
    rtr_receive_message(&got, RTR_NO_FLAGS, again, buf, sizeof buf, 5000, &sb);
    int accepted = recv_on(c, NULL) == rtr_mt_accepted;
    printf("named: shared=%s other_range=%s bad_name=%s tx=%s\n", shared ? "yes" : "no",
           overlap ? "keyoverlap" : "other", bad == RTR_STS_INVPKEYSEG ? "invpkeyseg" : rtr_error_text(bad),
           accepted ? "accepted" : "rejected");
    return 0;
}
