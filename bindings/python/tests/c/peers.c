/*
 * peers.c: a C server and a C client, written against include/rtr.h as any
 * RTR C program is, built as a shared object and loaded into the Python
 * test process with rtr.load_c_library(). Their rtr_* calls then go to the
 * C API carried by the Python module, over the same process-wide node as
 * rtr.Connection(): Python and C meet on one facility.
 *
 * Messages: a 4-byte unsigned key (native order) at offset 0, then text.
 * The C server replies "C:" + text; the C client expects "PY:" + text.
 * Both return a count (>= 0) or a negative RTR status, and write what went
 * wrong into err.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "rtr.h"

#define WAIT_MS 10000

typedef union {
    rtr_status_data_t status;
    char bytes[RTR_MAX_MSGLEN];
} msgbuf_t;

static int failed(char *err, size_t errlen, const char *what, rtr_status_t s)
{
    snprintf(err, errlen, "%s: %s", what, rtr_error_text(s));
    return s > 0 ? -s : (s == 0 ? -1 : s);
}

static rtr_status_t wait_opened(rtr_channel_t ch, msgbuf_t *buf)
{
    rtr_channel_t list[2] = {ch, RTR_CHAN_ENDLIST};
    rtr_channel_t got;
    rtr_msgsb_t sb;
    rtr_status_t s = rtr_receive_message(&got, RTR_NO_FLAGS, list, buf, sizeof *buf, WAIT_MS, &sb);
    if (s != RTR_STS_OK)
        return s;
    if (sb.msgtype != rtr_mt_opened)
        return buf->status.status != RTR_STS_OK ? buf->status.status : RTR_STS_INTERNAL;
    return RTR_STS_OK;
}

/* Serve until max_tx transactions have an outcome; returns how many were accepted. */
int c_server(const char *facility, uint32_t lo, uint32_t hi, int max_tx, char *err, size_t errlen)
{
    static msgbuf_t buf;
    char reply[RTR_MAX_MSGLEN];
    rtr_keyseg_t ks;
    rtr_channel_t ch, got, list[2];
    rtr_msgsb_t sb;
    rtr_status_t s;
    int outcomes = 0, accepted = 0;

    ks.ks_type = rtr_keyseg_unsigned;
    ks.ks_length = sizeof(uint32_t);
    ks.ks_offset = 0;
    ks.ks_lo_bound = &lo;
    ks.ks_hi_bound = &hi;
    s = rtr_open_channel(&ch, RTR_F_OPE_SERVER, facility, RTR_NO_RCPNAM, RTR_NO_PEVTNUM, RTR_NO_ACCESS, 1, &ks);
    if (s != RTR_STS_OK)
        return failed(err, errlen, "rtr_open_channel", s);
    if ((s = wait_opened(ch, &buf)) != RTR_STS_OK)
        return failed(err, errlen, "open", s);
    list[0] = ch;
    list[1] = RTR_CHAN_ENDLIST;
    while (outcomes < max_tx) {
        s = rtr_receive_message(&got, RTR_NO_FLAGS, list, &buf, sizeof buf, WAIT_MS, &sb);
        if (s != RTR_STS_OK)
            return failed(err, errlen, "rtr_receive_message", s);
        switch (sb.msgtype) {
        case rtr_mt_msg1:
        case rtr_mt_msgn:
            if (sb.msglen < 4)
                return failed(err, errlen, "short message", RTR_STS_INVMSGLEN);
            memcpy(reply, "C:", 2);
            memcpy(reply + 2, buf.bytes + 4, sb.msglen - 4);
            s = rtr_reply_to_client(ch, RTR_NO_FLAGS, reply, sb.msglen - 4 + 2, RTR_NO_MSGFMT);
            if (s != RTR_STS_OK)
                return failed(err, errlen, "rtr_reply_to_client", s);
            break; /* the next receive is the implicit accept */
        case rtr_mt_accepted:
            accepted++;
            outcomes++;
            break;
        case rtr_mt_rejected:
            outcomes++;
            break;
        default:
            break;
        }
    }
    s = rtr_close_channel(ch, RTR_NO_FLAGS);
    if (s != RTR_STS_OK)
        return failed(err, errlen, "rtr_close_channel", s);
    return accepted;
}

/* Run n one-message transactions with key `key`; returns how many committed
 * with the expected reply from a Python server ("PY:" + text). */
int c_client(const char *facility, uint32_t key, int n, char *err, size_t errlen)
{
    static msgbuf_t buf;
    char msg[64], want[64];
    rtr_channel_t ch, got, list[2];
    rtr_msgsb_t sb;
    rtr_status_t s;
    int committed = 0;

    s = rtr_open_channel(&ch, RTR_F_OPE_CLIENT, facility, RTR_NO_RCPNAM, RTR_NO_PEVTNUM, RTR_NO_ACCESS,
                         RTR_NO_NUMSEG, RTR_NO_PKEYSEG);
    if (s != RTR_STS_OK)
        return failed(err, errlen, "rtr_open_channel", s);
    if ((s = wait_opened(ch, &buf)) != RTR_STS_OK)
        return failed(err, errlen, "open", s);
    list[0] = ch;
    list[1] = RTR_CHAN_ENDLIST;
    for (int i = 0; i < n; i++) {
        int len = snprintf(msg + 4, sizeof msg - 4, "c%d", i);
        int wlen = snprintf(want, sizeof want, "PY:c%d", i);
        int replied = 0, done = 0;
        memcpy(msg, &key, 4);
        s = rtr_start_tx(ch, RTR_NO_FLAGS, 5000, RTR_NO_JOINCHAN);
        if (s != RTR_STS_OK)
            return failed(err, errlen, "rtr_start_tx", s);
        s = rtr_send_to_server(ch, RTR_F_SEN_ACCEPT, msg, (rtr_msglen_t)(len + 4), RTR_NO_MSGFMT);
        if (s != RTR_STS_OK)
            return failed(err, errlen, "rtr_send_to_server", s);
        while (!done) {
            s = rtr_receive_message(&got, RTR_NO_FLAGS, list, &buf, sizeof buf, WAIT_MS, &sb);
            if (s != RTR_STS_OK)
                return failed(err, errlen, "rtr_receive_message", s);
            if (sb.msgtype == rtr_mt_reply) {
                if (sb.msglen != (rtr_msglen_t)wlen || memcmp(buf.bytes, want, (size_t)wlen) != 0) {
                    snprintf(err, errlen, "reply %d: got %.*s, want %s", i, (int)sb.msglen, buf.bytes, want);
                    return -1;
                }
                replied = 1;
            } else if (sb.msgtype == rtr_mt_accepted) {
                committed += replied;
                done = 1;
            } else if (sb.msgtype == rtr_mt_rejected) {
                snprintf(err, errlen, "transaction %d rejected: %s", i, rtr_error_text(buf.status.status));
                done = 1;
            }
        }
    }
    s = rtr_close_channel(ch, RTR_NO_FLAGS);
    if (s != RTR_STS_OK)
        return failed(err, errlen, "rtr_close_channel", s);
    return committed;
}
