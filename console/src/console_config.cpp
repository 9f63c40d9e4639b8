// Reading and writing sluis-console's TOML configuration.
#include "sluis/console/console_config.hpp"

#include "sluis/crypto/note.hpp"    // parse_verifier_key
#include "sluis/server/config.hpp"  // is_loopback_address
#include "sluis/server/http.hpp"    // is_safe_token

#include <toml++/toml.h>

#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

namespace sluis::console {
namespace {

namespace fs = std::filesystem;

class Reader {
 public:
  Reader(std::string_view source, fs::path base) : source_(source), base_(std::move(base)) {}

  [[noreturn]] void fail(const toml::source_region& where, const std::string& sentence) const {
    std::string msg(source_);
    if (where.begin.line != 0) msg += ":" + std::to_string(where.begin.line);
    throw ConsoleConfigError(msg + ": " + sentence);
  }
  std::string text(const toml::node& n, std::string_view key) const {
    const auto* s = n.as_string();
    if (s == nullptr || s->get().empty()) fail(n.source(), std::string(key) + " must be a non-empty string");
    return s->get();
  }
  fs::path path(const toml::node& n, std::string_view key) const {
    fs::path p = text(n, key);
    return p.is_absolute() ? p : (base_ / p).lexically_normal();
  }
  std::uint16_t port(const toml::node& n, std::string_view key, bool zero_ok) const {
    const auto* i = n.as_integer();
    if (i == nullptr || i->get() < (zero_ok ? 0 : 1) || i->get() > 65535) {
      fail(n.source(), std::string(key) + " must be a port number (1..65535)");
    }
    return static_cast<std::uint16_t>(i->get());
  }
  unsigned count(const toml::node& n, std::string_view key, long long low, long long high) const {
    const auto* i = n.as_integer();
    if (i == nullptr || i->get() < low || i->get() > high) {
      fail(n.source(), std::string(key) + " must be a whole number from " + std::to_string(low) +
                           " to " + std::to_string(high));
    }
    return static_cast<unsigned>(i->get());
  }

 private:
  std::string_view source_;
  fs::path base_;
};

/// scheme://host[:port] with nothing after it; returns the host.
std::optional<std::string> origin_host(std::string_view origin, std::string_view& scheme) {
  const auto sep = origin.find("://");
  if (sep == std::string_view::npos) return std::nullopt;
  scheme = origin.substr(0, sep);
  if (scheme != "https" && scheme != "http") return std::nullopt;
  std::string_view rest = origin.substr(sep + 3);
  if (rest.empty() || rest.find_first_of("/?#@ ") != std::string_view::npos) return std::nullopt;
  std::string_view host = rest;
  if (const auto colon = rest.rfind(':'); colon != std::string_view::npos && rest.front() != '[') {
    host = rest.substr(0, colon);
    const std::string_view p = rest.substr(colon + 1);
    if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string_view::npos) {
      return std::nullopt;
    }
  }
  for (const char c : host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
    if (!ok) return std::nullopt;
  }
  if (host.empty()) return std::nullopt;
  return std::string(host);
}

bool rp_id_fits(std::string_view rp_id, std::string_view host) {
  if (rp_id == host) return true;
  return host.size() > rp_id.size() && host.substr(host.size() - rp_id.size()) == rp_id &&
         host[host.size() - rp_id.size() - 1] == '.';
}

ServedPartner parse_partner(const Reader& rd, const toml::table& t) {
  ServedPartner p;
  bool have_cert = false, have_key = false, have_ca = false;
  for (const auto& [k, v] : t) {
    const std::string_view key = k.str();
    if (key == "id") {
      p.id = rd.text(v, key);
      if (!sluis::server::is_safe_token(p.id)) rd.fail(v.source(), "id must be a partner id as sluisd knows it");
    } else if (key == "certificate") {
      p.certificate = rd.path(v, key);
      have_cert = true;
    } else if (key == "private_key") {
      p.private_key = rd.path(v, key);
      have_key = true;
    } else if (key == "gateway_ca") {
      p.gateway_ca = rd.path(v, key);
      have_ca = true;
    } else if (key == "gateway_address") {
      p.gateway_address = rd.text(v, key);
    } else if (key == "gateway_port") {
      p.gateway_port = rd.port(v, key, false);
    } else if (key == "gateway_server_name") {
      p.gateway_server_name = rd.text(v, key);
    } else {
      rd.fail(v.source(), "unknown key '" + std::string(key) +
                              "' in [[partner]]; the keys are id, certificate, private_key, "
                              "gateway_ca, gateway_address, gateway_port, gateway_server_name");
    }
  }
  if (p.id.empty() || !have_cert || !have_key || !have_ca) {
    rd.fail(t.source(), "each [[partner]] needs id, certificate, private_key and gateway_ca");
  }
  return p;
}

/// [witness]: interval_seconds, partner, worker. The partner is checked against the served ones
/// once every table is read (`partner_at` says where it was written).
WitnessSettings parse_witness(const Reader& rd, const toml::table& t,
                              toml::source_region& partner_at) {
  WitnessSettings w;
  for (const auto& [k, v] : t) {
    const std::string_view key = k.str();
    if (key == "interval_seconds") {
      const auto* i = v.as_integer();
      if (i == nullptr || i->get() < WitnessSettings::kMinInterval.count() ||
          i->get() > WitnessSettings::kMaxInterval.count()) {
        rd.fail(v.source(), "[witness] interval_seconds must be a whole number of seconds from " +
                                std::to_string(WitnessSettings::kMinInterval.count()) + " to " +
                                std::to_string(WitnessSettings::kMaxInterval.count()) +
                                " (a day; the default is " +
                                std::to_string(WitnessSettings::kDefaultInterval.count()) + ")");
      }
      w.interval = std::chrono::seconds(i->get());
    } else if (key == "partner") {
      w.partner = rd.text(v, key);
      partner_at = v.source();
    } else if (key == "worker") {
      w.worker = rd.text(v, key);
      if (!sluis::server::is_safe_token(w.worker)) {
        rd.fail(v.source(), "[witness] worker must be 1 to 64 letters, digits or . _ : @ - (it is "
                            "sent as Sluis-Worker)");
      }
    } else {
      rd.fail(v.source(), "unknown key '" + std::string(key) +
                              "' in [witness]; the keys are interval_seconds, partner and worker");
    }
  }
  return w;
}

std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::string ConsoleConfig::origin_authority() const {
  const auto sep = origin.find("://");
  return sep == std::string::npos ? origin : origin.substr(sep + 3);
}

const ServedPartner* ConsoleConfig::partner(std::string_view id) const noexcept {
  for (const auto& p : partners) {
    if (p.id == id) return &p;
  }
  return nullptr;
}

const ServedPartner* ConsoleConfig::witness_partner() const noexcept {
  if (!witness.partner.empty()) return partner(witness.partner);
  return partners.empty() ? nullptr : &partners.front();
}

ConsoleConfig parse_console_config(std::string_view text, std::string_view source_name,
                                   const fs::path& base_dir) {
  const Reader rd(source_name, base_dir);
  toml::table root;
  try {
    root = toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    rd.fail(e.source(), "this is not valid TOML (" + std::string(e.description()) +
                            "); fix the syntax at this line");
  }
  ConsoleConfig c;
  for (auto* p : {&c.tls_certificate, &c.tls_private_key, &c.root_key_file, &c.database}) {
    *p = (base_dir / *p).lexically_normal();
  }
  toml::source_region transport_at{}, origin_at{}, witness_partner_at{};
  for (const auto& [k, v] : root) {
    const std::string_view key = k.str();
    if (key == "listen_address") {
      c.listen_address = rd.text(v, key);
    } else if (key == "port") {
      c.port = rd.port(v, key, true);
    } else if (key == "transport") {
      const std::string t = rd.text(v, key);
      transport_at = v.source();
      if (t == "https") {
        c.transport = ConsoleTransport::https;
      } else if (t == "http-loopback") {
        c.transport = ConsoleTransport::http_loopback;
      } else {
        rd.fail(v.source(), "transport must be \"https\" or \"http-loopback\" (the local demo)");
      }
    } else if (key == "origin") {
      c.origin = rd.text(v, key);
      origin_at = v.source();
    } else if (key == "rp_id") {
      c.rp_id = rd.text(v, key);
    } else if (key == "root_key_file") {
      c.root_key_file = rd.path(v, key);
    } else if (key == "database") {
      c.database = rd.path(v, key);
    } else if (key == "web_root") {
      c.web_root = rd.path(v, key);
    } else if (key == "log_destination") {
      c.log_destination = rd.text(v, key);
    } else if (key == "threads") {
      c.threads = rd.count(v, key, 2, 64);
    } else if (key == "audit_verifier_key") {
      c.audit_verifier_key = rd.text(v, key);
      if (!sluis::crypto::parse_verifier_key(c.audit_verifier_key)) {
        rd.fail(v.source(), "audit_verifier_key must be the gateway's verifier key exactly as "
                            "`sluisctl audit checkpoint` prints it after \"Verifier key:\" "
                            "(<origin>+<key id>+<public key>)");
      }
    } else if (key == "witness") {
      const auto* t = v.as_table();
      if (t == nullptr) rd.fail(v.source(), "[witness] must be a table");
      c.witness = parse_witness(rd, *t, witness_partner_at);
    } else if (key == "tls") {
      const auto* t = v.as_table();
      if (t == nullptr) rd.fail(v.source(), "[tls] must be a table");
      for (const auto& [tk, tv] : *t) {
        if (tk.str() == "certificate") {
          c.tls_certificate = rd.path(tv, "certificate");
        } else if (tk.str() == "private_key") {
          c.tls_private_key = rd.path(tv, "private_key");
        } else {
          rd.fail(tv.source(), "unknown key in [tls]; the keys are certificate and private_key");
        }
      }
    } else if (key == "partner") {
      const auto* arr = v.as_array();
      if (arr == nullptr) rd.fail(v.source(), "partners are written as [[partner]] tables");
      for (const auto& item : *arr) {
        const auto* t = item.as_table();
        if (t == nullptr) rd.fail(item.source(), "partners are written as [[partner]] tables");
        c.partners.push_back(parse_partner(rd, *t));
      }
    } else {
      rd.fail(v.source(), "unknown key '" + std::string(key) + "'; see `sluis-console init --help`");
    }
  }
  std::string_view scheme;
  const auto host = origin_host(c.origin, scheme);
  if (!host) {
    rd.fail(origin_at, "origin must be scheme://host[:port] in lower case, e.g. "
                       "\"https://console.example.org\", with no path");
  }
  if (!rp_id_fits(c.rp_id, *host)) {
    rd.fail(origin_at, "rp_id \"" + c.rp_id + "\" must be the origin's host or a parent domain");
  }
  if (c.transport == ConsoleTransport::http_loopback) {
    if (!sluis::server::is_loopback_address(c.listen_address)) {
      rd.fail(transport_at, "http-loopback serves plain HTTP and may only listen on 127.0.0.1 or "
                            "::1; use transport = \"https\" with a certificate for other addresses");
    }
    if (scheme != "http" || (*host != "localhost" && *host != "127.0.0.1")) {
      rd.fail(origin_at, "with http-loopback the origin must be http://localhost:PORT (browsers "
                         "treat only loopback names as secure without TLS)");
    }
  } else if (scheme != "https") {
    rd.fail(origin_at, "with transport \"https\" the origin must start with https://");
  }
  std::set<std::string> seen;
  for (const auto& p : c.partners) {
    if (!seen.insert(p.id).second) {
      throw ConsoleConfigError(std::string(source_name) + ": partner " + p.id +
                               " is configured twice; keep one [[partner]] table per partner");
    }
  }
  if (!c.witness.partner.empty() && c.partner(c.witness.partner) == nullptr) {
    rd.fail(witness_partner_at, "[witness] partner \"" + c.witness.partner +
                                    "\" is not served by this console; name one of the "
                                    "[[partner]] tables, or leave it out to use the first");
  }
  return c;
}

ConsoleConfig load_console_config(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw ConsoleConfigError(path.string() +
                             ": cannot read the configuration file; create it with "
                             "`sluis-console init` or fix --config");
  }
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  return parse_console_config(text, path.string(), path.parent_path());
}

std::string render_console_config(const ConsoleConfig& c) {
  std::ostringstream o;
  o << "# sluis-console configuration (docs/console.md, docs/operations.md).\n"
       "# Relative paths are resolved against this file's directory.\n\n"
       "# The address and port browsers connect to.\n"
    << "listen_address = " << quoted(c.listen_address) << "\nport = " << c.port << "\n"
    << "# \"https\" (production: [tls] below) or \"http-loopback\" (local demo, loopback only).\n"
    << "transport = "
    << quoted(c.transport == ConsoleTransport::https ? "https" : "http-loopback") << "\n"
    << "# The exact origin in the browser's address bar, and the WebAuthn RP ID (its host).\n"
    << "origin = " << quoted(c.origin) << "\nrp_id = " << quoted(c.rp_id) << "\n"
    << "# The console's own root key (raw, mode 0600) and its SQLCipher file (accounts, passkeys,\n"
       "# invitations, sessions), keyed from that root key.\n"
    << "root_key_file = " << quoted(c.root_key_file.string()) << "\n"
    << "database = " << quoted(c.database.string()) << "\n"
    << "log_destination = " << quoted(c.log_destination) << "\n"
    << "# Event loops serving browsers, one thread each. A page that waits for sluisd holds up its\n"
       "# loop's other connections; an idle loop costs nothing. Raise it for many workers at once.\n"
    << "threads = " << c.threads << "\n";
  if (!c.web_root.empty()) o << "web_root = " << quoted(c.web_root.string()) << "\n";
  o << "# sluisd's audit-log verifier key, exactly as `sluisctl audit checkpoint` prints it after\n"
       "# \"Verifier key:\" (given out of band). With it the console witnesses the log: [witness].\n";
  if (!c.audit_verifier_key.empty()) {
    o << "audit_verifier_key = " << quoted(c.audit_verifier_key) << "\n";
  } else {
    o << "# audit_verifier_key = \"sluis-gateway/audit+<key id>+<public key>\"\n";
  }
  o << "\n[tls]\n# The console's server certificate for browsers (transport = \"https\").\n"
    << "certificate = " << quoted(c.tls_certificate.string()) << "\n"
    << "private_key = " << quoted(c.tls_private_key.string()) << "\n";
  o << "\n[witness]\n"
       "# The log witness (docs/console.md \"The log's health\"): once audit_verifier_key is set,\n"
       "# the console checks the gateway's signed checkpoint and a consistency proof at start-up\n"
       "# and then every interval_seconds (1 to 86400), also when nobody opens the DPO's page;\n"
       "# without the key it does not witness the log.\n"
    << "interval_seconds = " << c.witness.interval.count() << "\n"
    << "# The served partner whose certificate calls /v1/audit (default: the first [[partner]]).\n";
  if (!c.witness.partner.empty()) {
    o << "partner = " << quoted(c.witness.partner) << "\n";
  } else {
    o << "# partner = \"ocmw-brussel\"\n";
  }
  o << "# Sent as Sluis-Worker: sluisd checks no worker on the audit routes, but its request log\n"
       "# names this one, so the witness's calls are recognisable there.\n"
    << "worker = " << quoted(c.witness.worker) << "\n";
  for (const auto& p : c.partners) {
    o << "\n# A partner this console serves: its client certificate for sluisd's /v1 API.\n"
      << "[[partner]]\nid = " << quoted(p.id) << "\ncertificate = "
      << quoted(p.certificate.string()) << "\nprivate_key = " << quoted(p.private_key.string())
      << "\ngateway_ca = " << quoted(p.gateway_ca.string())
      << "\ngateway_address = " << quoted(p.gateway_address) << "\ngateway_port = "
      << p.gateway_port << "\ngateway_server_name = " << quoted(p.gateway_server_name) << "\n";
  }
  return o.str();
}

}  // namespace sluis::console
