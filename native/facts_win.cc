// Facts, Windows: SO_ERROR, the buffers and addresses through Winsock;
// SIO_TCP_INFO (Windows 10 1703+) for the state, RTT, MSS and SYN
// retransmits; TCP_FAIL_CONNECT_ON_ICMP_ERROR + TCP_ICMP_ERROR_INFO (Windows
// 10 1903+) for an ICMP error's type, code and sender, the analogue of
// Linux's error queue. Every option is optional at run time: when the call
// fails (an older Windows, or wine), the fact is absent, never 0.
#ifdef _WIN32

#include <cstring>

#include "address.h"
#include "facts.h"

// ws2ipdef.h of recent Windows SDKs; mingw-w64's headers lack them.
#ifndef TCP_FAIL_CONNECT_ON_ICMP_ERROR
#define TCP_FAIL_CONNECT_ON_ICMP_ERROR 18
#endif
#ifndef TCP_ICMP_ERROR_INFO
#define TCP_ICMP_ERROR_INFO 19
struct ICMP_ERROR_INFO {
  SOCKADDR_INET srcaddress;
  int protocol;  // IPPROTO, an enum
  UINT8 type;
  UINT8 code;
};
#endif

namespace sockprobe {

namespace {

int SockOptInt(int fd, int level, int name) {
  int value = 0;
  int len = sizeof(value);
  if (getsockopt(Sock(fd), level, name, reinterpret_cast<char*>(&value), &len) != 0) return -1;
  return value;
}

// TCPSTATE (mstcpip.h) to Linux's numbering (facts.h).
unsigned LinuxState(int s) {
  switch (s) {
    case TCPSTATE_CLOSED: return kTcpClose;
    case TCPSTATE_LISTEN: return kTcpListen;
    case TCPSTATE_SYN_SENT: return kTcpSynSent;
    case TCPSTATE_SYN_RCVD: return kTcpSynRecv;
    case TCPSTATE_ESTABLISHED: return kTcpEstablished;
    case TCPSTATE_FIN_WAIT_1: return kTcpFinWait1;
    case TCPSTATE_FIN_WAIT_2: return kTcpFinWait2;
    case TCPSTATE_CLOSE_WAIT: return kTcpCloseWait;
    case TCPSTATE_CLOSING: return kTcpClosing;
    case TCPSTATE_LAST_ACK: return kTcpLastAck;
    case TCPSTATE_TIME_WAIT: return kTcpTimeWait;
    default: return 0;
  }
}

bool ReadTcpInfoV0(int fd, TCP_INFO_v0* ti, DWORD* bytes) {
  DWORD version = 0;
  std::memset(ti, 0, sizeof(*ti));
  *bytes = 0;
  return WSAIoctl(Sock(fd), SIO_TCP_INFO, &version, sizeof(version), ti, sizeof(*ti), bytes, nullptr, nullptr) == 0;
}

}  // namespace

int ReadSoError(int fd, int* readErr) {
  int value = 0;
  int len = sizeof(value);
  if (getsockopt(Sock(fd), SOL_SOCKET, SO_ERROR, reinterpret_cast<char*>(&value), &len) != 0) {
    *readErr = LastSocketError();
    return 0;
  }
  *readErr = 0;
  return value;
}

void ReadBuffers(int fd, int* sndbuf, int* rcvbuf) {
  *sndbuf = SockOptInt(fd, SOL_SOCKET, SO_SNDBUF);
  *rcvbuf = SockOptInt(fd, SOL_SOCKET, SO_RCVBUF);
}

bool ReadLocalAddress(int fd, std::string* address, int* port) {
  sockaddr_storage local;
  int len = sizeof(local);
  std::memset(&local, 0, sizeof(local));
  if (getsockname(Sock(fd), reinterpret_cast<sockaddr*>(&local), &len) != 0) return false;
  *address = FormatAddress(reinterpret_cast<sockaddr*>(&local), len, port);
  return true;
}

bool HasPeer(int fd) {
  sockaddr_storage peer;
  int len = sizeof(peer);
  return getpeername(Sock(fd), reinterpret_cast<sockaddr*>(&peer), &len) == 0;
}

int EnableErrorQueue(int fd, int family) {
  if (family != AF_INET && family != AF_INET6) return 0;
  // Without it Windows retries a SYN answered by ICMP until its own timeout.
  // Missing before Windows 10 1903 (and in wine): quietly go without.
  DWORD one = 1;
  setsockopt(Sock(fd), IPPROTO_TCP, TCP_FAIL_CONNECT_ON_ICMP_ERROR, reinterpret_cast<const char*>(&one), sizeof(one));
  return 0;
}

IcmpReport ReadErrorQueue(int fd) {
  IcmpReport report;
  ICMP_ERROR_INFO info;
  std::memset(&info, 0, sizeof(info));
  int len = sizeof(info);
  if (getsockopt(Sock(fd), IPPROTO_TCP, TCP_ICMP_ERROR_INFO, reinterpret_cast<char*>(&info), &len) != 0) return report;
  int family = info.srcaddress.si_family;
  if (family != AF_INET && family != AF_INET6) return report;  // no ICMP error recorded
  report.present = true;
  report.err = 0;  // Windows gives no errno with it: SO_ERROR's is the probe's
  // SO_EE_ORIGIN_ICMP (2) / SO_EE_ORIGIN_ICMP6 (3), as Linux reports them.
  report.origin = family == AF_INET ? 2 : 3;
  report.type = info.type;
  report.code = info.code;
  int ignored;
  report.offender = FormatAddress(reinterpret_cast<const sockaddr*>(&info.srcaddress),
                                  family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6), &ignored);
  return report;
}

TcpInfo ReadTcpInfo(int fd) {
  TcpInfo out;
  TCP_INFO_v0 ti;
  DWORD bytes;
  if (!ReadTcpInfoV0(fd, &ti, &bytes)) return out;
  out.valid = true;
  out.bytes = bytes;
  out.state = LinuxState(ti.State);
  out.sndMss = ti.Mss;
  out.rtt = ti.RttUs;
  // SYN retransmits: what total_retrans counts during a handshake on Linux.
  out.totalRetrans = ti.SynRetrans;
  out.absent = (1u << kTcp_caState) | (1u << kTcp_retransmits) | (1u << kTcp_probes) | (1u << kTcp_backoff) |
               (1u << kTcp_options) | (1u << kTcp_rto) | (1u << kTcp_rcvMss) | (1u << kTcp_unacked) |
               (1u << kTcp_lost) | (1u << kTcp_retrans) | (1u << kTcp_rttvar) | (1u << kTcp_sndCwnd);
  if (out.state == 0) out.absent |= 1u << kTcp_state;
  return out;
}

void ReadKernelTcpInfo(int fd, KernelTcpInfo* out) {
  TCP_INFO_v0 ti;
  DWORD bytes;
  if (!ReadTcpInfoV0(fd, &ti, &bytes)) {
    out->err = LastSocketError();
    return;
  }
  out->bytes = bytes;
  const TcpInfoField fields[] = {
      {"state", LinuxState(ti.State)},
      {"snd_mss", ti.Mss},
      {"rtt", ti.RttUs},
      {"min_rtt", ti.MinRttUs},
      {"total_retrans", ti.SynRetrans},
      {"bytes_sent", ti.BytesOut},
      {"bytes_received", ti.BytesIn},
      {"bytes_retrans", ti.BytesRetrans},
      {"snd_wnd", ti.SndWnd},
  };
  for (const TcpInfoField& f : fields) out->fields[out->count++] = f;
}

// SIO_TCP_INFO's BytesInFlight is not SIOCOUTQ's count: queues unreadable (-1).
Queues ReadQueues(int) { return Queues(); }

NextHopNeighbour ReadNextHopNeighbour(const sockaddr*, int) { return NextHopNeighbour(); }

}  // namespace sockprobe

#endif  // _WIN32
