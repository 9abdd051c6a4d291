// Facts, Linux: what the kernel says about a probe's socket. SO_ERROR, the
// buffers, the local address, the ICMP error queue (IP_RECVERR), TCP_INFO and
// the queue sizes. Each function reads and reports; none interprets, and none
// makes up a value the kernel did not give.
#include "facts.h"

#include <errno.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <cstddef>
#include <cstring>

#include <linux/errqueue.h>
#include <linux/sock_diag.h>
#include <linux/sockios.h>
// The kernel's struct tcp_info: glibc's <netinet/tcp.h> copy stops early, and
// the two cannot be included together.
#include <linux/tcp.h>

#include "address.h"

namespace sockprobe {

int ReadSoError(int fd, int* readErr) {
  int value = 0;
  socklen_t len = sizeof(value);
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &len) != 0) {
    *readErr = errno;
    return 0;
  }
  *readErr = 0;
  return value;
}

namespace {
int SockOptInt(int fd, int level, int name) {
  int value = 0;
  socklen_t len = sizeof(value);
  if (getsockopt(fd, level, name, &value, &len) != 0) return -1;
  return value;
}
}  // namespace

void ReadBuffers(int fd, int* sndbuf, int* rcvbuf) {
#ifdef SO_MEMINFO
  // Both in one call (Linux 4.12+): SO_MEMINFO's SNDBUF and RCVBUF slots are
  // the same sk_sndbuf and sk_rcvbuf that SO_SNDBUF and SO_RCVBUF read.
  uint32_t mem[SK_MEMINFO_VARS];
  socklen_t len = sizeof(mem);
  if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mem, &len) == 0 && len >= (SK_MEMINFO_SNDBUF + 1) * sizeof(uint32_t)) {
    *sndbuf = static_cast<int>(mem[SK_MEMINFO_SNDBUF]);
    *rcvbuf = static_cast<int>(mem[SK_MEMINFO_RCVBUF]);
    return;
  }
#endif
  *sndbuf = SockOptInt(fd, SOL_SOCKET, SO_SNDBUF);
  *rcvbuf = SockOptInt(fd, SOL_SOCKET, SO_RCVBUF);
}

bool ReadLocalAddress(int fd, std::string* address, int* port) {
  sockaddr_storage local;
  socklen_t len = sizeof(local);
  std::memset(&local, 0, sizeof(local));
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0) return false;
  *address = FormatAddress(reinterpret_cast<sockaddr*>(&local), len, port);
  return true;
}

bool HasPeer(int fd) {
  sockaddr_storage peer;
  socklen_t len = sizeof(peer);
  return getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) == 0;
}

int EnableErrorQueue(int fd, int family) {
  int one = 1;
  int rc = 0;
  if (family == AF_INET) rc = setsockopt(fd, SOL_IP, IP_RECVERR, &one, sizeof(one));
  if (family == AF_INET6) rc = setsockopt(fd, SOL_IPV6, IPV6_RECVERR, &one, sizeof(one));
  return rc == 0 ? 0 : errno;
}

IcmpReport ReadErrorQueue(int fd) {
  IcmpReport report;
  // The queued skb carries the offending packet's headers as data; we only
  // want the control message, so a small data buffer (truncated) is enough.
  char data[64];
  alignas(cmsghdr) char control[512];
  iovec iov = {data, sizeof(data)};
  msghdr msg;
  std::memset(&msg, 0, sizeof(msg));
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n;
  do {
    n = recvmsg(fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return report;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    bool v4 = c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR;
    bool v6 = c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR;
    if (!v4 && !v6) continue;
    if (c->cmsg_len < CMSG_LEN(sizeof(sock_extended_err))) continue;
    sock_extended_err ee;
    std::memcpy(&ee, CMSG_DATA(c), sizeof(ee));
    report.present = true;
    report.err = static_cast<int>(ee.ee_errno);
    report.origin = ee.ee_origin;
    report.type = ee.ee_type;
    report.code = ee.ee_code;
    report.info = ee.ee_info;
    // The offender address follows the extended error inside the same cmsg.
    size_t payload = c->cmsg_len - CMSG_LEN(0);
    if (payload > sizeof(sock_extended_err)) {
      const auto* off = reinterpret_cast<const sockaddr*>(CMSG_DATA(c) + sizeof(sock_extended_err));
      socklen_t offLen = static_cast<socklen_t>(payload - sizeof(sock_extended_err));
      sockaddr_storage copy;
      std::memset(&copy, 0, sizeof(copy));
      std::memcpy(&copy, off, offLen < sizeof(copy) ? offLen : sizeof(copy));
      if (copy.ss_family != AF_UNSPEC) {
        int ignored;
        report.offender = FormatAddress(reinterpret_cast<sockaddr*>(&copy), sizeof(copy), &ignored);
      }
    }
    break;
  }
  return report;
}

TcpInfo ReadTcpInfo(int fd) {
  TcpInfo out;
  struct tcp_info ti;
  std::memset(&ti, 0, sizeof(ti));
  socklen_t len = sizeof(ti);
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0) return out;
  out.valid = true;
  out.bytes = len;
#define SOCKPROBE_X(name, tcpi) out.name = ti.tcpi_##tcpi;
  SOCKPROBE_TCP_FIELDS(SOCKPROBE_X)
#undef SOCKPROBE_X
  return out;
}

// include/net/tcp_states.h: not in the uapi headers, stable since 2.6.
constexpr unsigned kTcpSynSent = 2;
constexpr unsigned kTcpClose = 7;

TcpProgress Progress(const TcpInfo& tcp) {
  if (!tcp.valid) return TcpProgress::kUnknown;
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

void ReadKernelTcpInfo(int fd, KernelTcpInfo* out) {
  out->err = 0;
  out->bytes = 0;
  out->count = 0;
  struct tcp_info ti;
  std::memset(&ti, 0, sizeof(ti));
  socklen_t len = sizeof(ti);
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0) {
    out->err = errno;
    return;
  }
  out->bytes = len;
  // A field is reported only when the kernel wrote all of it: an older kernel
  // fills a shorter prefix, and what it did not write is absent, not zero.
#define SOCKPROBE_TCPI(field)                                                   \
  if (offsetof(struct tcp_info, tcpi_##field) + sizeof(ti.tcpi_##field) <= len && \
      out->count < sizeof(out->fields) / sizeof(out->fields[0])) {              \
    out->fields[out->count].name = #field;                                      \
    out->fields[out->count].value = static_cast<uint64_t>(ti.tcpi_##field);     \
    out->count++;                                                               \
  }
  SOCKPROBE_TCPI(state)
  SOCKPROBE_TCPI(ca_state)
  SOCKPROBE_TCPI(retransmits)
  SOCKPROBE_TCPI(probes)
  SOCKPROBE_TCPI(backoff)
  SOCKPROBE_TCPI(options)
  SOCKPROBE_TCPI(rto)
  SOCKPROBE_TCPI(ato)
  SOCKPROBE_TCPI(snd_mss)
  SOCKPROBE_TCPI(rcv_mss)
  SOCKPROBE_TCPI(unacked)
  SOCKPROBE_TCPI(sacked)
  SOCKPROBE_TCPI(lost)
  SOCKPROBE_TCPI(retrans)
  SOCKPROBE_TCPI(last_data_sent)
  SOCKPROBE_TCPI(last_data_recv)
  SOCKPROBE_TCPI(last_ack_recv)
  SOCKPROBE_TCPI(pmtu)
  SOCKPROBE_TCPI(rcv_ssthresh)
  SOCKPROBE_TCPI(rtt)
  SOCKPROBE_TCPI(rttvar)
  SOCKPROBE_TCPI(snd_ssthresh)
  SOCKPROBE_TCPI(snd_cwnd)
  SOCKPROBE_TCPI(advmss)
  SOCKPROBE_TCPI(reordering)
  SOCKPROBE_TCPI(rcv_rtt)
  SOCKPROBE_TCPI(rcv_space)
  SOCKPROBE_TCPI(total_retrans)
  SOCKPROBE_TCPI(bytes_acked)
  SOCKPROBE_TCPI(bytes_received)
  SOCKPROBE_TCPI(segs_out)
  SOCKPROBE_TCPI(segs_in)
  SOCKPROBE_TCPI(notsent_bytes)
  SOCKPROBE_TCPI(min_rtt)
  SOCKPROBE_TCPI(data_segs_in)
  SOCKPROBE_TCPI(data_segs_out)
  SOCKPROBE_TCPI(delivery_rate)
  SOCKPROBE_TCPI(busy_time)
  SOCKPROBE_TCPI(rwnd_limited)
  SOCKPROBE_TCPI(sndbuf_limited)
  SOCKPROBE_TCPI(delivered)
  SOCKPROBE_TCPI(delivered_ce)
  SOCKPROBE_TCPI(bytes_sent)
  SOCKPROBE_TCPI(bytes_retrans)
  SOCKPROBE_TCPI(dsack_dups)
  SOCKPROBE_TCPI(reord_seen)
  SOCKPROBE_TCPI(rcv_ooopack)
  SOCKPROBE_TCPI(snd_wnd)
#undef SOCKPROBE_TCPI
}

Queues ReadQueues(int fd) {
  Queues q;
  int n = 0;
  if (ioctl(fd, SIOCOUTQ, &n) == 0) q.send = n;
#ifdef SIOCOUTQNSD
  if (ioctl(fd, SIOCOUTQNSD, &n) == 0) q.notSent = n;
#endif
  if (ioctl(fd, SIOCINQ, &n) == 0) q.recv = n;
  return q;
}

}  // namespace sockprobe
