// sockprobe's probe engine watches its sockets with one epoll set per Node
// environment, so it is Linux only for now (macOS/FreeBSD would need a kqueue
// port, Windows an IOCP/WSAPoll one). Elsewhere this module loads and says so
// instead of failing to compile.
#include <napi.h>

namespace {
Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("unsupported", Napi::String::New(env, "sockprobe's native probe is implemented for Linux only (it uses epoll); this platform is not supported yet"));
  return exports;
}
}  // namespace

NODE_API_MODULE(sockprobe, Init)
