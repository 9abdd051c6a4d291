// Facts: what the kernel says about a socket, read by one function each. One
// implementation per platform: facts_posix.cc (Linux and macOS) with
// facts_linux.cc or facts_darwin.cc, and facts_win.cc. Nothing here interprets what
// the kernel said, and nothing invents a value it did not give: a fact the
// platform cannot read is marked absent (`present`/`valid` false, -1).
#pragma once

#include <cstdint>
#include <string>

#include "platform.h"
#include "record.h"

namespace sockprobe {

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

// Indices of SOCKPROBE_TCP_FIELDS, for TcpInfo::absent.
enum TcpField {
#define SOCKPROBE_X(name, tcpi) kTcp_##name,
  SOCKPROBE_TCP_FIELDS(SOCKPROBE_X)
#undef SOCKPROBE_X
  kTcpFieldCount
};
static_assert(kTcpFieldCount <= 32, "TcpInfo::absent has 32 bits");

// The TCP_INFO fields of record.h, in Linux's units and with Linux's state
// numbers (below): macOS (TCP_CONNECTION_INFO) and Windows (SIO_TCP_INFO)
// translate what they have. `valid` is false when the platform has no such
// call or it failed; `bytes` is how much of the struct the kernel filled.
// A field the platform's struct does not have is set in `absent` (bit
// 1 << kTcp_name): the record carries NaN for it, never 0.
struct TcpInfo {
  bool valid = false;
  unsigned bytes = 0;
  uint32_t absent = 0;
#define SOCKPROBE_X(name, tcpi) unsigned name = 0;
  SOCKPROBE_TCP_FIELDS(SOCKPROBE_X)
#undef SOCKPROBE_X
  bool Has(TcpField f) const { return (absent & (1u << f)) == 0; }
};

// Linux's TCP states (include/net/tcp_states.h, stable since 2.6): the
// numbering TcpInfo::state uses on every platform.
enum LinuxTcpState : unsigned {
  kTcpEstablished = 1,
  kTcpSynSent = 2,
  kTcpSynRecv = 3,
  kTcpFinWait1 = 4,
  kTcpFinWait2 = 5,
  kTcpTimeWait = 6,
  kTcpClose = 7,
  kTcpCloseWait = 8,
  kTcpLastAck = 9,
  kTcpListen = 10,
  kTcpClosing = 11,
};

// The kernel's TCP states this layer needs to tell progress from an answer.
enum class TcpProgress { kUnknown, kSynSent, kConnected, kClosed };

// SO_ERROR, read (and so cleared). Returns 0 or the pending errno; `*readErr`
// gets the errno of a failed getsockopt itself (0 when it worked).
int ReadSoError(int fd, int* readErr);

// SO_SNDBUF and SO_RCVBUF, -1 each when unreadable.
void ReadBuffers(int fd, int* sndbuf, int* rcvbuf);

// getsockname() in numeric form; false when it failed.
bool ReadLocalAddress(int fd, std::string* address, int* port);

// getpeername() succeeded: the socket is connected.
bool HasPeer(int fd);

// Asks the kernel to queue ICMP errors for this socket (Linux IP_RECVERR;
// Windows TCP_FAIL_CONNECT_ON_ICMP_ERROR, quietly skipped where missing).
// Returns 0 or errno; a no-op returning 0 where the platform has no such option (macOS).
int EnableErrorQueue(int fd, int family);

// Reads (and so removes) the first entry of the error queue, if any
// (Windows: TCP_ICMP_ERROR_INFO, the last ICMP error of a failed connect).
IcmpReport ReadErrorQueue(int fd);

TcpInfo ReadTcpInfo(int fd);

// Where a TCP handshake is, from TCP_INFO's state (kUnknown when `tcp` is not
// valid or has no state).
inline TcpProgress Progress(const TcpInfo& tcp) {
  if (!tcp.valid || !tcp.Has(kTcp_state)) return TcpProgress::kUnknown;
  switch (tcp.state) {
    case kTcpSynSent:
      return TcpProgress::kSynSent;
    case kTcpClose:
      return TcpProgress::kClosed;
    default:
      // Anything past SYN_SENT: the handshake completed (the peer may have
      // closed or reset since; SO_ERROR and the checks after it say so).
      return TcpProgress::kConnected;
  }
}

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

// The neighbour (ARP / NDP) entry of the route's next hop towards a
// destination, as the kernel's routing and neighbour tables give it now
// (Linux: RTM_GETROUTE, then RTM_GETNEIGH, over a short-lived non-blocking
// NETLINK_ROUTE socket). `present` false: not read (no such platform, a failed
// or unanswered request); nothing is guessed to fill a gap.
struct NextHopNeighbour {
  bool present = false;   // the route was read
  bool entry = false;     // a neighbour entry exists for the next hop
  bool noEntry = false;   // the kernel said there is none (ENOENT); both false: unreadable
  bool gateway = false;   // the route names a gateway (the next hop); else on-link
  int ifindex = 0;
  std::string interfaceName;  // empty when if_indextoname failed
  std::string address;        // the next hop: the gateway, or the destination itself
  int state = 0;              // ndm_state (NUD_* bits), when `entry`
  long long probes = -1;      // NDA_PROBES, -1 when not given
  long long updatedMs = -1;   // since the entry last changed state (NDA_CACHEINFO), -1 when not given
  long long retransMs = -1;   // the interface's neigh retrans_time_ms, -1 when unreadable
};

// `dst` is an AF_INET or AF_INET6 address; anything else reads nothing.
// `fd` (or -1) is the probe's socket: the route is looked up as the kernel
// routes that socket's packets (its source address, SO_MARK, bound device,
// owner), so policy routing (ip rule) picks the same next hop. A local
// destination (loopback, an address of this host) has no neighbour: nothing
// is read (`present` stays false).
// Bounded: every call is non-blocking, and a reply not already queued when
// looked for counts as no answer.
NextHopNeighbour ReadNextHopNeighbour(const sockaddr* dst, int fd);

}  // namespace sockprobe
