// The module: sockprobe's N-API surface over the engine, and the completion
// record's serialisation. One Module per Node environment (instance data),
// with its own engine and backend, and an async cleanup hook that closes what
// is in flight when the environment goes away and lets Node go on only once
// libuv has closed every handle (closer.h): nothing is process-wide, so each
// worker_thread has its own. No thread-pool work: a connect is I/O, watched on
// Node's own loop by the backend.
//
// The surface is flat: init(dispatch), start(...), startRecord(...),
// cancel(id), inFlight(), inspect(fd, takeError), useBackend(name), and
// `layout`/`stages`, the record's columns as record.h defines them; `backend`
// (the readiness backend in use), `backends` (those compiled in),
// `errnoNames` and `capabilities` (below). C++ reads its arguments only as
// far as memory safety needs and reports raw facts; TypeScript validates and
// interprets.

// A worker being terminated keeps running the callbacks of its current loop
// iteration after V8 was told to stop, so a probe can complete (Deliver) in an
// environment that can no longer run JS. There every napi call with a
// preamble fails with napi_pending_exception, and without this define
// node-addon-api answers the failure by throwing, which fails too, which it
// treats as fatal: the whole process aborted. With it, node-addon-api swallows
// exactly that case and Deliver's napi_make_callback fails quietly.
// Regression test: test/reliability/lifecycle.test.ts.
#define NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS
#include <napi.h>
#include <uv.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "address.h"
#include "backend.h"
#include "engine.h"
#include "inspect.h"
#include "platform.h"
#include "record.h"
#include "socket_posix.h"

namespace sockprobe {

// The default first: epoll on Linux, libuv's poller elsewhere.
const BackendChoice kBackends[] = {
#ifdef __linux__
    {"epoll", NewEpollBackend},
#endif
    {"uv", NewUvBackend},
};
const unsigned kBackendCount = sizeof(kBackends) / sizeof(kBackends[0]);

namespace {

// Records per dispatch call; one more row (kImmediateRow) takes start()'s
// immediate outcomes.
constexpr int kBatchRecords = 512;
constexpr int kImmediateRow = kBatchRecords;

const char* const kStageNames[] = {
#define SOCKPROBE_X(name) #name,
    SOCKPROBE_STAGES(SOCKPROBE_X)
#undef SOCKPROBE_X
};

void SetNumber(Napi::Env env, Napi::Object obj, const char* key, double value) {
  obj.Set(key, Napi::Number::New(env, value));
}

// A TCP_INFO field, or NaN when the platform cannot know it (TcpInfo::absent).
double TcpValue(const TcpInfo& tcp, TcpField f, unsigned value) {
  return tcp.Has(f) ? static_cast<double>(value) : std::numeric_limits<double>::quiet_NaN();
}

// An outcome as an object, for start() and for immediate outcomes with strings.
Napi::Object OutcomeToJs(Napi::Env env, const Outcome& o) {
  Napi::Object r = Napi::Object::New(env);
  SetNumber(env, r, "errno", o.err);
  r.Set("stage", Napi::String::New(env, kStageNames[o.stage]));
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
#define SOCKPROBE_X(name, tcpi) SetNumber(env, t, #name, TcpValue(o.tcp, kTcp_##name, o.tcp.name));
    SOCKPROBE_TCP_FIELDS(SOCKPROBE_X)
#undef SOCKPROBE_X
    r.Set("tcp", t);
  }
  if (o.endedInStart) r.Set("endedInStart", Napi::Boolean::New(env, true));
  if (o.fd >= 0) SetNumber(env, r, "fd", o.fd);
  return r;
}

// One outcome as a record row; `local` and `offender` index the strings array (-1: none).
void FillRecord(double* r, uint32_t id, const Outcome& o, double local, double offender) {
  r[kF_id] = id;
  r[kF_err] = o.err;
  r[kF_stage] = o.stage;
  r[kF_elapsedNs] = static_cast<double>(o.elapsedNs);
  r[kF_connectNs] = static_cast<double>(o.connectNs);
  r[kF_sndbuf] = o.sndbuf;
  r[kF_rcvbuf] = o.rcvbuf;
  r[kF_localPort] = o.localPort;
  r[kF_localAddress] = local;
  r[kF_icmp] = o.icmp.present ? 1 : 0;
  if (o.icmp.present) {
    r[kF_icmpErrno] = o.icmp.err;
    r[kF_icmpOrigin] = o.icmp.origin;
    r[kF_icmpType] = o.icmp.type;
    r[kF_icmpCode] = o.icmp.code;
    r[kF_icmpInfo] = o.icmp.info;
    r[kF_icmpOffender] = offender;
  }
  r[kF_fd] = o.fd;
  r[kF_neigh] = 0;  // FillNeighbour() writes a neighbour read at a deadline
  r[kF_tcp] = o.tcp.valid ? 1 : o.endedInStart ? 2 : 0;
  if (o.tcp.valid) {
    r[kF_tcpBytes] = o.tcp.bytes;
#define SOCKPROBE_X(name, tcpi) r[kF_tcp_##name] = TcpValue(o.tcp, kTcp_##name, o.tcp.name);
    SOCKPROBE_TCP_FIELDS(SOCKPROBE_X)
#undef SOCKPROBE_X
  }
}

// The next hop's neighbour entry of an outcome whose `neigh` is present;
// `address` and `name` index the strings array (-1: none).
void FillNeighbour(double* r, const NextHopNeighbour& n, double address, double name) {
  r[kF_neigh] = n.entry ? 1 : n.noEntry ? 2 : 3;
  r[kF_neighState] = n.state;
  r[kF_neighAddress] = address;
  r[kF_neighIfindex] = n.ifindex;
  r[kF_neighInterface] = name;
  r[kF_neighGateway] = n.gateway ? 1 : 0;
  r[kF_neighProbes] = static_cast<double>(n.probes);
  r[kF_neighUpdatedMs] = static_cast<double>(n.updatedMs);
  r[kF_neighRetransMs] = static_cast<double>(n.retransMs);
}

uint64_t ClampMs(double ms) {
  if (!(ms > 0)) return 0;  // also NaN
  if (ms >= 9007199254740991.0) return 9007199254740991ULL;
  return static_cast<uint64_t>(ms);
}

class Module final : public CompletionSink {
 public:
  explicit Module(Napi::Env env) : env_(env) {
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok) loop = nullptr;
    engine_ = new Engine(loop, kBackends[0].make(), this, closer_);
    if (napi_add_async_cleanup_hook(env, Cleanup, this, nullptr) != napi_ok)
      napi_add_env_cleanup_hook(env, CleanupNow, this);  // not reached on Node-API 8
  }

  ~Module() {
    delete engine_;
    delete context_;
    closer_->Release();
  }

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
    engine_->Prepare();
    return records_.Value();
  }

  // start(id, family, address, port, localAddress, timeoutMs, flags[, ttl])
  // ttl: the SYNs' hop limit (IP_TTL / IPV6_UNICAST_HOPS), 0 or absent for the
  // system default; a value the kernel refuses ends the probe at setsockopt.
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
    // also says whether it had the right type: one call per argument instead
    // of a type check and then a read. Addresses are short: stack buffers.
    napi_env e = env;
    uint32_t id = 0;
    int32_t familyArg = 0;
    int32_t port = 0;
    uint32_t flags = 0;
    int32_t ttl = 0;
    double timeoutMs = 0;
    char address[512];
    size_t addressLen = 0;
    char localAddress[128];
    size_t localLen = 0;
    localAddress[0] = '\0';
    napi_valuetype localType = napi_undefined;
    bool ok = info.Length() >= 7 && napi_get_value_uint32(e, info[0], &id) == napi_ok &&
              napi_get_value_int32(e, info[1], &familyArg) == napi_ok &&
              napi_get_value_string_utf8(e, info[2], address, sizeof(address), &addressLen) == napi_ok &&
              napi_get_value_int32(e, info[3], &port) == napi_ok && napi_typeof(e, info[4], &localType) == napi_ok &&
              (localType == napi_null || localType == napi_undefined ||
               (localType == napi_string &&
                napi_get_value_string_utf8(e, info[4], localAddress, sizeof(localAddress), &localLen) == napi_ok)) &&
              napi_get_value_double(e, info[5], &timeoutMs) == napi_ok &&
              napi_get_value_uint32(e, info[6], &flags) == napi_ok &&
              (info.Length() < 8 || info[7].IsUndefined() || napi_get_value_int32(e, info[7], &ttl) == napi_ok);
    if (!ok) {
      Napi::TypeError::New(env, "sockprobe native: start() got arguments of the wrong types")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (dispatch_.IsEmpty() || recordData_ == nullptr) {
      Napi::Error::New(env, "sockprobe native: init() has not been called").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    // Ids are small integers handed out by src/binding.ts and index a vector.
    // One out of range or already in flight is sockprobe's own fault, not
    // something the kernel said: an exception, never an outcome.
    if (!engine_->IdFree(id)) {
      Napi::Error err = Napi::Error::New(
          env, id >= Engine::kMaxId ? "sockprobe internal error: probe id out of range"
                                    : "sockprobe internal error: probe id already in flight");
      err.Set("code", Napi::String::New(env, "ERR_SOCKPROBE_INTERNAL"));
      err.ThrowAsJavaScriptException();
      return env.Undefined();
    }

    Request req;
    req.id = id;
    req.family = familyArg == 4 ? AF_INET : familyArg == 6 ? AF_INET6 : familyArg == 0 ? AF_UNIX : -1;
    req.timeoutMs = ClampMs(timeoutMs);
    req.flags = flags;
    req.ttl = ttl;
    Outcome out;
    started_ = true;
    int err = req.family < 0 ? kErrAfNoSupport
              : addressLen + 1 >= sizeof(address)
                  ? kErrNameTooLong
                  : ParseTarget(req.family, std::string(address, addressLen), port, &req.target);
    if (err == 0 && localLen > 0 && req.family != AF_UNIX) {
      req.bindLocal = true;
      err = localLen + 1 >= sizeof(localAddress)
                ? kErrInval
                : ParseTarget(req.family, std::string(localAddress, localLen), 0, &req.local);
    }
    if (err != 0) {
      out.err = err;
      out.stage = kStage_address;
      return Result(env, out, id, toRecord);
    }
    if (!engine_->Start(req, &out)) return env.Undefined();
    return Result(env, out, id, toRecord);
  }

  // cancel(id): closes the probe's socket at once; its record never comes.
  Napi::Value Cancel(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsNumber()) return Napi::Boolean::New(env, false);
    return Napi::Boolean::New(env, engine_->Cancel(info[0].As<Napi::Number>().Uint32Value()));
  }

  Napi::Value InFlight(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(engine_->InFlight()));
  }

  // The backend in use: `backend` is a getter, so it follows useBackend().
  Napi::Value Backend(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), engine_->BackendName()); }

  // useBackend(name): which readiness backend this environment's probes use,
  // one of `backends`. Only before the first probe starts (a probe in flight
  // cannot change poller); naming the one in use is always allowed.
  Napi::Value UseBackend(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string known;
    for (unsigned i = 0; i < kBackendCount; i++) known += (i ? ", '" : "'") + std::string(kBackends[i].name) + "'";
    if (info.Length() < 1 || !info[0].IsString()) {
      Napi::TypeError::New(env, "sockprobe: useBackend(name) takes a backend name, one of " + known)
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    std::string name = info[0].As<Napi::String>().Utf8Value();
    const BackendChoice* choice = nullptr;
    for (unsigned i = 0; i < kBackendCount; i++)
      if (name == kBackends[i].name) choice = &kBackends[i];
    if (choice == nullptr) {
      Napi::Error err = Napi::Error::New(
          env, "sockprobe: no readiness backend named '" + name + "' in this build (it has " + known + ")");
      err.Set("code", Napi::String::New(env, "ERR_SOCKPROBE_BACKEND"));
      err.ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (name == engine_->BackendName()) return env.Undefined();
    if (started_ || engine_->InFlight() != 0) {
      Napi::Error err = Napi::Error::New(env, "sockprobe: useBackend('" + name +
                                                  "') must be called before the first probe starts (the '" +
                                                  engine_->BackendName() + "' backend is in use)");
      err.Set("code", Napi::String::New(env, "ERR_SOCKPROBE_BACKEND"));
      err.ThrowAsJavaScriptException();
      return env.Undefined();
    }
    engine_->SetBackend(choice->make());
    if (!dispatch_.IsEmpty()) engine_->Prepare();  // init() prepared the previous one
    return env.Undefined();
  }

  // CompletionSink: writes the finished outcomes as records and calls
  // dispatch(count, strings) once per full buffer.
  void Deliver(std::vector<Finished>* batch) override {
    size_t done = 0;
    while (done < batch->size()) {
      size_t count = batch->size() - done;
      if (count > static_cast<size_t>(kBatchRecords)) count = kBatchRecords;
      DeliverRows(*batch, done, count);
      done += count;
    }
  }

 private:
  // An outcome known inside start(): an object (start()), or for
  // startRecord() the immediate row of the record buffer. Its one usual
  // string, the local address of a connection, comes back as the return value
  // (the row's localAddress column is 0: strings[0]); an outcome with an ICMP
  // offender (rare inside start()) still comes back as an object.
  Napi::Value Result(Napi::Env env, const Outcome& out, uint32_t id, bool toRecord) {
    if (!toRecord || (out.icmp.present && !out.icmp.offender.empty())) return OutcomeToJs(env, out);
    bool local = !out.localAddress.empty();
    FillRecord(recordData_ + static_cast<size_t>(kImmediateRow) * kRecordWidth, id, out, local ? 0 : -1, -1);
    if (local) return Napi::String::New(env, out.localAddress);
    return Napi::Number::New(env, kImmediateRow);
  }

  void DeliverRows(const std::vector<Finished>& batch, size_t first, size_t count) {
    Napi::Env env = env_;
    Napi::HandleScope scope(env);
    if (dispatch_.IsEmpty() || context_ == nullptr || recordData_ == nullptr) {
      CloseUnclaimed(batch, first, count, false);
      return;
    }
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
      const Finished& f = batch[first + i];
      double local = addString(f.out.localAddress);
      double offender = f.out.icmp.present ? addString(f.out.icmp.offender) : -1;
      FillRecord(recordData_ + i * kRecordWidth, f.id, f.out, local, offender);
      if (f.out.neigh.present)
        FillNeighbour(recordData_ + i * kRecordWidth, f.out.neigh, addString(f.out.neigh.address),
                      addString(f.out.neigh.interfaceName));
    }
    napi_value argv[2] = {Napi::Number::New(env, static_cast<double>(count)),
                          strings == nullptr ? env.Undefined() : strings};
    napi_value recv = env.Global();
    napi_value result;
    napi_status status = napi_make_callback(env, *context_, recv, dispatch_.Value(), 2, argv, &result);
    // A handed-on socket belongs to JavaScript once dispatch claimed it (it
    // sets the row's fd column to -1); any other is closed here, exactly once.
    CloseUnclaimed(batch, first, count, true);
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

  void CloseUnclaimed(const std::vector<Finished>& batch, size_t first, size_t count, bool written) {
    for (size_t i = 0; i < count; i++) {
      int fd = batch[first + i].out.fd;
      if (fd < 0) continue;
      if (written && recordData_ != nullptr && recordData_[i * kRecordWidth + kF_fd] != fd) continue;
      CloseSocket(fd, 0, AF_INET, false);
    }
  }

  // The environment is going away (worker terminated, process exiting): close
  // every socket still in flight without calling back into JS, then hold
  // Node's teardown until the handles' close callbacks have run. They are this
  // addon's code, which Node may unload right after.
  static void Cleanup(napi_async_cleanup_hook_handle hook, void* arg) {
    Module* self = static_cast<Module*>(arg);
    CleanupNow(self);
    self->closer_->WhenIdle(CleanupDone, hook);
  }

  static void CleanupDone(void* hook) {
    napi_remove_async_cleanup_hook(static_cast<napi_async_cleanup_hook_handle>(hook));
  }

  static void CleanupNow(void* arg) {
    Module* self = static_cast<Module*>(arg);
    self->engine_->Shutdown();
    self->dispatch_.Reset();
    self->records_.Reset();
    self->recordData_ = nullptr;
    delete self->context_;
    self->context_ = nullptr;
  }

  Napi::Env env_;
  Closer* closer_ = new Closer;  // outlives the engine: see closer.h
  Engine* engine_ = nullptr;
  bool started_ = false;
  Napi::FunctionReference dispatch_;
  Napi::AsyncContext* context_ = nullptr;
  Napi::Reference<Napi::Float64Array> records_;
  double* recordData_ = nullptr;
};

using Method = Napi::Value (Module::*)(const Napi::CallbackInfo&);

// Every export reaches the environment's own Module through instance data.
template <Method M>
Napi::Value Call(const Napi::CallbackInfo& info) {
  Module* module = info.Env().GetInstanceData<Module>();
  if (module == nullptr) return info.Env().Undefined();
  return (module->*M)(info);
}

Napi::Array Names(Napi::Env env, const char* const* names, size_t n);

// errnoNames: every errno number this OS can report, to libuv's name for it
// ({111: 'ECONNREFUSED'} on Linux, {61: ...} on macOS, {10061: ..., 1225: ...}
// on Windows), so TypeScript classifies by name on every platform. Only the
// codes libuv's own table (UV_ERRNO_MAP) knows are named; records keep the
// number as the OS gave it.
Napi::Object ErrnoNames(Napi::Env env) {
  static const int known[] = {
#define SOCKPROBE_XX(code, _) UV_##code,
      UV_ERRNO_MAP(SOCKPROBE_XX)
#undef SOCKPROBE_XX
  };
#ifdef _WIN32
  // Win32 ERROR_* codes and Winsock's WSAE* (10000-11031).
  constexpr int kLast = 12000;
#else
  constexpr int kLast = 1000;
#endif
  Napi::Object names = Napi::Object::New(env);
  for (int n = 1; n <= kLast; n++) {
    int code = uv_translate_sys_error(n);
    if (code >= 0 || code == UV_UNKNOWN || code == UV_EOF) continue;
    bool isKnown = false;
    for (int k : known) isKnown = isKnown || k == code;
    // uv_err_name() of a code outside its table allocates a string: asked only for known ones.
    if (isKnown) names.Set(static_cast<uint32_t>(n), Napi::String::New(env, uv_err_name(code)));
  }
  return names;
}

// capabilities: the facts this build on this OS can report. A fact not
// listed is absent from every outcome (never 0 or a guess); one listed may
// still be absent from a given outcome when its call failed.
//   sndbuf, rcvbuf     SO_SNDBUF / SO_RCVBUF of a connected probe
//   localAddress       getsockname() of a connected probe
//   ttl                the SYNs' hop limit can be set (IP_TTL / IPV6_UNICAST_HOPS; trace())
//   unixSockets        { path } targets (AF_UNIX; Windows 10 1803+)
//   tcpInfo            TCP state, RTT, retransmits per probe: Linux TCP_INFO (every
//                      column), Windows SIO_TCP_INFO (1703+: state, rtt, sndMss,
//                      totalRetrans = SYN retransmits; the rest absent)
//   tcpConnectionInfo  macOS TCP_CONNECTION_INFO in the same columns (state, rtt,
//                      rttvar, rto, sndMss, totalRetrans; the rest absent)
//   icmpQueue          Linux IP_RECVERR error queue: ICMP errno, type, code, sender
//   icmpError          Windows TCP_ICMP_ERROR_INFO (10 1903+): ICMP type, code,
//                      sender, no errno; listed only when the running Windows has it
//   neighbour          the next hop's ARP/NDP entry at a deadline (Linux netlink)
//   memInfo            SO_MEMINFO: both buffers in one call (Linux 4.12+)
//   queues             SIOCOUTQ / SIOCOUTQNSD / SIOCINQ in inspect() (Linux)
Napi::Array Capabilities(Napi::Env env) {
  std::vector<const char*> caps = {"sndbuf", "rcvbuf", "localAddress", "ttl", "unixSockets"};
#if defined(__linux__)
  caps.insert(caps.end(), {"tcpInfo", "icmpQueue", "neighbour", "queues"});
#ifdef SO_MEMINFO
  caps.push_back("memInfo");
#endif
#elif defined(__APPLE__)
  caps.push_back("tcpConnectionInfo");
#elif defined(_WIN32)
  caps.push_back("tcpInfo");
  // TCP_ICMP_ERROR_INFO comes with TCP_FAIL_CONNECT_ON_ICMP_ERROR (18): ask the running Windows.
  SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
  if (s != INVALID_SOCKET) {
    DWORD one = 1;
    if (setsockopt(s, IPPROTO_TCP, 18, reinterpret_cast<const char*>(&one), sizeof(one)) == 0) caps.push_back("icmpError");
    closesocket(s);
  }
#endif
  return Names(env, caps.data(), caps.size());
}

Napi::Array Names(Napi::Env env, const char* const* names, size_t n) {
  Napi::Array a = Napi::Array::New(env, n);
  for (size_t i = 0; i < n; i++) a.Set(static_cast<uint32_t>(i), Napi::String::New(env, names[i]));
  return a;
}

}  // namespace

}  // namespace sockprobe

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  using sockprobe::Call;
  using sockprobe::Module;
  Module* module = new Module(env);
  env.SetInstanceData<Module>(module);
  exports.Set("init", Napi::Function::New(env, Call<&Module::Init>, "init"));
  exports.Set("start", Napi::Function::New(env, Call<&Module::Start>, "start"));
  exports.Set("startRecord", Napi::Function::New(env, Call<&Module::StartRecord>, "startRecord"));
  exports.Set("cancel", Napi::Function::New(env, Call<&Module::Cancel>, "cancel"));
  exports.Set("inFlight", Napi::Function::New(env, Call<&Module::InFlight>, "inFlight"));
  static const char* const columns[] = {
#define SOCKPROBE_X(name) #name,
      SOCKPROBE_RECORD_FIELDS(SOCKPROBE_X)
#undef SOCKPROBE_X
#define SOCKPROBE_X(name, tcpi) "tcp_" #name,
      SOCKPROBE_TCP_FIELDS(SOCKPROBE_X)
#undef SOCKPROBE_X
  };
  static_assert(sizeof(columns) / sizeof(columns[0]) == sockprobe::kRecordWidth, "record layout");
  exports.Set("layout", sockprobe::Names(env, columns, sockprobe::kRecordWidth));
  exports.Set("stages", sockprobe::Names(env, sockprobe::kStageNames,
                                         sizeof(sockprobe::kStageNames) / sizeof(sockprobe::kStageNames[0])));
  exports.Set("useBackend", Napi::Function::New(env, Call<&Module::UseBackend>, "useBackend"));
  exports.DefineProperty(Napi::PropertyDescriptor::Accessor<Call<&Module::Backend>>("backend", napi_enumerable));
  Napi::Array backends = Napi::Array::New(env, sockprobe::kBackendCount);
  for (unsigned i = 0; i < sockprobe::kBackendCount; i++) backends.Set(i, Napi::String::New(env, sockprobe::kBackends[i].name));
  exports.Set("backends", backends);
  exports.Set("errnoNames", sockprobe::ErrnoNames(env));
  exports.Set("capabilities", sockprobe::Capabilities(env));
  sockprobe::RegisterInspect(env, exports);
  return exports;
}

NODE_API_MODULE(sockprobe, InitModule)
