#include "socket_posix.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace sockprobe {

int SetHopLimit(int fd, int family, int hops) {
  int rc;
  if (family == AF_INET)
    rc = setsockopt(fd, IPPROTO_IP, IP_TTL, &hops, sizeof(hops));
  else if (family == AF_INET6)
    rc = setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &hops, sizeof(hops));
  else
    return EAFNOSUPPORT;
  return rc == 0 ? 0 : errno;
}

int OpenSocket(int family, int* err) {
#if defined(SOCK_NONBLOCK) && defined(SOCK_CLOEXEC)
  // One syscall, no window for a fork to inherit it.
  int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) *err = errno;
  return fd;
#else
  int fd = socket(family, SOCK_STREAM, 0);
  if (fd < 0) {
    *err = errno;
    return -1;
  }
  if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
    *err = errno;
    close(fd);
    return -1;
  }
#ifdef SO_NOSIGPIPE
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof(one));
#endif
  return fd;
#endif
}

int BindSocket(int fd, const Target& local) {
  return bind(fd, reinterpret_cast<const sockaddr*>(&local.addr), local.len) == 0 ? 0 : errno;
}

int StartConnect(int fd, const Target& target) {
  int rc;
  do {
    rc = connect(fd, reinterpret_cast<const sockaddr*>(&target.addr), target.len);
  } while (rc != 0 && errno == EINTR);
  return rc == 0 ? 0 : errno;
}

void CloseSocket(int fd, uint32_t flags, int family, bool neverConnected) {
  if (fd < 0) return;
  if (!(flags & kFlagGraceful) && family != AF_UNIX && !neverConnected) {
    // Failure ignored on purpose: the worst case is a FIN and a TIME_WAIT.
    linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  }
  // Exactly once per descriptor. Not retried on EINTR: Linux has released
  // the descriptor by then, and a retry could close a number another thread
  // was just given.
  close(fd);
}

}  // namespace sockprobe
