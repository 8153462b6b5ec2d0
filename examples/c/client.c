/*
 * client.c: a legacy-style RTR client (rtr-c-api.md section 5.2), with the
 * server it talks to running in a thread of the same process, so the example
 * runs alone on the embedded node.
 *
 * The client opens a channel, waits for rtr_mt_opened, then runs NUM_TX
 * transactions, each one:
 *     rtr_start_tx (with a timeout) -> rtr_send_to_server (key in the first
 *     4 bytes) -> receive rtr_mt_reply -> rtr_accept_tx -> receive the
 *     outcome (rtr_mt_accepted or rtr_mt_rejected).
 *
 * The server (section 5.3, implicit-accept variant) opens with one key
 * segment, replies to each request and votes implicitly by calling
 * rtr_receive_message again; it never sees rtr_mt_prepare.
 *
 * Everything runs in one process, so each thread receives only from its own
 * channel (a channel list ended by RTR_CHAN_ENDLIST): with RTR_ANYCHAN one
 * thread would take the other's messages.
 *
 * Output (checked by ffi/tests/c_programs.rs):
 *     client: committed=200 rejected=0
 *     server: committed=200 rejected=0 replies=200
 * Exit status 0 only if every transaction committed on both sides.
 *
 * Build: gcc -std=c11 -Wall -Wextra -Wpedantic -Werror -pthread \
 *            -Iinclude client.c -Ltarget/debug -lrtr -Wl,-rpath,target/debug
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rtr.h"

#define FACILITY "EXAMPLE_CLIENT"
#define NUM_TX 200
/* Transaction timeout given to rtr_start_tx. */
#define TX_TIMEOUT_MS 5000
/* Bound on every wait of the client: a lost message ends the program with a
 * diagnostic instead of hanging it. */
#define WAIT_MS 10000
/* The server wakes up this often to see whether it should stop. */
#define IDLE_POLL_MS 50

/* The key is the first field: the server's key segment is a 4-byte unsigned
 * integer at offset 0, in native byte order. */
struct request {
    uint32_t key;
    uint32_t seq;
    uint32_t amount;
};

struct reply {
    uint32_t seq;
    uint32_t doubled;
};

/* A receive buffer big enough for any message, aligned for every view. */
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

/* Receive the next message of one channel. */
static rtr_status_t receive_on(rtr_channel_t ch, msgbuf_t *buf, rtr_timout_t ms, rtr_msgsb_t *sb)
{
    rtr_channel_t list[2] = {ch, RTR_CHAN_ENDLIST};
    rtr_channel_t from = 0;
    rtr_status_t s = rtr_receive_message(&from, RTR_NO_FLAGS, list, buf, sizeof *buf, ms, sb);
    if (s == RTR_STS_OK && from != ch) {
        fprintf(stderr, "message for channel %u arrived as channel %u\n", (unsigned)ch, (unsigned)from);
        exit(1);
    }
    return s;
}

/* Wait for the asynchronous result of rtr_open_channel. */
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

/* ---------------------------------------------------------------- server */

static atomic_bool stop_server;
static pthread_mutex_t ready_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ready_cond = PTHREAD_COND_INITIALIZER;
static int server_ready;

struct server_counts {
    int committed;
    int rejected;
    int replies;
};

static void *server_main(void *arg)
{
    struct server_counts *counts = arg;
    static uint32_t lo = 0, hi = 999;
    rtr_keyseg_t ks;
    rtr_channel_t ch;
    int in_tx = 0;

    ks.ks_type = rtr_keyseg_unsigned;
    ks.ks_length = sizeof(uint32_t);
    ks.ks_offset = 0;
    ks.ks_lo_bound = &lo;
    ks.ks_hi_bound = &hi;
    CHECK("server", rtr_open_channel(&ch, RTR_F_OPE_SERVER, FACILITY, RTR_NO_RCPNAM, RTR_NO_PEVTNUM,
                                     RTR_NO_ACCESS, 1, &ks));
    wait_opened("server", ch);

    pthread_mutex_lock(&ready_lock);
    server_ready = 1;
    pthread_cond_signal(&ready_cond);
    pthread_mutex_unlock(&ready_lock);

    for (;;) {
        msgbuf_t buf;
        rtr_msgsb_t sb;
        /* Receiving again is also this server's (implicit) accept vote. */
        rtr_status_t s = receive_on(ch, &buf, IDLE_POLL_MS, &sb);
        if (s == RTR_STS_TIMOUT) {
            if (!in_tx && atomic_load(&stop_server))
                break;
            continue;
        }
        if (s != RTR_STS_OK)
            fail("server", "rtr_receive_message", s);
        switch (sb.msgtype) {
        case rtr_mt_msg1:
        case rtr_mt_msgn: {
            struct reply rep;
            if (sb.msglen != sizeof(struct request)) {
                fprintf(stderr, "server: request of %u bytes\n", (unsigned)sb.msglen);
                exit(1);
            }
            in_tx = 1;
            rep.seq = buf.req.seq;
            rep.doubled = 2 * buf.req.amount;
            CHECK("server", rtr_reply_to_client(ch, RTR_NO_FLAGS, &rep, sizeof rep, RTR_NO_MSGFMT));
            counts->replies++;
            break;
        }
        case rtr_mt_accepted:
            counts->committed++;
            in_tx = 0;
            break;
        case rtr_mt_rejected:
            fprintf(stderr, "server: rejected: %s, reason %u\n", rtr_error_text(buf.status.status),
                    (unsigned)buf.status.reason);
            counts->rejected++;
            in_tx = 0;
            break;
        default:
            fprintf(stderr, "server: unexpected message type %d\n", (int)sb.msgtype);
            exit(1);
        }
    }
    CHECK("server", rtr_close_channel(ch, RTR_NO_FLAGS));
    return NULL;
}

/* ---------------------------------------------------------------- client */

int main(void)
{
    static struct server_counts server_counts;
    static int client_context; /* what the user handle points to */
    const rtr_usrhdl_t handle = (rtr_usrhdl_t)&client_context;
    rtr_usrhdl_t got_handle = 0;
    pthread_t server;
    rtr_channel_t ch;
    int committed = 0, rejected = 0;

    /* The server must be open before the first send, or the transaction is
     * rejected with RTR_STS_NODSTFND. */
    if (pthread_create(&server, NULL, server_main, &server_counts) != 0) {
        perror("pthread_create");
        return 1;
    }
    pthread_mutex_lock(&ready_lock);
    while (!server_ready)
        pthread_cond_wait(&ready_cond, &ready_lock);
    pthread_mutex_unlock(&ready_lock);

    CHECK("client", rtr_open_channel(&ch, RTR_F_OPE_CLIENT, FACILITY, RTR_NO_RCPNAM, RTR_NO_PEVTNUM,
                                     RTR_NO_ACCESS, RTR_NO_NUMSEG, RTR_NO_PKEYSEG));
    CHECK("client", rtr_set_user_handle(ch, handle));
    CHECK("client", rtr_get_user_handle(ch, &got_handle));
    if (got_handle != handle) {
        fprintf(stderr, "client: rtr_get_user_handle gave %lx\n", (unsigned long)got_handle);
        return 1;
    }
    wait_opened("client", ch);

    for (uint32_t i = 0; i < NUM_TX; i++) {
        struct request req;
        rtr_tid_t tid;
        msgbuf_t buf;
        rtr_msgsb_t sb;
        int outcome_seen = 0;

        CHECK("client", rtr_start_tx(ch, RTR_NO_FLAGS, TX_TIMEOUT_MS, RTR_NO_JOINCHAN));
        CHECK("client", rtr_get_tid(ch, RTR_NO_FLAGS, &tid));

        req.key = i % 1000;
        req.seq = i;
        req.amount = 3 * i + 1;
        CHECK("client", rtr_send_to_server(ch, RTR_NO_FLAGS, &req, sizeof req, RTR_NO_MSGFMT));

        /* A reject can come instead of the reply (section 4.1). */
        CHECK("client", receive_on(ch, &buf, WAIT_MS, &sb));
        if (sb.usrhdl != handle || memcmp(&sb.tid, &tid, sizeof tid) != 0) {
            fprintf(stderr, "client: tx %u: wrong user handle or tid in the message status block\n",
                    (unsigned)i);
            return 1;
        }
        if (sb.msgtype == rtr_mt_rejected) {
            fprintf(stderr, "client: tx %u rejected before the reply: %s\n", (unsigned)i,
                    rtr_error_text(buf.status.status));
            rejected++;
            outcome_seen = 1;
        } else if (sb.msgtype != rtr_mt_reply || sb.msglen != sizeof(struct reply) ||
                   buf.rep.seq != i || buf.rep.doubled != 2 * req.amount) {
            fprintf(stderr, "client: tx %u: bad reply (type %d, %u bytes)\n", (unsigned)i, (int)sb.msgtype,
                    (unsigned)sb.msglen);
            return 1;
        }
        if (outcome_seen)
            continue;

        CHECK("client", rtr_accept_tx(ch, RTR_NO_FLAGS, RTR_NO_REASON));
        CHECK("client", receive_on(ch, &buf, WAIT_MS, &sb));
        if (sb.msgtype == rtr_mt_accepted) {
            committed++;
        } else if (sb.msgtype == rtr_mt_rejected) {
            fprintf(stderr, "client: tx %u rejected: %s, reason %u\n", (unsigned)i,
                    rtr_error_text(buf.status.status), (unsigned)buf.status.reason);
            rejected++;
        } else {
            fprintf(stderr, "client: tx %u: unexpected message type %d\n", (unsigned)i, (int)sb.msgtype);
            return 1;
        }
    }
    CHECK("client", rtr_close_channel(ch, RTR_NO_FLAGS));
    printf("client: committed=%d rejected=%d\n", committed, rejected);

    atomic_store(&stop_server, 1);
    pthread_join(server, NULL);
    printf("server: committed=%d rejected=%d replies=%d\n", server_counts.committed, server_counts.rejected,
           server_counts.replies);

    return committed == NUM_TX && server_counts.committed == NUM_TX ? 0 : 1;
}
