// Parsing and validating sluisd's TOML configuration, with file:line messages for every refusal.
#include "sluis/daemon/config.hpp"

#include <toml++/toml.h>

#include <arpa/inet.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>
#include <vector>

namespace sluis::daemon {
namespace {

using server::ConfigError;
using server::is_loopback_address;
using server::LogLevel;

constexpr std::string_view kDefaultConfig =
    R"toml(# sluisd configuration (TOML). Every key is optional; shown here with its default.
# Relative paths are resolved against the directory holding this file.

[server]
listen_address = "127.0.0.1" # address the HTTPS API listens on: loopback (this machine
                             # only) until you choose; "0.0.0.0" or "::" for every interface
port = 8443                  # 1-65535; 0 picks a free port (tests only)
io_threads = 0               # event loops for the network; 0 = number of cores
handler_threads = 0          # more event loops, for handlers that block; 0 = 16 per core
                             # (handlers mostly wait for the audit log's group commit, so more
                             # share each fsync). Each of the io_threads + handler_threads
                             # threads runs its own loop; a connection stays on one loop and its
                             # requests are handled there, never handed to another thread

[metrics]
enabled = true
address = "127.0.0.1"        # Prometheus text on plain HTTP; must be loopback (127.0.0.0/8 or ::1)
port = 9464

[tls]
certificate = "tls/server.crt"      # gateway server certificate (PEM), issued by the gateway CA
private_key = "tls/server.key"      # its private key (PEM, mode 0600)
ca_certificate = "tls/ca.crt"       # the gateway CA: the only issuer accepted for partners
revocation_list = "tls/revoked.txt" # revoked partner serials; reloaded on SIGHUP and when changed
allow_tls12 = false                 # true also accepts TLS 1.2 with ECDHE and AEAD suites

[limits]
handshake_timeout_ms = 10000        # TLS handshake must finish within this
header_timeout_ms = 10000           # request line + headers must arrive within this
body_timeout_ms = 30000             # request body must arrive within this (and a response be sent)
idle_timeout_ms = 60000             # keep-alive connection closed after this long without a request
drain_timeout_ms = 15000            # on SIGTERM, in-flight requests get this long to finish
header_limit_bytes = 16384          # larger request headers get 431
body_limit_bytes = 1048576          # larger request bodies get 413
max_connections = 1024              # connections beyond this are closed at once
max_requests_per_connection = 1000  # then the connection is closed (Connection: close)
page_cache_mib = 16                 # SQLite page cache of the audit log's writer
store_page_cache_mib = 32           # SQLite page cache of the data store (decrypted pages)

[store]
engine = "sqlcipher"                # "sqlcipher" (embedded, files in data_dir) or "postgresql"
conninfo = ""                       # postgresql: libpq connection string, e.g.
                                    # "host=db1 port=5432 dbname=sluis user=sluis" (no password)
sslmode = ""                        # postgresql: e.g. "verify-full"; "" = what conninfo says
sslrootcert = ""                    # postgresql: CA file of the database's certificate
password_file = ""                  # postgresql: file holding the password (mode 0600); "" = none
pool_size = 4                       # postgresql: database sessions of this node
kek_ring = ""                       # postgresql: the KEK ring file (mode 0600, the same on every
                                    # node); "" = kek-ring beside [paths] key_file
erasure_ledger = ""                 # postgresql: the erasure ledger (append-only, mode 0600);
                                    # "" = erasure-ledger beside [paths] key_file

[paths]
data_dir = "data"                   # the store's directory (SQLCipher files, the audit log)
key_file = "keys/root.key"          # root key file
rule_pack = "policy/rules.toml"     # the rule pack
passphrase_file = ""                # file holding the root key passphrase (sealed key); "" = none
operator_socket = "run/operator.sock" # local socket for sluisctl (owner only); "" = no channel

[audit]
origin = "sluis-gateway/audit"      # the log's name in signed checkpoints (fixed at creation)
checkpoint_interval_ms = 1000       # a signed checkpoint at least this often while events arrive

[log]
destination = "stderr"              # "stderr", "stdout" or a file path (appended)
level = "info"                      # debug, info, warn or error
)toml";

// sockaddr_un::sun_path holds 108 bytes including the terminating NUL.
constexpr std::size_t kMaxSocketPath = 108;

bool is_valid_audit_origin(std::string_view origin) {
  if (origin.empty() || origin.size() > 128) return false;
  return std::all_of(origin.begin(), origin.end(),
                     [](char ch) { return ch > ' ' && ch < 0x7f && ch != '+'; });
}

/// True when a libpq connection string names a password: a `password=` keyword (key/value
/// form), or a `user:password@` in a postgresql:// or postgres:// URI, or `password=` among
/// the URI's parameters.
bool conninfo_holds_password(std::string_view c) {
  const auto lower = [](std::string_view v) {
    std::string out(v);
    for (auto& ch : out)
      ch = static_cast<char>(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
    return out;
  };
  const std::string text = lower(c);
  for (const std::string_view scheme : {"postgresql://", "postgres://"}) {
    if (text.rfind(scheme, 0) != 0) continue;
    const std::string_view rest = std::string_view(text).substr(scheme.size());
    const auto at = rest.find('@');
    const auto slash = rest.find('/');
    if (at != std::string_view::npos && (slash == std::string_view::npos || at < slash) &&
        rest.substr(0, at).find(':') != std::string_view::npos) {
      return true;  // user:password@host
    }
    const auto query = rest.find('?');
    if (query == std::string_view::npos) return false;
    const std::string_view params = rest.substr(query + 1);
    return params.rfind("password=", 0) == 0 || params.find("&password=") != std::string_view::npos;
  }
  // Key/value form: keywords separated by spaces, each "keyword = value".
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && text[i] == ' ') ++i;
    const std::size_t start = i;
    while (i < text.size() && text[i] != '=' && text[i] != ' ') ++i;
    if (text.substr(start, i - start) == "password") return true;
    while (i < text.size() && text[i] == ' ') ++i;
    if (i < text.size() && text[i] == '=') ++i;
    while (i < text.size() && text[i] == ' ') ++i;
    if (i < text.size() && text[i] == '\'') {  // a quoted value may hold spaces
      ++i;
      while (i < text.size() && text[i] != '\'') i += text[i] == '\\' ? 2 : 1;
      ++i;
    } else {
      while (i < text.size() && text[i] != ' ') ++i;
    }
  }
  return false;
}

/// Collects the key handlers of one table and reports unknown keys with their line.
class Reader {
 public:
  Reader(std::string_view source, const std::filesystem::path& base)
      : source_(source), base_(base) {}

  [[noreturn]] void fail(const toml::source_region& at, const std::string& sentence) const {
    std::ostringstream os;
    os << source_;
    if (at.begin.line > 0) os << ':' << at.begin.line;
    os << ": " << sentence;
    throw ConfigError(os.str());
  }

  std::string where(std::string_view table, std::string_view key) const {
    return "'" + std::string(key) + "' in [" + std::string(table) + "]";
  }

  std::string string_value(const toml::node& n, std::string_view table, std::string_view key,
                           bool allow_empty = false) const {
    if (!n.is_string()) fail(n.source(), where(table, key) + " must be a quoted string");
    const std::string& s = n.as_string()->get();
    if (!allow_empty && s.empty()) fail(n.source(), where(table, key) + " must not be empty");
    if (std::any_of(s.begin(), s.end(), [](char c) { return c == '\0'; })) {
      fail(n.source(), where(table, key) + " must not contain NUL characters");
    }
    return s;
  }

  std::int64_t int_value(const toml::node& n, std::string_view table, std::string_view key,
                         std::int64_t min, std::int64_t max) const {
    if (!n.is_integer() || n.as_integer()->get() < min || n.as_integer()->get() > max) {
      fail(n.source(), where(table, key) + " must be a whole number from " + std::to_string(min) +
                           " to " + std::to_string(max) + " (without quotes)");
    }
    return n.as_integer()->get();
  }

  bool bool_value(const toml::node& n, std::string_view table, std::string_view key) const {
    if (!n.is_boolean()) {
      fail(n.source(), where(table, key) + " must be true or false (without quotes)");
    }
    return n.as_boolean()->get();
  }

  std::filesystem::path path_value(const toml::node& n, std::string_view table,
                                   std::string_view key) const {
    std::filesystem::path p(string_value(n, table, key));
    return p.is_absolute() ? p : (base_ / p).lexically_normal();
  }

  std::chrono::milliseconds ms_value(const toml::node& n, std::string_view table,
                                     std::string_view key) const {
    return std::chrono::milliseconds(int_value(n, table, key, 10, 3'600'000));
  }

  std::string address_value(const toml::node& n, std::string_view table,
                            std::string_view key) const {
    std::string s = string_value(n, table, key);
    unsigned char buf[16];
    if (inet_pton(AF_INET, s.c_str(), buf) != 1 && inet_pton(AF_INET6, s.c_str(), buf) != 1) {
      fail(n.source(), where(table, key) +
                           " must be a numeric IPv4 or IPv6 address such as \"0.0.0.0\" or "
                           "\"127.0.0.1\" (host names are not resolved)");
    }
    return s;
  }

 private:
  std::string_view source_;
  std::filesystem::path base_;
};

using KeyHandler = std::function<void(const toml::node&)>;
struct KeySpec {
  std::string_view key;
  KeyHandler handle;
};

}  // namespace

std::string_view to_string(StoreEngine engine) noexcept {
  return engine == StoreEngine::postgresql ? "postgresql" : "sqlcipher";
}

std::string_view default_config_toml() noexcept {
  return kDefaultConfig;
}

DaemonConfig parse_daemon_config(std::string_view text, std::string_view source_name,
                                 const std::filesystem::path& base_dir) {
  const Reader rd(source_name, base_dir);
  toml::table root;
  try {
    root = toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    rd.fail(e.source(), "this is not valid TOML (" + std::string(e.description()) +
                            "); fix the syntax at this line");
  }
  DaemonConfig d;
  server::ServerConfig& c = d.server;
  // Defaults for paths are relative too: resolve them against base_dir like the file's values.
  auto resolve = [&](std::filesystem::path& p) {
    if (!p.is_absolute()) p = (base_dir / p).lexically_normal();
  };
  for (auto* p :
       {&c.tls.certificate, &c.tls.private_key, &c.tls.ca_certificate, &c.tls.revocation_list,
        &d.data_dir, &d.key_file, &d.rule_pack, &d.operator_socket}) {
    resolve(*p);
  }
  toml::source_region metrics_at{};
  toml::source_region store_at{};

  using T = std::string_view;
  const auto ms = [&](T table, T key, std::chrono::milliseconds& out) {
    return KeySpec{key, [&, table, key](const toml::node& n) { out = rd.ms_value(n, table, key); }};
  };
  const auto size = [&](T table, T key, std::size_t& out, std::int64_t min, std::int64_t max) {
    return KeySpec{key, [&, table, key, min, max](const toml::node& n) {
                     out = static_cast<std::size_t>(rd.int_value(n, table, key, min, max));
                   }};
  };
  const auto path = [&](T table, T key, std::filesystem::path& out) {
    return KeySpec{key,
                   [&, table, key](const toml::node& n) { out = rd.path_value(n, table, key); }};
  };
  // A path that may be switched off with "".
  const auto optional_path = [&](T table, T key, std::filesystem::path& out) {
    return KeySpec{key, [&, table, key](const toml::node& n) {
                     out = rd.string_value(n, table, key, true).empty()
                               ? std::filesystem::path()
                               : rd.path_value(n, table, key);
                   }};
  };
  const auto threads = [&](T table, T key, unsigned& out) {
    return KeySpec{key, [&, table, key](const toml::node& n) {
                     out = static_cast<unsigned>(rd.int_value(n, table, key, 0, 256));
                   }};
  };
  const auto port = [&](T table, T key, std::uint16_t& out) {
    return KeySpec{key, [&, table, key](const toml::node& n) {
                     out = static_cast<std::uint16_t>(rd.int_value(n, table, key, 0, 65535));
                   }};
  };

  const std::vector<std::pair<std::string_view, std::vector<KeySpec>>> schema = {
      {"server",
       {{"listen_address",
         [&](const toml::node& n) {
           c.listen_address = rd.address_value(n, "server", "listen_address");
         }},
        port("server", "port", c.port),
        threads("server", "io_threads", c.io_threads),
        threads("server", "handler_threads", c.handler_threads)}},
      {"metrics",
       {{"enabled",
         [&](const toml::node& n) { c.metrics_enabled = rd.bool_value(n, "metrics", "enabled"); }},
        {"address",
         [&](const toml::node& n) {
           c.metrics_address = rd.address_value(n, "metrics", "address");
           metrics_at = n.source();
         }},
        port("metrics", "port", c.metrics_port)}},
      {"tls",
       {path("tls", "certificate", c.tls.certificate),
        path("tls", "private_key", c.tls.private_key),
        path("tls", "ca_certificate", c.tls.ca_certificate),
        path("tls", "revocation_list", c.tls.revocation_list),
        {"allow_tls12",
         [&](const toml::node& n) {
           c.tls.allow_tls12 = rd.bool_value(n, "tls", "allow_tls12");
         }}}},
      {"limits",
       {ms("limits", "handshake_timeout_ms", c.limits.handshake_timeout),
        ms("limits", "header_timeout_ms", c.limits.header_timeout),
        ms("limits", "body_timeout_ms", c.limits.body_timeout),
        ms("limits", "idle_timeout_ms", c.limits.idle_timeout),
        ms("limits", "drain_timeout_ms", c.limits.drain_timeout),
        size("limits", "header_limit_bytes", c.limits.header_limit_bytes, 1024, 1024 * 1024),
        size("limits", "body_limit_bytes", c.limits.body_limit_bytes, 0, 256LL * 1024 * 1024),
        size("limits", "max_connections", c.limits.max_connections, 1, 1'000'000),
        size("limits", "max_requests_per_connection", c.limits.max_requests_per_connection, 1,
             100'000'000),
        size("limits", "page_cache_mib", d.audit_page_cache_mib, 0, 65536),
        size("limits", "store_page_cache_mib", d.store_page_cache_mib, 0, 65536)}},
      {"store",
       {{"engine",
         [&](const toml::node& n) {
           const std::string e = rd.string_value(n, "store", "engine");
           if (e == "sqlcipher") {
             d.store.engine = StoreEngine::sqlcipher;
           } else if (e == "postgresql") {
             d.store.engine = StoreEngine::postgresql;
           } else {
             rd.fail(n.source(), "'engine' in [store] must be \"sqlcipher\" or \"postgresql\"");
           }
           store_at = n.source();
         }},
        {"conninfo",
         [&](const toml::node& n) {
           d.store.conninfo = rd.string_value(n, "store", "conninfo", true);
           if (conninfo_holds_password(d.store.conninfo)) {
             rd.fail(n.source(), "'conninfo' in [store] must not hold the password: put it in "
                                 "the file named by password_file (mode 0600)");
           }
         }},
        {"sslmode",
         [&](const toml::node& n) {
           d.store.sslmode = rd.string_value(n, "store", "sslmode", true);
           static constexpr std::string_view kModes[] = {"",       "disable",   "allow",
                                                         "prefer", "require",   "verify-ca",
                                                         "verify-full"};
           if (std::find(std::begin(kModes), std::end(kModes), d.store.sslmode) ==
               std::end(kModes)) {
             rd.fail(n.source(), "'sslmode' in [store] must be one of disable, allow, prefer, "
                                 "require, verify-ca, verify-full (or \"\")");
           }
         }},
        optional_path("store", "sslrootcert", d.store.sslrootcert),
        optional_path("store", "password_file", d.store.password_file),
        size("store", "pool_size", d.store.pool_size, 1, 256),
        optional_path("store", "kek_ring", d.store.kek_ring),
        optional_path("store", "erasure_ledger", d.store.erasure_ledger)}},
      {"paths",
       {path("paths", "data_dir", d.data_dir), path("paths", "key_file", d.key_file),
        path("paths", "rule_pack", d.rule_pack),
        optional_path("paths", "passphrase_file", d.passphrase_file),
        optional_path("paths", "operator_socket", d.operator_socket)}},
      {"audit",
       {{"origin",
         [&](const toml::node& n) {
           d.audit.origin = rd.string_value(n, "audit", "origin");
           if (!is_valid_audit_origin(d.audit.origin)) {
             rd.fail(n.source(), "'origin' in [audit] must be 1-128 printable ASCII characters "
                                 "without spaces or '+', e.g. \"ocmw-brussel.example/audit\"");
           }
         }},
        ms("audit", "checkpoint_interval_ms", d.audit.checkpoint_interval)}},
      {"log",
       {{"destination",
         [&](const toml::node& n) {
           const std::string dest = rd.string_value(n, "log", "destination");
           c.log_destination = (dest == "stderr" || dest == "stdout")
                                   ? dest
                                   : rd.path_value(n, "log", "destination").string();
         }},
        {"level",
         [&](const toml::node& n) {
           const std::string l = rd.string_value(n, "log", "level");
           if (l == "debug")
             c.log_level = LogLevel::debug;
           else if (l == "info")
             c.log_level = LogLevel::info;
           else if (l == "warn")
             c.log_level = LogLevel::warn;
           else if (l == "error")
             c.log_level = LogLevel::error;
           else
             rd.fail(n.source(),
                     "'level' in [log] must be one of \"debug\", \"info\", \"warn\", \"error\"");
         }}}},
  };

  for (auto&& [tkey, tnode] : root) {
    const auto section = std::find_if(schema.begin(), schema.end(),
                                      [&](const auto& s) { return s.first == tkey.str(); });
    if (section == schema.end()) {
      std::string list;
      for (const auto& s : schema)
        list += (list.empty() ? "[" : ", [") + std::string(s.first) + "]";
      rd.fail(tkey.source(),
              "unknown section or key '" + std::string(tkey.str()) + "'; the sections are " + list);
    }
    if (!tnode.is_table()) {
      rd.fail(tnode.source(), "'" + std::string(tkey.str()) + "' must be a table: write [" +
                                  std::string(tkey.str()) + "] on its own line above its keys");
    }
    for (auto&& [key, node] : *tnode.as_table()) {
      const auto spec = std::find_if(section->second.begin(), section->second.end(),
                                     [&](const KeySpec& s) { return s.key == key.str(); });
      if (spec == section->second.end()) {
        std::string list;
        for (const auto& s : section->second)
          list += (list.empty() ? "" : ", ") + std::string(s.key);
        rd.fail(key.source(), "unknown key '" + std::string(key.str()) + "' in [" +
                                  std::string(section->first) + "]; the keys there are: " + list);
      }
      spec->handle(node);
    }
  }
  if (!d.operator_socket.empty() && d.operator_socket.string().size() >= kMaxSocketPath) {
    rd.fail({}, "[paths] operator_socket is longer than " + std::to_string(kMaxSocketPath - 1) +
                    " bytes, which a local socket's path cannot be; choose a shorter path");
  }
  if (c.metrics_enabled && !is_loopback_address(c.metrics_address)) {
    rd.fail(metrics_at, "'address' in [metrics] must be a loopback address (127.0.0.1 or ::1): "
                        "metrics are only served locally; put a proxy in front to publish them");
  }
  if (d.store.engine == StoreEngine::postgresql && d.store.conninfo.empty()) {
    rd.fail(store_at, "[store] engine = \"postgresql\" needs 'conninfo', the database to use "
                      "(e.g. \"host=db1 port=5432 dbname=sluis user=sluis\")");
  }
  if (c.metrics_enabled && c.metrics_port != 0 && c.metrics_port == c.port) {
    rd.fail(metrics_at, "[metrics] port must differ from [server] port");
  }
  return d;
}

std::filesystem::path kek_ring_path(const DaemonConfig& config) {
  return config.store.kek_ring.empty() ? config.key_file.parent_path() / "kek-ring"
                                       : config.store.kek_ring;
}

std::filesystem::path erasure_ledger_path(const DaemonConfig& config) {
  return config.store.erasure_ledger.empty() ? config.key_file.parent_path() / "erasure-ledger"
                                             : config.store.erasure_ledger;
}

DaemonConfig load_daemon_config(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw ConfigError(path.string() +
                      ": cannot read the configuration file; check that it exists and that "
                      "sluisd may read it");
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  const std::filesystem::path base =
      path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  return parse_daemon_config(ss.str(), path.string(), base);
}

}  // namespace sluis::daemon
