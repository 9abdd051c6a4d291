// Closing libuv handles, counted. uv_close() is asynchronous: the handle's
// memory must outlive it, and the close callback that frees it is this
// addon's code. Node unloads an addon (dlclose) when the last environment that
// loaded it goes away, e.g. a worker_thread that alone required sockprobe; a
// close callback still queued then jumps into unmapped memory: the process
// died with SIGSEGV at such a worker's exit. So every handle is closed through
// its environment's Closer, which counts the callbacks still to come, and the
// module's async cleanup hook (napi_add_async_cleanup_hook) tells Node that
// teardown may go on only once that count is back to zero.
// Regression test: test/reliability/lifecycle.test.ts ("only in a worker").
#pragma once

#include <uv.h>

#include <cstddef>

namespace sockprobe {

class Closer {
 public:
  Closer() = default;
  Closer(const Closer&) = delete;
  Closer& operator=(const Closer&) = delete;

  // Closes `handle`, which sits at the start of a T allocated with new (the T
  // may be the handle type itself), and deletes the T once libuv is done.
  template <typename T>
  void Close(uv_handle_t* handle) {
    // No callback but the close callback runs on a closing handle: its data is free.
    handle->data = this;
    pending_++;
    uv_close(handle, OnClose<T>);
  }

  // Calls fn(arg) once no close is pending: at once if none is, else from the
  // last close callback. One waiter at a time.
  void WhenIdle(void (*fn)(void*), void* arg) {
    if (pending_ == 0) {
      fn(arg);
      return;
    }
    idle_ = fn;
    idleArg_ = arg;
  }

  // The owner is done with it: it deletes itself now, or after the last
  // pending close callback.
  void Release() {
    released_ = true;
    if (pending_ == 0) delete this;
  }

 private:
  ~Closer() = default;

  template <typename T>
  static void OnClose(uv_handle_t* handle) {
    Closer* self = static_cast<Closer*>(handle->data);
    delete reinterpret_cast<T*>(handle);
    self->Done();
  }

  void Done() {
    if (--pending_ != 0) return;
    void (*fn)(void*) = idle_;
    void* arg = idleArg_;
    idle_ = nullptr;
    if (released_) delete this;
    // Last: the waiter may end the owner, and with it this Closer (Release()).
    if (fn != nullptr) fn(arg);
  }

  size_t pending_ = 0;
  bool released_ = false;
  void (*idle_)(void*) = nullptr;
  void* idleArg_ = nullptr;
};

}  // namespace sockprobe
