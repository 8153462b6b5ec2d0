/*
 * polled_server.c: ONE server thread serves several key ranges. It opens one
 * server channel per range and serves them all from a single
 * rtr_receive_message call over a channel list ended by RTR_CHAN_ENDLIST;
 * msgsb and *pchannel say which channel (range) each message belongs to.
 * Each channel carries its own transaction, so the thread may be in the
 * middle of up to NUM_RANGES transactions at once.
 *
 * Two voting styles share the loop: the channels of ranges 0 and 1 vote
 * implicitly (the next rtr_receive_message over a list holding the channel
 * is the accept), the channel of range 2 is opened with
 * RTR_F_OPE_EXPLICIT_PREPARE and answers rtr_mt_prepare with rtr_accept_tx.
 *
 * Client threads (one channel each) send to every range in turn and check
 * that the reply came from the channel of the right range.
 *
 * Why a list and not RTR_ANYCHAN: the clients live in the same process, and
 * RTR_ANYCHAN means every channel of the process, theirs included.
 *
 * Output (checked by ffi/tests/c_programs.rs):
 *     clients: committed=180 rejected=0
 *     server: range0=60 range1=60 range2=60 rejected=0 prepares=60
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rtr.h"

#define FACILITY "EXAMPLE_POLLED"
#define NUM_RANGES 3
#define RANGE_SIZE 100
#define EXPLICIT_RANGE 2
#define NUM_CLIENTS 3
#define TX_PER_CLIENT 60
#define WAIT_MS 10000
#define IDLE_POLL_MS 50

struct request {
    uint32_t key; /* routing key: 4-byte unsigned at offset 0 */
    uint32_t seq;
};

struct reply {
    uint32_t seq;
    uint32_t range; /* which range (channel) served the request */
};

typedef union {
    rtr_status_data_t status;
    struct request req;
    struct reply rep;
    char bytes[RTR_MAX_MSGLEN];
} msgbuf_t;

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

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int server_ready;
static atomic_bool stop_server;

/* Guarded by lock. */
static int client_commits, client_rejects;

/* Written by the server thread, read by main after joining it. */
static int range_commits[NUM_RANGES];
static int server_rejects, prepares_seen, max_in_flight;

/* ---------------------------------------------------------------- server */

static int index_of(const rtr_channel_t *list, rtr_channel_t ch)
{
    for (int i = 0; i < NUM_RANGES; i++)
        if (list[i] == ch)
            return i;
    fprintf(stderr, "server: message from channel %u, which is not in the list\n", (unsigned)ch);
    exit(1);
}

static void *server_main(void *arg)
{
    static uint32_t lo[NUM_RANGES], hi[NUM_RANGES];
    rtr_channel_t list[NUM_RANGES + 1];
    int in_tx[NUM_RANGES] = {0};
    int opened = 0;
    (void)arg;

    for (int r = 0; r < NUM_RANGES; r++) {
        rtr_keyseg_t ks;
        rtr_ope_flag_t flags = RTR_F_OPE_SERVER | (r == EXPLICIT_RANGE ? RTR_F_OPE_EXPLICIT_PREPARE : 0);
        lo[r] = (uint32_t)r * RANGE_SIZE;
        hi[r] = lo[r] + RANGE_SIZE - 1;
        ks.ks_type = rtr_keyseg_unsigned;
        ks.ks_length = sizeof(uint32_t);
        ks.ks_offset = 0;
        ks.ks_lo_bound = &lo[r];
        ks.ks_hi_bound = &hi[r];
        CHECK("server", rtr_open_channel(&list[r], flags, FACILITY, RTR_NO_RCPNAM, RTR_NO_PEVTNUM, RTR_NO_ACCESS,
                                         1, &ks));
    }
    list[NUM_RANGES] = RTR_CHAN_ENDLIST;

    /* The opens complete in any order; collect them from the same list. */
    while (opened < NUM_RANGES) {
        msgbuf_t buf;
        rtr_msgsb_t sb;
        rtr_channel_t ch;
        CHECK("server", rtr_receive_message(&ch, RTR_NO_FLAGS, list, &buf, sizeof buf, WAIT_MS, &sb));
        if (sb.msgtype != rtr_mt_opened) {
            fprintf(stderr, "server: open of range %d failed: %s\n", index_of(list, ch),
                    sb.msgtype == rtr_mt_closed ? rtr_error_text(buf.status.status) : "unexpected message");
            exit(1);
        }
        opened++;
    }
    pthread_mutex_lock(&lock);
    server_ready = 1;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);

    for (;;) {
        msgbuf_t buf;
        rtr_msgsb_t sb;
        rtr_channel_t ch;
        int r, busy = 0;
        rtr_status_t s = rtr_receive_message(&ch, RTR_NO_FLAGS, list, &buf, sizeof buf, IDLE_POLL_MS, &sb);
        if (s == RTR_STS_TIMOUT) {
            for (int i = 0; i < NUM_RANGES; i++)
                busy |= in_tx[i];
            if (!busy && atomic_load(&stop_server))
                break;
            continue;
        }
        if (s != RTR_STS_OK)
            fail("server", "rtr_receive_message", s);
        r = index_of(list, ch);
        switch (sb.msgtype) {
        case rtr_mt_msg1: {
            struct reply rep;
            int in_flight = 0;
            if (in_tx[r] || sb.msglen != sizeof(struct request) || buf.req.key / RANGE_SIZE != (uint32_t)r) {
                fprintf(stderr, "server: range %d: bad msg1 (key %u)\n", r, (unsigned)buf.req.key);
                exit(1);
            }
            in_tx[r] = 1;
            for (int i = 0; i < NUM_RANGES; i++)
                in_flight += in_tx[i];
            if (in_flight > max_in_flight)
                max_in_flight = in_flight;
            rep.seq = buf.req.seq;
            rep.range = (uint32_t)r;
            CHECK("server", rtr_reply_to_client(ch, RTR_NO_FLAGS, &rep, sizeof rep, RTR_NO_MSGFMT));
            break;
        }
        case rtr_mt_prepare:
            if (r != EXPLICIT_RANGE || !in_tx[r]) {
                fprintf(stderr, "server: rtr_mt_prepare on range %d\n", r);
                exit(1);
            }
            prepares_seen++;
            CHECK("server", rtr_accept_tx(ch, RTR_NO_FLAGS, RTR_NO_REASON));
            break;
        case rtr_mt_accepted:
            range_commits[r]++;
            in_tx[r] = 0;
            break;
        case rtr_mt_rejected:
            fprintf(stderr, "server: range %d rejected: %s\n", r, rtr_error_text(buf.status.status));
            server_rejects++;
            in_tx[r] = 0;
            break;
        default:
            fprintf(stderr, "server: range %d: unexpected message type %d\n", r, (int)sb.msgtype);
            exit(1);
        }
    }
    for (int r = 0; r < NUM_RANGES; r++)
        CHECK("server", rtr_close_channel(list[r], RTR_NO_FLAGS));
    return NULL;
}

/* ---------------------------------------------------------------- client */

static void *client_main(void *arg)
{
    const uint32_t me = (uint32_t)(uintptr_t)arg;
    rtr_channel_t ch;
    rtr_channel_t list[2];
    int committed = 0, rejected = 0;
    char who[32];

    snprintf(who, sizeof who, "client %u", (unsigned)me);
    CHECK(who, rtr_open_channel(&ch, RTR_F_OPE_CLIENT, FACILITY, RTR_NO_RCPNAM, RTR_NO_PEVTNUM, RTR_NO_ACCESS,
                                RTR_NO_NUMSEG, RTR_NO_PKEYSEG));
    list[0] = ch;
    list[1] = RTR_CHAN_ENDLIST;
    for (uint32_t i = 0; i < TX_PER_CLIENT; i++) {
        const uint32_t range = (me + i) % NUM_RANGES;
        struct request req;
        msgbuf_t buf;
        rtr_msgsb_t sb;
        rtr_channel_t from;

        if (i == 0) {
            CHECK(who, rtr_receive_message(&from, RTR_NO_FLAGS, list, &buf, sizeof buf, WAIT_MS, &sb));
            if (sb.msgtype != rtr_mt_opened) {
                fprintf(stderr, "%s: open failed\n", who);
                exit(1);
            }
        }
        req.key = range * RANGE_SIZE + (i * 7 + me) % RANGE_SIZE;
        req.seq = i;
        CHECK(who, rtr_send_to_server(ch, RTR_NO_FLAGS, &req, sizeof req, RTR_NO_MSGFMT));
        CHECK(who, rtr_receive_message(&from, RTR_NO_FLAGS, list, &buf, sizeof buf, WAIT_MS, &sb));
        if (sb.msgtype == rtr_mt_rejected) {
            fprintf(stderr, "%s: rejected before the reply: %s\n", who, rtr_error_text(buf.status.status));
            rejected++;
            continue;
        }
        if (sb.msgtype != rtr_mt_reply || buf.rep.seq != i || buf.rep.range != range) {
            fprintf(stderr, "%s: tx %u: bad reply (type %d, range %u, expected %u)\n", who, (unsigned)i,
                    (int)sb.msgtype, (unsigned)buf.rep.range, (unsigned)range);
            exit(1);
        }
        CHECK(who, rtr_accept_tx(ch, RTR_NO_FLAGS, RTR_NO_REASON));
        CHECK(who, rtr_receive_message(&from, RTR_NO_FLAGS, list, &buf, sizeof buf, WAIT_MS, &sb));
        if (sb.msgtype == rtr_mt_accepted) {
            committed++;
        } else if (sb.msgtype == rtr_mt_rejected) {
            fprintf(stderr, "%s: rejected: %s\n", who, rtr_error_text(buf.status.status));
            rejected++;
        } else {
            fprintf(stderr, "%s: unexpected message type %d\n", who, (int)sb.msgtype);
            exit(1);
        }
    }
    CHECK(who, rtr_close_channel(ch, RTR_NO_FLAGS));
    pthread_mutex_lock(&lock);
    client_commits += committed;
    client_rejects += rejected;
    pthread_mutex_unlock(&lock);
    return NULL;
}

int main(void)
{
    pthread_t server, clients[NUM_CLIENTS];
    int total = 0;

    if (pthread_create(&server, NULL, server_main, NULL) != 0) {
        perror("pthread_create");
        return 1;
    }
    pthread_mutex_lock(&lock);
    while (!server_ready)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);

    for (uintptr_t i = 0; i < NUM_CLIENTS; i++) {
        if (pthread_create(&clients[i], NULL, client_main, (void *)i) != 0) {
            perror("pthread_create");
            return 1;
        }
    }
    for (int i = 0; i < NUM_CLIENTS; i++)
        pthread_join(clients[i], NULL);
    atomic_store(&stop_server, 1);
    pthread_join(server, NULL);

    printf("clients: committed=%d rejected=%d\n", client_commits, client_rejects);
    printf("server: range0=%d range1=%d range2=%d rejected=%d prepares=%d\n", range_commits[0], range_commits[1],
           range_commits[2], server_rejects, prepares_seen);
    fprintf(stderr, "info: at most %d transactions in flight on the server thread\n", max_in_flight);
    for (int r = 0; r < NUM_RANGES; r++)
        total += range_commits[r];
    return client_commits == NUM_CLIENTS * TX_PER_CLIENT && total == client_commits && client_rejects == 0 ? 0 : 1;
}
