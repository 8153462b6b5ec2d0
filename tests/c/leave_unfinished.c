/* Commits one transaction on facility BANK (the quick start's) and exits
 * without finishing it at the server (no receive after the outcome), as a
 * program killed at that moment would: the next program on this journal
 * gets it presented again (rtr_mt_msg1_uncertain, then rtr_mt_accepted). */
#include <rtr.h>
#include <stdint.h>
#include <stdio.h>

static char buf[RTR_MAX_MSGLEN];

static int receive(rtr_channel_t ch, rtr_msgsb_t *sb) {
    rtr_channel_t only[] = { ch, RTR_CHAN_ENDLIST }, from;
    return rtr_receive_message(&from, RTR_NO_FLAGS, only, buf, sizeof buf, 5000, sb) == RTR_STS_OK;
}

int main(void) {
    rtr_channel_t srv, cli;
    rtr_msgsb_t sb;
    uint32_t lo = 0, hi = 999, account = 7;
    rtr_keyseg_t key = { rtr_keyseg_unsigned, 4, 0, &lo, &hi };
    if (rtr_open_channel(&srv, RTR_F_OPE_SERVER, "BANK", RTR_NO_RCPNAM, RTR_NO_PEVTNUM, RTR_NO_ACCESS, 1, &key) !=
            RTR_STS_OK ||
        !receive(srv, &sb) || sb.msgtype != rtr_mt_opened)
        return 1;
    if (rtr_open_channel(&cli, RTR_F_OPE_CLIENT, "BANK", RTR_NO_RCPNAM, RTR_NO_PEVTNUM, RTR_NO_ACCESS,
                         RTR_NO_NUMSEG, RTR_NO_PKEYSEG) != RTR_STS_OK ||
        !receive(cli, &sb) || sb.msgtype != rtr_mt_opened)
        return 1;
    if (rtr_send_to_server(cli, RTR_F_SEN_ACCEPT, &account, sizeof account, RTR_NO_MSGFMT) != RTR_STS_OK)
        return 1;
    if (!receive(srv, &sb) || sb.msgtype != rtr_mt_msg1) /* the message */
        return 1;
    if (!receive(srv, &sb) || sb.msgtype != rtr_mt_accepted) /* the vote (implicit), then the outcome */
        return 1;
    if (!receive(cli, &sb) || sb.msgtype != rtr_mt_accepted)
        return 1;
    printf("left unfinished\n");
    return 0; /* no receive on srv: the transaction stays unfinished there */
}
