// sluis-console: the web console daemon and its commands (init, serve, account invite).
#include "sluis/console/api_client.hpp"
#include "sluis/console/console_app.hpp"
#include "sluis/console/console_config.hpp"
#include "sluis/console/console_store.hpp"
#include "sluis/crypto/keyfile.hpp"
#include "sluis/server/ca.hpp"
#include "sluis/server/request_log.hpp"
#include "sluis/server/server.hpp"

#include <sys/stat.h>

#include <charconv>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#ifndef SLUIS_CONSOLE_WEB_DIR
#error "SLUIS_CONSOLE_WEB_DIR must name console/web"
#endif

namespace {

namespace fs = std::filesystem;
namespace sc = sluis::console;
namespace gw = sluis::server;

/// A refusal for the person at the command line (exit 2: usage, 1: could not do it).
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

constexpr const char* kUsage =
    "usage: sluis-console COMMAND [options]   (sluis-console COMMAND --help for its options)\n"
    "  init            create a console home: configuration, root key, database\n"
    "  serve           run the console for browsers\n"
    "  account invite  create a one-time enrolment link for a worker of a served partner\n";

constexpr const char* kInitHelp =
    "usage: sluis-console init --home DIR [--port N] [--origin URL] [--listen-address IP]\n"
    "                          [--gateway-home DIR --gateway-port N --partner ID ...]\n"
    "  Creates DIR/console.toml, DIR/keys/root.key (the console's own raw root key) and\n"
    "  DIR/data/console.db (its SQLCipher file), each mode 0600 in 0700 directories.\n"
    "  --port N              port browsers connect to (default 8080)\n"
    "  --origin URL          the address in the browser (default http://localhost:PORT, plain\n"
    "                        HTTP on loopback for a local demo; an https:// origin sets\n"
    "                        transport = \"https\" and expects DIR/tls/console.{crt,key})\n"
    "  --listen-address IP   default 127.0.0.1\n"
    "  --gateway-home DIR    a sluisctl gateway home: each --partner ID is served with\n"
    "                        DIR/partners/ID/ID.{crt,key} and DIR/tls/ca.crt\n"
    "  --gateway-port N      sluisd's port (default 8443)\n"
    "  Partners can also be added later as [[partner]] tables in console.toml.\n"
    "  When DIR/console.toml exists already (the Debian package links /etc/sluis/console.toml\n"
    "  there), init creates only the root key and database it names, and leaves it as it is.\n";

constexpr const char* kServeHelp =
    "usage: sluis-console serve --config FILE\n"
    "  Serves the console until SIGTERM or SIGINT. FILE is console.toml (see docs/console.md).\n";

constexpr const char* kInviteHelp =
    "usage: sluis-console account invite --config FILE --partner ID --worker W\n"
    "                                    [--role admin|worker|dpo] [--valid-for-seconds N]\n"
    "  Prints a one-time enrolment link (valid 24 hours, or N seconds when shorter). A new\n"
    "  invitation for a worker who has an account replaces that account's passkeys when used.\n"
    "  The first admin of a partner is invited this way; later ones from the admin page.\n";

struct Args {
  std::map<std::string, std::vector<std::string>> values;
  bool help = false;

  static Args parse(const std::vector<std::string>& argv, std::size_t from,
                    std::initializer_list<const char*> known) {
    Args a;
    for (std::size_t i = from; i < argv.size(); ++i) {
      const std::string& arg = argv[i];
      if (arg == "--help" || arg == "-h") {
        a.help = true;
        continue;
      }
      bool ok = false;
      for (const char* k : known) ok = ok || arg == k;
      if (!ok) throw UsageError("unknown option '" + arg + "'");
      if (i + 1 >= argv.size()) throw UsageError(arg + " needs a value");
      a.values[arg.substr(2)].push_back(argv[++i]);
    }
    return a;
  }
  std::optional<std::string> get(const std::string& k) const {
    auto it = values.find(k);
    if (it == values.end()) return std::nullopt;
    if (it->second.size() > 1) throw UsageError("--" + k + " given twice");
    return it->second.front();
  }
  std::string need(const std::string& k) const {
    auto v = get(k);
    if (!v) throw UsageError("--" + k + " is required");
    return *v;
  }
};

std::uint16_t port_value(const std::string& text, const char* what) {
  unsigned v = 0;
  const auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || v == 0 || v > 65535) {
    throw UsageError(std::string(what) + " must be a port number from 1 to 65535");
  }
  return static_cast<std::uint16_t>(v);
}

sluis::crypto::RootKey read_root(const sc::ConsoleConfig& config) {
  auto key = sluis::crypto::read_root_key(config.root_key_file, {});
  if (!key) {
    throw std::runtime_error(config.root_key_file.string() +
                             ": cannot read the console's root key file (raw key, mode 0600); "
                             "fix root_key_file or run `sluis-console init`");
  }
  return std::move(*key);
}

/// init on a home whose console.toml is already in place (the Debian package links
/// /etc/sluis/console.toml there): creates the root key and database that file names, and
/// leaves the file as it is. Refuses when either exists (init never overwrites).
int init_from_config(const Args& a, const fs::path& file) {
  for (const char* o : {"port", "origin", "listen-address", "gateway-home", "gateway-port",
                        "partner"}) {
    if (a.values.contains(o)) {
      throw UsageError("--" + std::string(o) + " cannot change the configuration already in " +
                       file.string() + "; edit that file instead ([[partner]] tables, port, "
                       "origin), then run init without it");
    }
  }
  const sc::ConsoleConfig c = sc::load_console_config(file);
  if (fs::exists(c.root_key_file) || fs::exists(c.database)) {
    throw std::runtime_error(file.string() + " names a root key or database that exists already; "
                             "choose another --home (init never overwrites)");
  }
  for (const fs::path& d : {c.root_key_file.parent_path(), c.database.parent_path()}) {
    fs::create_directories(d);
    fs::permissions(d, fs::perms::owner_all, fs::perm_options::replace);
  }
  const auto root = sluis::crypto::RootKey::random();
  if (!sluis::crypto::write_raw_root_key(c.root_key_file, root)) {
    throw std::runtime_error(c.root_key_file.string() + ": cannot write the root key");
  }
  (void)sc::ConsoleStore::open(c.database, root);
  std::printf("created %s and %s for %s\n", c.root_key_file.c_str(), c.database.c_str(),
              file.c_str());
  return 0;
}

int init(const Args& a) {
  const fs::path home = a.need("home");
  if (fs::exists(home / "console.toml")) return init_from_config(a, home / "console.toml");
  sc::ConsoleConfig c;
  if (auto p = a.get("port")) c.port = port_value(*p, "--port");
  if (auto l = a.get("listen-address")) c.listen_address = *l;
  c.origin = a.get("origin").value_or("http://localhost:" + std::to_string(c.port));
  if (c.origin.starts_with("https://")) c.transport = sc::ConsoleTransport::https;
  const auto host_start = c.origin.find("://") + 3;
  c.rp_id = c.origin.substr(host_start, c.origin.find(':', host_start) - host_start);
  c.tls_certificate = "tls/console.crt";
  c.tls_private_key = "tls/console.key";
  c.root_key_file = "keys/root.key";
  c.database = "data/console.db";
  if (auto gh = a.get("gateway-home")) {
    const fs::path g = fs::absolute(*gh);
    const std::uint16_t gport = port_value(a.get("gateway-port").value_or("8443"), "--gateway-port");
    auto it = a.values.find("partner");
    if (it != a.values.end()) {
      for (const auto& id : it->second) {
        sc::ServedPartner p;
        p.id = id;
        p.certificate = g / "partners" / id / (id + ".crt");
        p.private_key = g / "partners" / id / (id + ".key");
        p.gateway_ca = g / "tls" / "ca.crt";
        p.gateway_port = gport;
        c.partners.push_back(std::move(p));
      }
    }
  }
  const std::string text = sc::render_console_config(c);
  (void)sc::parse_console_config(text, "console.toml", home);  // refuse what serve would refuse
  for (const char* d : {"", "keys", "data", "tls"}) {
    fs::create_directories(home / d);
    fs::permissions(home / d, fs::perms::owner_all);
  }
  const auto root = sluis::crypto::RootKey::random();
  if (!sluis::crypto::write_raw_root_key(home / "keys" / "root.key", root)) {
    throw std::runtime_error((home / "keys" / "root.key").string() + ": cannot write the root key");
  }
  (void)sc::ConsoleStore::open(home / "data" / "console.db", root);
  {
    const fs::path file = home / "console.toml";
    std::ofstream out(file, std::ios::binary);
    out << text;
    if (!out.flush()) throw std::runtime_error(file.string() + ": cannot write the configuration");
    ::chmod(file.c_str(), 0600);
  }
  std::printf("created %s (console.toml, keys/root.key, data/console.db)\n", home.c_str());
  return 0;
}

int serve(const Args& a) {
  const sc::ConsoleConfig config = sc::load_console_config(a.need("config"));
  const auto root = read_root(config);
  auto store = sc::ConsoleStore::open(config.database, root);
  const sc::ConsoleWeb web =
      sc::ConsoleWeb::load(config.web_root.empty() ? fs::path(SLUIS_CONSOLE_WEB_DIR) : config.web_root);
  std::map<std::string, sc::ApiClient, std::less<>> clients;
  for (const auto& p : config.partners) {
    auto ca = gw::Certificate::load_pem_file(p.gateway_ca);
    auto cert = gw::Certificate::load_pem_file(p.certificate);
    auto key = gw::PrivateKey::load_pem_file(p.private_key);
    if (!ca || !cert || !key) {
      throw std::runtime_error("partner " + p.id + ": cannot read its certificate, key or the "
                               "gateway CA (PEM); fix the [[partner]] paths");
    }
    sc::ApiClientOptions o;
    o.address = p.gateway_address;
    o.port = p.gateway_port;
    o.server_name = p.gateway_server_name;
    gw::Credential credential{std::move(*key), std::move(*cert)};
    clients.emplace(p.id, sc::ApiClient(o, *ca, credential));
  }
  sc::ConsoleApp app(config, *store, web, std::move(clients));
  gw::ServerConfig server;
  server.listen_address = config.listen_address;
  server.port = config.port;
  server.mode = config.transport == sc::ConsoleTransport::https ? gw::ListenerMode::browser_tls
                                                                 : gw::ListenerMode::browser_plain_loopback;
  server.tls.certificate = config.tls_certificate;
  server.tls.private_key = config.tls_private_key;
  server.tls.ca_certificate.clear();
  server.tls.allow_tls12 = true;  // browsers on older systems; ECDHE + AEAD only
  server.metrics_enabled = false;
  // `threads` event loops (the transport's io_threads + handler_threads), one thread each: a
  // browser's connection stays on one loop, and a page waiting for sluisd holds up only that
  // loop's other connections.
  server.io_threads = 1;
  server.handler_threads = config.threads - 1;
  server.log_destination = config.log_destination;
  // One log for the transport's request lines and the witness's lines.
  gw::ServerHooks hooks;
  hooks.log = gw::LogSink::open(config.log_destination, server.log_level);
  const auto log = hooks.log;
  gw::HttpsServer https(server, app.router(), std::move(hooks));
  https.start();
  app.start_witness(log);
  std::fprintf(stderr, "sluis-console: serving %s\n", config.origin.c_str());
  https.run_until_signalled();
  return 0;
}

int invite(const Args& a) {
  const sc::ConsoleConfig config = sc::load_console_config(a.need("config"));
  const std::string partner = a.need("partner");
  const std::string worker = a.need("worker");
  if (config.partner(partner) == nullptr) {
    throw UsageError("partner " + partner + " is not served by this console; add a [[partner]] "
                     "table for it to the configuration");
  }
  if (!gw::is_safe_token(worker)) {
    throw UsageError("--worker must be 1 to 64 letters, digits or . _ : @ - (the gateway's id)");
  }
  const auto role = sc::parse_console_role(a.get("role").value_or("worker"));
  if (!role) throw UsageError("--role must be admin, worker or dpo");
  std::chrono::seconds valid_for = sc::kInviteLifetime;
  if (auto v = a.get("valid-for-seconds")) {
    long long n = 0;
    const auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
    if (ec != std::errc() || p != v->data() + v->size() || n < 1 || n > sc::kInviteLifetime.count()) {
      throw UsageError("--valid-for-seconds must be from 1 to 86400");
    }
    valid_for = std::chrono::seconds(n);
  }
  const auto root = read_root(config);
  auto store = sc::ConsoleStore::open(config.database, root);
  const auto issued = store->create_invite(partner, worker, *role, sc::unix_now(), valid_for);
  std::printf("%s\n", sc::enrolment_link(config, issued.token).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv, argv + argc);
  const std::string cmd = args.size() > 1 ? args[1] : "";
  try {
    if (cmd == "init") {
      const auto a = Args::parse(args, 2, {"--home", "--port", "--origin", "--listen-address",
                                           "--gateway-home", "--gateway-port", "--partner"});
      if (a.help) return std::fputs(kInitHelp, stdout), 0;
      return init(a);
    }
    if (cmd == "serve") {
      const auto a = Args::parse(args, 2, {"--config"});
      if (a.help) return std::fputs(kServeHelp, stdout), 0;
      return serve(a);
    }
    if (cmd == "account" && args.size() > 2 && args[2] == "invite") {
      const auto a = Args::parse(args, 3, {"--config", "--partner", "--worker", "--role",
                                           "--valid-for-seconds"});
      if (a.help) return std::fputs(kInviteHelp, stdout), 0;
      return invite(a);
    }
    if (cmd == "--help" || cmd == "-h" || cmd == "help") return std::fputs(kUsage, stdout), 0;
    if (cmd == "account" && args.size() > 2 && (args[2] == "--help" || args[2] == "-h")) {
      return std::fputs(kInviteHelp, stdout), 0;
    }
    std::fputs(kUsage, stderr);
    return 2;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "sluis-console: %s\n%s", e.what(), cmd == "init" ? kInitHelp : "");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sluis-console: %s\n", e.what());
    return 1;
  }
}
