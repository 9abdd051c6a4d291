// The few socket calls a probe makes: socket_posix.cc (Linux, macOS) and
// socket_win.cc (Winsock) implement them. Each returns what the kernel said;
// nothing here decides what it means. Errors are the platform's own numbers.
#pragma once

#include <cstdint>

#include "address.h"

namespace sockprobe {

// Bits of start()'s `flags` (src/binding.ts has the same values).
constexpr uint32_t kFlagGraceful = 1;   // close with FIN instead of RST
constexpr uint32_t kFlagNoRecvErr = 2;  // do not ask for the ICMP error queue
constexpr uint32_t kFlagKeep = 4;       // hand a connected socket to JavaScript

// A non-blocking close-on-exec stream socket; -1 with *err set on failure.
int OpenSocket(int family, int* err);

// bind(); 0 or errno.
int BindSocket(int fd, const Target& local);

// IP_TTL / IPV6_UNICAST_HOPS: the hop limit of the probe's SYNs (trace());
// 0 or errno (EAFNOSUPPORT for a Unix socket).
int SetHopLimit(int fd, int family, int hops);

// connect(), retried on EINTR: 0 (connected at once), kErrInProgress
// (platform.h: EINPROGRESS, WSAEWOULDBLOCK on Windows), or errno.
int StartConnect(int fd, const Target& target);

// Closes a probe's descriptor: RST (SO_LINGER {1,0}) unless FIN was asked for,
// so the probing side keeps no TIME_WAIT. `neverConnected` (failed, or still
// in SYN_SENT) saves the linger: the kernel closes such a socket without a
// FIN, an RST or a TIME_WAIT either way.
void CloseSocket(int fd, uint32_t flags, int family, bool neverConnected);

}  // namespace sockprobe
