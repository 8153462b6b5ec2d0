/*
 * info.c: rtr_request_info and rtr_set_info as a legacy management program
 * uses them, on the embedded node (or a node daemon: RTR_NODE_SOCKET).
 *
 * It serves a key range itself, finds its partition with rtr_request_info,
 * suspends it with rtr_set_info (a transaction sent meanwhile is held),
 * resumes it (the transaction arrives), and checks the statuses of NULL
 * pointers and bad arguments.
 *
 * Output (checked by ffi/tests/c_programs.rs):
 *     request_info: records=1 state=active format=ok closed=OK
 *     set_info: suspend=OK state=suspended held=yes resume=OK released=yes nosuch=INVOBJCT
 *     bad_input: checks=27 failures=0
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rtr.h"

#define FACILITY "TEST_INFO"

static int checks;
static int failures;

static void check(const char *what, rtr_status_t s)
{
    if (s != RTR_STS_OK) {
        fprintf(stderr, "%s: %s\n", what, rtr_error_text(s));
        exit(1);
    }
}

static void expect(const char *what, rtr_status_t got, rtr_status_t want)
{
    checks++;
    if (got != want) {
        failures++;
        fprintf(stderr, "%s: got %d (%s), want %d (%s)\n", what, got, rtr_error_text(got), want,
                rtr_error_text(want));
    }
}

static const char *status_name(rtr_status_t s)
{
    switch (s) {
    case RTR_STS_OK:
        return "OK";
    case RTR_STS_INVOBJCT:
        return "INVOBJCT";
    case RTR_STS_INVQUALIFIER:
        return "INVQUALIFIER";
    case RTR_STS_NODEUNAVAIL:
        return "NODEUNAVAIL";
    default:
        return "OTHER";
    }
}

static char buf[RTR_MAX_MSGLEN];

/* Receive the next message of `ch` (at most 5 s). */
static rtr_msgsb_t receive(rtr_channel_t ch, rtr_timout_t ms)
{
    rtr_msgsb_t sb;
    rtr_channel_t list[] = { ch, RTR_CHAN_ENDLIST };
    rtr_channel_t from;
    rtr_status_t s = rtr_receive_message(&from, RTR_NO_FLAGS, list, buf, sizeof buf, ms, &sb);
    if (s == RTR_STS_TIMOUT) {
        sb.msgtype = (rtr_msg_type_t)0;
        return sb;
    }
    check("rtr_receive_message", s);
    return sb;
}

/* The value of `item` in the record in buf, copied to out; 0 if absent. */
static int item(const char *item, char *out, size_t size)
{
    size_t n = strlen(item);
    const char *p = buf;
    while (p && *p) {
        if (strncmp(p, item, n) == 0 && p[n] == '=') {
            const char *v = p + n + 1;
            size_t len = strcspn(v, "\n");
            if (len >= size) {
                return 0;
            }
            memcpy(out, v, len);
            out[len] = '\0';
            return 1;
        }
        p = strchr(p, '\n');
        if (p) {
            p++;
        }
    }
    return 0;
}

/* The state of our partition, through rtr_request_info. */
static void partition(char *id, size_t id_size, char *state, size_t state_size, int *records, rtr_status_t *closed)
{
    rtr_channel_t ch;
    check("rtr_request_info",
          rtr_request_info(&ch, RTR_NO_FLAGS, RTR_INFCLA_PARTITION, "fac_name", FACILITY, "prt_id, state"));
    *records = 0;
    for (;;) {
        rtr_msgsb_t sb = receive(ch, 5000);
        if (sb.msgtype == rtr_mt_closed) {
            *closed = ((rtr_status_data_t *)buf)->status;
            break;
        }
        if (sb.msgtype != rtr_mt_request_info) {
            fprintf(stderr, "unexpected message type %d on the information channel\n", (int)sb.msgtype);
            exit(1);
        }
        (*records)++;
        if (sb.msglen == 0 || buf[sb.msglen - 1] != '\0' || !item("prt_id", id, id_size) ||
            !item("state", state, state_size)) {
            fprintf(stderr, "bad record (%u bytes): %s\n", (unsigned)sb.msglen, buf);
            exit(1);
        }
    }
    /* After rtr_mt_closed only rtr_close_channel is valid. */
    expect("rtr_accept_tx on a closed information channel", rtr_accept_tx(ch, RTR_NO_FLAGS, RTR_NO_REASON),
           RTR_STS_CHANCLOSED);
    check("rtr_close_channel (info)", rtr_close_channel(ch, RTR_NO_FLAGS));
}

/* rtr_set_info on our partition; returns the status of its rtr_mt_closed. */
static rtr_status_t set_partition(const char *id, rtr_qualifier_t what)
{
    rtr_channel_t ch;
    rtr_qualifier_value_t select[] = {
        { rtr_facility_name, FACILITY },
        { rtr_partition_name, id },
        { rtr_qualifier_end, NULL },
    };
    rtr_qualifier_value_t set[] = {
        { rtr_partition_fail_to_standby, NULL },
        { what, NULL },
        { rtr_qualifier_end, NULL },
    };
    check("rtr_set_info", rtr_set_info(&ch, RTR_NO_FLAGS, verb_set, rtr_partition_object, select, set));
    rtr_msgsb_t sb = receive(ch, 5000);
    if (sb.msgtype != rtr_mt_closed || sb.msglen != sizeof(rtr_status_data_t)) {
        fprintf(stderr, "rtr_set_info: expected rtr_mt_closed, got %d\n", (int)sb.msgtype);
        exit(1);
    }
    rtr_status_t result = ((rtr_status_data_t *)buf)->status;
    check("rtr_close_channel (set)", rtr_close_channel(ch, RTR_NO_FLAGS));
    return result;
}

static void bad_input(const char *id)
{
    rtr_channel_t ch = 0;
    char long_value[RTR_MAX_SELVAL_LEN + 2];
    memset(long_value, 'x', sizeof long_value - 1);
    long_value[sizeof long_value - 1] = '\0';

    expect("request_info NULL pchannel", rtr_request_info(NULL, RTR_NO_FLAGS, "prt", NULL, NULL, NULL),
           RTR_STS_INVPTR);
    expect("request_info NULL infcla", rtr_request_info(&ch, RTR_NO_FLAGS, NULL, NULL, NULL, NULL), RTR_STS_INVPTR);
    expect("request_info flags", rtr_request_info(&ch, 1, "prt", NULL, NULL, NULL), RTR_STS_INVFLAGS);
    expect("request_info class", rtr_request_info(&ch, RTR_NO_FLAGS, "xyz", NULL, NULL, NULL), RTR_STS_INVSELITM);
    expect("request_info selitm", rtr_request_info(&ch, RTR_NO_FLAGS, "prt", "bogus", "1", NULL),
           RTR_STS_INVSELITM);
    expect("request_info getitms", rtr_request_info(&ch, RTR_NO_FLAGS, "prt", NULL, NULL, "state,bogus"),
           RTR_STS_INVSELITM);
    expect("request_info long selval", rtr_request_info(&ch, RTR_NO_FLAGS, "prt", "state", long_value, NULL),
           RTR_STS_INVSELITM);
    expect("request_info wrote nothing on failure", ch == 0 ? RTR_STS_OK : RTR_STS_INTERNAL, RTR_STS_OK);
    long_value[RTR_MAX_SELVAL_LEN] = '\0';
    expect("request_info longest selval", rtr_request_info(&ch, RTR_NO_FLAGS, "prt", "state", long_value, NULL),
           RTR_STS_OK);
    check("rtr_close_channel", rtr_close_channel(ch, RTR_NO_FLAGS));

    rtr_qualifier_value_t select[] = {
        { rtr_facility_name, FACILITY },
        { rtr_partition_name, id },
        { rtr_qualifier_end, NULL },
    };
    rtr_qualifier_value_t no_partition[] = {
        { rtr_facility_name, FACILITY },
        { rtr_qualifier_end, NULL },
    };
    rtr_qualifier_value_t bad_name[] = {
        { rtr_facility_name, FACILITY },
        { rtr_partition_name, "first" },
        { rtr_qualifier_end, NULL },
    };
    rtr_qualifier_value_t bad_facility[] = {
        { rtr_facility_name, "9LIVES" },
        { rtr_partition_name, id },
        { rtr_qualifier_end, NULL },
    };
    rtr_qualifier_value_t resume[] = { { rtr_partition_state_resume, NULL }, { rtr_qualifier_end, NULL } };
    rtr_qualifier_value_t empty[] = { { rtr_qualifier_end, NULL } };
    rtr_qualifier_value_t unknown[] = { { (rtr_qualifier_t)99, NULL }, { rtr_qualifier_end, NULL } };
    rtr_uns_32_t zero = 0;
    rtr_qualifier_value_t retry_zero[] = { { rtr_partition_rcvy_retry_count, &zero }, { rtr_qualifier_end, NULL } };
    rtr_qualifier_value_t retry_null[] = { { rtr_partition_rcvy_retry_count, NULL }, { rtr_qualifier_end, NULL } };
    rtr_qualifier_value_t both[] = {
        { rtr_partition_state_suspend, NULL },
        { rtr_partition_state_resume, NULL },
        { rtr_qualifier_end, NULL },
    };
    rtr_qualifier_value_t pre32[] = { { rtr_partition_pre32_compatible, NULL }, { rtr_qualifier_end, NULL } };
    /* 70 entries and no end marker within the 65 the library reads. */
    rtr_qualifier_value_t endless[70];
    for (size_t i = 0; i < sizeof endless / sizeof endless[0]; i++) {
        endless[i].qualifier = rtr_partition_state_resume;
        endless[i].pvalue = NULL;
    }
    endless[69].qualifier = rtr_qualifier_end;

    ch = 0;
    expect("set_info NULL pchannel", rtr_set_info(NULL, RTR_NO_FLAGS, verb_set, rtr_partition_object, select, resume),
           RTR_STS_INVPTR);
    expect("set_info NULL select", rtr_set_info(&ch, RTR_NO_FLAGS, verb_set, rtr_partition_object, NULL, resume),
           RTR_STS_INVPTR);
    expect("set_info NULL set", rtr_set_info(&ch, RTR_NO_FLAGS, verb_set, rtr_partition_object, select, NULL),
           RTR_STS_INVPTR);
    expect("set_info flags", rtr_set_info(&ch, 1, verb_set, rtr_partition_object, select, resume), RTR_STS_INVFLAGS);
    expect("set_info verb", rtr_set_info(&ch, RTR_NO_FLAGS, (rtr_verb_t)0, rtr_partition_object, select, resume),
           RTR_STS_INVOBJCT);
    expect("set_info object", rtr_set_info(&ch, RTR_NO_FLAGS, verb_set, (rtr_managed_object_t)99, select, resume),
           RTR_STS_INVOBJCT);
    expect("set_info no partition name",
           rtr_set_info(&ch, RTR_NO_FLAGS, verb_set, rtr_partition_object, no_partition, resume), RTR_STS_INVSELITM);
    expect("set_info partition name", rtr_set_info(&ch, RTR_NO_FLAGS, verb_set, rtr_partition_object, bad_name, resume),
           RTR_STS_INVSELITM);
    expect("set_info facility", rtr_set_info(&ch, RTR_NO_FLAGS, verb_set, rtr_partition_object, bad_facility, resume),
           RTR_STS_INVFACNAM);
    expect("set_info endless select", rtr_set_info(&ch, RTR_NO_FLAGS, verb_set, rtr_partition_object, endless, resume),
           RTR_STS_INVSELITM);
    expect("set_info endless set", rtr_set_info(&ch, RTR_NO_FLAGS, verb_set, rtr_partition_object, select, endless),
           RTR_STS_INVQUALIFIER);
    expect("set_info no change", rtr_set_info(&ch, RTR_NO_FLAGS, verb_set, rtr_partition_object, select, empty),
           RTR_STS_INVQUALIFIER);
    expect("set_info unknown", rtr_set_info(&ch, RTR_NO_FLAGS, verb_set, rtr_partition_object, select, unknown),
           RTR_STS_INVQUALIFIER);
    expect("set_info retry 0", rtr_set_info(&ch, RTR_NO_FLAGS, verb_set, rtr_partition_object, select, retry_zero),
           RTR_STS_INVQUALIFIER);
    expect("set_info retry NULL", rtr_set_info(&ch, RTR_NO_FLAGS, verb_set, rtr_partition_object, select, retry_null),
           RTR_STS_INVQUALIFIER);
    expect("set_info suspend+resume", rtr_set_info(&ch, RTR_NO_FLAGS, verb_set, rtr_partition_object, select, both),
           RTR_STS_INVQUALIFIER);
    expect("set_info pre32", rtr_set_info(&ch, RTR_NO_FLAGS, verb_set, rtr_partition_object, select, pre32),
           RTR_STS_UNSUPPORTED);
    expect("set_info wrote nothing on failure", ch == 0 ? RTR_STS_OK : RTR_STS_INTERNAL, RTR_STS_OK);
}

int main(void)
{
    rtr_channel_t server, client;
    rtr_uns_32_t lo = 0, hi = 99;
    rtr_keyseg_t ks = { rtr_keyseg_unsigned, 4, 0, &lo, &hi };
    check("open server", rtr_open_channel(&server, RTR_F_OPE_SERVER, FACILITY, RTR_NO_RCPNAM, RTR_NO_PEVTNUM,
                                          RTR_NO_ACCESS, 1, &ks));
    if (receive(server, 5000).msgtype != rtr_mt_opened) {
        fprintf(stderr, "the server channel did not open\n");
        return 1;
    }
    check("open client", rtr_open_channel(&client, RTR_F_OPE_CLIENT, FACILITY, RTR_NO_RCPNAM, RTR_NO_PEVTNUM,
                                          RTR_NO_ACCESS, RTR_NO_NUMSEG, RTR_NO_PKEYSEG));
    if (receive(client, 5000).msgtype != rtr_mt_opened) {
        fprintf(stderr, "the client channel did not open\n");
        return 1;
    }

    char id[32], state[32];
    int records;
    rtr_status_t closed;
    partition(id, sizeof id, state, sizeof state, &records, &closed);
    printf("request_info: records=%d state=%s format=ok closed=%s\n", records, state, status_name(closed));

    rtr_status_t suspend = set_partition(id, rtr_partition_state_suspend);
    partition(id, sizeof id, state, sizeof state, &records, &closed);
    uint32_t key = 7;
    check("rtr_send_to_server", rtr_send_to_server(client, RTR_F_SEN_ACCEPT, &key, sizeof key, RTR_NO_MSGFMT));
    int held = receive(server, 300).msgtype == 0;
    rtr_status_t resume = set_partition(id, rtr_partition_state_resume);
    int released = receive(server, 5000).msgtype == rtr_mt_msg1;
    rtr_status_t nosuch = set_partition("424242", rtr_partition_state_resume);
    /* A failover policy is a shadow partition's: this one is not shadowed,
       so it cannot fail over to a shadow (fail_to_standby, given first by
       set_partition, is accepted: a standby takes over, as always). */
    expect("set_info fail_to_shadow on a partition not shadowed", set_partition(id, rtr_partition_fail_to_shadow),
           RTR_STS_UNSUPPORTED);
    printf("set_info: suspend=%s state=%s held=%s resume=%s released=%s nosuch=%s\n", status_name(suspend), state,
           held ? "yes" : "no", status_name(resume), released ? "yes" : "no", status_name(nosuch));

    bad_input(id);
    printf("bad_input: checks=%d failures=%d\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
