/*
 * floor.c - the benchmark floor: a minimal libpcap read loop that hands
 * every packet of a capture file to a callback that does nothing.  No flow
 * meter can read a file through libpcap faster than this.
 */
#include <pcap/pcap.h>
#include <stdio.h>

static void nothing(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
    (void)h;
    (void)bytes;
    (*(unsigned long long *)user)++;
}

int main(int argc, char **argv)
{
    char err[PCAP_ERRBUF_SIZE];
    if (argc != 2) {
        fprintf(stderr, "usage: floor FILE.pcap\n");
        return 2;
    }
    pcap_t *p = pcap_open_offline(argv[1], err);
    if (!p) {
        fprintf(stderr, "floor: %s\n", err);
        return 1;
    }
    unsigned long long n = 0;
    while (pcap_dispatch(p, 4096, nothing, (u_char *)&n) > 0)
        ;
    pcap_close(p);
    printf("%llu\n", n);
    return 0;
}
