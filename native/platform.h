// The one place the socket headers of each platform are included, and the
// few errno values the engine itself produces, spelled the way the platform
// spells them (Winsock's WSAE* numbers on Windows, <errno.h>'s elsewhere), so
// that errnoNames (module.cc) names them like the kernel's own.
//
// Descriptors stay `int` throughout the engine: on Windows a SOCKET is a
// kernel handle, whose value fits in 32 bits (handles are shareable with
// 32-bit processes by design); Sock() turns it back.
#pragma once

#ifdef _WIN32
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <winsock2.h>
#include <ws2tcpip.h>
#include <afunix.h>  // AF_UNIX stream sockets: Windows 10 1803+
#include <mstcpip.h>
#else
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
// <netinet/tcp.h> is not included here: facts_linux.cc needs <linux/tcp.h>,
// and the two cannot be included together.
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>
#endif

namespace sockprobe {

#ifdef _WIN32
using socklen_type = int;
inline SOCKET Sock(int fd) { return static_cast<SOCKET>(static_cast<unsigned>(fd)); }
// The errno of the last failed socket call.
inline int LastSocketError() { return WSAGetLastError(); }
// What a non-blocking connect() says while the handshake goes on.
constexpr int kErrInProgress = WSAEWOULDBLOCK;
constexpr int kErrInval = WSAEINVAL;
constexpr int kErrAfNoSupport = WSAEAFNOSUPPORT;
constexpr int kErrNameTooLong = WSAENAMETOOLONG;
constexpr int kErrNoSuchZone = WSAEINVAL;  // Winsock has no ENXIO
constexpr int kErrBadF = WSAENOTSOCK;
constexpr int kErrNoMem = WSAENOBUFS;
#else
using socklen_type = socklen_t;
inline int Sock(int fd) { return fd; }
inline int LastSocketError() { return errno; }
constexpr int kErrInProgress = EINPROGRESS;
constexpr int kErrInval = EINVAL;
constexpr int kErrAfNoSupport = EAFNOSUPPORT;
constexpr int kErrNameTooLong = ENAMETOOLONG;
constexpr int kErrNoSuchZone = ENXIO;
constexpr int kErrBadF = EBADF;
constexpr int kErrNoMem = ENOMEM;
#endif

}  // namespace sockprobe
