// Windows has no BSD socket headers of this shape; sockprobe does not build the
// probe there yet. The module loads and says so instead of failing to compile.
#include <napi.h>

namespace {
Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("unsupported", Napi::String::New(env, "sockprobe's native probe is not implemented on Windows"));
  return exports;
}
}  // namespace

NODE_API_MODULE(sockprobe, Init)
