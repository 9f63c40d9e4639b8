// The SLUIS_BUG tier: a process-wide counter, the log line and the debug-build abort.
#include "sluis/server/bug.hpp"

#include "sluis/server/request_log.hpp"

#include <atomic>
#include <cstdlib>
#include <memory>

namespace sluis::server {
namespace {

std::atomic<std::uint64_t> g_bugs{0};
#ifdef NDEBUG
std::atomic<bool> g_abort{false};
#else
std::atomic<bool> g_abort{true};
#endif
std::atomic<std::shared_ptr<LogSink>> g_sink;

}  // namespace

std::uint64_t bug_count() noexcept {
  return g_bugs.load();
}

bool set_bug_aborts_for_test(bool aborts) noexcept {
  return g_abort.exchange(aborts);
}

void set_bug_log(std::shared_ptr<LogSink> sink) noexcept {
  g_sink.store(std::move(sink));
}

namespace detail {

void report_bug(LogLiteral what, LogLiteral where) noexcept {
  g_bugs.fetch_add(1);
  try {
    auto sink = g_sink.load();
    if (!sink) sink = LogSink::open("stderr", LogLevel::error);
    sink->bug(what, where);
  } catch (...) {  // NOLINT(bugprone-empty-catch): the log itself failed (no memory); counted above
  }
  if (g_abort.load()) std::abort();
}

}  // namespace detail
}  // namespace sluis::server
