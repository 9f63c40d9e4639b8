// RFC 3339 UTC text of a time, as the gateway's consent documents write it.
#pragma once

#include <chrono>
#include <string>

namespace sluis::bench {

/// "2026-11-22T18:30:00Z" (whole seconds, UTC).
[[nodiscard]] std::string rfc3339(std::chrono::system_clock::time_point t);

}  // namespace sluis::bench
