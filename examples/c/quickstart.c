/* The README's C quick start: a server and a client channel in one
 * program, one transaction. (Kept in step with README.md.) */
#include <rtr.h>
#include <stdint.h>
#include <stdio.h>

int main(void) {
    rtr_channel_t srv, cli, ch;
    rtr_msgsb_t sb;
    char buf[RTR_MAX_MSGLEN];
    uint32_t lo = 0, hi = 999;
    rtr_keyseg_t key = { rtr_keyseg_unsigned, 4, 0, &lo, &hi };  /* 4-byte key at offset 0 */

    rtr_open_channel(&srv, RTR_F_OPE_SERVER, "BANK", RTR_NO_RCPNAM, RTR_NO_PEVTNUM,
                     RTR_NO_ACCESS, 1, &key);
    rtr_channel_t srv_only[] = { srv, RTR_CHAN_ENDLIST };
    rtr_receive_message(&ch, RTR_NO_FLAGS, srv_only, buf, sizeof buf, 1000, &sb); /* rtr_mt_opened */
    rtr_open_channel(&cli, RTR_F_OPE_CLIENT, "BANK", RTR_NO_RCPNAM, RTR_NO_PEVTNUM,
                     RTR_NO_ACCESS, RTR_NO_NUMSEG, RTR_NO_PKEYSEG);
    rtr_channel_t cli_only[] = { cli, RTR_CHAN_ENDLIST };
    rtr_receive_message(&ch, RTR_NO_FLAGS, cli_only, buf, sizeof buf, 1000, &sb); /* rtr_mt_opened */

    uint32_t account = 42;                                /* the key */
    rtr_send_to_server(cli, RTR_F_SEN_ACCEPT, &account, sizeof account, RTR_NO_MSGFMT);
    rtr_receive_message(&ch, RTR_NO_FLAGS, srv_only, buf, sizeof buf, 1000, &sb); /* rtr_mt_msg1 */
    /* ... apply the work; receiving again is the server's (implicit) accept ... */
    rtr_receive_message(&ch, RTR_NO_FLAGS, srv_only, buf, sizeof buf, 1000, &sb); /* rtr_mt_accepted */
    rtr_receive_message(&ch, RTR_NO_FLAGS, cli_only, buf, sizeof buf, 1000, &sb);
    printf("%s\n", sb.msgtype == rtr_mt_accepted ? "committed" : "rejected");
    return 0;
}
