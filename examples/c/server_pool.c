/*
 * server_pool.c: concurrent servers. NUM_SERVERS threads each open one server
 * channel for the SAME key range (one partition with concurrent servers, the
 * default unless RTR_F_OPE_NOCONCURRENT), and NUM_CLIENTS client threads run
 * transactions against it at the same time.
 *
 * RTR gives each free server channel at most one transaction at a time, so
 * the work spreads over the pool. The program checks what a user of such a
 * pool relies on:
 *   - every transaction committed exactly once, on exactly one server;
 *   - the clients saw as many commits as the servers;
 *   - more than one server did work.
 *
 * Voting shortcuts shown here: the clients start transactions implicitly and
 * accept with the (only) message, RTR_F_SEN_ACCEPT; the servers are opened
 * with RTR_F_OPE_EXPLICIT_ACCEPT and vote with the reply, RTR_F_REP_ACCEPT,
 * so they never see rtr_mt_prepare.
 *
 * Output (checked by ffi/tests/c_programs.rs; per-server counts vary from
 * run to run and go to stderr):
 *     clients: committed=400 rejected=0
 *     servers: committed=400 rejected=0
 *     exactly_once=400 duplicates=0 missing=0
 *     several_servers=yes
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

#define FACILITY "EXAMPLE_POOL"
#define NUM_SERVERS 4
#define NUM_CLIENTS 4
#define TX_PER_CLIENT 100
#define NUM_TX (NUM_CLIENTS * TX_PER_CLIENT)
#define WAIT_MS 10000
#define IDLE_POLL_MS 50

struct request {
    uint32_t key; /* the routing key: 4-byte unsigned at offset 0 */
    uint32_t txno;
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
    rtr_status_t s = rtr_receive_message(&from, RTR_NO_FLAGS, list, buf, sizeof *buf, ms, sb);
    if (s == RTR_STS_OK && from != ch) {
        fprintf(stderr, "message for channel %u arrived as channel %u\n", (unsigned)ch, (unsigned)from);
        exit(1);
    }
    return s;
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

/* ------------------------------------------------------- shared results */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int servers_ready;
static int go;
static atomic_bool stop_servers;

/* Guarded by lock. */
static int commits_of_tx[NUM_TX];
static int commits_by_server[NUM_SERVERS];
static int server_rejects;
static int client_commits;
static int client_rejects;

/* ---------------------------------------------------------------- server */

static void *server_main(void *arg)
{
    const uint32_t me = (uint32_t)(uintptr_t)arg;
    static uint32_t lo = 0, hi = 9999;
    char who[32];
    rtr_keyseg_t ks;
    rtr_channel_t ch;
    int in_tx = 0;
    uint32_t txno = 0;

    snprintf(who, sizeof who, "server %u", (unsigned)me);
    ks.ks_type = rtr_keyseg_unsigned;
    ks.ks_length = sizeof(uint32_t);
    ks.ks_offset = 0;
    ks.ks_lo_bound = &lo;
    ks.ks_hi_bound = &hi;
    CHECK(who, rtr_open_channel(&ch, RTR_F_OPE_SERVER | RTR_F_OPE_EXPLICIT_ACCEPT, FACILITY, RTR_NO_RCPNAM,
                                RTR_NO_PEVTNUM, RTR_NO_ACCESS, 1, &ks));
    wait_opened(who, ch);
    pthread_mutex_lock(&lock);
    servers_ready++;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);

    for (;;) {
        msgbuf_t buf;
        rtr_msgsb_t sb;
        rtr_status_t s = receive_on(ch, &buf, IDLE_POLL_MS, &sb);
        if (s == RTR_STS_TIMOUT) {
            if (!in_tx && atomic_load(&stop_servers))
                break;
            continue;
        }
        if (s != RTR_STS_OK)
            fail(who, "rtr_receive_message", s);
        switch (sb.msgtype) {
        case rtr_mt_msg1: {
            struct reply rep;
            /* Some "database work", so that transactions overlap. */
            struct timespec work = {0, 200 * 1000};
            if (in_tx || sb.msglen != sizeof(struct request) || buf.req.txno >= NUM_TX) {
                fprintf(stderr, "%s: bad msg1 (in_tx %d, %u bytes)\n", who, in_tx, (unsigned)sb.msglen);
                exit(1);
            }
            in_tx = 1;
            txno = buf.req.txno;
            nanosleep(&work, NULL);
            rep.txno = txno;
            rep.server = me;
            /* Reply and vote accept in one call. */
            CHECK(who, rtr_reply_to_client(ch, RTR_F_REP_ACCEPT, &rep, sizeof rep, RTR_NO_MSGFMT));
            break;
        }
        case rtr_mt_accepted:
            pthread_mutex_lock(&lock);
            commits_of_tx[txno]++;
            commits_by_server[me]++;
            pthread_mutex_unlock(&lock);
            in_tx = 0;
            break;
        case rtr_mt_rejected:
            fprintf(stderr, "%s: tx %u rejected: %s\n", who, (unsigned)txno, rtr_error_text(buf.status.status));
            pthread_mutex_lock(&lock);
            server_rejects++;
            pthread_mutex_unlock(&lock);
            in_tx = 0;
            break;
        default:
            fprintf(stderr, "%s: unexpected message type %d\n", who, (int)sb.msgtype);
            exit(1);
        }
    }
    CHECK(who, rtr_close_channel(ch, RTR_NO_FLAGS));
    return NULL;
}

/* ---------------------------------------------------------------- client */

static void *client_main(void *arg)
{
    const uint32_t me = (uint32_t)(uintptr_t)arg;
    char who[32];
    rtr_channel_t ch;
    int committed = 0, rejected = 0;

    snprintf(who, sizeof who, "client %u", (unsigned)me);
    CHECK(who, rtr_open_channel(&ch, RTR_F_OPE_CLIENT, FACILITY, RTR_NO_RCPNAM, RTR_NO_PEVTNUM, RTR_NO_ACCESS,
                                RTR_NO_NUMSEG, RTR_NO_PKEYSEG));
    wait_opened(who, ch);

    /* Start together, so the servers see concurrent load. */
    pthread_mutex_lock(&lock);
    while (!go)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);

    for (uint32_t i = 0; i < TX_PER_CLIENT; i++) {
        struct request req;
        msgbuf_t buf;
        rtr_msgsb_t sb;
        int got_reply = 0;

        req.txno = me * TX_PER_CLIENT + i;
        req.key = (req.txno * 37) % 10000;
        /* Implicit start; the only message also carries the client's accept. */
        CHECK(who, rtr_send_to_server(ch, RTR_F_SEN_ACCEPT, &req, sizeof req, RTR_NO_MSGFMT));
        for (;;) {
            CHECK(who, receive_on(ch, &buf, WAIT_MS, &sb));
            if (sb.msgtype == rtr_mt_reply) {
                if (got_reply || sb.msglen != sizeof(struct reply) || buf.rep.txno != req.txno ||
                    buf.rep.server >= NUM_SERVERS) {
                    fprintf(stderr, "%s: tx %u: bad reply\n", who, (unsigned)req.txno);
                    exit(1);
                }
                got_reply = 1;
            } else if (sb.msgtype == rtr_mt_accepted) {
                if (!got_reply) {
                    fprintf(stderr, "%s: tx %u accepted without a reply\n", who, (unsigned)req.txno);
                    exit(1);
                }
                committed++;
                break;
            } else if (sb.msgtype == rtr_mt_rejected) {
                fprintf(stderr, "%s: tx %u rejected: %s\n", who, (unsigned)req.txno,
                        rtr_error_text(buf.status.status));
                rejected++;
                break;
            } else {
                fprintf(stderr, "%s: unexpected message type %d\n", who, (int)sb.msgtype);
                exit(1);
            }
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
    pthread_t servers[NUM_SERVERS], clients[NUM_CLIENTS];
    int server_commits = 0, exactly_once = 0, duplicates = 0, missing = 0, busy = 0;

    for (uintptr_t i = 0; i < NUM_SERVERS; i++) {
        if (pthread_create(&servers[i], NULL, server_main, (void *)i) != 0) {
            perror("pthread_create");
            return 1;
        }
    }
    /* Every server must be open before the first send. */
    pthread_mutex_lock(&lock);
    while (servers_ready < NUM_SERVERS)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);

    for (uintptr_t i = 0; i < NUM_CLIENTS; i++) {
        if (pthread_create(&clients[i], NULL, client_main, (void *)i) != 0) {
            perror("pthread_create");
            return 1;
        }
    }
    pthread_mutex_lock(&lock);
    go = 1;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
    for (int i = 0; i < NUM_CLIENTS; i++)
        pthread_join(clients[i], NULL);

    atomic_store(&stop_servers, 1);
    for (int i = 0; i < NUM_SERVERS; i++)
        pthread_join(servers[i], NULL);

    for (int t = 0; t < NUM_TX; t++) {
        if (commits_of_tx[t] == 1)
            exactly_once++;
        else if (commits_of_tx[t] == 0)
            missing++;
        else
            duplicates++;
    }
    for (int i = 0; i < NUM_SERVERS; i++) {
        fprintf(stderr, "info: server %d committed %d\n", i, commits_by_server[i]);
        server_commits += commits_by_server[i];
        busy += commits_by_server[i] > 0;
    }
    printf("clients: committed=%d rejected=%d\n", client_commits, client_rejects);
    printf("servers: committed=%d rejected=%d\n", server_commits, server_rejects);
    printf("exactly_once=%d duplicates=%d missing=%d\n", exactly_once, duplicates, missing);
    printf("several_servers=%s\n", busy > 1 ? "yes" : "no");

    return client_commits == NUM_TX && server_commits == NUM_TX && exactly_once == NUM_TX && busy > 1 ? 0 : 1;
}
