/* addr.c - the text form of an address (addr.h). */
#include "addr.h"

#include <arpa/inet.h>

const char *ipaddr_str(const struct ipaddr *a, int ipver, char *buf, size_t len)
{
    if (!inet_ntop(ipver == 6 ? AF_INET6 : AF_INET, a->b, buf, (socklen_t)len))
        buf[0] = '\0';
    return buf;
}
