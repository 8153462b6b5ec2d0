/*
 * peer_main.c: the C peers of peers.c as a stand-alone program, linked with
 * librtr, for tests across processes through the node daemon
 * (RTR_NODE_SOCKET):
 *     peer server FACILITY COUNT      serve keys 0..99 until COUNT outcomes
 *     peer client FACILITY KEY COUNT  run COUNT transactions against a Python server
 * Prints "served N" / "committed N" and exits 0 when all went well.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int c_server(const char *facility, uint32_t lo, uint32_t hi, int max_tx, char *err, size_t errlen);
int c_client(const char *facility, uint32_t key, int n, char *err, size_t errlen);

int main(int argc, char **argv)
{
    char err[512] = "";
    if (argc == 4 && strcmp(argv[1], "server") == 0) {
        int want = atoi(argv[3]);
        int n = c_server(argv[2], 0, 99, want, err, sizeof err);
        printf("served %d\n", n);
        if (n != want)
            fprintf(stderr, "server: %s\n", err);
        return n == want ? 0 : 1;
    }
    if (argc == 5 && strcmp(argv[1], "client") == 0) {
        int want = atoi(argv[4]);
        int n = c_client(argv[2], (uint32_t)strtoul(argv[3], NULL, 10), want, err, sizeof err);
        printf("committed %d\n", n);
        if (n != want)
            fprintf(stderr, "client: %s\n", err);
        return n == want ? 0 : 1;
    }
    fprintf(stderr, "usage: peer server FACILITY COUNT | peer client FACILITY KEY COUNT\n");
    return 2;
}
