/*
 * log_callback.c: rtr_set_log_callback takes the library's diagnostics
 * instead of the program's standard error.
 *
 * The diagnostic: the embedded node cannot open its journal, because
 * RTR_JOURNAL_DIR names a directory under a regular file. The first RTR call
 * fails with a status, and the library says why once: to the callback, at
 * RTR_LOG_ERROR, with the program's context pointer. The test driver
 * (ffi/tests/c_programs.rs) also checks that nothing reached stderr.
 *
 * Output:
 *     open: NODEUNAVAIL
 *     callback: calls=1 level=ERROR ctx=ours mentions_journal=yes
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rtr.h"

struct seen {
    int calls;
    int level;
    char text[512];
};

static void on_log(int level, const char *msg, void *ctx)
{
    struct seen *s = ctx;
    /* The text is borrowed for the call only: copy it. */
    if (s->calls++ == 0) {
        s->level = level;
        snprintf(s->text, sizeof s->text, "%s", msg);
    }
}

int main(void)
{
    static struct seen seen;
    FILE *f = fopen("blocker", "w");
    if (f == NULL || fclose(f) != 0) {
        perror("blocker");
        return 1;
    }
    /* Before the first RTR call: the embedded node reads it at its start. */
    setenv("RTR_JOURNAL_DIR", "blocker/journal", 1);
    rtr_status_t s = rtr_set_log_callback(on_log, &seen);
    if (s != RTR_STS_OK) {
        fprintf(stderr, "rtr_set_log_callback: %s\n", rtr_error_text(s));
        return 1;
    }
    rtr_channel_t ch;
    s = rtr_open_channel(&ch, RTR_F_OPE_CLIENT, "LOGTEST", RTR_NO_RCPNAM, RTR_NO_PEVTNUM, RTR_NO_ACCESS,
                         RTR_NO_NUMSEG, RTR_NO_PKEYSEG);
    printf("open: %s\n", s == RTR_STS_NODEUNAVAIL ? "NODEUNAVAIL" : rtr_error_text(s));
    printf("callback: calls=%d level=%s ctx=ours mentions_journal=%s\n", seen.calls,
           seen.level == RTR_LOG_ERROR ? "ERROR" : "other", strstr(seen.text, "journal") ? "yes" : "no");
    /* NULL restores standard error. */
    if (rtr_set_log_callback(NULL, NULL) != RTR_STS_OK) {
        return 1;
    }
    return 0;
}
