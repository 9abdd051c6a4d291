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
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <unordered_map>

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

class Addon;

struct Probe {
  uv_poll_t poll;
  uv_timer_t timer;
  Addon* addon = nullptr;
  uint32_t id = 0;
  int fd = -1;
  int family = 0;
  uint32_t flags = 0;
  uint32_t settleMs = 0;
  uint64_t startNs = 0;
  uint64_t connectedNs = 0;
  bool settling = false;
  int pendingCloses = 0;
};

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
// asked for, so the probing side keeps no TIME_WAIT entry.
void CloseFd(int fd, uint32_t flags, int family) {
  if (fd < 0) return;
  if (!(flags & kFlagGraceful) && family != AF_UNIX) {
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

// Reads everything worth reporting from a socket that is about to be closed.
void Gather(int fd, int family, Outcome* out) {
  out->sndbuf = SockOptInt(fd, SOL_SOCKET, SO_SNDBUF);
  out->rcvbuf = SockOptInt(fd, SOL_SOCKET, SO_RCVBUF);
  sockaddr_storage local;
  socklen_t len = sizeof(local);
  std::memset(&local, 0, sizeof(local));
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) == 0) {
    out->localAddress = FormatAddress(reinterpret_cast<sockaddr*>(&local), len, &out->localPort);
  }
  if (family == AF_INET || family == AF_INET6) {
    // Order matters: SO_ERROR was read before this, and reading the queue
    // resets sk_err to the next queued error.
    out->icmp = ReadErrorQueue(fd);
    out->tcp = ReadTcpInfo(fd);
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
  if (o.settle != Settle::kNone) {
    static const char* const names[] = {"none", "quiet", "data", "fin", "reset"};
    r.Set("settle", Napi::String::New(env, names[static_cast<int>(o.settle)]));
    SetNumber(env, r, "settleErrno", o.settleErr);
  }
  return r;
}

class Addon {
 public:
  explicit Addon(Napi::Env env) : env_(env) {
    if (napi_get_uv_event_loop(env, &loop_) != napi_ok) loop_ = nullptr;
    napi_add_env_cleanup_hook(env, Cleanup, this);
  }

  ~Addon() { delete context_; }

  Napi::Value Init(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsFunction()) {
      Napi::TypeError::New(env, "sockprobe native: init(dispatch) needs a function").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    dispatch_ = Napi::Persistent(info[0].As<Napi::Function>());
    if (context_ == nullptr) context_ = new Napi::AsyncContext(env, "sockprobe");
    return env.Undefined();
  }

  // start(id, family, address, port, localAddress, timeoutMs, flags, settleMs)
  // Returns undefined while the probe is in flight (dispatch(id, outcome) is
  // called later), or the outcome object when it ended at once.
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 8 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsString() ||
        !info[3].IsNumber() || !info[5].IsNumber() || !info[6].IsNumber() || !info[7].IsNumber() ||
        !(info[4].IsString() || info[4].IsNull() || info[4].IsUndefined())) {
      Napi::TypeError::New(env, "sockprobe native: start() got arguments of the wrong types")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (loop_ == nullptr || dispatch_.IsEmpty()) {
      Napi::Error::New(env, "sockprobe native: init() has not been called").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    uint32_t id = info[0].As<Napi::Number>().Uint32Value();
    int familyArg = info[1].As<Napi::Number>().Int32Value();
    std::string address = info[2].As<Napi::String>().Utf8Value();
    int port = info[3].As<Napi::Number>().Int32Value();
    std::string localAddress = info[4].IsString() ? info[4].As<Napi::String>().Utf8Value() : std::string();
    double timeoutMs = info[5].As<Napi::Number>().DoubleValue();
    uint32_t flags = info[6].As<Napi::Number>().Uint32Value();
    double settleMs = info[7].As<Napi::Number>().DoubleValue();
    // Clamp rather than judge: libuv timers take uint64 milliseconds.
    uint64_t timeout = ClampMs(timeoutMs);
    uint64_t settle64 = ClampMs(settleMs);
    uint32_t settle = settle64 > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(settle64);

    int family = familyArg == 4 ? AF_INET : familyArg == 6 ? AF_INET6 : familyArg == 0 ? AF_UNIX : -1;
    Outcome out;
    uint64_t startNs = uv_hrtime();
    if (inflight_.count(id) != 0) {
      out.err = EEXIST;
      out.stage = kStageSetup;
      return OutcomeToJs(env, out);
    }
    Target target;
    int err = family < 0 ? EAFNOSUPPORT : ParseTarget(family, address, port, &target);
    if (err != 0) {
      out.err = err;
      out.stage = kStageAddress;
      return OutcomeToJs(env, out);
    }
    Target local;
    bool bindLocal = !localAddress.empty() && family != AF_UNIX;
    if (bindLocal) {
      err = ParseTarget(family, localAddress, 0, &local);
      if (err != 0) {
        out.err = err;
        out.stage = kStageAddress;
        return OutcomeToJs(env, out);
      }
    }
    int fd = OpenSocket(family, &err);
    if (fd < 0) {
      out.err = err;
      out.stage = kStageSocket;
      return OutcomeToJs(env, out);
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
      if (err != 0) return FinishNow(env, fd, family, flags, startNs, err, kStageSetup);
    }
    if (bindLocal && bind(fd, reinterpret_cast<sockaddr*>(&local.addr), local.len) != 0) {
      return FinishNow(env, fd, family, flags, startNs, errno, kStageBind);
    }
    int rc;
    do {
      rc = connect(fd, reinterpret_cast<sockaddr*>(&target.addr), target.len);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0 && errno != EINPROGRESS) {
      return FinishNow(env, fd, family, flags, startNs, errno, kStageConnect);
    }
    if (rc == 0 && settle == 0) {
      // Connected at once (Unix sockets do this): nothing to wait for.
      return FinishNow(env, fd, family, flags, startNs, 0, kStageConnected);
    }

    Probe* p = new Probe();
    p->addon = this;
    p->id = id;
    p->fd = fd;
    p->family = family;
    p->flags = flags;
    p->settleMs = settle;
    p->startNs = startNs;
    p->poll.data = p;
    p->timer.data = p;
    // Reachable only under kernel exhaustion, and handled: libuv's uv_poll_init
    // fails with UV_EEXIST when the loop already watches this fd number (it
    // cannot: the fd is new, and Release() uv_close()s a probe's poll handle,
    // which unregisters it, before close()ing its fd), or with what its trial
    // epoll_ctl(ADD) says: ENOMEM, or ENOSPC past fs.epoll.max_user_watches
    // (a system-wide sysctl a test must not lower on a shared machine). Then the
    // probe ends here as a local-error at stage "poll": nothing was linked into
    // inflight_, neither handle was initialised (plain delete is right), and
    // FinishNow closes the fd.
    err = uv_poll_init_socket(loop_, &p->poll, fd);
    if (err != 0) {
      delete p;
      return FinishNow(env, fd, family, flags, startNs, -err, kStagePoll);
    }
    uv_timer_init(loop_, &p->timer);  // cannot fail: it only fills the struct (always returns 0)
    p->pendingCloses = 2;
    inflight_.emplace(id, p);
    if (rc == 0) {
      p->connectedNs = uv_hrtime();
      BeginSettle(p);
      return env.Undefined();
    }
    // Argued unreachable, handled anyway (Release closes both handles and the fd):
    // uv_poll_start fails only with UV_EEXIST when another handle of this loop
    // watches the same fd number, which the uv_poll_init above just ruled out.
    // The epoll_ctl itself happens later, inside the loop; libuv abort()s if it
    // fails there, but uv_poll_init's trial ADD of the same fd succeeded.
    err = uv_poll_start(&p->poll, UV_WRITABLE, OnPoll);
    if (err != 0) {
      Outcome o;
      o.err = -err;
      o.stage = kStagePoll;
      o.elapsedNs = uv_hrtime() - startNs;
      Release(p);
      return OutcomeToJs(env, o);
    }
    uv_timer_start(&p->timer, OnTimer, timeout, 0);  // UV_EINVAL only for a closing handle or no callback
    return env.Undefined();
  }

  // cancel(id): closes the probe's socket at once; its dispatch never comes.
  Napi::Value Cancel(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsNumber()) return Napi::Boolean::New(env, false);
    auto it = inflight_.find(info[0].As<Napi::Number>().Uint32Value());
    if (it == inflight_.end()) return Napi::Boolean::New(env, false);
    Release(it->second);
    return Napi::Boolean::New(env, true);
  }

  Napi::Value InFlight(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(inflight_.size()));
  }

 private:
  static uint64_t ClampMs(double ms) {
    if (!(ms > 0)) return 0;  // also NaN
    if (ms >= 9007199254740991.0) return 9007199254740991ULL;
    return static_cast<uint64_t>(ms);
  }

  Napi::Value FinishNow(Napi::Env env, int fd, int family, uint32_t flags, uint64_t startNs, int err,
                        const char* stage) {
    Outcome out;
    out.err = err;
    out.stage = stage;
    if (err == 0) out.connectNs = uv_hrtime() - startNs;
    Gather(fd, family, &out);
    out.elapsedNs = uv_hrtime() - startNs;
    CloseFd(fd, flags, family);
    return OutcomeToJs(env, out);
  }

  // libuv reports POLLERR as status UV_EBADF and stops the handle; the real
  // error is then in SO_ERROR (or, for an ICMP report alone, the error queue).
  static void OnPoll(uv_poll_t* handle, int status, int events) {
    Probe* p = static_cast<Probe*>(handle->data);
    Addon* self = p->addon;
    if (status < 0 && status != UV_EBADF) {
      self->Complete(p, -status, kStagePoll);
      return;
    }
    bool pollErr = status == UV_EBADF;
    int soErr = 0;
    socklen_t len = sizeof(soErr);
    // Argued unreachable, handled anyway (its errno becomes the reported
    // error): getsockopt(SO_ERROR) fails only with EBADF/ENOTSOCK (p->fd is open
    // while the probe is linked: Release() stops this handle before closing it,
    // and libuv calls no callback of a closing handle), EFAULT, EINVAL or
    // ENOPROTOOPT (SOL_SOCKET/SO_ERROR with an int always exists).
    if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &soErr, &len) != 0) soErr = errno;
    if (p->settling) {
      self->OnSettleEvent(p, soErr);
      return;
    }
    if (soErr != 0) {
      // Final even while still in SYN_SENT: with IP_RECVERR the kernel reports
      // a soft ICMP error this way, and we report what it said.
      self->Complete(p, soErr, kStageSoError);
      return;
    }
    sockaddr_storage peer;
    socklen_t plen = sizeof(peer);
    if (getpeername(p->fd, reinterpret_cast<sockaddr*>(&peer), &plen) == 0) {
      p->connectedNs = uv_hrtime();
      if (p->settleMs > 0) {
        self->BeginSettle(p);
        return;
      }
      self->Complete(p, 0, kStageConnected);
      return;
    }
    if (pollErr) {
      // POLLERR with SO_ERROR already clear and no connection: an entry on the
      // error queue keeps POLLERR raised, so waiting again would spin. Its
      // errno is the answer.
      IcmpReport icmp = ReadErrorQueue(p->fd);
      self->Complete(p, icmp.present && icmp.err != 0 ? icmp.err : EIO, kStageErrQueue, Settle::kNone, 0,
                     &icmp);
      return;
    }
    (void)events;  // writable but not yet connected: a spurious wake-up, keep waiting
  }

  void BeginSettle(Probe* p) {
    p->settling = true;
    // Same handle, same fd: as unreachable as the first uv_poll_start (see Start).
    int err = uv_poll_start(&p->poll, UV_READABLE | UV_DISCONNECT, OnPoll);
    if (err != 0) {
      Complete(p, -err, kStagePoll);
      return;
    }
    uv_timer_stop(&p->timer);
    uv_timer_start(&p->timer, OnTimer, p->settleMs, 0);
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
    if (soErr == EAGAIN || soErr == EWOULDBLOCK) {
      // Spurious wake-up; libuv may have stopped the handle, so watch again.
      if (uv_poll_start(&p->poll, UV_READABLE | UV_DISCONNECT, OnPoll) == 0) return;
      soErr = EIO;
    }
    if (soErr != 0) {
      what = Settle::kReset;
      settleErr = soErr;
    } else {
      what = n > 0 ? Settle::kData : Settle::kFin;
    }
    Complete(p, 0, kStageConnected, what, settleErr);
  }

  static void OnTimer(uv_timer_t* handle) {
    Probe* p = static_cast<Probe*>(handle->data);
    if (p->settling) {
      p->addon->Complete(p, 0, kStageConnected, Settle::kQuiet, 0);
    } else {
      p->addon->Complete(p, ETIMEDOUT, kStageTimeout);
    }
  }

  void Complete(Probe* p, int err, const char* stage, Settle settle = Settle::kNone, int settleErr = 0,
                const IcmpReport* alreadyRead = nullptr) {
    Outcome out;
    out.err = err;
    out.stage = stage;
    out.settle = settle;
    out.settleErr = settleErr;
    uint64_t now = uv_hrtime();
    out.elapsedNs = now - p->startNs;
    if (p->connectedNs != 0) out.connectNs = p->connectedNs - p->startNs;
    Gather(p->fd, p->family, &out);
    if (alreadyRead != nullptr) out.icmp = *alreadyRead;
    uint32_t id = p->id;
    Release(p);
    Deliver(id, out);
  }

  // Stops watching, closes the descriptor now, and frees the probe once libuv
  // has closed both handles. Unlinks it first so nothing can reach it twice.
  void Release(Probe* p) {
    inflight_.erase(p->id);
    uv_close(reinterpret_cast<uv_handle_t*>(&p->poll), OnClosed);  // stops watching the fd first
    uv_close(reinterpret_cast<uv_handle_t*>(&p->timer), OnClosed);
    CloseFd(p->fd, p->flags, p->family);
    p->fd = -1;
  }

  static void OnClosed(uv_handle_t* handle) {
    Probe* p = static_cast<Probe*>(handle->data);
    if (--p->pendingCloses == 0) delete p;
  }

  void Deliver(uint32_t id, const Outcome& out) {
    Napi::Env env = env_;
    Napi::HandleScope scope(env);
    if (dispatch_.IsEmpty() || context_ == nullptr) return;
    napi_value argv[2] = {Napi::Number::New(env, id), OutcomeToJs(env, out)};
    napi_value recv = env.Global();
    napi_value result;
    napi_status status =
        napi_make_callback(env, *context_, recv, dispatch_.Value(), 2, argv, &result);
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
    while (!self->inflight_.empty()) self->Release(self->inflight_.begin()->second);
    self->dispatch_.Reset();
    delete self->context_;
    self->context_ = nullptr;
  }

  Napi::Env env_;
  uv_loop_t* loop_ = nullptr;
  Napi::FunctionReference dispatch_;
  Napi::AsyncContext* context_ = nullptr;
  std::unordered_map<uint32_t, Probe*> inflight_;
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
  exports.Set("cancel", Napi::Function::New(env, Call<&Addon::Cancel>, "cancel"));
  exports.Set("inFlight", Napi::Function::New(env, Call<&Addon::InFlight>, "inFlight"));
  sockprobe::RegisterInspect(env, exports);
  return exports;
}

NODE_API_MODULE(sockprobe, InitModule)
