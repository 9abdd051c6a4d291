// inspect(fd, takeError): socket options of a descriptor the application
// already owns (a Node net.Socket's). Reads only: it never closes, duplicates,
// changes flags on, or reads data from the descriptor.
#pragma once

#include <napi.h>

namespace sockprobe {

// Adds `inspect` to the module's exports.
void RegisterInspect(Napi::Env env, Napi::Object exports);

}  // namespace sockprobe
