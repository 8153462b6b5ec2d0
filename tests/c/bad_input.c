/*
 * bad_input.c: every kind of bad input to the RTR C API returns its status,
 * leaves the outputs alone, and crashes nothing.
 *
 * One thread drives a client and a server channel itself (each channel is
 * used by one thread at a time; nothing says it must be a different thread),
 * so every step happens in a known order.
 *
 * Covered:
 *   - NULL pointers: pchannel, pmsgsb, pmsg with maxlen > 0, ptid, the user
 *     handle output, pmsg with msglen > 0 in a send;
 *   - unknown and closed channels, bad receive lists;
 *   - client calls on a server channel (RTR_STS_INVOP4SRV) and the reverse
 *     (RTR_STS_INVOP4CLI);
 *   - invalid flags on every call that takes flags;
 *   - msglen 64001, numseg 21, a 3-byte unsigned key, a NULL pkeyseg, bad
 *     bounds, bad facility names;
 *   - transaction state: accept/reject/get_tid/reply without a transaction
 *     (RTR_STS_NOTACTTX), send or accept after accept (RTR_STS_TXALRACC),
 *     start twice (RTR_STS_TXACTIVE);
 *   - outcomes: a message shorter than its key (rtr_mt_rejected with
 *     RTR_STS_KEYMSGSHORT), a key no server serves (RTR_STS_NODSTFND),
 *     overlapping key ranges (rtr_mt_closed with RTR_STS_KEYOVERLAP);
 *   - a receive buffer too small (RTR_STS_BUFTOOSMALL, msgsb.msglen the
 *     full length, the buffer holds the first maxlen bytes and nothing more);
 *   - rtr_error_text for every status (its own text) and for garbage values.
 *
 * Output: "bad_input: checks=N failures=0"; every failed check is printed on
 * stderr with the expected and the actual status. Exit status 0 only if no
 * check failed.
 */
#define _POSIX_C_SOURCE 200809L

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rtr.h"

#define WAIT_MS 10000
#define BAD_CHANNEL ((rtr_channel_t)987654u)
#define BAD_FLAG 0x80000000u
#define SENTINEL_CHANNEL ((rtr_channel_t)0xC0FFEEu)

/* ------------------------------------------------------------- statuses */

#define STS(name) {name, #name}
static const struct {
    rtr_status_t value;
    const char *name;
} statuses[] = {
    STS(RTR_STS_OK),          STS(RTR_STS_TIMOUT),       STS(RTR_STS_NODSTFND),     STS(RTR_STS_JNLFULL),
    STS(RTR_STS_DLKTXRES),    STS(RTR_STS_INVMSGFMT),    STS(RTR_STS_INVMSGLEN),    STS(RTR_STS_INVMSGSIZE),
    STS(RTR_STS_INVNUMSEG),   STS(RTR_STS_INVOBJCT),     STS(RTR_STS_INVOP4CLI),    STS(RTR_STS_INVOP4SRV),
    STS(RTR_STS_INVPKEYSEG),  STS(RTR_STS_INVRCPNAM),    STS(RTR_STS_INVREASON),    STS(RTR_STS_INVRMNAME),
    STS(RTR_STS_INVSELITM),   STS(RTR_STS_REQDIED),      STS(RTR_STS_REQDIEDPREP),  STS(RTR_STS_REQDIEDVOT),
    STS(RTR_STS_ROUTERUNAVAILTMO), STS(RTR_STS_REPLYDIFF), STS(RTR_STS_INVCHANNEL), STS(RTR_STS_INVFLAGS),
    STS(RTR_STS_INVFACNAM),   STS(RTR_STS_INVACCESS),    STS(RTR_STS_INVEVTNUM),    STS(RTR_STS_INVPEVTNUM),
    STS(RTR_STS_INVRCPSPC),   STS(RTR_STS_INVPMSG),      STS(RTR_STS_INVRCVCHAN),   STS(RTR_STS_INVTIMOUTMS),
    STS(RTR_STS_INVPMSGSB),   STS(RTR_STS_INVJOINCHAN),  STS(RTR_STS_INSVIRMEM),    STS(RTR_STS_TOOMANYCHN),
    STS(RTR_STS_NOTACTTX),    STS(RTR_STS_TXALRACC),     STS(RTR_STS_TXACTIVE),     STS(RTR_STS_BUFTOOSMALL),
    STS(RTR_STS_CHANCLOSED),  STS(RTR_STS_KEYOVERLAP),   STS(RTR_STS_KEYLAYOUT),    STS(RTR_STS_KEYMSGSHORT),
    STS(RTR_STS_NOCONCURRENT), STS(RTR_STS_REJECTED),    STS(RTR_STS_UNSUPPORTED),  STS(RTR_STS_SRVDIED),
    STS(RTR_STS_NODEUNAVAIL), STS(RTR_STS_INTERNAL),     STS(RTR_STS_INVPTR),
};
#define NUM_STATUSES ((int)(sizeof statuses / sizeof statuses[0]))

static const char *name_of(rtr_status_t s)
{
    static char unknown[32];
    for (int i = 0; i < NUM_STATUSES; i++)
        if (statuses[i].value == s)
            return statuses[i].name;
    snprintf(unknown, sizeof unknown, "unknown(%d)", (int)s);
    return unknown;
}

/* --------------------------------------------------------------- checks */

static int checks, failures;

static void expect_status(int line, const char *call, rtr_status_t got, rtr_status_t want)
{
    checks++;
    if (got != want) {
        failures++;
        fprintf(stderr, "line %d: %s\n    expected %s, got %s (%s)\n", line, call, name_of(want), name_of(got),
                rtr_error_text(got));
    }
}

static void expect_true(int line, const char *what, int ok)
{
    checks++;
    if (!ok) {
        failures++;
        fprintf(stderr, "line %d: not true: %s\n", line, what);
    }
}

static const char *type_name(rtr_msg_type_t t)
{
    static char other[32];
    switch (t) {
    case rtr_mt_msg1: return "rtr_mt_msg1";
    case rtr_mt_reply: return "rtr_mt_reply";
    case rtr_mt_accepted: return "rtr_mt_accepted";
    case rtr_mt_rejected: return "rtr_mt_rejected";
    case rtr_mt_opened: return "rtr_mt_opened";
    case rtr_mt_closed: return "rtr_mt_closed";
    default:
        snprintf(other, sizeof other, "message type %d", (int)t);
        return other;
    }
}

static void expect_type(int line, const char *what, rtr_msg_type_t got, rtr_msg_type_t want)
{
    checks++;
    if (got != want) {
        failures++;
        fprintf(stderr, "line %d: %s\n    expected %s, got %s\n", line, what, type_name(want), type_name(got));
    }
}

#define EXPECT(call, want) expect_status(__LINE__, #call, (call), (want))
#define EXPECT_TYPE(call, want) expect_type(__LINE__, #call, (call), (want))
#define EXPECT_TRUE(cond) expect_true(__LINE__, #cond, (cond))

/* Setup steps must work, or nothing after them means anything. */
#define MUST(call)                                                                                          \
    do {                                                                                                    \
        rtr_status_t s_ = (call);                                                                           \
        if (s_ != RTR_STS_OK) {                                                                             \
            fprintf(stderr, "line %d: setup step %s failed: %s\n", __LINE__, #call, rtr_error_text(s_));    \
            exit(2);                                                                                        \
        }                                                                                                   \
    } while (0)

/* --------------------------------------------------------------- helpers */

typedef union {
    rtr_status_data_t status;
    char bytes[RTR_MAX_MSGLEN];
} msgbuf_t;

static rtr_status_t receive_on(rtr_channel_t ch, msgbuf_t *buf, rtr_timout_t ms, rtr_msgsb_t *sb)
{
    rtr_channel_t list[2] = {ch, RTR_CHAN_ENDLIST};
    rtr_channel_t from = 0;
    return rtr_receive_message(&from, RTR_NO_FLAGS, list, buf, sizeof *buf, ms, sb);
}

static void keyseg(rtr_keyseg_t *ks, uint32_t length, uint32_t *lo, uint32_t *hi)
{
    ks->ks_type = rtr_keyseg_unsigned;
    ks->ks_length = length;
    ks->ks_offset = 0;
    ks->ks_lo_bound = lo;
    ks->ks_hi_bound = hi;
}

static rtr_status_t open_server(rtr_channel_t *ch, const char *facility, uint32_t lo, uint32_t hi)
{
    rtr_keyseg_t ks;
    keyseg(&ks, 4, &lo, &hi);
    return rtr_open_channel(ch, RTR_F_OPE_SERVER, facility, RTR_NO_RCPNAM, RTR_NO_PEVTNUM, RTR_NO_ACCESS, 1, &ks);
}

static rtr_status_t open_client(rtr_channel_t *ch, const char *facility)
{
    return rtr_open_channel(ch, RTR_F_OPE_CLIENT, facility, RTR_NO_RCPNAM, RTR_NO_PEVTNUM, RTR_NO_ACCESS,
                            RTR_NO_NUMSEG, RTR_NO_PKEYSEG);
}

/* Receive the next message of `ch` and return its type; the status data (if
 * any) goes to *sd. */
static rtr_msg_type_t next_type(rtr_channel_t ch, rtr_status_data_t *sd)
{
    msgbuf_t buf;
    rtr_msgsb_t sb;
    MUST(receive_on(ch, &buf, WAIT_MS, &sb));
    if (sd != NULL)
        *sd = buf.status;
    return sb.msgtype;
}

static void wait_opened(rtr_channel_t ch)
{
    rtr_status_data_t sd;
    rtr_msg_type_t t = next_type(ch, &sd);
    if (t != rtr_mt_opened) {
        fprintf(stderr, "open of channel %u failed: %s\n", (unsigned)ch, rtr_error_text(sd.status));
        exit(2);
    }
}

/* ------------------------------------------------------------ scenarios */

static void error_texts(void)
{
    static const rtr_status_t garbage[] = {0, -1, 2, 3, 1000001, INT_MAX, INT_MIN, 0x7ffffff8};
    const char *unknown = rtr_error_text(0);

    EXPECT_TRUE(unknown != NULL && unknown[0] != '\0');
    EXPECT_TRUE(strcmp(rtr_error_text(RTR_STS_OK), "normal successful completion") == 0);
    for (int i = 0; i < NUM_STATUSES; i++) {
        const char *t = rtr_error_text(statuses[i].value);
        checks++;
        if (t == NULL || t[0] == '\0' || (unknown != NULL && strcmp(t, unknown) == 0)) {
            failures++;
            fprintf(stderr, "rtr_error_text(%s) gives %s\n", statuses[i].name, t == NULL ? "NULL" : "no own text");
        }
    }
    checks++;
    for (int i = 0; i < NUM_STATUSES; i++) {
        for (int j = 0; j < i; j++) {
            if (statuses[j].value == statuses[i].value) {
                failures++;
                fprintf(stderr, "%s and %s have the same value\n", statuses[i].name, statuses[j].name);
            }
        }
    }
    for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
        const char *t = rtr_error_text(garbage[i]);
        checks++;
        if (t == NULL || t[0] == '\0') {
            failures++;
            fprintf(stderr, "rtr_error_text(%d) gives NULL or empty\n", (int)garbage[i]);
        }
    }
}

static void open_arguments(void)
{
    static uint32_t lo = 0, hi = 99, lo21[21], hi21[21];
    rtr_keyseg_t ks, ks21[21];
    rtr_channel_t ch = SENTINEL_CHANNEL;

    EXPECT(open_client(NULL, "BAD_OPEN"), RTR_STS_INVPTR);

    /* Exactly one of CLIENT and SERVER; no unknown bits; no server flags on a client. */
    EXPECT(rtr_open_channel(&ch, RTR_NO_FLAGS, "BAD_OPEN", RTR_NO_RCPNAM, RTR_NO_PEVTNUM, RTR_NO_ACCESS,
                            RTR_NO_NUMSEG, RTR_NO_PKEYSEG),
           RTR_STS_INVFLAGS);
    EXPECT(rtr_open_channel(&ch, RTR_F_OPE_CLIENT | RTR_F_OPE_SERVER, "BAD_OPEN", RTR_NO_RCPNAM, RTR_NO_PEVTNUM,
                            RTR_NO_ACCESS, RTR_NO_NUMSEG, RTR_NO_PKEYSEG),
           RTR_STS_INVFLAGS);
    EXPECT(rtr_open_channel(&ch, RTR_F_OPE_CLIENT | BAD_FLAG, "BAD_OPEN", RTR_NO_RCPNAM, RTR_NO_PEVTNUM,
                            RTR_NO_ACCESS, RTR_NO_NUMSEG, RTR_NO_PKEYSEG),
           RTR_STS_INVFLAGS);
    EXPECT(rtr_open_channel(&ch, RTR_F_OPE_CLIENT | RTR_F_OPE_EXPLICIT_ACCEPT, "BAD_OPEN", RTR_NO_RCPNAM,
                            RTR_NO_PEVTNUM, RTR_NO_ACCESS, RTR_NO_NUMSEG, RTR_NO_PKEYSEG),
           RTR_STS_INVFLAGS);

    /* Facility names: 1 to 31 characters, starting with a letter. */
    EXPECT(open_client(&ch, "1BAD"), RTR_STS_INVFACNAM);
    EXPECT(open_client(&ch, ""), RTR_STS_INVFACNAM);
    EXPECT(open_client(&ch, "A_FACILITY_NAME_OF_32_CHARACTERS"), RTR_STS_INVFACNAM);

    /* Key segments. */
    EXPECT(rtr_open_channel(&ch, RTR_F_OPE_SERVER, "BAD_OPEN", RTR_NO_RCPNAM, RTR_NO_PEVTNUM, RTR_NO_ACCESS, 1,
                            NULL),
           RTR_STS_INVPKEYSEG);
    for (int i = 0; i < 21; i++) {
        lo21[i] = 0;
        hi21[i] = 99;
        keyseg(&ks21[i], 4, &lo21[i], &hi21[i]);
        ks21[i].ks_offset = 4 * (uint32_t)i;
    }
    EXPECT(rtr_open_channel(&ch, RTR_F_OPE_SERVER, "BAD_OPEN", RTR_NO_RCPNAM, RTR_NO_PEVTNUM, RTR_NO_ACCESS, 21,
                            ks21),
           RTR_STS_INVNUMSEG);
    keyseg(&ks, 3, &lo, &hi);
    EXPECT(rtr_open_channel(&ch, RTR_F_OPE_SERVER, "BAD_OPEN", RTR_NO_RCPNAM, RTR_NO_PEVTNUM, RTR_NO_ACCESS, 1, &ks),
           RTR_STS_INVMSGSIZE);
    keyseg(&ks, 4, &hi, &lo); /* low bound above the high bound */
    EXPECT(rtr_open_channel(&ch, RTR_F_OPE_SERVER, "BAD_OPEN", RTR_NO_RCPNAM, RTR_NO_PEVTNUM, RTR_NO_ACCESS, 1, &ks),
           RTR_STS_INVPKEYSEG);
    keyseg(&ks, 0, &lo, &hi); /* zero-length string key */
    ks.ks_type = rtr_keyseg_string;
    EXPECT(rtr_open_channel(&ch, RTR_F_OPE_SERVER, "BAD_OPEN", RTR_NO_RCPNAM, RTR_NO_PEVTNUM, RTR_NO_ACCESS, 1, &ks),
           RTR_STS_INVPKEYSEG);
    keyseg(&ks, 4, &lo, &hi);
    ks.ks_offset = RTR_MAX_MSGLEN - 2; /* key ends beyond the longest message */
    EXPECT(rtr_open_channel(&ch, RTR_F_OPE_SERVER, "BAD_OPEN", RTR_NO_RCPNAM, RTR_NO_PEVTNUM, RTR_NO_ACCESS, 1, &ks),
           RTR_STS_INVPKEYSEG);
    keyseg(&ks, 4, &lo, &hi); /* key segments on a client channel */
    EXPECT(rtr_open_channel(&ch, RTR_F_OPE_CLIENT, "BAD_OPEN", RTR_NO_RCPNAM, RTR_NO_PEVTNUM, RTR_NO_ACCESS, 1, &ks),
           RTR_STS_INVNUMSEG);

    /* A failed open writes no channel. */
    EXPECT_TRUE(ch == SENTINEL_CHANNEL);
}

static void unknown_channel(void)
{
    static const char msg[8] = {0};
    rtr_tid_t tid;
    unsigned long long fence;
    rtr_usrhdl_t h = 0;
    msgbuf_t buf;
    rtr_msgsb_t sb;
    rtr_channel_t from;
    rtr_channel_t bad_list[2] = {BAD_CHANNEL, RTR_CHAN_ENDLIST};

    EXPECT(rtr_close_channel(BAD_CHANNEL, RTR_NO_FLAGS), RTR_STS_INVCHANNEL);
    EXPECT(rtr_start_tx(BAD_CHANNEL, RTR_NO_FLAGS, RTR_NO_TIMOUTMS, RTR_NO_JOINCHAN), RTR_STS_INVCHANNEL);
    EXPECT(rtr_send_to_server(BAD_CHANNEL, RTR_NO_FLAGS, msg, sizeof msg, RTR_NO_MSGFMT), RTR_STS_INVCHANNEL);
    EXPECT(rtr_reply_to_client(BAD_CHANNEL, RTR_NO_FLAGS, msg, sizeof msg, RTR_NO_MSGFMT), RTR_STS_INVCHANNEL);
    EXPECT(rtr_accept_tx(BAD_CHANNEL, RTR_NO_FLAGS, RTR_NO_REASON), RTR_STS_INVCHANNEL);
    EXPECT(rtr_reject_tx(BAD_CHANNEL, RTR_NO_FLAGS, RTR_NO_REASON), RTR_STS_INVCHANNEL);
    EXPECT(rtr_get_tid(BAD_CHANNEL, RTR_NO_FLAGS, &tid), RTR_STS_INVCHANNEL);
    EXPECT(rtr_get_fence(BAD_CHANNEL, &fence), RTR_STS_INVCHANNEL);
    EXPECT(rtr_set_user_handle(BAD_CHANNEL, 1), RTR_STS_INVCHANNEL);
    EXPECT(rtr_get_user_handle(BAD_CHANNEL, &h), RTR_STS_INVCHANNEL);
    EXPECT(rtr_receive_message(&from, RTR_NO_FLAGS, bad_list, &buf, sizeof buf, 0, &sb), RTR_STS_INVRCVCHAN);
}

/* The main scenario: one server and one client channel of one facility. */
static void one_facility(void)
{
    static char big[RTR_MAX_MSGLEN + 1];
    rtr_channel_t srv, cli, from = SENTINEL_CHANNEL;
    rtr_channel_t list[2], empty_list[1] = {RTR_CHAN_ENDLIST};
    rtr_tid_t tid, tid2;
    unsigned long long fence;
    rtr_usrhdl_t h;
    rtr_msgsb_t sb, sb2;
    rtr_status_data_t sd;
    msgbuf_t buf;
    uint32_t msg[2];
    char reply[100];
    char small[16];

    MUST(open_server(&srv, "BAD_MAIN", 0, 99));
    wait_opened(srv);
    MUST(open_client(&cli, "BAD_MAIN"));
    list[0] = cli;
    list[1] = RTR_CHAN_ENDLIST;
    /* The open's result: 8 bytes of status data, no transaction. */
    memset(&tid2, 0, sizeof tid2);
    MUST(rtr_receive_message(&from, RTR_NO_FLAGS, list, &buf, sizeof buf, WAIT_MS, &sb));
    EXPECT_TYPE(sb.msgtype, rtr_mt_opened);
    EXPECT_TRUE(from == cli);
    EXPECT_TRUE(sb.msglen == sizeof(rtr_status_data_t));
    EXPECT(buf.status.status, RTR_STS_OK);
    EXPECT_TRUE(buf.status.reason == 0);
    EXPECT_TRUE(memcmp(&sb.tid, &tid2, sizeof tid2) == 0);
    from = SENTINEL_CHANNEL;

    /* NULL pointers. */
    EXPECT(rtr_get_tid(cli, RTR_NO_FLAGS, NULL), RTR_STS_INVPTR);
    EXPECT(rtr_get_fence(srv, NULL), RTR_STS_INVPTR);
    /* The fence is a server's: none received yet; a client has none. */
    fence = 99;
    EXPECT(rtr_get_fence(srv, &fence), RTR_STS_OK);
    EXPECT_TRUE(fence == 0);
    EXPECT(rtr_get_fence(cli, &fence), RTR_STS_INVOP4CLI);
    EXPECT_TRUE(fence == 0);
    EXPECT(rtr_get_user_handle(cli, NULL), RTR_STS_INVPTR);
    EXPECT(rtr_receive_message(NULL, RTR_NO_FLAGS, list, &buf, sizeof buf, 0, &sb), RTR_STS_INVPTR);
    EXPECT(rtr_receive_message(&from, RTR_NO_FLAGS, list, &buf, sizeof buf, 0, NULL), RTR_STS_INVPMSGSB);
    EXPECT(rtr_receive_message(&from, RTR_NO_FLAGS, list, NULL, 100, 0, &sb), RTR_STS_INVPMSG);
    EXPECT(rtr_send_to_server(cli, RTR_NO_FLAGS, NULL, 8, RTR_NO_MSGFMT), RTR_STS_INVPMSG);
    /* Bad lists, bad flags, and a valid poll that finds nothing (NULL buffer of length 0 is fine). */
    EXPECT(rtr_receive_message(&from, RTR_NO_FLAGS, empty_list, &buf, sizeof buf, 0, &sb), RTR_STS_INVRCVCHAN);
    EXPECT(rtr_receive_message(&from, BAD_FLAG, list, &buf, sizeof buf, 0, &sb), RTR_STS_INVFLAGS);
    memset(&sb, 0xAB, sizeof sb);
    memcpy(&sb2, &sb, sizeof sb);
    EXPECT(rtr_receive_message(&from, RTR_NO_FLAGS, list, NULL, 0, 0, &sb), RTR_STS_TIMOUT);
    EXPECT(rtr_receive_message(&from, RTR_NO_FLAGS, RTR_ANYCHAN, &buf, sizeof buf, 0, &sb), RTR_STS_TIMOUT);
    /* Failed receives write no output. */
    EXPECT_TRUE(from == SENTINEL_CHANNEL);
    EXPECT_TRUE(memcmp(&sb, &sb2, sizeof sb) == 0);

    /* Wrong channel kind. */
    EXPECT(rtr_start_tx(srv, RTR_NO_FLAGS, RTR_NO_TIMOUTMS, RTR_NO_JOINCHAN), RTR_STS_INVOP4SRV);
    EXPECT(rtr_send_to_server(srv, RTR_NO_FLAGS, "abcdefgh", 8, RTR_NO_MSGFMT), RTR_STS_INVOP4SRV);
    EXPECT(rtr_reply_to_client(cli, RTR_NO_FLAGS, "abcdefgh", 8, RTR_NO_MSGFMT), RTR_STS_INVOP4CLI);

    /* Invalid flags. */
    EXPECT(rtr_start_tx(cli, BAD_FLAG, RTR_NO_TIMOUTMS, RTR_NO_JOINCHAN), RTR_STS_INVFLAGS);
    EXPECT(rtr_send_to_server(cli, BAD_FLAG, "abcdefgh", 8, RTR_NO_MSGFMT), RTR_STS_INVFLAGS);
    EXPECT(rtr_accept_tx(cli, BAD_FLAG, RTR_NO_REASON), RTR_STS_INVFLAGS);
    EXPECT(rtr_reject_tx(cli, BAD_FLAG, RTR_NO_REASON), RTR_STS_INVFLAGS);
    EXPECT(rtr_get_tid(cli, BAD_FLAG, &tid), RTR_STS_INVFLAGS);
    EXPECT(rtr_close_channel(cli, BAD_FLAG), RTR_STS_INVFLAGS);
    EXPECT(rtr_reply_to_client(srv, BAD_FLAG, "abcdefgh", 8, RTR_NO_MSGFMT), RTR_STS_INVFLAGS);

    /* Too long. */
    EXPECT(rtr_send_to_server(cli, RTR_NO_FLAGS, big, RTR_MAX_MSGLEN + 1, RTR_NO_MSGFMT), RTR_STS_INVMSGLEN);

    /* No transaction yet: nothing to vote on, no tid (and *ptid untouched). */
    memset(&tid, 0xAB, sizeof tid);
    memcpy(&tid2, &tid, sizeof tid);
    EXPECT(rtr_accept_tx(cli, RTR_NO_FLAGS, RTR_NO_REASON), RTR_STS_NOTACTTX);
    EXPECT(rtr_reject_tx(cli, RTR_NO_FLAGS, RTR_NO_REASON), RTR_STS_NOTACTTX);
    EXPECT(rtr_get_tid(cli, RTR_NO_FLAGS, &tid), RTR_STS_NOTACTTX);
    EXPECT_TRUE(memcmp(&tid, &tid2, sizeof tid) == 0);
    EXPECT(rtr_reply_to_client(srv, RTR_NO_FLAGS, "abcdefgh", 8, RTR_NO_MSGFMT), RTR_STS_NOTACTTX);
    EXPECT(rtr_accept_tx(srv, RTR_NO_FLAGS, RTR_NO_REASON), RTR_STS_NOTACTTX);
    EXPECT(rtr_reject_tx(srv, RTR_NO_FLAGS, RTR_NO_REASON), RTR_STS_NOTACTTX);

    /* A transaction: start twice, a reply too big for the buffer, send and
     * accept after accept. */
    EXPECT(rtr_start_tx(cli, RTR_NO_FLAGS, RTR_NO_TIMOUTMS, RTR_NO_JOINCHAN), RTR_STS_OK);
    EXPECT(rtr_start_tx(cli, RTR_NO_FLAGS, RTR_NO_TIMOUTMS, RTR_NO_JOINCHAN), RTR_STS_TXACTIVE);
    EXPECT(rtr_get_tid(cli, RTR_NO_FLAGS, &tid), RTR_STS_OK);
    msg[0] = 5;
    msg[1] = 0;
    EXPECT(rtr_send_to_server(cli, RTR_NO_FLAGS, msg, sizeof msg, RTR_NO_MSGFMT), RTR_STS_OK);
    /* RTR_ANYCHAN: any channel of the process; *pchannel says which. */
    EXPECT(rtr_receive_message(&from, RTR_NO_FLAGS, RTR_ANYCHAN, &buf, sizeof buf, WAIT_MS, &sb), RTR_STS_OK);
    EXPECT_TYPE(sb.msgtype, rtr_mt_msg1);
    EXPECT_TRUE(from == srv);
    EXPECT_TRUE(sb.msglen == sizeof msg && memcmp(buf.bytes, msg, sizeof msg) == 0);
    EXPECT_TRUE(memcmp(&sb.tid, &tid, sizeof tid) == 0);
    EXPECT(rtr_start_tx(srv, RTR_NO_FLAGS, RTR_NO_TIMOUTMS, RTR_NO_JOINCHAN), RTR_STS_INVOP4SRV);
    /* The message came under the key range's first grant. */
    EXPECT(rtr_get_fence(srv, &fence), RTR_STS_OK);
    EXPECT_TRUE(fence == 1);
    EXPECT(rtr_reply_to_client(srv, RTR_NO_FLAGS, big, RTR_MAX_MSGLEN + 1, RTR_NO_MSGFMT), RTR_STS_INVMSGLEN);
    for (size_t i = 0; i < sizeof reply; i++)
        reply[i] = (char)('a' + i % 26);
    EXPECT(rtr_reply_to_client(srv, RTR_NO_FLAGS, reply, sizeof reply, RTR_NO_MSGFMT), RTR_STS_OK);

    memset(small, '#', sizeof small);
    memset(&sb, 0, sizeof sb);
    EXPECT(rtr_receive_message(&from, RTR_NO_FLAGS, list, small, 10, WAIT_MS, &sb), RTR_STS_BUFTOOSMALL);
    EXPECT_TRUE(sb.msgtype == rtr_mt_reply);
    EXPECT_TRUE(sb.msglen == sizeof reply);
    EXPECT_TRUE(memcmp(small, reply, 10) == 0);
    EXPECT_TRUE(small[10] == '#' && small[15] == '#');
    EXPECT_TRUE(memcmp(&sb.tid, &tid, sizeof tid) == 0);

    EXPECT(rtr_accept_tx(cli, RTR_NO_FLAGS, RTR_NO_REASON), RTR_STS_OK);
    EXPECT(rtr_send_to_server(cli, RTR_NO_FLAGS, msg, sizeof msg, RTR_NO_MSGFMT), RTR_STS_TXALRACC);
    EXPECT(rtr_accept_tx(cli, RTR_NO_FLAGS, RTR_NO_REASON), RTR_STS_TXALRACC);
    /* The server's next receive is its implicit accept. */
    EXPECT_TYPE(next_type(srv, &sd), rtr_mt_accepted);
    EXPECT_TYPE(next_type(cli, &sd), rtr_mt_accepted);
    EXPECT(sd.status, RTR_STS_OK);
    EXPECT_TRUE(sd.reason == RTR_NO_REASON);
    EXPECT(rtr_accept_tx(cli, RTR_NO_FLAGS, RTR_NO_REASON), RTR_STS_NOTACTTX);
    EXPECT(rtr_get_tid(cli, RTR_NO_FLAGS, &tid2), RTR_STS_NOTACTTX);

    /* A message shorter than the 4-byte key, and an empty one. */
    EXPECT(rtr_send_to_server(cli, RTR_F_SEN_ACCEPT, "ab", 2, RTR_NO_MSGFMT), RTR_STS_OK);
    EXPECT_TYPE(next_type(cli, &sd), rtr_mt_rejected);
    EXPECT(sd.status, RTR_STS_KEYMSGSHORT);
    EXPECT(rtr_send_to_server(cli, RTR_F_SEN_ACCEPT, NULL, 0, RTR_NO_MSGFMT), RTR_STS_OK);
    EXPECT_TYPE(next_type(cli, &sd), rtr_mt_rejected);
    EXPECT(sd.status, RTR_STS_KEYMSGSHORT);

    /* A key that no server serves. */
    msg[0] = 500;
    EXPECT(rtr_send_to_server(cli, RTR_F_SEN_ACCEPT, msg, sizeof msg, RTR_NO_MSGFMT), RTR_STS_OK);
    EXPECT_TYPE(next_type(cli, &sd), rtr_mt_rejected);
    EXPECT(sd.status, RTR_STS_NODSTFND);

    /* The server saw none of these. */
    EXPECT(receive_on(srv, &buf, 0, &sb), RTR_STS_TIMOUT);

    /* Closed channels are unknown channels. */
    EXPECT(rtr_set_user_handle(cli, 42), RTR_STS_OK);
    h = 0;
    EXPECT(rtr_get_user_handle(cli, &h), RTR_STS_OK);
    EXPECT_TRUE(h == 42);
    EXPECT(rtr_close_channel(cli, RTR_NO_FLAGS), RTR_STS_OK);
    EXPECT(rtr_close_channel(cli, RTR_NO_FLAGS), RTR_STS_INVCHANNEL);
    EXPECT(rtr_send_to_server(cli, RTR_NO_FLAGS, msg, sizeof msg, RTR_NO_MSGFMT), RTR_STS_INVCHANNEL);
    EXPECT(receive_on(cli, &buf, 0, &sb), RTR_STS_INVRCVCHAN);
    EXPECT(rtr_close_channel(srv, RTR_NO_FLAGS), RTR_STS_OK);
}

static void key_overlap(void)
{
    rtr_channel_t a, b, c;
    rtr_status_data_t sd;

    MUST(open_server(&a, "BAD_OVERLAP", 0, 99));
    wait_opened(a);
    /* Overlapping but different: refused asynchronously. */
    EXPECT(open_server(&b, "BAD_OVERLAP", 50, 150), RTR_STS_OK);
    EXPECT_TYPE(next_type(b, &sd), rtr_mt_closed);
    EXPECT(sd.status, RTR_STS_KEYOVERLAP);
    /* The same range is a concurrent server: fine. Disjoint: fine. */
    EXPECT(open_server(&c, "BAD_OVERLAP", 0, 99), RTR_STS_OK);
    EXPECT_TYPE(next_type(c, &sd), rtr_mt_opened);
    EXPECT(rtr_close_channel(c, RTR_NO_FLAGS), RTR_STS_OK);
    EXPECT(open_server(&c, "BAD_OVERLAP", 100, 199), RTR_STS_OK);
    EXPECT_TYPE(next_type(c, &sd), rtr_mt_opened);
    EXPECT(rtr_close_channel(c, RTR_NO_FLAGS), RTR_STS_OK);
    EXPECT(rtr_close_channel(a, RTR_NO_FLAGS), RTR_STS_OK);
}

int main(void)
{
    error_texts();
    open_arguments();
    unknown_channel();
    one_facility();
    key_overlap();
    printf("bad_input: checks=%d failures=%d\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
