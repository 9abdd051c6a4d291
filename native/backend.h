// The readiness backend: "tell me when this socket is writable or in error".
// The engine (engine.h) owns probes, ids and deadlines and knows nothing of how
// readiness is learned; a backend watches descriptors on Node's own libuv loop
// and reports each ready one back with the token it was given. Linux: one epoll
// set per environment (backend_epoll.cc). Everywhere: one libuv uv_poll_t per
// socket (backend_uv.cc), the default on macOS and Windows.
#pragma once

#include <uv.h>

#include "closer.h"

namespace sockprobe {

// What a socket is watched for.
enum Interest : unsigned { kWantWritable = 1, kWantReadable = 2 };

// What a backend saw on a socket (any combination).
enum Readiness : unsigned { kReadyWritable = 1, kReadyReadable = 2, kReadyError = 4, kReadyHangup = 8 };

// Where a backend reports. OnReady for each ready socket, then OnBatchEnd once
// per batch: the engine hands its completions to JavaScript there, so no JS
// runs between two OnReady calls of one batch.
class ReadinessSink {
 public:
  virtual void OnReady(void* token, unsigned readiness) = 0;
  virtual void OnBatchEnd() = 0;

 protected:
  ~ReadinessSink() = default;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* Name() const = 0;
  // Starts watching on `loop` (idempotent). Every handle it makes is closed
  // through `closer` (closer.h), which outlives the backend. 0 or a positive errno.
  virtual int Open(uv_loop_t* loop, ReadinessSink* sink, Closer* closer) = 0;
  // Watches `fd`; `token` comes back in OnReady. `*slot` is the backend's to
  // use for this socket (a per-socket handle) until Remove. 0 or a positive errno.
  virtual int Add(int fd, unsigned interest, void* token, void** slot) = 0;
  // Stops watching `fd` before anything else happens to it. `closing`: the
  // caller closes it right after (a backend may skip work a close does anyway);
  // false when the socket lives on (handed to JavaScript).
  virtual void Remove(int fd, void** slot, bool closing) = 0;
  // Whether something watched keeps Node's loop alive.
  virtual void Ref() = 0;
  virtual void Unref() = 0;
  // Stops and frees everything (environment teardown). Idempotent.
  virtual void Close() = 0;
};

// The backends this build has, by name ("epoll" on Linux, "uv" everywhere);
// the first is the default. Defined in module.cc.
struct BackendChoice {
  const char* name;
  Backend* (*make)();
};
extern const BackendChoice kBackends[];
extern const unsigned kBackendCount;

#ifdef __linux__
Backend* NewEpollBackend();
#endif
Backend* NewUvBackend();

}  // namespace sockprobe
