// Facts, macOS: TCP_CONNECTION_INFO (state, RTT, RTO, MSS, retransmitted
// packets) for TCP_INFO's columns. macOS has no ICMP error queue (a refused or
// unreachable connect is only SO_ERROR's errno: no ICMP type, code or
// sender), no per-socket queue ioctls and no neighbour reads here: those
// facts are absent, never made up. SO_ERROR, buffers, addresses: facts_posix.cc.
#ifdef __APPLE__

#include <errno.h>
#include <netinet/tcp.h>
#if __has_include(<netinet/tcp_fsm.h>)
#include <netinet/tcp_fsm.h>
#else
// The SDK's values (BSD's, unchanged since 4.4BSD); zig's macOS headers lack the file.
#define TCPS_CLOSED 0
#define TCPS_LISTEN 1
#define TCPS_SYN_SENT 2
#define TCPS_SYN_RECEIVED 3
#define TCPS_ESTABLISHED 4
#define TCPS_CLOSE_WAIT 5
#define TCPS_FIN_WAIT_1 6
#define TCPS_CLOSING 7
#define TCPS_LAST_ACK 8
#define TCPS_FIN_WAIT_2 9
#define TCPS_TIME_WAIT 10
#endif
#include <cstring>

#include "facts.h"

namespace sockprobe {

namespace {

// TCPS_* (<netinet/tcp_fsm.h>) to Linux's numbering (facts.h).
unsigned LinuxState(unsigned s) {
  switch (s) {
    case TCPS_CLOSED: return kTcpClose;
    case TCPS_LISTEN: return kTcpListen;
    case TCPS_SYN_SENT: return kTcpSynSent;
    case TCPS_SYN_RECEIVED: return kTcpSynRecv;
    case TCPS_ESTABLISHED: return kTcpEstablished;
    case TCPS_CLOSE_WAIT: return kTcpCloseWait;
    case TCPS_FIN_WAIT_1: return kTcpFinWait1;
    case TCPS_CLOSING: return kTcpClosing;
    case TCPS_LAST_ACK: return kTcpLastAck;
    case TCPS_FIN_WAIT_2: return kTcpFinWait2;
    case TCPS_TIME_WAIT: return kTcpTimeWait;
    default: return 0;
  }
}

bool ReadConnectionInfo(int fd, tcp_connection_info* ci, socklen_t* len) {
  std::memset(ci, 0, sizeof(*ci));
  *len = sizeof(*ci);
  return getsockopt(fd, IPPROTO_TCP, TCP_CONNECTION_INFO, ci, len) == 0;
}

}  // namespace

// No error queue on macOS: nothing to enable, nothing to read.
int EnableErrorQueue(int, int) { return 0; }
IcmpReport ReadErrorQueue(int) { return IcmpReport(); }

TcpInfo ReadTcpInfo(int fd) {
  TcpInfo out;
  tcp_connection_info ci;
  socklen_t len;
  if (!ReadConnectionInfo(fd, &ci, &len)) return out;
  out.valid = true;
  out.bytes = len;
  out.state = LinuxState(ci.tcpi_state);
  out.rto = ci.tcpi_rto * 1000u;       // ms -> us (Linux's unit)
  out.sndMss = ci.tcpi_maxseg;
  out.rtt = ci.tcpi_srtt * 1000u;      // ms -> us
  out.rttvar = ci.tcpi_rttvar * 1000u; // ms -> us
  out.totalRetrans = static_cast<unsigned>(ci.tcpi_txretransmitpackets);
  // What struct tcp_connection_info has no equivalent for (or counts in
  // other units: its cwnd is in bytes, its option bits are its own).
  out.absent = (1u << kTcp_caState) | (1u << kTcp_retransmits) | (1u << kTcp_probes) | (1u << kTcp_backoff) |
               (1u << kTcp_options) | (1u << kTcp_rcvMss) | (1u << kTcp_unacked) | (1u << kTcp_lost) |
               (1u << kTcp_retrans) | (1u << kTcp_sndCwnd);
  if (out.state == 0) out.absent |= 1u << kTcp_state;
  return out;
}

void ReadKernelTcpInfo(int fd, KernelTcpInfo* out) {
  tcp_connection_info ci;
  socklen_t len;
  if (!ReadConnectionInfo(fd, &ci, &len)) {
    out->err = errno;
    return;
  }
  out->bytes = len;
  // Under Linux's names, in Linux's units, only what has the same meaning.
  const TcpInfoField fields[] = {
      {"state", LinuxState(ci.tcpi_state)},
      {"rto", uint64_t{ci.tcpi_rto} * 1000},
      {"snd_mss", ci.tcpi_maxseg},
      {"rtt", uint64_t{ci.tcpi_srtt} * 1000},
      {"rttvar", uint64_t{ci.tcpi_rttvar} * 1000},
      {"snd_ssthresh", ci.tcpi_snd_ssthresh},
      {"total_retrans", ci.tcpi_txretransmitpackets},
      {"bytes_sent", ci.tcpi_txbytes},
      {"bytes_received", ci.tcpi_rxbytes},
      {"bytes_retrans", ci.tcpi_txretransmitbytes},
      {"segs_out", ci.tcpi_txpackets},
      {"segs_in", ci.tcpi_rxpackets},
  };
  for (const TcpInfoField& f : fields) out->fields[out->count++] = f;
}

// No SIOCOUTQ/SIOCINQ on macOS: every queue is unreadable (-1).
Queues ReadQueues(int) { return Queues(); }

NextHopNeighbour ReadNextHopNeighbour(const sockaddr*, int) { return NextHopNeighbour(); }

}  // namespace sockprobe

#endif  // __APPLE__
