// Facts, Linux: what the kernel says about a probe's socket. The ICMP error
// queue (IP_RECVERR), TCP_INFO, the queue sizes and the next hop's neighbour
// entry (SO_ERROR, the buffers and the addresses: facts_posix.cc). Each function reads and reports; none interprets, and none
// makes up a value the kernel did not give.
#include "facts.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <cstddef>
#include <cstring>

#include <linux/errqueue.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/sockios.h>
// The kernel's struct tcp_info: glibc's <netinet/tcp.h> copy stops early, and
// the two cannot be included together.
#include <linux/tcp.h>

#include "address.h"

namespace sockprobe {

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

// ---- the next hop's neighbour entry (netlink) ----

namespace {

// A NETLINK_ROUTE socket for one or two requests, closed when it goes out of scope.
class RouteSocket {
 public:
  RouteSocket() : fd_(socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE)) {}
  ~RouteSocket() {
    if (fd_ >= 0) close(fd_);
  }
  RouteSocket(const RouteSocket&) = delete;
  RouteSocket& operator=(const RouteSocket&) = delete;
  bool ok() const { return fd_ >= 0; }

  // Sends one request and reads its one reply into `buf`. The kernel answers
  // a (non-dump) request inside sendto() itself, so the reply is queued when
  // it returns: read without waiting, and no reply there is no answer.
  // Returns the reply message (of `want` type) or nullptr, with `*err` the
  // kernel's errno when it answered with one (else 0).
  const nlmsghdr* Ask(nlmsghdr* req, uint16_t want, char* buf, size_t size, int* err) {
    *err = 0;
    req->nlmsg_seq = ++seq_;
    sockaddr_nl kernel;
    std::memset(&kernel, 0, sizeof(kernel));
    kernel.nl_family = AF_NETLINK;
    ssize_t n;
    do {
      n = sendto(fd_, req, req->nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel));
    } while (n < 0 && errno == EINTR);
    if (n < 0 || static_cast<size_t>(n) != req->nlmsg_len) return nullptr;
    for (int tries = 0; tries < 4; tries++) {
      do {
        n = recv(fd_, buf, size, MSG_DONTWAIT | MSG_TRUNC);
      } while (n < 0 && errno == EINTR);
      if (n <= 0 || static_cast<size_t>(n) > size) return nullptr;  // nothing queued, or truncated
      // Signed: NLMSG_NEXT past a last message whose aligned length overruns
      // what was read goes negative, and NLMSG_OK stops, instead of wrapping.
      int left = static_cast<int>(n);
      for (const nlmsghdr* h = reinterpret_cast<const nlmsghdr*>(buf); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
        if (h->nlmsg_seq != seq_) continue;  // a stale reply: not ours
        if (h->nlmsg_type == want) return h;
        if (h->nlmsg_type == NLMSG_ERROR && h->nlmsg_len >= NLMSG_LENGTH(sizeof(nlmsgerr))) {
          nlmsgerr e;
          std::memcpy(&e, NLMSG_DATA(h), sizeof(e));
          *err = -e.error;
        }
        return nullptr;  // NLMSG_ERROR (ENOENT, EINVAL on an old kernel, ...) or unexpected
      }
    }
    return nullptr;
  }

 private:
  int fd_;
  uint32_t seq_ = 0;
};

// Walks the attributes following a fixed header of `fixed` bytes; calls
// f(type, data, length) for each well-formed one.
template <typename F>
void EachAttr(const nlmsghdr* h, size_t fixed, F f) {
  if (h->nlmsg_len < NLMSG_LENGTH(fixed)) return;
  const char* start = static_cast<const char*>(NLMSG_DATA(h)) + NLMSG_ALIGN(fixed);
  int left = static_cast<int>(h->nlmsg_len) - static_cast<int>(NLMSG_LENGTH(NLMSG_ALIGN(fixed)));
  for (const rtattr* a = reinterpret_cast<const rtattr*>(start); left > 0 && RTA_OK(a, left); a = RTA_NEXT(a, left))
    f(a->rta_type & NLA_TYPE_MASK, RTA_DATA(a), RTA_PAYLOAD(a));
}

// Appends an attribute to a request whose buffer holds `cap` bytes in all.
bool AddAttr(nlmsghdr* h, size_t cap, uint16_t type, const void* data, size_t len) {
  size_t at = NLMSG_ALIGN(h->nlmsg_len);
  if (at + RTA_SPACE(len) > cap) return false;
  rtattr* a = reinterpret_cast<rtattr*>(reinterpret_cast<char*>(h) + at);
  a->rta_type = type;
  a->rta_len = static_cast<unsigned short>(RTA_LENGTH(len));
  std::memcpy(RTA_DATA(a), data, len);
  h->nlmsg_len = static_cast<uint32_t>(at + RTA_SPACE(len));
  return true;
}

std::string FormatIp(int family, const void* raw) {
  sockaddr_storage ss;
  std::memset(&ss, 0, sizeof(ss));
  socklen_t len;
  if (family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    in->sin_family = AF_INET;
    std::memcpy(&in->sin_addr, raw, 4);
    len = sizeof(sockaddr_in);
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    in6->sin6_family = AF_INET6;
    std::memcpy(&in6->sin6_addr, raw, 16);
    len = sizeof(sockaddr_in6);
  }
  int ignored;
  return FormatAddress(reinterpret_cast<sockaddr*>(&ss), len, &ignored);
}

long long ReadRetransMs(int family, const std::string& ifname) {
  // An interface name never holds '/', and "." or ".." would climb out.
  if (ifname.empty() || ifname.size() >= IF_NAMESIZE || ifname.find('/') != std::string::npos || ifname == "." ||
      ifname == "..")
    return -1;
  std::string path = std::string(family == AF_INET ? "/proc/sys/net/ipv4/neigh/" : "/proc/sys/net/ipv6/neigh/") +
                     ifname + "/retrans_time_ms";
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return -1;
  char text[32];
  ssize_t n;
  do {
    n = read(fd, text, sizeof(text) - 1);
  } while (n < 0 && errno == EINTR);
  close(fd);
  if (n <= 0) return -1;
  text[n] = '\0';
  long long value = 0;
  bool digits = false;
  for (ssize_t i = 0; i < n && text[i] >= '0' && text[i] <= '9'; i++) {
    if (value > 1000000000000LL) return -1;
    value = value * 10 + (text[i] - '0');
    digits = true;
  }
  return digits ? value : -1;
}

}  // namespace

// Adds to a route request what the kernel's own lookup for the socket `fd`
// uses besides the destination: its source address (RTA_SRC), SO_MARK
// (RTA_MARK), the device it is bound to (RTA_OIF, unless a zone set one) and
// its owner (RTA_UID), so `ip rule` selectors see the same keys.
bool AddSocketKeys(nlmsghdr* h, size_t cap, int fd, int family, bool haveOif) {
  if (fd < 0) return true;
  auto* rt = static_cast<rtmsg*>(NLMSG_DATA(h));
  sockaddr_storage local;
  socklen_t len = sizeof(local);
  std::memset(&local, 0, sizeof(local));
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) == 0 && local.ss_family == family) {
    const void* raw = nullptr;
    size_t alen = 0;
    static const unsigned char any6[16] = {};
    if (family == AF_INET) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(&local);
      if (in->sin_addr.s_addr != htonl(INADDR_ANY)) {
        raw = &in->sin_addr;
        alen = 4;
      }
    } else {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&local);
      if (std::memcmp(&in6->sin6_addr, any6, 16) != 0) {
        raw = &in6->sin6_addr;
        alen = 16;
      }
    }
    if (raw != nullptr) {
      if (!AddAttr(h, cap, RTA_SRC, raw, alen)) return false;
      rt->rtm_src_len = static_cast<unsigned char>(alen * 8);
    }
  }
  uint32_t mark = 0;
  len = sizeof(mark);
  if (getsockopt(fd, SOL_SOCKET, SO_MARK, &mark, &len) == 0 && mark != 0 && !AddAttr(h, cap, RTA_MARK, &mark, sizeof(mark)))
    return false;
  char device[IF_NAMESIZE + 1];
  std::memset(device, 0, sizeof(device));
  len = IF_NAMESIZE;
  if (!haveOif && getsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, device, &len) == 0 && len > 0 && device[0] != '\0') {
    uint32_t oif = if_nametoindex(device);
    if (oif != 0 && !AddAttr(h, cap, RTA_OIF, &oif, sizeof(oif))) return false;
  }
  uint32_t uid = static_cast<uint32_t>(geteuid());
  return AddAttr(h, cap, RTA_UID, &uid, sizeof(uid));
}

NextHopNeighbour ReadNextHopNeighbour(const sockaddr* dst, int fd) {
  NextHopNeighbour out;
  if (dst == nullptr || (dst->sa_family != AF_INET && dst->sa_family != AF_INET6)) return out;
  const int family = dst->sa_family;
  const size_t alen = family == AF_INET ? 4 : 16;
  unsigned char dstRaw[16];
  if (family == AF_INET)
    std::memcpy(dstRaw, &reinterpret_cast<const sockaddr_in*>(dst)->sin_addr, 4);
  else
    std::memcpy(dstRaw, &reinterpret_cast<const sockaddr_in6*>(dst)->sin6_addr, 16);

  RouteSocket nl;
  if (!nl.ok()) return out;
  alignas(nlmsghdr) char req[256];
  alignas(nlmsghdr) char reply[8192];

  // The route: its output interface, and its gateway when it has one.
  std::memset(req, 0, sizeof(req));
  auto* h = reinterpret_cast<nlmsghdr*>(req);
  h->nlmsg_len = NLMSG_LENGTH(sizeof(rtmsg));
  h->nlmsg_type = RTM_GETROUTE;
  h->nlmsg_flags = NLM_F_REQUEST;
  auto* rt = static_cast<rtmsg*>(NLMSG_DATA(h));
  rt->rtm_family = static_cast<unsigned char>(family);
  rt->rtm_dst_len = static_cast<unsigned char>(alen * 8);
  if (!AddAttr(h, sizeof(req), RTA_DST, dstRaw, alen)) return out;
  // A link-local destination's zone names its interface: the route lookup must too.
  uint32_t zone = family == AF_INET6 ? reinterpret_cast<const sockaddr_in6*>(dst)->sin6_scope_id : 0;
  if (zone != 0 && !AddAttr(h, sizeof(req), RTA_OIF, &zone, sizeof(zone))) return out;
  if (!AddSocketKeys(h, sizeof(req), fd, family, zone != 0)) return out;
  int err = 0;
  const nlmsghdr* r = nl.Ask(h, RTM_NEWROUTE, reply, sizeof(reply), &err);
  if (r == nullptr || r->nlmsg_len < NLMSG_LENGTH(sizeof(rtmsg))) return out;
  rtmsg route;
  std::memcpy(&route, NLMSG_DATA(r), sizeof(route));
  // Loopback or an address of this host: no link, no neighbour to read.
  if (route.rtm_type == RTN_LOCAL) return out;
  int oif = 0;
  bool gateway = false;
  unsigned char hop[16];
  std::memcpy(hop, dstRaw, alen);
  EachAttr(r, sizeof(rtmsg), [&](unsigned type, const void* data, size_t len) {
    if (type == RTA_OIF && len >= 4) std::memcpy(&oif, data, 4);
    if (type == RTA_GATEWAY && len == alen) {
      std::memcpy(hop, data, alen);
      gateway = true;
    }
  });
  if (oif <= 0) return out;
  out.present = true;
  out.gateway = gateway;
  out.ifindex = oif;
  out.address = FormatIp(family, hop);
  char name[IF_NAMESIZE + 1];
  std::memset(name, 0, sizeof(name));
  if (if_indextoname(static_cast<unsigned>(oif), name) != nullptr) out.interfaceName = name;
  out.retransMs = ReadRetransMs(family, out.interfaceName);

  // The next hop's neighbour entry on that interface.
  std::memset(req, 0, sizeof(req));
  h->nlmsg_len = NLMSG_LENGTH(sizeof(ndmsg));
  h->nlmsg_type = RTM_GETNEIGH;
  h->nlmsg_flags = NLM_F_REQUEST;
  auto* nd = static_cast<ndmsg*>(NLMSG_DATA(h));
  nd->ndm_family = static_cast<unsigned char>(family);
  nd->ndm_ifindex = oif;
  if (!AddAttr(h, sizeof(req), NDA_DST, hop, alen)) return out;
  r = nl.Ask(h, RTM_NEWNEIGH, reply, sizeof(reply), &err);
  if (r == nullptr || r->nlmsg_len < NLMSG_LENGTH(sizeof(ndmsg))) {
    out.noEntry = r == nullptr && err == ENOENT;  // else: no answer, the entry unknown
    return out;
  }
  ndmsg got;
  std::memcpy(&got, NLMSG_DATA(r), sizeof(got));
  out.entry = true;
  out.state = got.ndm_state;
  long ticks = sysconf(_SC_CLK_TCK);
  EachAttr(r, sizeof(ndmsg), [&](unsigned type, const void* data, size_t len) {
    if (type == NDA_PROBES && len >= 4) {
      uint32_t v;
      std::memcpy(&v, data, 4);
      out.probes = v;
    }
    if (type == NDA_CACHEINFO && len >= sizeof(nda_cacheinfo) && ticks > 0) {
      nda_cacheinfo ci;
      std::memcpy(&ci, data, sizeof(ci));
      // clock_t ticks (USER_HZ), as the kernel's jiffies_to_clock_t gave them.
      out.updatedMs = static_cast<long long>(ci.ndm_updated) * 1000 / ticks;
    }
  });
  return out;
}

}  // namespace sockprobe
