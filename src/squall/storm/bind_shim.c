/* squall's bind shim: Storm 2.8 has no setting for the address Nimbus, the Supervisor, the
 * workers' Netty server and DevZookeeper listen on; each binds the wildcard address (every
 * interface of the machine). Preloaded into those JVMs (LD_PRELOAD, by squall.storm.bind_shim),
 * this bind() turns a wildcard bind into a bind to $SQUALL_BIND_ADDRESS (an IPv4 address), for
 * IPv4 sockets and for Java's dual-stack IPv6 ones (as the v4-mapped address). Every other
 * bind, and every bind without the variable, goes to libc's bind unchanged. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef int (*bind_fn)(int, const struct sockaddr *, socklen_t);

int bind(int fd, const struct sockaddr *addr, socklen_t len) {
    static bind_fn real_bind = NULL;
    if (real_bind == NULL) {
        real_bind = (bind_fn)dlsym(RTLD_NEXT, "bind");
        if (real_bind == NULL) {
            errno = ENOSYS;
            return -1;
        }
    }
    const char *wanted = getenv("SQUALL_BIND_ADDRESS");
    struct in_addr v4;
    if (wanted == NULL || addr == NULL || inet_pton(AF_INET, wanted, &v4) != 1) {
        return real_bind(fd, addr, len);
    }
    if (addr->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        struct sockaddr_in a;
        memcpy(&a, addr, sizeof a);
        if (a.sin_addr.s_addr == htonl(INADDR_ANY)) {
            a.sin_addr = v4;
            return real_bind(fd, (const struct sockaddr *)&a, sizeof a);
        }
    } else if (addr->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        struct sockaddr_in6 a;
        memcpy(&a, addr, sizeof a);
        if (IN6_IS_ADDR_UNSPECIFIED(&a.sin6_addr)) {
            memset(&a.sin6_addr, 0, sizeof a.sin6_addr);
            a.sin6_addr.s6_addr[10] = 0xff;
            a.sin6_addr.s6_addr[11] = 0xff;
            memcpy(&a.sin6_addr.s6_addr[12], &v4, sizeof v4);
            return real_bind(fd, (const struct sockaddr *)&a, sizeof a);
        }
    }
    return real_bind(fd, addr, len);
}
