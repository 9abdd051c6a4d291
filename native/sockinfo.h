// Raw socket facts: address parsing and formatting, the ICMP error queue and
// TCP_INFO. Plain C++ with no N-API in it, so it can be read (and fuzzed) on
// its own. Nothing here interprets what the kernel said; that is TypeScript's job.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>
#include <cstdint>
#include <string>

namespace sockprobe {

struct Target {
  sockaddr_storage addr;
  socklen_t len;
  int family;  // AF_INET, AF_INET6 or AF_UNIX
};

// Fills `out` from a numeric address (v4, v6 with an optional %zone) or a Unix
// path. Returns 0 or an errno value (EINVAL, ENAMETOOLONG, ENXIO for an unknown zone).
int ParseTarget(int family, const std::string& address, int port, Target* out);

// Numeric form of a socket address; Unix addresses give their path.
std::string FormatAddress(const sockaddr* sa, socklen_t len, int* port);

// One entry read from the socket's error queue (Linux IP_RECVERR/IPV6_RECVERR).
struct IcmpReport {
  bool present = false;
  int err = 0;     // ee_errno
  int origin = 0;  // SO_EE_ORIGIN_*
  int type = 0;
  int code = 0;
  uint32_t info = 0;
  std::string offender;  // empty when the kernel named none
};

// Subset of struct tcp_info that sockprobe reports. `valid` is false when the
// platform has no TCP_INFO or the call failed; `bytes` is how much the kernel filled.
struct TcpInfo {
  bool valid = false;
  unsigned bytes = 0;
  unsigned state = 0;
  unsigned caState = 0;
  unsigned retransmits = 0;
  unsigned probes = 0;
  unsigned backoff = 0;
  unsigned options = 0;
  unsigned rto = 0;
  unsigned sndMss = 0;
  unsigned rcvMss = 0;
  unsigned unacked = 0;
  unsigned lost = 0;
  unsigned retrans = 0;
  unsigned rtt = 0;
  unsigned rttvar = 0;
  unsigned sndCwnd = 0;
  unsigned totalRetrans = 0;
};

// Asks the kernel to queue ICMP errors for this socket. Returns 0 or errno;
// a no-op returning 0 where the platform has no such option.
int EnableErrorQueue(int fd, int family);

// Reads (and so removes) the first entry of the error queue, if any.
IcmpReport ReadErrorQueue(int fd);

TcpInfo ReadTcpInfo(int fd);

// One field of the kernel's struct tcp_info, named as in <linux/tcp.h> without
// the tcpi_ prefix. Only fields the running kernel filled are listed.
struct TcpInfoField {
  const char* name = nullptr;
  uint64_t value = 0;
};

// The kernel's full struct tcp_info (<linux/tcp.h>, longer than glibc's):
// `bytes` is how much the kernel filled, `err` the errno of a failed call.
struct KernelTcpInfo {
  int err = 0;
  unsigned bytes = 0;
  unsigned count = 0;
  TcpInfoField fields[64];
};

// Fills `out` with the fields that lie wholly inside what the kernel wrote.
// Sets err (ENOPROTOOPT where the platform has no TCP_INFO).
void ReadKernelTcpInfo(int fd, KernelTcpInfo* out);

// Bytes in the socket's queues (Linux SIOCOUTQ / SIOCOUTQNSD / SIOCINQ): each
// is -1 when the ioctl failed (it does for a listening socket, or off Linux).
struct Queues {
  long long send = -1;     // written, not yet acknowledged by the peer
  long long notSent = -1;  // written, not yet sent
  long long recv = -1;     // received, not yet read by the application
};

Queues ReadQueues(int fd);

}  // namespace sockprobe
