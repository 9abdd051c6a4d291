#include "sockinfo.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/un.h>
#include <cstddef>
#include <cstdlib>
#include <cstring>

#ifdef __linux__
#include <linux/errqueue.h>
#include <linux/sockios.h>
// The kernel's struct tcp_info: glibc's <netinet/tcp.h> copy stops early, and
// the two cannot be included together.
#include <linux/tcp.h>
#else
#include <netinet/tcp.h>
#endif

namespace sockprobe {

namespace {

// "fe80::1%eth0" or "fe80::1%2": the scope id for the zone, or 0 when unknown.
uint32_t ZoneToScopeId(const std::string& zone) {
  if (zone.empty()) return 0;
  char* end = nullptr;
  unsigned long n = std::strtoul(zone.c_str(), &end, 10);
  if (end != nullptr && *end == '\0' && n <= UINT32_MAX) return static_cast<uint32_t>(n);
  return if_nametoindex(zone.c_str());
}

}  // namespace

int ParseTarget(int family, const std::string& address, int port, Target* out) {
  std::memset(out, 0, sizeof(*out));
  out->family = family;
  // A NUL inside the string would silently shorten it for the C calls below.
  if (address.find('\0') != std::string::npos) return EINVAL;
  if (family == AF_UNIX) {
    auto* un = reinterpret_cast<sockaddr_un*>(&out->addr);
    if (address.empty()) return EINVAL;
    if (address.size() >= sizeof(un->sun_path)) return ENAMETOOLONG;
    un->sun_family = AF_UNIX;
    std::memcpy(un->sun_path, address.data(), address.size());
    out->len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size() + 1);
    return 0;
  }
  if (port < 0 || port > 65535) return EINVAL;
  if (family == AF_INET) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&out->addr);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET, address.c_str(), &sin->sin_addr) != 1) return EINVAL;
    out->len = sizeof(sockaddr_in);
    return 0;
  }
  if (family == AF_INET6) {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&out->addr);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(static_cast<uint16_t>(port));
    std::string host = address;
    size_t pct = host.find('%');
    if (pct != std::string::npos) {
      uint32_t scope = ZoneToScopeId(host.substr(pct + 1));
      if (scope == 0) return ENXIO;
      sin6->sin6_scope_id = scope;
      host.resize(pct);
    }
    if (inet_pton(AF_INET6, host.c_str(), &sin6->sin6_addr) != 1) return EINVAL;
    out->len = sizeof(sockaddr_in6);
    return 0;
  }
  return EAFNOSUPPORT;
}

std::string FormatAddress(const sockaddr* sa, socklen_t len, int* port) {
  char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 2] = {0};
  *port = 0;
  if (sa == nullptr || len < static_cast<socklen_t>(sizeof(sa_family_t))) return std::string();
  switch (sa->sa_family) {
    case AF_INET: {
      if (len < static_cast<socklen_t>(sizeof(sockaddr_in))) return std::string();
      auto* sin = reinterpret_cast<const sockaddr_in*>(sa);
      inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf));
      *port = ntohs(sin->sin_port);
      return buf;
    }
    case AF_INET6: {
      if (len < static_cast<socklen_t>(sizeof(sockaddr_in6))) return std::string();
      auto* sin6 = reinterpret_cast<const sockaddr_in6*>(sa);
      inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof(buf));
      *port = ntohs(sin6->sin6_port);
      return buf;
    }
    case AF_UNIX: {
      auto* un = reinterpret_cast<const sockaddr_un*>(sa);
      size_t max = static_cast<size_t>(len) - offsetof(sockaddr_un, sun_path);
      if (static_cast<size_t>(len) <= offsetof(sockaddr_un, sun_path)) return std::string();
      return std::string(un->sun_path, strnlen(un->sun_path, max));
    }
    default:
      return std::string();
  }
}

int EnableErrorQueue(int fd, int family) {
#ifdef __linux__
  int one = 1;
  int rc = 0;
  if (family == AF_INET) rc = setsockopt(fd, SOL_IP, IP_RECVERR, &one, sizeof(one));
  if (family == AF_INET6) rc = setsockopt(fd, SOL_IPV6, IPV6_RECVERR, &one, sizeof(one));
  return rc == 0 ? 0 : errno;
#else
  (void)fd;
  (void)family;
  return 0;
#endif
}

IcmpReport ReadErrorQueue(int fd) {
  IcmpReport report;
#ifdef __linux__
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
#else
  (void)fd;
#endif
  return report;
}

TcpInfo ReadTcpInfo(int fd) {
  TcpInfo out;
#if defined(__linux__) && defined(TCP_INFO)
  struct tcp_info ti;
  std::memset(&ti, 0, sizeof(ti));
  socklen_t len = sizeof(ti);
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0) return out;
  out.valid = true;
  out.bytes = len;
  out.state = ti.tcpi_state;
  out.caState = ti.tcpi_ca_state;
  out.retransmits = ti.tcpi_retransmits;
  out.probes = ti.tcpi_probes;
  out.backoff = ti.tcpi_backoff;
  out.options = ti.tcpi_options;
  out.rto = ti.tcpi_rto;
  out.sndMss = ti.tcpi_snd_mss;
  out.rcvMss = ti.tcpi_rcv_mss;
  out.unacked = ti.tcpi_unacked;
  out.lost = ti.tcpi_lost;
  out.retrans = ti.tcpi_retrans;
  out.rtt = ti.tcpi_rtt;
  out.rttvar = ti.tcpi_rttvar;
  out.sndCwnd = ti.tcpi_snd_cwnd;
  out.totalRetrans = ti.tcpi_total_retrans;
#else
  (void)fd;
#endif
  return out;
}

void ReadKernelTcpInfo(int fd, KernelTcpInfo* out) {
  out->err = 0;
  out->bytes = 0;
  out->count = 0;
#if defined(__linux__) && defined(TCP_INFO)
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
#else
  (void)fd;
  out->err = ENOPROTOOPT;
#endif
}

Queues ReadQueues(int fd) {
  Queues q;
#ifdef __linux__
  int n = 0;
  if (ioctl(fd, SIOCOUTQ, &n) == 0) q.send = n;
#ifdef SIOCOUTQNSD
  if (ioctl(fd, SIOCOUTQNSD, &n) == 0) q.notSent = n;
#endif
  if (ioctl(fd, SIOCINQ, &n) == 0) q.recv = n;
#else
  (void)fd;
#endif
  return q;
}

}  // namespace sockprobe
