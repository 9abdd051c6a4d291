// The few socket calls a probe makes, Winsock (socket_posix.h's interface).
// Each returns what the kernel said; nothing here decides what it means.
// Winsock itself is initialised by libuv (Node) before any addon loads.
#ifdef _WIN32

#include "socket_posix.h"

#include "platform.h"

namespace sockprobe {

int SetHopLimit(int fd, int family, int hops) {
  int rc;
  const char* value = reinterpret_cast<const char*>(&hops);
  if (family == AF_INET)
    rc = setsockopt(Sock(fd), IPPROTO_IP, IP_TTL, value, sizeof(hops));
  else if (family == AF_INET6)
    rc = setsockopt(Sock(fd), IPPROTO_IPV6, IPV6_UNICAST_HOPS, value, sizeof(hops));
  else
    return kErrAfNoSupport;
  return rc == 0 ? 0 : LastSocketError();
}

int OpenSocket(int family, int* err) {
  // Not inherited by child processes; overlapped, as libuv's poll needs.
  SOCKET s = WSASocketW(family, SOCK_STREAM, 0, nullptr, 0, WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
  if (s == INVALID_SOCKET) {
    *err = LastSocketError();
    return -1;
  }
  u_long nonBlocking = 1;
  if (ioctlsocket(s, FIONBIO, &nonBlocking) != 0) {
    *err = LastSocketError();
    closesocket(s);
    return -1;
  }
  return static_cast<int>(s);
}

int BindSocket(int fd, const Target& local) {
  return bind(Sock(fd), reinterpret_cast<const sockaddr*>(&local.addr), local.len) == 0 ? 0 : LastSocketError();
}

// A non-blocking connect() says WSAEWOULDBLOCK (kErrInProgress) while the
// handshake goes on; Winsock has no EINTR to retry.
int StartConnect(int fd, const Target& target) {
  int rc = connect(Sock(fd), reinterpret_cast<const sockaddr*>(&target.addr), target.len);
  return rc == 0 ? 0 : LastSocketError();
}

void CloseSocket(int fd, uint32_t flags, int family, bool neverConnected) {
  if (fd < 0) return;
  if (!(flags & kFlagGraceful) && family != AF_UNIX && !neverConnected) {
    // As on POSIX: an abortive close (RST), so the probing side keeps no TIME_WAIT.
    linger lg = {1, 0};
    setsockopt(Sock(fd), SOL_SOCKET, SO_LINGER, reinterpret_cast<const char*>(&lg), sizeof(lg));
  }
  closesocket(Sock(fd));
}

}  // namespace sockprobe

#endif  // _WIN32
