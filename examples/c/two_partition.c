/*
 * two_partition.c: one transaction that spans two partitions, and two-phase
 * commit across them.
 *
 * Two servers (threads) serve the key ranges 0..99 and 100..199; both are
 * opened with RTR_F_OPE_EXPLICIT_PREPARE, so each gets rtr_mt_prepare when
 * the client accepts, and votes with rtr_accept_tx or rtr_reject_tx. The
 * client sends each transaction as two messages, one per range; a field of
 * each message tells its server how to vote (0 = accept, otherwise reject
 * with that reason).
 *
 *   tx 1: both servers accept -> the client and both servers get
 *         rtr_mt_accepted;
 *   tx 2: server 1 rejects with reason 42 -> the client and both servers get
 *         rtr_mt_rejected, status RTR_STS_REJECTED, reason 42, even though
 *         server 0 voted accept.
 *
 * Each server also checks that its msg1 and its outcome carry the tid the
 * client got from rtr_get_tid.
 *
 * Output (checked by ffi/tests/c_programs.rs):
 *     tx1: client=accepted server0=accepted server1=accepted same_tid=yes
 *     tx2: client=rejected/REJECTED/42 server0=rejected/REJECTED/42 server1=rejected/REJECTED/42 same_tid=yes
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rtr.h"

#define FACILITY "EXAMPLE_TWO_PART"
#define NUM_SERVERS 2
#define NUM_TX 2
#define REJECT_REASON 42
#define WAIT_MS 10000
#define IDLE_POLL_MS 50

struct request {
    uint32_t key; /* routing key: 4-byte unsigned at offset 0 */
    uint32_t txno;
    uint32_t reject_reason; /* 0: vote accept */
};

struct reply {
    uint32_t txno;
    uint32_t server;
};

typedef union {
    rtr_status_data_t status;
    struct request req;
    struct reply rep;
    char bytes[RTR_MAX_MSGLEN];
} msgbuf_t;

/* What one participant saw of one transaction. */
struct seen {
    rtr_tid_t tid;       /* from the msg1 (servers) or rtr_get_tid (client) */
    int tid_mismatch;    /* a later message carried another tid */
    int prepared;        /* server: got rtr_mt_prepare */
    uint32_t vote;       /* server: 0 accept, else reject with this reason */
    rtr_msg_type_t outcome;
    rtr_status_t status;
    rtr_reason_t reason;
    int done;
};

static void fail(const char *who, const char *call, rtr_status_t s)
{
    fprintf(stderr, "%s: %s failed: %s (%d)\n", who, call, rtr_error_text(s), (int)s);
    exit(1);
}

#define CHECK(who, call)                                                      \
    do {                                                                      \
        rtr_status_t s_ = (call);                                             \
        if (s_ != RTR_STS_OK)                                                 \
            fail((who), #call, s_);                                           \
    } while (0)

static rtr_status_t receive_on(rtr_channel_t ch, msgbuf_t *buf, rtr_timout_t ms, rtr_msgsb_t *sb)
{
    rtr_channel_t list[2] = {ch, RTR_CHAN_ENDLIST};
    rtr_channel_t from = 0;
    return rtr_receive_message(&from, RTR_NO_FLAGS, list, buf, sizeof *buf, ms, sb);
}

static void wait_opened(const char *who, rtr_channel_t ch)
{
    msgbuf_t buf;
    rtr_msgsb_t sb;
    CHECK(who, receive_on(ch, &buf, WAIT_MS, &sb));
    if (sb.msgtype != rtr_mt_opened) {
        fprintf(stderr, "%s: open failed: msgtype %d, %s\n", who, (int)sb.msgtype,
                sb.msgtype == rtr_mt_closed ? rtr_error_text(buf.status.status) : "(no status)");
        exit(1);
    }
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int servers_ready;
static atomic_bool stop_servers;

/* seen_by[server][tx]: written by that server's thread, read after join. */
static struct seen seen_by[NUM_SERVERS][NUM_TX];

static void *server_main(void *arg)
{
    const uint32_t me = (uint32_t)(uintptr_t)arg;
    uint32_t lo = me * 100, hi = me * 100 + 99;
    char who[32];
    rtr_keyseg_t ks;
    rtr_channel_t ch;
    struct seen *cur = NULL;

    snprintf(who, sizeof who, "server %u", (unsigned)me);
    ks.ks_type = rtr_keyseg_unsigned;
    ks.ks_length = sizeof(uint32_t);
    ks.ks_offset = 0;
    ks.ks_lo_bound = &lo;
    ks.ks_hi_bound = &hi;
    CHECK(who, rtr_open_channel(&ch, RTR_F_OPE_SERVER | RTR_F_OPE_EXPLICIT_PREPARE, FACILITY, RTR_NO_RCPNAM,
                                RTR_NO_PEVTNUM, RTR_NO_ACCESS, 1, &ks));
    wait_opened(who, ch);
    pthread_mutex_lock(&lock);
    servers_ready++;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);

    for (;;) {
        msgbuf_t buf;
        rtr_msgsb_t sb;
        static const rtr_tid_t no_tid;
        rtr_status_t s = receive_on(ch, &buf, IDLE_POLL_MS, &sb);
        if (s == RTR_STS_TIMOUT) {
            if (cur == NULL && atomic_load(&stop_servers))
                break;
            continue;
        }
        if (s != RTR_STS_OK)
            fail(who, "rtr_receive_message", s);
        if (sb.msgtype != rtr_mt_msg1 && cur != NULL && memcmp(&sb.tid, &cur->tid, sizeof sb.tid) != 0)
            cur->tid_mismatch = 1;
        switch (sb.msgtype) {
        case rtr_mt_msg1: {
            struct reply rep;
            if (cur != NULL || sb.msglen != sizeof(struct request) || buf.req.txno >= NUM_TX ||
                memcmp(&sb.tid, &no_tid, sizeof no_tid) == 0) {
                fprintf(stderr, "%s: bad msg1\n", who);
                exit(1);
            }
            cur = &seen_by[me][buf.req.txno];
            cur->tid = sb.tid;
            /* Remember the vote until the vote request comes. */
            cur->vote = buf.req.reject_reason;
            rep.txno = buf.req.txno;
            rep.server = me;
            CHECK(who, rtr_reply_to_client(ch, RTR_NO_FLAGS, &rep, sizeof rep, RTR_NO_MSGFMT));
            break;
        }
        case rtr_mt_prepare:
            if (cur == NULL || cur->prepared) {
                fprintf(stderr, "%s: unexpected rtr_mt_prepare\n", who);
                exit(1);
            }
            cur->prepared = 1;
            if (cur->vote == 0)
                CHECK(who, rtr_accept_tx(ch, RTR_NO_FLAGS, RTR_NO_REASON));
            else
                CHECK(who, rtr_reject_tx(ch, RTR_NO_FLAGS, cur->vote));
            break;
        case rtr_mt_accepted:
        case rtr_mt_rejected:
            if (cur == NULL) {
                fprintf(stderr, "%s: outcome outside a transaction\n", who);
                exit(1);
            }
            cur->outcome = sb.msgtype;
            cur->status = buf.status.status;
            cur->reason = buf.status.reason;
            cur->done = 1;
            cur = NULL;
            break;
        default:
            fprintf(stderr, "%s: unexpected message type %d\n", who, (int)sb.msgtype);
            exit(1);
        }
    }
    CHECK(who, rtr_close_channel(ch, RTR_NO_FLAGS));
    return NULL;
}

/* Run one two-message transaction; servers vote as `reject_reason` says. */
static void run_tx(rtr_channel_t ch, uint32_t txno, const uint32_t reject_reason[NUM_SERVERS], struct seen *out)
{
    int replies[NUM_SERVERS] = {0};
    msgbuf_t buf;
    rtr_msgsb_t sb;

    CHECK("client", rtr_start_tx(ch, RTR_NO_FLAGS, RTR_NO_TIMOUTMS, RTR_NO_JOINCHAN));
    CHECK("client", rtr_get_tid(ch, RTR_NO_FLAGS, &out->tid));
    for (uint32_t srv = 0; srv < NUM_SERVERS; srv++) {
        struct request req;
        req.key = srv * 100 + 10 + txno;
        req.txno = txno;
        req.reject_reason = reject_reason[srv];
        CHECK("client", rtr_send_to_server(ch, RTR_NO_FLAGS, &req, sizeof req, RTR_NO_MSGFMT));
    }
    /* One reply from each partition, in any order. */
    for (int n = 0; n < NUM_SERVERS; n++) {
        CHECK("client", receive_on(ch, &buf, WAIT_MS, &sb));
        if (sb.msgtype != rtr_mt_reply || buf.rep.txno != txno || buf.rep.server >= NUM_SERVERS ||
            replies[buf.rep.server]++) {
            fprintf(stderr, "client: tx %u: bad reply (type %d)\n", (unsigned)txno, (int)sb.msgtype);
            exit(1);
        }
        if (memcmp(&sb.tid, &out->tid, sizeof sb.tid) != 0)
            out->tid_mismatch = 1;
    }
    CHECK("client", rtr_accept_tx(ch, RTR_NO_FLAGS, RTR_NO_REASON));
    CHECK("client", receive_on(ch, &buf, WAIT_MS, &sb));
    if (sb.msgtype != rtr_mt_accepted && sb.msgtype != rtr_mt_rejected) {
        fprintf(stderr, "client: tx %u: unexpected message type %d\n", (unsigned)txno, (int)sb.msgtype);
        exit(1);
    }
    if (memcmp(&sb.tid, &out->tid, sizeof sb.tid) != 0)
        out->tid_mismatch = 1;
    out->outcome = sb.msgtype;
    out->status = buf.status.status;
    out->reason = buf.status.reason;
    out->done = 1;
}

/* "accepted", or "rejected/<status>/<reason>". */
static const char *describe(const struct seen *s, char *text, size_t size)
{
    const char *status = s->status == RTR_STS_REJECTED ? "REJECTED"
                         : s->status == RTR_STS_OK     ? "OK"
                                                       : rtr_error_text(s->status);
    if (!s->done)
        snprintf(text, size, "none");
    else if (s->outcome == rtr_mt_accepted && s->status == RTR_STS_OK)
        snprintf(text, size, "accepted");
    else if (s->outcome == rtr_mt_accepted)
        snprintf(text, size, "accepted/%s", status);
    else
        snprintf(text, size, "rejected/%s/%u", status, (unsigned)s->reason);
    return text;
}

int main(void)
{
    static const uint32_t votes[NUM_TX][NUM_SERVERS] = {{0, 0}, {0, REJECT_REASON}};
    struct seen client_seen[NUM_TX];
    pthread_t servers[NUM_SERVERS];
    rtr_channel_t ch;
    int ok = 1;

    memset(client_seen, 0, sizeof client_seen);
    for (uintptr_t i = 0; i < NUM_SERVERS; i++) {
        if (pthread_create(&servers[i], NULL, server_main, (void *)i) != 0) {
            perror("pthread_create");
            return 1;
        }
    }
    pthread_mutex_lock(&lock);
    while (servers_ready < NUM_SERVERS)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);

    CHECK("client", rtr_open_channel(&ch, RTR_F_OPE_CLIENT, FACILITY, RTR_NO_RCPNAM, RTR_NO_PEVTNUM,
                                     RTR_NO_ACCESS, RTR_NO_NUMSEG, RTR_NO_PKEYSEG));
    wait_opened("client", ch);
    for (uint32_t t = 0; t < NUM_TX; t++)
        run_tx(ch, t, votes[t], &client_seen[t]);
    CHECK("client", rtr_close_channel(ch, RTR_NO_FLAGS));

    atomic_store(&stop_servers, 1);
    for (int i = 0; i < NUM_SERVERS; i++)
        pthread_join(servers[i], NULL);

    for (int t = 0; t < NUM_TX; t++) {
        char c[64], s0[64], s1[64];
        int same_tid = !client_seen[t].tid_mismatch;
        for (int i = 0; i < NUM_SERVERS; i++) {
            same_tid &= !seen_by[i][t].tid_mismatch &&
                        memcmp(&seen_by[i][t].tid, &client_seen[t].tid, sizeof(rtr_tid_t)) == 0;
            if (!seen_by[i][t].prepared) {
                fprintf(stderr, "tx%d: server %d got no rtr_mt_prepare\n", t + 1, i);
                ok = 0;
            }
        }
        printf("tx%d: client=%s server0=%s server1=%s same_tid=%s\n", t + 1, describe(&client_seen[t], c, sizeof c),
               describe(&seen_by[0][t], s0, sizeof s0), describe(&seen_by[1][t], s1, sizeof s1),
               same_tid ? "yes" : "no");
        ok &= same_tid;
    }
    /* Every participant must see the expected outcome: tx 1 committed,
     * tx 2 rejected by a participant with its reason. */
    for (int t = 0; t < NUM_TX; t++) {
        const rtr_msg_type_t want_type = t == 0 ? rtr_mt_accepted : rtr_mt_rejected;
        const rtr_status_t want_status = t == 0 ? RTR_STS_OK : RTR_STS_REJECTED;
        const rtr_reason_t want_reason = t == 0 ? RTR_NO_REASON : REJECT_REASON;
        for (int p = 0; p <= NUM_SERVERS; p++) {
            const struct seen *s = p < NUM_SERVERS ? &seen_by[p][t] : &client_seen[t];
            if (!s->done || s->outcome != want_type || s->status != want_status || s->reason != want_reason) {
                fprintf(stderr, "tx%d: %s%d saw an unexpected outcome\n", t + 1,
                        p < NUM_SERVERS ? "server " : "client ", p);
                ok = 0;
            }
        }
    }
    return ok ? 0 : 1;
}
