// The engine: probes in flight, their ids and deadlines, the connect state
// machine, and completions gathered into batches. It reads facts (facts.h),
// makes socket calls (socket_posix.h) and learns readiness from a Backend; it
// knows nothing of epoll, of N-API or of what an errno means.
#pragma once

#include <uv.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "address.h"
#include "backend.h"
#include "facts.h"
#include "record.h"

namespace sockprobe {

// Everything a finished probe reports, gathered before its socket is closed
// (or handed on).
struct Outcome {
  int err = 0;
  Stage stage = kStage_connected;
  uint64_t elapsedNs = 0;
  uint64_t connectNs = 0;
  int sndbuf = -1;
  int rcvbuf = -1;
  std::string localAddress;
  int localPort = 0;
  IcmpReport icmp;
  TcpInfo tcp;
  // Failed inside Start(), microseconds after its one SYN (or before sending
  // any): TCP_INFO is not read, since it could only say what is known by
  // construction (state CLOSE, nothing retransmitted, no RTT measured).
  bool endedInStart = false;
  // A connected socket handed over (kFlagKeep): whoever receives the outcome owns it.
  int fd = -1;
  // Read only at a deadline with no peer (Engine::Expire).
  NextHopNeighbour neigh;
};

struct Finished {
  uint32_t id;
  Outcome out;
};

// What one probe is asked to do (read and checked by the module).
struct Request {
  uint32_t id = 0;
  int family = 0;
  Target target;
  bool bindLocal = false;
  Target local;
  uint64_t timeoutMs = 0;
  uint32_t flags = 0;
  // IP_TTL / IPV6_UNICAST_HOPS for the SYNs (trace()); 0 leaves the default.
  int ttl = 0;
};

// Receives a batch of finished probes; the batch is cleared after.
class CompletionSink {
 public:
  virtual void Deliver(std::vector<Finished>* batch) = 0;

 protected:
  ~CompletionSink() = default;
};

struct Probe;

class Engine final : public ReadinessSink {
 public:
  // More probes in flight than this cannot exist: each holds a descriptor.
  static constexpr uint32_t kMaxId = 1u << 22;

  // Every handle is closed through `closer`, which must outlive the engine.
  Engine(uv_loop_t* loop, Backend* backend, CompletionSink* sink, Closer* closer);
  ~Engine();

  // Replaces the readiness backend (owned from now on) while nothing is in
  // flight; false (and `backend` not taken) otherwise.
  bool SetBackend(Backend* backend);

  // Makes the backend's watch now, while descriptors are surely available, so
  // that under exhaustion a probe fails at socket() like any other client
  // would. 0 or errno; a failure is retried by the next Start().
  int Prepare();

  // Whether `id` can be given to Start(): in range and not in flight.
  bool IdFree(uint32_t id) const { return id < kMaxId && Find(id) == nullptr; }

  // Starts a probe whose id is free. True with *out filled when it ended
  // inside Start(); false while it is in flight (its outcome comes through the sink).
  bool Start(const Request& req, Outcome* out);

  // Closes an in-flight probe at once; its outcome never comes.
  bool Cancel(uint32_t id);

  size_t InFlight() const { return count_; }

  // The readiness backend's name ('epoll', 'uv').
  const char* BackendName() const { return backend_->Name(); }

  // Environment teardown: closes everything in flight, delivers nothing.
  void Shutdown();

  // ReadinessSink
  void OnReady(void* token, unsigned readiness) override;
  void OnBatchEnd() override;

 private:
  Probe* Find(uint32_t id) const { return id < table_.size() ? table_[id] : nullptr; }
  void Insert(Probe* p);
  bool FinishNow(const Request& req, int fd, uint64_t startNs, int err, Stage stage, Outcome* out,
                 const TcpInfo* tcpRead = nullptr);
  void Connected(Probe* p, const TcpInfo* tcpRead);
  void Complete(Probe* p, int err, Stage stage, const IcmpReport* icmpRead = nullptr,
                const TcpInfo* tcpRead = nullptr);
  // `seen`: the neighbour entries already read in this timer sweep (a scan's
  // many deadlines towards one host read it once).
  void Expire(Probe* p, std::vector<std::pair<Target, NextHopNeighbour>>* seen);
  void Release(Probe* p, bool closing, bool neverConnected);

  void PushDeadline(Probe* p, uint64_t deadline);
  void RemoveDeadline(Probe* p);
  void SiftUp(size_t i);
  void SiftDown(size_t i);
  void SwapHeap(size_t a, size_t b);
  void ArmTimer();
  static void OnTimer(uv_timer_t* handle);
  void Flush();

  uv_loop_t* loop_;
  Backend* backend_;
  CompletionSink* sink_;
  Closer* closer_;
  uv_timer_t* timer_ = nullptr;
  bool backendOpen_ = false;
  std::vector<Probe*> table_;  // by id
  size_t count_ = 0;
  std::vector<Probe*> heap_;   // deadlines
  std::vector<Finished> finished_;
};

}  // namespace sockprobe
