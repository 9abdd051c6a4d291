// Numeric addresses and Unix paths to and from sockaddr. Plain C++ with no
// N-API in it, so it can be read (and fuzzed) on its own.
#pragma once

#include <string>

#include "platform.h"

namespace sockprobe {

struct Target {
  sockaddr_storage addr;
  socklen_type len;
  int family;  // AF_INET, AF_INET6 or AF_UNIX
};

// Fills `out` from a numeric address (v4, v6 with an optional %zone) or a Unix
// path. Returns 0 or an errno value (EINVAL, ENAMETOOLONG, ENXIO for an unknown zone).
int ParseTarget(int family, const std::string& address, int port, Target* out);

// Numeric form of a socket address; Unix addresses give their path.
std::string FormatAddress(const sockaddr* sa, socklen_type len, int* port);

}  // namespace sockprobe
