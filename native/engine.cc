// The engine: see engine.h. One per Node environment (the module's instance
// data), so each worker_thread has its own and nothing is process-wide.
#include "engine.h"

#include <cstring>
#include <utility>

#include "platform.h"
#include "socket_posix.h"

namespace sockprobe {

// A probe in flight: its socket is watched by the backend (with this as the
// token) and its deadline sits in the engine's heap.
struct Probe {
  uint32_t id = 0;
  int fd = -1;
  int family = 0;
  uint32_t flags = 0;
  uint64_t startNs = 0;
  uint64_t connectedNs = 0;
  uint64_t deadlineNs = 0;
  size_t heapIndex = 0;
  void* slot = nullptr;  // the backend's
  Target target;         // where it connects: at a deadline, whose neighbour entry to read
};

namespace {

// Completions handed to the sink at most this many at a time from a timer
// sweep, so a burst of deadlines does not build one huge batch.
constexpr size_t kBatchLimit = 512;

// Reads everything worth reporting from a socket that is about to be closed
// or handed on: buffers and local address only for a connection (nothing
// reads them after a failure), the error queue only after a failure (unless
// already read), TCP_INFO unless `tcpRead` already holds it.
void Gather(int fd, int family, Outcome* out, const TcpInfo* tcpRead, bool icmpRead) {
  bool connected = out->err == 0 && out->stage == kStage_connected;
  if (connected) {
    ReadBuffers(fd, &out->sndbuf, &out->rcvbuf);
    ReadLocalAddress(fd, &out->localAddress, &out->localPort);
  }
  if (family == AF_INET || family == AF_INET6) {
    // Order matters: SO_ERROR was read before this, and reading the queue
    // resets sk_err to the next queued error.
    if (!connected && !icmpRead) out->icmp = ReadErrorQueue(fd);
    if (tcpRead != nullptr) {
      out->tcp = *tcpRead;
    } else if (!out->endedInStart) {
      out->tcp = ReadTcpInfo(fd);
    }
  }
}

// The same destination address (the port aside): its next hop is the same.
// Not quite under policy routing by source or mark: probes to one host from
// different source addresses whose deadlines fall in one sweep share the
// first one's read (ReadNextHopNeighbour looks up the route as its socket).
bool SameHost(const Target& a, const Target& b) {
  if (a.family != b.family) return false;
  if (a.family == AF_INET) {
    const auto* x = reinterpret_cast<const sockaddr_in*>(&a.addr);
    const auto* y = reinterpret_cast<const sockaddr_in*>(&b.addr);
    return std::memcmp(&x->sin_addr, &y->sin_addr, sizeof(x->sin_addr)) == 0;
  }
  if (a.family == AF_INET6) {
    const auto* x = reinterpret_cast<const sockaddr_in6*>(&a.addr);
    const auto* y = reinterpret_cast<const sockaddr_in6*>(&b.addr);
    return x->sin6_scope_id == y->sin6_scope_id && std::memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
  }
  return false;
}

}  // namespace

Engine::Engine(uv_loop_t* loop, Backend* backend, CompletionSink* sink, Closer* closer)
    : loop_(loop), backend_(backend), sink_(sink), closer_(closer) {}

Engine::~Engine() {
  Shutdown();
  delete backend_;
}

bool Engine::SetBackend(Backend* backend) {
  if (count_ != 0) return false;
  if (backendOpen_) {
    backend_->Close();
    closer_->Close<uv_timer_t>(reinterpret_cast<uv_handle_t*>(timer_));
    timer_ = nullptr;
    backendOpen_ = false;
  }
  delete backend_;
  backend_ = backend;
  return true;
}

int Engine::Prepare() {
  if (backendOpen_) return 0;
  if (loop_ == nullptr) return kErrInval;
  int err = backend_->Open(loop_, this, closer_);
  if (err != 0) return err;
  timer_ = new uv_timer_t;
  uv_timer_init(loop_, timer_);  // cannot fail: it only fills the struct
  timer_->data = this;
  uv_unref(reinterpret_cast<uv_handle_t*>(timer_));
  backendOpen_ = true;
  return 0;
}

bool Engine::FinishNow(const Request& req, int fd, uint64_t startNs, int err, Stage stage, Outcome* out,
                       const TcpInfo* tcpRead) {
  out->err = err;
  out->stage = stage;
  out->endedInStart = err != 0;
  if (err == 0) out->connectNs = uv_hrtime() - startNs;
  Gather(fd, req.family, out, tcpRead, false);
  out->elapsedNs = uv_hrtime() - startNs;
  if (err == 0 && (req.flags & kFlagKeep)) {
    out->fd = fd;  // never watched: nothing to remove
  } else {
    CloseSocket(fd, req.flags, req.family, out->endedInStart);
  }
  return true;
}

bool Engine::Start(const Request& req, Outcome* out) {
  uint64_t startNs = uv_hrtime();
  int err = Prepare();
  if (err != 0) {
    out->err = err;
    out->stage = kStage_poll;
    return true;
  }
  int fd = OpenSocket(req.family, &err);
  if (fd < 0) {
    out->err = err;
    out->stage = kStage_socket;
    return true;
  }
  if (!(req.flags & kFlagNoRecvErr)) {
    // Argued unreachable (handled anyway): IP_RECVERR / IPV6_RECVERR on a
    // socket this call just created fails only with EBADF/ENOTSOCK, EFAULT,
    // EINVAL or ENOPROTOOPT (both exist since Linux 2.2). A no-op for AF_UNIX.
    err = EnableErrorQueue(fd, req.family);
    if (err != 0) return FinishNow(req, fd, startNs, err, kStage_setsockopt, out);
  }
  if (req.ttl > 0) {
    err = SetHopLimit(fd, req.family, req.ttl);
    if (err != 0) return FinishNow(req, fd, startNs, err, kStage_setsockopt, out);
  }
  if (req.bindLocal) {
    err = BindSocket(fd, req.local);
    if (err != 0) return FinishNow(req, fd, startNs, err, kStage_bind, out);
  }
  err = StartConnect(fd, req.target);
  if (err != 0 && err != kErrInProgress) return FinishNow(req, fd, startNs, err, kStage_connect, out);
  if (err == kErrInProgress) {
    // The answer is often there already: on loopback (and through a veth
    // into a namespace) the SYN and the peer's SYN-ACK, RST or ICMP error are
    // processed inside connect() itself, which still says EINPROGRESS. Asking
    // now ends such a probe without a backend registration, a loop iteration
    // and a dispatch. Same facts, same stage as when OnReady reads them.
    int readErr = 0;
    int soErr = ReadSoError(fd, &readErr);
    if (readErr == 0 && soErr != 0) return FinishNow(req, fd, startNs, soErr, kStage_so_error, out);
    if (req.family == AF_INET || req.family == AF_INET6) {
      TcpInfo tcp = ReadTcpInfo(fd);
      if (Progress(tcp) == TcpProgress::kConnected)
        return FinishNow(req, fd, startNs, 0, kStage_connected, out, &tcp);
    }
  } else {
    // Connected at once (Unix sockets do this): nothing to wait for.
    return FinishNow(req, fd, startNs, 0, kStage_connected, out);
  }

  Probe* p = new Probe();
  p->id = req.id;
  p->fd = fd;
  p->family = req.family;
  p->flags = req.flags;
  p->startNs = startNs;
  p->target = req.target;
  err = backend_->Add(fd, kWantWritable, p, &p->slot);
  if (err != 0) {
    delete p;
    return FinishNow(req, fd, startNs, err, kStage_poll, out);
  }
  Insert(p);
  PushDeadline(p, startNs + req.timeoutMs * 1000000ULL);
  return false;
}

bool Engine::Cancel(uint32_t id) {
  Probe* p = Find(id);
  if (p == nullptr) return false;
  // A cancelled probe may be connected: it closes with linger as asked.
  Release(p, true, false);
  return true;
}

void Engine::Insert(Probe* p) {
  if (p->id >= table_.size()) table_.resize(static_cast<size_t>(p->id) + 1 + table_.size() / 2, nullptr);
  table_[p->id] = p;
  if (count_++ == 0) {
    backend_->Ref();  // in-flight probes keep the loop alive
    uv_ref(reinterpret_cast<uv_handle_t*>(timer_));
  }
}

void Engine::OnReady(void* token, unsigned readiness) {
  Probe* p = static_cast<Probe*>(token);
  int readErr = 0;
  int soErr = ReadSoError(p->fd, &readErr);
  // Argued unreachable (its errno becomes the reported error): getsockopt
  // (SO_ERROR) fails only with EBADF/ENOTSOCK (the fd is open while the probe
  // is linked), EFAULT, EINVAL or ENOPROTOOPT.
  if (readErr != 0) soErr = readErr;
  if (soErr != 0) {
    // Final even while still in SYN_SENT: with IP_RECVERR the kernel reports
    // a soft ICMP error this way, and we report what it said.
    Complete(p, soErr, kStage_so_error);
    return;
  }
  TcpInfo tcp;
  TcpProgress progress = TcpProgress::kUnknown;
  if (p->family != AF_UNIX) {
    // TCP_INFO is read for the report anyway; its state says whether the
    // handshake completed, saving a getpeername().
    tcp = ReadTcpInfo(p->fd);
    progress = Progress(tcp);
  }
  bool connected = progress == TcpProgress::kUnknown ? HasPeer(p->fd) : progress == TcpProgress::kConnected;
  if (connected) {
    p->connectedNs = uv_hrtime();
    Complete(p, 0, kStage_connected, nullptr, tcp.valid ? &tcp : nullptr);
    return;
  }
  if (readiness & (kReadyError | kReadyHangup)) {
    // An error flagged with SO_ERROR already clear and no connection: an
    // entry on the error queue keeps it raised, and its errno is the answer.
    // With none there, and the handshake no longer in progress, the kernel
    // flagged an end and named no errno: reported as such (errno 0), not
    // waited on, which would spin until the deadline.
    IcmpReport icmp = ReadErrorQueue(p->fd);
    if (icmp.present) {
      Complete(p, icmp.err, kStage_errqueue, &icmp);
      return;
    }
    if (progress != TcpProgress::kSynSent) {
      Complete(p, 0, kStage_errqueue, &icmp);
      return;
    }
  }
  // Writable but not yet connected: a spurious wake-up, keep waiting.
}

void Engine::OnBatchEnd() { Flush(); }

void Engine::Complete(Probe* p, int err, Stage stage, const IcmpReport* icmpRead, const TcpInfo* tcpRead) {
  finished_.emplace_back();
  Finished& f = finished_.back();
  f.id = p->id;
  Outcome& out = f.out;
  out.err = err;
  out.stage = stage;
  out.elapsedNs = uv_hrtime() - p->startNs;
  if (p->connectedNs != 0) out.connectNs = p->connectedNs - p->startNs;
  if (icmpRead != nullptr) out.icmp = *icmpRead;
  Gather(p->fd, p->family, &out, tcpRead, icmpRead != nullptr);
  if (err == 0 && stage == kStage_connected && (p->flags & kFlagKeep)) {
    out.fd = p->fd;
    Release(p, false, false);
    return;
  }
  // Linger only matters for a socket that may be connected: skip it when
  // TCP_INFO says the kernel closed the connection attempt.
  bool neverConnected = err != 0 && p->connectedNs == 0 && Progress(out.tcp) == TcpProgress::kClosed;
  Release(p, true, neverConnected);
}

void Engine::Expire(Probe* p, std::vector<std::pair<Target, NextHopNeighbour>>* seen) {
  // libuv runs timers before it polls for I/O, so when the loop was busy past
  // the deadline an answer may already be waiting: look once before calling
  // it a timeout.
  int readErr = 0;
  int soErr = ReadSoError(p->fd, &readErr);
  if (readErr == 0 && soErr != 0) {
    Complete(p, soErr, kStage_so_error);
    return;
  }
  if (!HasPeer(p->fd)) {
    // The deadline is sockprobe's, not the kernel's: no errno. Whether the
    // SYN could leave at all is the next hop's neighbour entry's to say: read
    // it (a fact; classify.ts gives it meaning) before the outcome is built.
    NextHopNeighbour neigh;
    if (p->family == AF_INET || p->family == AF_INET6) {
      const NextHopNeighbour* known = nullptr;
      for (const auto& s : *seen)
        if (SameHost(s.first, p->target)) known = &s.second;
      if (known != nullptr) {
        neigh = *known;
      } else {
        neigh = ReadNextHopNeighbour(reinterpret_cast<const sockaddr*>(&p->target.addr), p->fd);
        // Bounded: a sweep over many hosts reads each one, remembering a few.
        if (seen->size() < 16) seen->emplace_back(p->target, neigh);
      }
    }
    Complete(p, 0, kStage_timeout);
    finished_.back().out.neigh = std::move(neigh);
    return;
  }
  p->connectedNs = uv_hrtime();
  Complete(p, 0, kStage_connected);
}

void Engine::Release(Probe* p, bool closing, bool neverConnected) {
  table_[p->id] = nullptr;
  RemoveDeadline(p);
  backend_->Remove(p->fd, &p->slot, closing);
  // Exactly once per descriptor: every path that owns an fd ends here or in
  // FinishNow. A socket not closed here was handed on in an outcome.
  if (closing) CloseSocket(p->fd, p->flags, p->family, neverConnected);
  delete p;
  if (--count_ == 0) {
    backend_->Unref();
    uv_unref(reinterpret_cast<uv_handle_t*>(timer_));
    uv_timer_stop(timer_);
  }
}

void Engine::Flush() {
  if (finished_.empty()) return;
  sink_->Deliver(&finished_);
  finished_.clear();
}

void Engine::Shutdown() {
  for (Probe* p : table_)
    if (p != nullptr) Release(p, true, false);
  // Outcomes not delivered may hold sockets meant for JavaScript: nobody will take them.
  for (const Finished& f : finished_)
    if (f.out.fd >= 0) CloseSocket(f.out.fd, 0, AF_INET, false);
  finished_.clear();
  if (backendOpen_) {
    backend_->Close();
    closer_->Close<uv_timer_t>(reinterpret_cast<uv_handle_t*>(timer_));
    timer_ = nullptr;
    backendOpen_ = false;
  }
}

// ---- deadlines: a binary min-heap, one timer armed for the earliest ----

void Engine::PushDeadline(Probe* p, uint64_t deadline) {
  p->deadlineNs = deadline;
  p->heapIndex = heap_.size();
  heap_.push_back(p);
  SiftUp(p->heapIndex);
  if (heap_[0] == p) ArmTimer();
}

void Engine::RemoveDeadline(Probe* p) {
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

void Engine::SiftUp(size_t i) {
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (heap_[parent]->deadlineNs <= heap_[i]->deadlineNs) break;
    SwapHeap(i, parent);
    i = parent;
  }
}

void Engine::SiftDown(size_t i) {
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

void Engine::SwapHeap(size_t a, size_t b) {
  Probe* t = heap_[a];
  heap_[a] = heap_[b];
  heap_[b] = t;
  heap_[a]->heapIndex = a;
  heap_[b]->heapIndex = b;
}

void Engine::ArmTimer() {
  if (heap_.empty()) {
    uv_timer_stop(timer_);
    return;
  }
  uint64_t now = uv_hrtime();
  uint64_t due = heap_[0]->deadlineNs;
  uint64_t ms = due > now ? (due - now + 999999) / 1000000 : 0;
  uv_timer_start(timer_, OnTimer, ms, 0);
}

// Every probe whose deadline has passed ends now; then the timer is armed for
// the next deadline.
void Engine::OnTimer(uv_timer_t* handle) {
  Engine* self = static_cast<Engine*>(handle->data);
  uint64_t now = uv_hrtime();
  std::vector<std::pair<Target, NextHopNeighbour>> seen;
  while (!self->heap_.empty() && self->heap_[0]->deadlineNs <= now) {
    self->Expire(self->heap_[0], &seen);
    if (self->finished_.size() >= kBatchLimit) self->Flush();
  }
  if (self->timer_ != nullptr) self->ArmTimer();
  self->Flush();
}

}  // namespace sockprobe
