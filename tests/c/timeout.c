/*
 * timeout.c: timeouts, from the client's side.
 *
 * 1. rtr_receive_message with a timeout and nothing to receive returns
 *    RTR_STS_TIMOUT after about that long.
 * 2. A transaction started with rtr_start_tx(..., 100 ms, ...) whose server
 *    (opened with RTR_F_OPE_EXPLICIT_ACCEPT) never votes is rejected with
 *    RTR_STS_TIMOUT: the client accepted and waits; it gets rtr_mt_rejected
 *    with status RTR_STS_TIMOUT about 100 ms after the start, and the server
 *    gets the same outcome.
 * 3. The same without the client's accept (the client is still sending when
 *    the timeout expires).
 * 4. The channels are usable afterwards: a transaction with a (long)
 *    timeout whose server does vote commits.
 *
 * The server thread votes only when the message asks it to, so it "never
 * votes" in steps 2 and 3.
 *
 * Output (checked by ffi/tests/c_programs.rs):
 *     receive: TIMOUT
 *     tx1 (accepted, server silent): client=rejected/TIMOUT server=rejected/TIMOUT
 *     tx2 (not accepted, server silent): client=rejected/TIMOUT server=rejected/TIMOUT
 *     tx3 (server votes): client=accepted server=accepted
 * Elapsed times go to stderr; a timeout that fires too early (before 100 ms)
 * or far too late (after 5 s) is a failure.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rtr.h"

#define FACILITY "TEST_TIMEOUT"
#define TX_TIMEOUT_MS 100
#define RECEIVE_TIMEOUT_MS 50
#define LATE_MS 5000
#define WAIT_MS 10000
#define IDLE_POLL_MS 20
#define NUM_TX 3

struct request {
    uint32_t key; /* routing key: 4-byte unsigned at offset 0 */
    uint32_t txno;
    uint32_t vote; /* 1: the server accepts; 0: it stays silent */
};

typedef union {
    rtr_status_data_t status;
    struct request req;
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
        fprintf(stderr, "%s: open failed\n", who);
        exit(1);
    }
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1000.0 + (double)t.tv_nsec / 1e6;
}

/* An outcome as text: "accepted", "rejected/TIMOUT", "rejected/<text>". */
struct outcome {
    int done;
    rtr_msg_type_t type;
    rtr_status_t status;
};

static const char *describe(const struct outcome *o)
{
    if (!o->done)
        return "none";
    if (o->type == rtr_mt_accepted)
        return o->status == RTR_STS_OK ? "accepted" : "accepted/not-OK";
    if (o->type == rtr_mt_rejected)
        return o->status == RTR_STS_TIMOUT ? "rejected/TIMOUT" : rtr_error_text(o->status);
    return "unexpected";
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int server_ready;
static atomic_bool stop_server;
static struct outcome server_saw[NUM_TX];

static void *server_main(void *arg)
{
    uint32_t lo = 0, hi = 99;
    rtr_keyseg_t ks;
    rtr_channel_t ch;
    int cur = -1;
    (void)arg;

    ks.ks_type = rtr_keyseg_unsigned;
    ks.ks_length = sizeof(uint32_t);
    ks.ks_offset = 0;
    ks.ks_lo_bound = &lo;
    ks.ks_hi_bound = &hi;
    /* Explicit accept: receiving again is NOT a vote, so a silent server
     * holds the transaction until its timeout. */
    CHECK("server", rtr_open_channel(&ch, RTR_F_OPE_SERVER | RTR_F_OPE_EXPLICIT_ACCEPT, FACILITY, RTR_NO_RCPNAM,
                                     RTR_NO_PEVTNUM, RTR_NO_ACCESS, 1, &ks));
    wait_opened("server", ch);
    pthread_mutex_lock(&lock);
    server_ready = 1;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);

    for (;;) {
        msgbuf_t buf;
        rtr_msgsb_t sb;
        rtr_status_t s = receive_on(ch, &buf, IDLE_POLL_MS, &sb);
        if (s == RTR_STS_TIMOUT) {
            if (cur < 0 && atomic_load(&stop_server))
                break;
            continue;
        }
        if (s != RTR_STS_OK)
            fail("server", "rtr_receive_message", s);
        switch (sb.msgtype) {
        case rtr_mt_msg1:
            if (cur >= 0 || sb.msglen != sizeof(struct request) || buf.req.txno >= NUM_TX) {
                fprintf(stderr, "server: bad msg1\n");
                exit(1);
            }
            cur = (int)buf.req.txno;
            if (buf.req.vote)
                CHECK("server", rtr_accept_tx(ch, RTR_NO_FLAGS, RTR_NO_REASON));
            break;
        case rtr_mt_accepted:
        case rtr_mt_rejected:
            if (cur < 0) {
                fprintf(stderr, "server: outcome outside a transaction\n");
                exit(1);
            }
            server_saw[cur].done = 1;
            server_saw[cur].type = sb.msgtype;
            server_saw[cur].status = buf.status.status;
            cur = -1;
            break;
        default:
            fprintf(stderr, "server: unexpected message type %d\n", (int)sb.msgtype);
            exit(1);
        }
    }
    CHECK("server", rtr_close_channel(ch, RTR_NO_FLAGS));
    return NULL;
}

/* One transaction with a timeout. Returns the elapsed time from
 * rtr_start_tx to the outcome. */
static double run_tx(rtr_channel_t ch, uint32_t txno, rtr_timout_t timeout_ms, int client_accepts, int server_votes,
                     struct outcome *out)
{
    struct request req;
    msgbuf_t buf;
    rtr_msgsb_t sb;
    double start = now_ms();

    CHECK("client", rtr_start_tx(ch, RTR_NO_FLAGS, timeout_ms, RTR_NO_JOINCHAN));
    req.key = 10 + txno;
    req.txno = txno;
    req.vote = (uint32_t)server_votes;
    CHECK("client", rtr_send_to_server(ch, client_accepts ? RTR_F_SEN_ACCEPT : RTR_NO_FLAGS, &req, sizeof req,
                                       RTR_NO_MSGFMT));
    CHECK("client", receive_on(ch, &buf, WAIT_MS, &sb));
    out->done = 1;
    out->type = sb.msgtype;
    out->status = buf.status.status;
    return now_ms() - start;
}

int main(void)
{
    static const struct {
        const char *label;
        rtr_timout_t timeout_ms;
        int client_accepts, server_votes;
    } plan[NUM_TX] = {
        {"tx1 (accepted, server silent)", TX_TIMEOUT_MS, 1, 0},
        {"tx2 (not accepted, server silent)", TX_TIMEOUT_MS, 0, 0},
        /* A long timeout, so that a slow machine cannot make it expire. */
        {"tx3 (server votes)", LATE_MS, 1, 1},
    };
    struct outcome client_saw[NUM_TX];
    double elapsed[NUM_TX];
    pthread_t server;
    rtr_channel_t ch;
    msgbuf_t buf;
    rtr_msgsb_t sb;
    double start, waited;
    rtr_status_t s;
    int ok = 1;

    memset(client_saw, 0, sizeof client_saw);
    if (pthread_create(&server, NULL, server_main, NULL) != 0) {
        perror("pthread_create");
        return 1;
    }
    pthread_mutex_lock(&lock);
    while (!server_ready)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);

    CHECK("client", rtr_open_channel(&ch, RTR_F_OPE_CLIENT, FACILITY, RTR_NO_RCPNAM, RTR_NO_PEVTNUM,
                                     RTR_NO_ACCESS, RTR_NO_NUMSEG, RTR_NO_PKEYSEG));
    wait_opened("client", ch);

    /* 1. A receive timeout. */
    start = now_ms();
    s = receive_on(ch, &buf, RECEIVE_TIMEOUT_MS, &sb);
    waited = now_ms() - start;
    printf("receive: %s\n", s == RTR_STS_TIMOUT ? "TIMOUT" : rtr_error_text(s));
    fprintf(stderr, "info: receive timed out after %.1f ms (asked %d)\n", waited, RECEIVE_TIMEOUT_MS);
    if (s != RTR_STS_TIMOUT || waited < RECEIVE_TIMEOUT_MS - 1 || waited > LATE_MS)
        ok = 0;

    /* 2.-4. Transaction timeouts. */
    for (uint32_t t = 0; t < NUM_TX; t++)
        elapsed[t] = run_tx(ch, t, plan[t].timeout_ms, plan[t].client_accepts, plan[t].server_votes, &client_saw[t]);
    CHECK("client", rtr_close_channel(ch, RTR_NO_FLAGS));
    atomic_store(&stop_server, 1);
    pthread_join(server, NULL);

    for (int t = 0; t < NUM_TX; t++) {
        const int expect_timeout = !plan[t].server_votes;
        printf("%s: client=%s server=%s\n", plan[t].label, describe(&client_saw[t]), describe(&server_saw[t]));
        fprintf(stderr, "info: %s: outcome after %.1f ms\n", plan[t].label, elapsed[t]);
        if (expect_timeout) {
            ok &= client_saw[t].type == rtr_mt_rejected && client_saw[t].status == RTR_STS_TIMOUT;
            ok &= server_saw[t].done && server_saw[t].type == rtr_mt_rejected &&
                  server_saw[t].status == RTR_STS_TIMOUT;
            /* The timeout runs from rtr_start_tx: never early, not much later. */
            if (elapsed[t] < TX_TIMEOUT_MS - 1 || elapsed[t] > LATE_MS) {
                fprintf(stderr, "%s: timeout after %.1f ms\n", plan[t].label, elapsed[t]);
                ok = 0;
            }
        } else {
            ok &= client_saw[t].type == rtr_mt_accepted && server_saw[t].done &&
                  server_saw[t].type == rtr_mt_accepted;
        }
    }
    return ok ? 0 : 1;
}
