// sockprobe's native layer: a non-blocking connect watched on Node's own libuv
// loop. No thread-pool work (a connect is I/O, not CPU: parking a pool thread on
// it would cap concurrency at UV_THREADPOOL_SIZE), no thread per probe, and no
// process-wide state: everything hangs off the per-environment Addon instance,
// so each worker_thread has its own, and a cleanup hook closes what is in flight
// when an environment goes away.
//
// The surface is flat: init(dispatch), start(...), cancel(id). C++ reads its
// arguments only as far as memory safety needs and reports raw facts (errno,
// stage, ICMP report, TCP_INFO, timings); TypeScript validates and interprets.

// A worker being terminated keeps running the callbacks of its current loop
// iteration after V8 was told to stop, so a probe can complete (Deliver ->
// OutcomeToJs) in an environment that can no longer run JS. There every
// napi call with a preamble fails with napi_pending_exception, and without
// this define node-addon-api answers the failure by throwing, which fails
// too, which it treats as fatal: the whole process aborted ("FATAL ERROR:
// Error::ThrowAsJavaScriptException napi_throw"). With it, node-addon-api
// swallows exactly that case (an environment shutting down, no exception
// pending) and Deliver's napi_make_callback fails quietly. Regression test:
// test/reliability/lifecycle.test.ts, workers terminated with probes settling.
#define NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS
#include <napi.h>
#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "sockinfo.h"
#include "inspect.h"

namespace sockprobe {

namespace {

// Flags passed by TypeScript in start()'s `flags` argument.
constexpr uint32_t kFlagGraceful = 1;   // close with FIN instead of RST
constexpr uint32_t kFlagNoRecvErr = 2;  // do not ask for the ICMP error queue

// Where a probe ended. TypeScript maps these names; they are facts, not verdicts.
const char* const kStageSocket = "socket";
const char* const kStageSetup = "setsockopt";
const char* const kStageAddress = "address";
const char* const kStageBind = "bind";
const char* const kStageConnect = "connect";
const char* const kStagePoll = "poll";
const char* const kStageSoError = "so_error";
const char* const kStageTimeout = "timeout";
const char* const kStageErrQueue = "errqueue";
const char* const kStageConnected = "connected";

// What the peer did during the settle window after a successful connect.
enum class Settle { kNone, kQuiet, kData, kFin, kReset };

// Everything a finished probe reports, gathered before the socket is closed.
struct Outcome {
  int err = 0;
  const char* stage = kStageConnected;
  uint64_t elapsedNs = 0;
  uint64_t connectNs = 0;
  int sndbuf = -1;
  int rcvbuf = -1;
  std::string localAddress;
  int localPort = 0;
  IcmpReport icmp;
  TcpInfo tcp;
  // Failed inside start(), microseconds after its one SYN (or before sending
  // any): TCP_INFO is not read, since it could only say what is known by
  // construction (state CLOSE, nothing retransmitted, no RTT measured).
  bool endedInStart = false;
  Settle settle = Settle::kNone;
  int settleErr = 0;
};

int SockOptInt(int fd, int level, int name) {
  int value = 0;
  socklen_t len = sizeof(value);
  if (getsockopt(fd, level, name, &value, &len) != 0) return -1;
  return value;
}

// Creates a non-blocking close-on-exec socket. SOCK_NONBLOCK/SOCK_CLOEXEC where
// the platform has them (one syscall, no window for a fork to inherit it).
int OpenSocket(int family, int* err) {
#if defined(SOCK_NONBLOCK) && defined(SOCK_CLOEXEC)
  int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) *err = errno;
  return fd;
#else
  int fd = socket(family, SOCK_STREAM, 0);
  if (fd < 0) {
    *err = errno;
    return -1;
  }
  if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
    *err = errno;
    close(fd);
    return -1;
  }
#ifdef SO_NOSIGPIPE
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof(one));
#endif
  return fd;
#endif
}

// Closes a probe's descriptor: RST (SO_LINGER {1,0}) unless a graceful FIN was
// asked for, so the probing side keeps no TIME_WAIT entry. A socket whose
// handshake never completed (`neverConnected`: failed, or still in SYN_SENT)
// needs no linger: the kernel closes CLOSE and SYN_SENT sockets without a FIN,
// an RST or a TIME_WAIT either way (tcp_close(): tcp_close_state() maps both to
// CLOSE, and tcp_need_reset() is false for them), so that setsockopt is saved.
void CloseFd(int fd, uint32_t flags, int family, bool neverConnected) {
  if (fd < 0) return;
  if (!(flags & kFlagGraceful) && family != AF_UNIX && !neverConnected) {
    // Failure ignored on purpose: it can only fail the way the setsockopt in
    // Start can (unreachable), and the worst case is a FIN and a TIME_WAIT.
    linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  }
  // Exactly once per descriptor: every path that owns an fd ends in one call
  // here (FinishNow, or Release, which sets p->fd = -1 after it). Not retried
  // on EINTR: Linux has released the descriptor by then, and a retry could
  // close a number another thread was just given.
  close(fd);
}

// Reads everything worth reporting from a socket that is about to be closed:
// buffers and local address only for a connection (nothing reads them after a
// failure), the error queue only after a failure, TCP_INFO unless `tcpRead`
// already holds it.
void Gather(int fd, int family, Outcome* out, const TcpInfo* tcpRead) {
  bool connected = out->err == 0 && out->stage == kStageConnected;
  if (connected) {
    out->sndbuf = SockOptInt(fd, SOL_SOCKET, SO_SNDBUF);
    out->rcvbuf = SockOptInt(fd, SOL_SOCKET, SO_RCVBUF);
    sockaddr_storage local;
    socklen_t len = sizeof(local);
    std::memset(&local, 0, sizeof(local));
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) == 0) {
      out->localAddress = FormatAddress(reinterpret_cast<sockaddr*>(&local), len, &out->localPort);
    }
  }
  if (family == AF_INET || family == AF_INET6) {
    // Order matters: SO_ERROR was read before this, and reading the queue
    // resets sk_err to the next queued error.
    if (!connected) out->icmp = ReadErrorQueue(fd);
    if (tcpRead != nullptr) {
      out->tcp = *tcpRead;
    } else if (!out->endedInStart) {
      out->tcp = ReadTcpInfo(fd);
    }
  }
}

void SetNumber(Napi::Env env, Napi::Object obj, const char* key, double value) {
  obj.Set(key, Napi::Number::New(env, value));
}

Napi::Object OutcomeToJs(Napi::Env env, const Outcome& o) {
  Napi::Object r = Napi::Object::New(env);
  SetNumber(env, r, "errno", o.err);
  r.Set("stage", Napi::String::New(env, o.stage));
  SetNumber(env, r, "elapsedNs", static_cast<double>(o.elapsedNs));
  SetNumber(env, r, "connectNs", static_cast<double>(o.connectNs));
  SetNumber(env, r, "sndbuf", o.sndbuf);
  SetNumber(env, r, "rcvbuf", o.rcvbuf);
  r.Set("localAddress", Napi::String::New(env, o.localAddress));
  SetNumber(env, r, "localPort", o.localPort);
  if (o.icmp.present) {
    Napi::Object icmp = Napi::Object::New(env);
    SetNumber(env, icmp, "errno", o.icmp.err);
    SetNumber(env, icmp, "origin", o.icmp.origin);
    SetNumber(env, icmp, "type", o.icmp.type);
    SetNumber(env, icmp, "code", o.icmp.code);
    SetNumber(env, icmp, "info", o.icmp.info);
    icmp.Set("offender", Napi::String::New(env, o.icmp.offender));
    r.Set("icmp", icmp);
  }
  if (o.tcp.valid) {
    Napi::Object t = Napi::Object::New(env);
    SetNumber(env, t, "bytes", o.tcp.bytes);
    SetNumber(env, t, "state", o.tcp.state);
    SetNumber(env, t, "caState", o.tcp.caState);
    SetNumber(env, t, "retransmits", o.tcp.retransmits);
    SetNumber(env, t, "probes", o.tcp.probes);
    SetNumber(env, t, "backoff", o.tcp.backoff);
    SetNumber(env, t, "options", o.tcp.options);
    SetNumber(env, t, "rto", o.tcp.rto);
    SetNumber(env, t, "sndMss", o.tcp.sndMss);
    SetNumber(env, t, "rcvMss", o.tcp.rcvMss);
    SetNumber(env, t, "unacked", o.tcp.unacked);
    SetNumber(env, t, "lost", o.tcp.lost);
    SetNumber(env, t, "retrans", o.tcp.retrans);
    SetNumber(env, t, "rtt", o.tcp.rtt);
    SetNumber(env, t, "rttvar", o.tcp.rttvar);
    SetNumber(env, t, "sndCwnd", o.tcp.sndCwnd);
    SetNumber(env, t, "totalRetrans", o.tcp.totalRetrans);
    r.Set("tcp", t);
  }
  if (o.endedInStart) r.Set("endedInStart", Napi::Boolean::New(env, true));
  if (o.settle != Settle::kNone) {
    static const char* const names[] = {"none", "quiet", "data", "fin", "reset"};
    r.Set("settle", Napi::String::New(env, names[static_cast<int>(o.settle)]));
    SetNumber(env, r, "settleErrno", o.settleErr);
  }
  return r;
}

// ---- Completion records ----------------------------------------------------
// Completions reach JavaScript in batches: each is a row of doubles in one
// Float64Array the addon allocates at init() and JS reads (src/binding.ts has
// the same layout), with its few strings in an array passed alongside. One
// call into JS per batch instead of an object built property by property and
// a callback per probe.
constexpr int kRecordWidth = 36;
constexpr int kBatchRecords = 512;
enum Field {
  kFId = 0, kFErrno, kFStage, kFElapsedNs, kFConnectNs, kFSndbuf, kFRcvbuf, kFLocalPort, kFLocalAddress,
  kFSettle, kFSettleErrno, kFIcmp, kFIcmpErrno, kFIcmpOrigin, kFIcmpType, kFIcmpCode, kFIcmpInfo,
  kFIcmpOffender, kFTcp, kFTcpFirst  // 17 TCP_INFO fields follow, in RawTcpInfo order
};
static_assert(kFTcpFirst + 17 == kRecordWidth, "record layout");

const char* const kStages[] = {kStageSocket, kStageSetup, kStageAddress, kStageBind, kStageConnect,
                               kStagePoll, kStageSoError, kStageErrQueue, kStageTimeout, kStageConnected};

int StageCode(const char* stage) {
  for (int i = 0; i < static_cast<int>(sizeof(kStages) / sizeof(kStages[0])); i++)
    if (kStages[i] == stage) return i;
  return 0;
}

// Row of the record buffer that start() outcomes go to (startRecord()); the
// rows before it are dispatch's.
constexpr int kImmediateRow = kBatchRecords;

// One outcome as a record row; `local` and `offender` index the strings array (-1: none).
void FillRecord(double* r, uint32_t id, const Outcome& o, double local, double offender) {
  r[kFId] = id;
  r[kFErrno] = o.err;
  r[kFStage] = StageCode(o.stage);
  r[kFElapsedNs] = static_cast<double>(o.elapsedNs);
  r[kFConnectNs] = static_cast<double>(o.connectNs);
  r[kFSndbuf] = o.sndbuf;
  r[kFRcvbuf] = o.rcvbuf;
  r[kFLocalPort] = o.localPort;
  r[kFLocalAddress] = local;
  r[kFSettle] = static_cast<int>(o.settle);
  r[kFSettleErrno] = o.settleErr;
  r[kFIcmp] = o.icmp.present ? 1 : 0;
  if (o.icmp.present) {
    r[kFIcmpErrno] = o.icmp.err;
    r[kFIcmpOrigin] = o.icmp.origin;
    r[kFIcmpType] = o.icmp.type;
    r[kFIcmpCode] = o.icmp.code;
    r[kFIcmpInfo] = o.icmp.info;
    r[kFIcmpOffender] = offender;
  }
  // 1: TCP_INFO follows; 2: none read, the probe ended inside start().
  r[kFTcp] = o.tcp.valid ? 1 : o.endedInStart ? 2 : 0;
  if (o.tcp.valid) {
    const TcpInfo& t = o.tcp;
    const unsigned values[17] = {t.bytes,   t.state,  t.caState, t.retransmits, t.probes, t.backoff,
                                 t.options, t.rto,    t.sndMss,  t.rcvMss,      t.unacked, t.lost,
                                 t.retrans, t.rtt,    t.rttvar,  t.sndCwnd,     t.totalRetrans};
    for (int k = 0; k < 17; k++) r[kFTcpFirst + k] = values[k];
  }
}

class Addon;

// A probe in flight. Its socket is registered in the environment's epoll set
// (data.ptr points here) and its deadline sits in the environment's heap.
struct Probe {
  Addon* addon = nullptr;
  uint32_t id = 0;
  int fd = -1;
  int family = 0;
  uint32_t flags = 0;
  uint32_t settleMs = 0;
  uint64_t startNs = 0;
  uint64_t connectedNs = 0;
  uint64_t deadlineNs = 0;
  size_t heapIndex = 0;
  bool settling = false;
};

struct Finished {
  uint32_t id;
  Outcome out;
};

class Addon {
 public:
  explicit Addon(Napi::Env env) : env_(env) {
    if (napi_get_uv_event_loop(env, &loop_) != napi_ok) loop_ = nullptr;
    napi_add_env_cleanup_hook(env, Cleanup, this);
  }

  ~Addon() { delete context_; }

  // init(dispatch) -> Float64Array of completion records. dispatch(count,
  // strings) is called with `count` records filled in.
  Napi::Value Init(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsFunction()) {
      Napi::TypeError::New(env, "sockprobe native: init(dispatch) needs a function").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    dispatch_ = Napi::Persistent(info[0].As<Napi::Function>());
    if (context_ == nullptr) context_ = new Napi::AsyncContext(env, "sockprobe");
    if (records_.IsEmpty()) {
      Napi::Float64Array arr = Napi::Float64Array::New(env, static_cast<size_t>(kBatchRecords + 1) * kRecordWidth);
      records_ = Napi::Persistent(arr);
      recordData_ = arr.Data();
    }
    // Make the epoll set now, while descriptors are surely available, so that
    // under descriptor exhaustion a probe fails at socket() like any other
    // client would, not at setting up sockprobe. A failure here is retried by
    // the first start().
    EnsureWatch();
    return records_.Value();
  }

  // start(id, family, address, port, localAddress, timeoutMs, flags, settleMs)
  // Returns undefined while the probe is in flight (its record comes through
  // dispatch later), or the outcome object when it ended at once.
  Napi::Value Start(const Napi::CallbackInfo& info) { return StartImpl(info, false); }

  // startRecord(...): start() with the same arguments, but an outcome known at
  // once is written to the record buffer's last row (kImmediateRow, never used
  // by a dispatch) and its row number returned, instead of an object built
  // property by property through N-API. An outcome with strings (a local
  // address, an ICMP offender) still comes back as an object.
  Napi::Value StartRecord(const Napi::CallbackInfo& info) { return StartImpl(info, true); }

  Napi::Value StartImpl(const Napi::CallbackInfo& info, bool toRecord) {
    Napi::Env env = info.Env();
    // Each argument is read by the N-API call that converts it, whose status
    // also says whether it had the right type (napi_number_expected,
    // napi_string_expected): one call per argument instead of a type check
    // and then a read. Addresses are short: read into stack buffers.
    napi_env e = env;
    uint32_t id = 0;
    int32_t familyArg = 0;
    int32_t port = 0;
    uint32_t flags = 0;
    double timeoutMs = 0;
    double settleMs = 0;
    char address[512];
    size_t addressLen = 0;
    char localAddress[128];
    size_t localLen = 0;
    localAddress[0] = '\0';
    napi_valuetype localType = napi_undefined;
    bool ok = info.Length() >= 8 && napi_get_value_uint32(e, info[0], &id) == napi_ok &&
              napi_get_value_int32(e, info[1], &familyArg) == napi_ok &&
              napi_get_value_string_utf8(e, info[2], address, sizeof(address), &addressLen) == napi_ok &&
              napi_get_value_int32(e, info[3], &port) == napi_ok && napi_typeof(e, info[4], &localType) == napi_ok &&
              (localType == napi_null || localType == napi_undefined ||
               (localType == napi_string &&
                napi_get_value_string_utf8(e, info[4], localAddress, sizeof(localAddress), &localLen) == napi_ok)) &&
              napi_get_value_double(e, info[5], &timeoutMs) == napi_ok &&
              napi_get_value_uint32(e, info[6], &flags) == napi_ok &&
              napi_get_value_double(e, info[7], &settleMs) == napi_ok;
    if (!ok) {
      Napi::TypeError::New(env, "sockprobe native: start() got arguments of the wrong types")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (loop_ == nullptr || dispatch_.IsEmpty() || recordData_ == nullptr) {
      Napi::Error::New(env, "sockprobe native: init() has not been called").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    uint64_t timeout = ClampMs(timeoutMs);
    uint64_t settle64 = ClampMs(settleMs);
    uint32_t settle = settle64 > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(settle64);

    int family = familyArg == 4 ? AF_INET : familyArg == 6 ? AF_INET6 : familyArg == 0 ? AF_UNIX : -1;
    Outcome out;
    uint64_t startNs = uv_hrtime();
    // Ids index a vector (TypeScript hands out small reused ones). An id past
    // kMaxId would make that vector huge: report ERANGE instead of growing it.
    if (id >= kMaxId || Find(id) != nullptr) {
      out.err = id >= kMaxId ? ERANGE : EEXIST;
      out.stage = kStageSetup;
      return Result(env, out, id, toRecord);
    }
    Target target;
    int err = family < 0 ? EAFNOSUPPORT
              : addressLen + 1 >= sizeof(address) ? ENAMETOOLONG
                                                  : ParseTarget(family, std::string(address, addressLen), port, &target);
    if (err != 0) {
      out.err = err;
      out.stage = kStageAddress;
      return Result(env, out, id, toRecord);
    }
    Target local;
    bool bindLocal = localLen > 0 && family != AF_UNIX;
    if (bindLocal) {
      err = localLen + 1 >= sizeof(localAddress) ? EINVAL
                                                 : ParseTarget(family, std::string(localAddress, localLen), 0, &local);
      if (err != 0) {
        out.err = err;
        out.stage = kStageAddress;
        return Result(env, out, id, toRecord);
      }
    }
    err = EnsureWatch();
    if (err != 0) {
      out.err = err;
      out.stage = kStagePoll;
      return Result(env, out, id, toRecord);
    }
    int fd = OpenSocket(family, &err);
    if (fd < 0) {
      out.err = err;
      out.stage = kStageSocket;
      return Result(env, out, id, toRecord);
    }
    if (!(flags & kFlagNoRecvErr)) {
      // Failure path argued unreachable (handled anyway: FinishNow closes the fd
      // and reports stage "setsockopt"): IP_RECVERR / IPV6_RECVERR on a socket
      // this call just created fails only with EBADF/ENOTSOCK (the fd is ours
      // and open), EFAULT (stack int), EINVAL (optlen is sizeof(int)) or
      // ENOPROTOOPT (both options exist since Linux 2.2; a kernel without IPv6
      // fails earlier, at socket(), with EAFNOSUPPORT). For AF_UNIX it is a no-op.
      // The "setsockopt" stage itself is exercised by the EEXIST case above
      // (test/reliability/faults.test.ts).
      err = EnableErrorQueue(fd, family);
      if (err != 0) return FinishNow(env, fd, family, flags, startNs, err, kStageSetup, id, toRecord);
    }
    if (bindLocal && bind(fd, reinterpret_cast<sockaddr*>(&local.addr), local.len) != 0) {
      return FinishNow(env, fd, family, flags, startNs, errno, kStageBind, id, toRecord);
    }
    int rc;
    do {
      rc = connect(fd, reinterpret_cast<sockaddr*>(&target.addr), target.len);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0 && errno != EINPROGRESS) {
      return FinishNow(env, fd, family, flags, startNs, errno, kStageConnect, id, toRecord);
    }
    if (rc != 0) {
      // The answer is often there already: on loopback (and through a veth
      // into a namespace) the SYN and the peer's RST or ICMP error are
      // processed inside connect() itself, which still says EINPROGRESS.
      // One getsockopt here ends such a probe now, without an epoll
      // registration, a loop iteration and a dispatch. Same facts, same stage
      // as when OnSocket reads it; 0 (still in progress) goes on as before.
      int soErr = 0;
      socklen_t soLen = sizeof(soErr);
      if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soErr, &soLen) == 0 && soErr != 0)
        return FinishNow(env, fd, family, flags, startNs, soErr, kStageSoError, id, toRecord);
    }
    if (rc == 0 && settle == 0) {
      // Connected at once (Unix sockets do this): nothing to wait for.
      return FinishNow(env, fd, family, flags, startNs, 0, kStageConnected, id, toRecord);
    }

    Probe* p = new Probe();
    p->addon = this;
    p->id = id;
    p->fd = fd;
    p->family = family;
    p->flags = flags;
    p->settleMs = settle;
    p->startNs = startNs;
    if (rc == 0) {
      p->connectedNs = uv_hrtime();
      p->settling = true;
    }
    epoll_event ev;
    ev.events = p->settling ? (EPOLLIN | EPOLLRDHUP) : EPOLLOUT;
    ev.data.ptr = p;
    // Reachable only under kernel exhaustion, and handled: epoll_ctl(ADD) of a
    // new fd fails with ENOMEM, or ENOSPC past fs.epoll.max_user_watches (a
    // system-wide sysctl a test must not lower on a shared machine); EEXIST
    // cannot happen (the fd is new, and a finished probe is removed from the
    // set before its fd is closed). The probe then ends here as a local-error
    // at stage "poll": nothing is linked yet, and FinishNow closes the fd.
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      err = errno;
      delete p;
      return FinishNow(env, fd, family, flags, startNs, err, kStagePoll, id, toRecord);
    }
    Insert(p);
    PushDeadline(p, startNs + (p->settling ? static_cast<uint64_t>(settle) : timeout) * 1000000ULL);
    return env.Undefined();
  }

  // cancel(id): closes the probe's socket at once; its record never comes.
  Napi::Value Cancel(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsNumber()) return Napi::Boolean::New(env, false);
    Probe* p = Find(info[0].As<Napi::Number>().Uint32Value());
    if (p == nullptr) return Napi::Boolean::New(env, false);
    Release(p);
    return Napi::Boolean::New(env, true);
  }

  Napi::Value InFlight(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(count_));
  }

 private:
  static uint64_t ClampMs(double ms) {
    if (!(ms > 0)) return 0;  // also NaN
    if (ms >= 9007199254740991.0) return 9007199254740991ULL;
    return static_cast<uint64_t>(ms);
  }

  // ---- id table: ids are small integers chosen by JS (src/binding.ts) ----
  // More probes in flight than this cannot exist: each holds a descriptor.
  static constexpr uint32_t kMaxId = 1u << 22;

  Probe* Find(uint32_t id) const { return id < table_.size() ? table_[id] : nullptr; }

  void Insert(Probe* p) {
    if (p->id >= table_.size()) table_.resize(static_cast<size_t>(p->id) + 1 + table_.size() / 2, nullptr);
    table_[p->id] = p;
    if (count_++ == 0) {
      uv_ref(reinterpret_cast<uv_handle_t*>(watch_));  // in-flight probes keep the loop alive
      uv_ref(reinterpret_cast<uv_handle_t*>(timer_));
    }
  }

  // One epoll set per environment, itself watched by one uv_poll on Node's
  // loop, and one uv_timer for every deadline. Created by init().
  int EnsureWatch() {
    if (epfd_ >= 0) return 0;
    int fd = epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0) return errno;
    uv_poll_t* watch = new uv_poll_t;
    int err = uv_poll_init(loop_, watch, fd);
    if (err != 0) {
      delete watch;
      close(fd);
      return -err;
    }
    watch->data = this;
    err = uv_poll_start(watch, UV_READABLE, OnEpoll);
    if (err != 0) {
      uv_close(reinterpret_cast<uv_handle_t*>(watch), FreeHandle<uv_poll_t>);
      close(fd);
      return -err;
    }
    uv_timer_t* timer = new uv_timer_t;
    uv_timer_init(loop_, timer);  // cannot fail: it only fills the struct
    timer->data = this;
    uv_unref(reinterpret_cast<uv_handle_t*>(watch));
    uv_unref(reinterpret_cast<uv_handle_t*>(timer));
    epfd_ = fd;
    watch_ = watch;
    timer_ = timer;
    return 0;
  }

  template <typename T>
  static void FreeHandle(uv_handle_t* h) {
    delete reinterpret_cast<T*>(h);
  }

  // ---- deadlines: a binary min-heap, one timer armed for the earliest ----
  void PushDeadline(Probe* p, uint64_t deadline) {
    p->deadlineNs = deadline;
    p->heapIndex = heap_.size();
    heap_.push_back(p);
    SiftUp(p->heapIndex);
    if (heap_[0] == p) ArmTimer();
  }

  void RemoveDeadline(Probe* p) {
    size_t i = p->heapIndex;
    size_t last = heap_.size() - 1;
    if (i != last) {
      heap_[i] = heap_[last];
      heap_[i]->heapIndex = i;
      heap_.pop_back();
      SiftDown(i);
      SiftUp(i);
    } else {
      heap_.pop_back();
    }
  }

  void SiftUp(size_t i) {
    while (i > 0) {
      size_t parent = (i - 1) / 2;
      if (heap_[parent]->deadlineNs <= heap_[i]->deadlineNs) break;
      SwapHeap(i, parent);
      i = parent;
    }
  }

  void SiftDown(size_t i) {
    size_t n = heap_.size();
    for (;;) {
      size_t l = 2 * i + 1, r = l + 1, m = i;
      if (l < n && heap_[l]->deadlineNs < heap_[m]->deadlineNs) m = l;
      if (r < n && heap_[r]->deadlineNs < heap_[m]->deadlineNs) m = r;
      if (m == i) return;
      SwapHeap(i, m);
      i = m;
    }
  }

  void SwapHeap(size_t a, size_t b) {
    Probe* t = heap_[a];
    heap_[a] = heap_[b];
    heap_[b] = t;
    heap_[a]->heapIndex = a;
    heap_[b]->heapIndex = b;
  }

  void ArmTimer() {
    if (heap_.empty()) {
      uv_timer_stop(timer_);
      return;
    }
    uint64_t now = uv_hrtime();
    uint64_t due = heap_[0]->deadlineNs;
    uint64_t ms = due > now ? (due - now + 999999) / 1000000 : 0;
    uv_timer_start(timer_, OnTimer, ms, 0);
  }

  Napi::Value FinishNow(Napi::Env env, int fd, int family, uint32_t flags, uint64_t startNs, int err,
                        const char* stage, uint32_t id, bool toRecord) {
    Outcome out;
    out.err = err;
    out.stage = stage;
    out.endedInStart = err != 0;
    if (err == 0) out.connectNs = uv_hrtime() - startNs;
    Gather(fd, family, &out, nullptr);
    out.elapsedNs = uv_hrtime() - startNs;
    CloseFd(fd, flags, family, out.endedInStart);
    return Result(env, out, id, toRecord);
  }

  // An outcome known inside start(): an object (start()), or for
  // startRecord() the immediate row of the record buffer when it has no strings.
  Napi::Value Result(Napi::Env env, const Outcome& out, uint32_t id, bool toRecord) {
    if (!toRecord || recordData_ == nullptr || !out.localAddress.empty() ||
        (out.icmp.present && !out.icmp.offender.empty()))
      return OutcomeToJs(env, out);
    FillRecord(recordData_ + static_cast<size_t>(kImmediateRow) * kRecordWidth, id, out, -1, -1);
    return Napi::Number::New(env, kImmediateRow);
  }

  // The epoll set has events: handle every ready socket in C++ first (no JS
  // runs meanwhile, so every Probe* in the event array stays valid), then
  // hand all completions to JS in as few calls as the record buffer allows.
  static void OnEpoll(uv_poll_t* handle, int status, int /*events*/) {
    Addon* self = static_cast<Addon*>(handle->data);
    if (status < 0) return;
    epoll_event evs[kBatchRecords];
    for (int round = 0; round < 8; round++) {
      int n;
      do {
        n = epoll_wait(self->epfd_, evs, kBatchRecords, 0);
      } while (n < 0 && errno == EINTR);
      if (n <= 0) break;
      for (int i = 0; i < n; i++) self->OnSocket(static_cast<Probe*>(evs[i].data.ptr), evs[i].events);
      self->Flush();
      if (n < kBatchRecords) break;
    }
  }

  void OnSocket(Probe* p, uint32_t events) {
    bool pollErr = (events & EPOLLERR) != 0;
    int soErr = 0;
    socklen_t len = sizeof(soErr);
    // Argued unreachable, handled anyway (its errno becomes the reported
    // error): getsockopt(SO_ERROR) fails only with EBADF/ENOTSOCK (p->fd is open
    // while the probe is linked: Release() stops this handle before closing it,
    // and libuv calls no callback of a closing handle), EFAULT, EINVAL or
    // ENOPROTOOPT (SOL_SOCKET/SO_ERROR with an int always exists).
    if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &soErr, &len) != 0) soErr = errno;
    if (p->settling) {
      OnSettleEvent(p, soErr);
      return;
    }
    if (soErr != 0) {
      // Final even while still in SYN_SENT: with IP_RECVERR the kernel reports
      // a soft ICMP error this way, and we report what it said.
      Complete(p, soErr, kStageSoError);
      return;
    }
    TcpInfo tcp;
    bool connected;
    if (p->family == AF_UNIX) {
      sockaddr_storage peer;
      socklen_t plen = sizeof(peer);
      connected = getpeername(p->fd, reinterpret_cast<sockaddr*>(&peer), &plen) == 0;
    } else {
      // TCP_INFO is read for the report anyway; its state says whether the
      // handshake completed (anything past SYN_SENT), saving a getpeername().
      tcp = ReadTcpInfo(p->fd);
      connected = tcp.valid ? tcp.state != TCP_SYN_SENT && tcp.state != TCP_CLOSE : [&] {
        sockaddr_storage peer;
        socklen_t plen = sizeof(peer);
        return getpeername(p->fd, reinterpret_cast<sockaddr*>(&peer), &plen) == 0;
      }();
    }
    if (connected) {
      p->connectedNs = uv_hrtime();
      if (p->settleMs > 0) {
        BeginSettle(p);
        return;
      }
      Complete(p, 0, kStageConnected, Settle::kNone, 0, nullptr, tcp.valid ? &tcp : nullptr);
      return;
    }
    if (pollErr) {
      // POLLERR with SO_ERROR already clear and no connection: an entry on the
      // error queue keeps POLLERR raised, so waiting again would spin. Its
      // errno is the answer.
      IcmpReport icmp = ReadErrorQueue(p->fd);
      Complete(p, icmp.present && icmp.err != 0 ? icmp.err : EIO, kStageErrQueue, Settle::kNone, 0, &icmp);
      return;
    }
    // writable but not yet connected: a spurious wake-up, keep waiting
  }

  void BeginSettle(Probe* p) {
    p->settling = true;
    epoll_event ev;
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.ptr = p;
    // Same set, same fd, already registered: MOD can fail only with ENOMEM.
    if (epoll_ctl(epfd_, EPOLL_CTL_MOD, p->fd, &ev) != 0) {
      Complete(p, errno, kStagePoll);
      return;
    }
    RemoveDeadline(p);
    PushDeadline(p, uv_hrtime() + static_cast<uint64_t>(p->settleMs) * 1000000ULL);
  }

  // Something happened on a connected socket during the settle window.
  void OnSettleEvent(Probe* p, int soErr) {
    Settle what;
    int settleErr = 0;
    char c;
    ssize_t n = 0;
    if (soErr == 0) {
      do {
        n = recv(p->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
      } while (n < 0 && errno == EINTR);
      if (n < 0) soErr = errno;
    }
    if (soErr == EAGAIN || soErr == EWOULDBLOCK) return;  // spurious wake-up; still watched
    if (soErr != 0) {
      what = Settle::kReset;
      settleErr = soErr;
    } else {
      what = n > 0 ? Settle::kData : Settle::kFin;
    }
    Complete(p, 0, kStageConnected, what, settleErr);
  }

  // Every probe whose deadline has passed ends now (timeout, or a quiet
  // settle window); then the timer is armed for the next deadline.
  static void OnTimer(uv_timer_t* handle) {
    Addon* self = static_cast<Addon*>(handle->data);
    uint64_t now = uv_hrtime();
    while (!self->heap_.empty() && self->heap_[0]->deadlineNs <= now) {
      Probe* p = self->heap_[0];
      if (p->settling) {
        self->Complete(p, 0, kStageConnected, Settle::kQuiet, 0);
      } else {
        self->Expire(p);
      }
      if (self->finished_.size() >= static_cast<size_t>(kBatchRecords)) self->Flush();
    }
    self->ArmTimer();
    self->Flush();
  }

  // A connect deadline passed. libuv runs timers before it polls for I/O, so
  // when the loop was busy past the deadline an answer may already be waiting
  // on the socket: look once before calling it a timeout.
  void Expire(Probe* p) {
    int soErr = 0;
    socklen_t len = sizeof(soErr);
    if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &soErr, &len) != 0) soErr = 0;
    if (soErr != 0) {
      Complete(p, soErr, kStageSoError);
      return;
    }
    sockaddr_storage peer;
    socklen_t plen = sizeof(peer);
    if (getpeername(p->fd, reinterpret_cast<sockaddr*>(&peer), &plen) != 0) {
      Complete(p, ETIMEDOUT, kStageTimeout);
      return;
    }
    p->connectedNs = uv_hrtime();
    if (p->settleMs > 0) {
      BeginSettle(p);
      return;
    }
    Complete(p, 0, kStageConnected);
  }

  void Complete(Probe* p, int err, const char* stage, Settle settle = Settle::kNone, int settleErr = 0,
                const IcmpReport* alreadyRead = nullptr, const TcpInfo* tcpRead = nullptr) {
    finished_.emplace_back();
    Finished& f = finished_.back();
    f.id = p->id;
    Outcome& out = f.out;
    out.err = err;
    out.stage = stage;
    out.settle = settle;
    out.settleErr = settleErr;
    out.elapsedNs = uv_hrtime() - p->startNs;
    if (p->connectedNs != 0) out.connectNs = p->connectedNs - p->startNs;
    Gather(p->fd, p->family, &out, tcpRead);
    if (alreadyRead != nullptr) out.icmp = *alreadyRead;
    // Linger only matters for a socket that may be connected: skip it when
    // TCP_INFO says the kernel closed the connection attempt (CLOSE).
    Release(p, err != 0 && p->connectedNs == 0 && out.tcp.valid && out.tcp.state == TCP_CLOSE);
  }

  // Unlinks the probe, closes its descriptor (which also drops it from the
  // epoll set) and frees it.
  // `neverConnected` as for CloseFd; a cancelled probe may be connected.
  void Release(Probe* p, bool neverConnected = false) {
    table_[p->id] = nullptr;
    RemoveDeadline(p);
    CloseFd(p->fd, p->flags, p->family, neverConnected);
    delete p;
    if (--count_ == 0) {
      uv_unref(reinterpret_cast<uv_handle_t*>(watch_));
      uv_unref(reinterpret_cast<uv_handle_t*>(timer_));
      uv_timer_stop(timer_);
    }
  }

  // Writes the finished outcomes as records and calls dispatch(count, strings)
  // once per full buffer.
  void Flush() {
    size_t done = 0;
    while (done < finished_.size()) {
      size_t count = finished_.size() - done;
      if (count > static_cast<size_t>(kBatchRecords)) count = kBatchRecords;
      Deliver(done, count);
      done += count;
    }
    finished_.clear();
  }

  void Deliver(size_t first, size_t count) {
    Napi::Env env = env_;
    Napi::HandleScope scope(env);
    if (dispatch_.IsEmpty() || context_ == nullptr || recordData_ == nullptr) return;
    napi_value strings = nullptr;
    uint32_t nstrings = 0;
    auto addString = [&](const std::string& text) -> double {
      if (text.empty()) return -1;
      if (strings == nullptr) napi_create_array(env, &strings);
      napi_value v;
      napi_create_string_utf8(env, text.data(), text.size(), &v);
      napi_set_element(env, strings, nstrings, v);
      return nstrings++;
    };
    for (size_t i = 0; i < count; i++) {
      const Finished& f = finished_[first + i];
      double local = addString(f.out.localAddress);
      double offender = f.out.icmp.present ? addString(f.out.icmp.offender) : -1;
      FillRecord(recordData_ + i * kRecordWidth, f.id, f.out, local, offender);
    }
    napi_value argv[2] = {Napi::Number::New(env, static_cast<double>(count)),
                          strings == nullptr ? env.Undefined() : strings};
    napi_value recv = env.Global();
    napi_value result;
    napi_status status = napi_make_callback(env, *context_, recv, dispatch_.Value(), 2, argv, &result);
    if (status != napi_ok) {
      // The dispatcher threw: hand the error to Node's uncaught-exception path
      // instead of leaving it pending inside a libuv callback.
      bool pending = false;
      napi_is_exception_pending(env, &pending);
      if (pending) {
        napi_value error;
        napi_get_and_clear_last_exception(env, &error);
        napi_fatal_exception(env, error);
      }
    }
  }

  static void Cleanup(void* arg) {
    Addon* self = static_cast<Addon*>(arg);
    // The environment is going away (worker terminated, process exiting):
    // close every socket still in flight without calling back into JS.
    for (Probe* p : self->table_)
      if (p != nullptr) self->Release(p);
    self->finished_.clear();
    if (self->watch_ != nullptr) {
      uv_close(reinterpret_cast<uv_handle_t*>(self->watch_), FreeHandle<uv_poll_t>);
      uv_close(reinterpret_cast<uv_handle_t*>(self->timer_), FreeHandle<uv_timer_t>);
      close(self->epfd_);
      self->watch_ = nullptr;
      self->timer_ = nullptr;
      self->epfd_ = -1;
    }
    self->dispatch_.Reset();
    self->records_.Reset();
    self->recordData_ = nullptr;
    delete self->context_;
    self->context_ = nullptr;
  }

  Napi::Env env_;
  uv_loop_t* loop_ = nullptr;
  Napi::FunctionReference dispatch_;
  Napi::AsyncContext* context_ = nullptr;
  Napi::Reference<Napi::Float64Array> records_;
  double* recordData_ = nullptr;
  int epfd_ = -1;
  uv_poll_t* watch_ = nullptr;
  uv_timer_t* timer_ = nullptr;
  std::vector<Probe*> table_;  // by id
  size_t count_ = 0;
  std::vector<Probe*> heap_;   // deadlines
  std::vector<Finished> finished_;
};

using Method = Napi::Value (Addon::*)(const Napi::CallbackInfo&);

// Every export reaches the environment's own Addon through instance data.
template <Method M>
Napi::Value Call(const Napi::CallbackInfo& info) {
  Addon* addon = info.Env().GetInstanceData<Addon>();
  if (addon == nullptr) return info.Env().Undefined();
  return (addon->*M)(info);
}

}  // namespace

}  // namespace sockprobe

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  using sockprobe::Addon;
  using sockprobe::Call;
  env.SetInstanceData<Addon>(new Addon(env));
  exports.Set("init", Napi::Function::New(env, Call<&Addon::Init>, "init"));
  exports.Set("start", Napi::Function::New(env, Call<&Addon::Start>, "start"));
  exports.Set("startRecord", Napi::Function::New(env, Call<&Addon::StartRecord>, "startRecord"));
  exports.Set("cancel", Napi::Function::New(env, Call<&Addon::Cancel>, "cancel"));
  exports.Set("inFlight", Napi::Function::New(env, Call<&Addon::InFlight>, "inFlight"));
  sockprobe::RegisterInspect(env, exports);
  return exports;
}

NODE_API_MODULE(sockprobe, InitModule)
