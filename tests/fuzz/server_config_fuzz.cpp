// Fuzz target: sluisd's configuration file parser (daemon::parse_daemon_config).
//
// Input: a configuration file. The parser promises (config.hpp) to refuse anything wrong with a
// ConfigError naming the file, and never to throw anything else; this target lets any other
// exception escape, which libFuzzer and the replay driver report as a crash. An accepted
// configuration must hold values in the documented ranges, with every path resolved against the
// base directory and a loopback metrics address whenever metrics are on.
#include "sluis/daemon/config.hpp"

#include "fuzz_support.hpp"

#include <chrono>
#include <string>

namespace {

namespace gw = sluis::server;
namespace sd = sluis::daemon;

constexpr std::string_view kSource = "fuzz.toml";

void check_ms(std::chrono::milliseconds ms) {
  SLUIS_FUZZ_CHECK(ms.count() >= 10 && ms.count() <= 3'600'000);
}

void check_config(const sd::DaemonConfig& d) {
  const gw::ServerConfig& c = d.server;
  if (d.store.engine == sd::StoreEngine::postgresql) {
    SLUIS_FUZZ_CHECK(!d.store.conninfo.empty());
  }
  SLUIS_FUZZ_CHECK(d.store.pool_size >= 1 && d.store.pool_size <= 256);
  for (const auto* p : {&c.tls.certificate, &c.tls.private_key, &c.tls.ca_certificate,
                        &c.tls.revocation_list, &d.data_dir, &d.key_file, &d.rule_pack}) {
    SLUIS_FUZZ_CHECK(p->is_absolute());
    SLUIS_FUZZ_CHECK(p->native().find('\0') == std::string::npos);
  }
  check_ms(c.limits.handshake_timeout);
  check_ms(c.limits.header_timeout);
  check_ms(c.limits.body_timeout);
  check_ms(c.limits.idle_timeout);
  check_ms(c.limits.drain_timeout);
  SLUIS_FUZZ_CHECK(c.limits.header_limit_bytes >= 1024 &&
                   c.limits.header_limit_bytes <= 1024 * 1024);
  SLUIS_FUZZ_CHECK(c.limits.body_limit_bytes <= 256U * 1024 * 1024);
  SLUIS_FUZZ_CHECK(c.limits.max_connections >= 1 && c.limits.max_connections <= 1'000'000);
  SLUIS_FUZZ_CHECK(c.limits.max_requests_per_connection >= 1);
  SLUIS_FUZZ_CHECK(c.io_threads <= 256 && c.handler_threads <= 256);
  SLUIS_FUZZ_CHECK(c.effective_io_threads() >= 1 && c.effective_handler_threads() >= 1);
  if (c.metrics_enabled) {
    SLUIS_FUZZ_CHECK(gw::is_loopback_address(c.metrics_address));
    SLUIS_FUZZ_CHECK(c.metrics_port == 0 || c.metrics_port != c.port);
  }
  SLUIS_FUZZ_CHECK(!c.listen_address.empty());
  SLUIS_FUZZ_CHECK(!c.log_destination.empty());
  SLUIS_FUZZ_CHECK(gw::to_string(c.log_level) != "");
  const gw::RequestLimits limits = c.request_limits();
  SLUIS_FUZZ_CHECK(limits.header_bytes == c.limits.header_limit_bytes &&
                   limits.body_bytes == c.limits.body_limit_bytes);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = sluis::fuzz::as_text(data, size);
  try {
    check_config(sd::parse_daemon_config(text, kSource, "/etc/sluis"));
  } catch (const gw::ConfigError& e) {
    // Every refusal names the file (and, when it can, the line) first.
    SLUIS_FUZZ_CHECK(std::string_view(e.what()).starts_with(kSource));
  }
  (void)gw::is_loopback_address(text);
  return 0;
}
