// The completion record, defined once. A finished probe reaches JavaScript as
// one row of doubles in a Float64Array the module allocates at init(); the
// columns below are that row, in order. scripts/gen-record.js reads this file
// and writes src/record.ts (offsets, stage names, the TCP_INFO decoder), and
// the module exports the same column list as `layout`, which src/binding.ts
// compares with the generated one at load: the two sides cannot drift.
#pragma once

// Where a probe ended: facts about which call answered, not verdicts.
#define SOCKPROBE_STAGES(X) \
  X(socket)                 \
  X(setsockopt)             \
  X(address)                \
  X(bind)                   \
  X(connect)                \
  X(poll)                   \
  X(so_error)               \
  X(errqueue)               \
  X(timeout)                \
  X(connected)

// TCP_INFO fields reported for every TCP probe: record name, then the field of
// the kernel's struct tcp_info (without tcpi_). Linux's units and state
// numbers on every platform (facts_darwin.cc, facts_win.cc translate); a column
// the platform cannot know holds NaN (absent, TcpInfo::absent), never 0.
#define SOCKPROBE_TCP_FIELDS(X)     \
  X(state, state)                   \
  X(caState, ca_state)              \
  X(retransmits, retransmits)       \
  X(probes, probes)                 \
  X(backoff, backoff)               \
  X(options, options)               \
  X(rto, rto)                       \
  X(sndMss, snd_mss)                \
  X(rcvMss, rcv_mss)                \
  X(unacked, unacked)               \
  X(lost, lost)                     \
  X(retrans, retrans)               \
  X(rtt, rtt)                       \
  X(rttvar, rttvar)                 \
  X(sndCwnd, snd_cwnd)              \
  X(totalRetrans, total_retrans)

// The record's leading columns. `strings` columns index the strings array sent
// with a batch (-1: none). The SOCKPROBE_TCP_FIELDS columns follow them.
//   err        errno as the kernel gave it (0: none)
//   stage      index into SOCKPROBE_STAGES
//   icmp       1 when the icmp* columns hold an error-queue entry
//   fd         a connected socket handed to JavaScript (start()'s keep flag), else -1
//   tcp        1: TCP_INFO columns follow; 2: none read, the probe ended inside start()
//   neigh      read only at a deadline with no peer: the neighbour (ARP/NDP) entry
//              of the route's next hop. 0: not read (or no route read); 1: the
//              entry, in the neigh* columns; 2: the kernel says no entry exists;
//              3: the route was read, the entry could not be
//   neighState ndm_state as the kernel gave it (NUD_* bits)
//   neighAddress / neighInterface  strings: the next hop's address, the
//              interface's name (-1: none); neighIfindex the interface's index
//   neighGateway 1: the route names a gateway (the next hop); 0: on-link
//   neighProbes NDA_PROBES (solicitations sent), -1: not given
//   neighUpdatedMs  ms since the entry's state last changed (NDA_CACHEINFO
//              ndm_updated), -1: not given
//   neighRetransMs  the interface's neighbour retransmit interval
//              (/proc/sys/net/ipv{4,6}/neigh/<if>/retrans_time_ms), -1: unreadable
#define SOCKPROBE_RECORD_FIELDS(X) \
  X(id)                            \
  X(err)                           \
  X(stage)                         \
  X(elapsedNs)                     \
  X(connectNs)                     \
  X(sndbuf)                        \
  X(rcvbuf)                        \
  X(localPort)                     \
  X(localAddress)                  \
  X(icmp)                          \
  X(icmpErrno)                     \
  X(icmpOrigin)                    \
  X(icmpType)                      \
  X(icmpCode)                      \
  X(icmpInfo)                      \
  X(icmpOffender)                  \
  X(fd)                            \
  X(tcp)                           \
  X(tcpBytes)                      \
  X(neigh)                         \
  X(neighState)                    \
  X(neighAddress)                  \
  X(neighIfindex)                  \
  X(neighInterface)                \
  X(neighGateway)                  \
  X(neighProbes)                   \
  X(neighUpdatedMs)                \
  X(neighRetransMs)

namespace sockprobe {

enum Stage {
#define SOCKPROBE_X(name) kStage_##name,
  SOCKPROBE_STAGES(SOCKPROBE_X)
#undef SOCKPROBE_X
};

enum Field {
#define SOCKPROBE_X(name) kF_##name,
  SOCKPROBE_RECORD_FIELDS(SOCKPROBE_X)
#undef SOCKPROBE_X
#define SOCKPROBE_X(name, tcpi) kF_tcp_##name,
  SOCKPROBE_TCP_FIELDS(SOCKPROBE_X)
#undef SOCKPROBE_X
  kRecordWidth
};

}  // namespace sockprobe
