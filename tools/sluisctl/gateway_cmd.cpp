// sluisctl init | partner | worker | rotate | backup | client | status: set up a gateway home,
// enrol partners and workers, rotate keys, back up, erase clients.
//
// Every act after init is an operator act (gateway/operator): while sluisd runs, sluisctl asks it
// over the operator socket, so the act is recorded by sluisd's own audit writer and takes effect
// in its caches at once; while sluisd is stopped, sluisctl does the act on the files itself,
// recorded in the audit log the same way (the log's writer lock keeps the two from mixing).
// Certificates and the revocation list are files sluisctl writes in both cases; a running sluisd
// puts a revocation in force before it answers the revoke act (and reads the file when it starts).
#include "sluis/crypto/keyfile.hpp"
#include "sluis/audit/log.hpp"
#include "sluis/server/ca.hpp"
#include "sluis/daemon/config.hpp"
#include "sluis/server/config.hpp"
#include "sluis/ops/operator.hpp"
#include "sluis/ops/operator_channel.hpp"
#include "sluis/store/store.hpp"
#include "sluis/policy/rule_pack.hpp"
#include "sluisctl/command.hpp"
#include "sluisctl/options.hpp"
#include "sluisctl/passphrase.hpp"

#include <boost/json.hpp>
#include <sodium.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

namespace sluis::ctl {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace std::chrono_literals;

constexpr const char* kGatewayUsage =
    "usage:\n"
    "  sluisctl init --home DIR [--raw-key | --passphrase-file F] [--listen-address IP]\n"
    "                [--port N] [--metrics-port N] [--server-name NAME] [--server-ip IP]\n"
    "                [--rule-pack FILE] [--argon2-ops N] [--argon2-mem-mib M]\n"
    "      Creates a gateway home: root key, gateway CA, server certificate, configuration\n"
    "      (DIR/sluis.toml), rule pack and an empty store. Refuses a DIR that already has one.\n"
    "      When DIR/sluis.toml exists and names no key, CA or store yet (the Debian package\n"
    "      links /etc/sluis/sluis.toml there), creates what it names and leaves it as it is:\n"
    "      set the address and ports in that file then, not with the options below.\n"
    "      The API listens on --listen-address (default 127.0.0.1, this machine only; 0.0.0.0\n"
    "      or :: for every interface) port --port (default 8443); Prometheus metrics on\n"
    "      127.0.0.1 port --metrics-port (default 9464). 0 picks a free port (tests).\n"
    "  sluisctl partner add --home DIR --id ID --type TYPE --name NAME [--p12-password-file F]\n"
    "  sluisctl partner list --home DIR\n"
    "  sluisctl partner revoke --home DIR --id ID\n"
    "      Partners are organisations; 'add' issues their client certificate and key as PEM\n"
    "      (and PKCS#12 with --p12-password-file) into DIR/partners/ID/. 'revoke' refuses their\n"
    "      certificates at once, without restarting the gateway.\n"
    "  sluisctl worker add --home DIR --partner ID --worker WID --role ROLE\n"
    "  sluisctl worker list --home DIR --partner ID\n"
    "  sluisctl worker disable|enable --home DIR --partner ID --worker WID\n"
    "  sluisctl rotate --home DIR\n"
    "      Adds a new key-encryption-key version, rewraps every data key under it (field\n"
    "      ciphertexts are untouched) and destroys the old versions.\n"
    "  sluisctl backup --home DIR --out DIR2 [--with-key-snapshot]\n"
    "      Online backup of the data store (SQLCipher, no key material) into DIR2; with\n"
    "      --with-key-snapshot also a key-store snapshot (keep few, keep them short: see\n"
    "      docs/operations.md).\n"
    "  sluisctl restore --home DIR [--data FILE] [--keys FILE] [--force] [--out DIR2]\n"
    "      With sluisd stopped: restores a data backup (data-*.db) and/or a key-store snapshot\n"
    "      (keys-*.db), gives back the data keys made after the snapshot from the key journal,\n"
    "      applies every erasure recorded since, then takes a fresh backup with a key snapshot\n"
    "      into DIR2 (default: the restored file's directory). It first says what would become\n"
    "      unreadable and stops there unless you confirm on a terminal or pass --force.\n"
    "  sluisctl client erase --home DIR --reason TEXT [--yes]\n"
    "        (--scheme national-register|bis|case-number [--case-partner ID]\n"
    "         [--identifier-file F] | --partner ID --pseudonym P)\n"
    "      Erases a client for good (crypto-shredding). The number is read from F or asked\n"
    "      without echo, never taken from the command line. TEXT (e.g. the request's\n"
    "      reference) goes into the audit log.\n"
    "  sluisctl status --home DIR\n"
    "      Says whether the gateway runs, with counts.\n"
    "While sluisd runs these go through its operator socket ([paths] operator_socket) and are\n"
    "audited by it; when it is stopped they work on the files, audited the same way, and need\n"
    "the root key: --passphrase-file F (or [paths] passphrase_file) when it is sealed.\n";

// The gateway home as the configuration describes it.
struct Home {
  fs::path dir;
  daemon::DaemonConfig config;

  static Home open(const std::string& dir) {
    const fs::path d = fs::absolute(dir);
    if (!fs::exists(d / "sluis.toml")) {
      throw UsageError(d.string() +
                       " is not a gateway home (no sluis.toml); run 'sluisctl init "
                       "--home " +
                       dir + "' first");
    }
    return Home{d, daemon::load_daemon_config(d / "sluis.toml")};
  }
  [[nodiscard]] fs::path partner_dir(const std::string& id) const { return dir / "partners" / id; }
  [[nodiscard]] fs::path ca_key() const {
    return config.server.tls.ca_certificate.parent_path() / "ca.key";
  }
};

// The gateway's rule pack: partner types and roles must be names it defines.
policy::RulePack rule_pack(const Home& home) {
  auto pack = policy::load_rule_pack(home.config.rule_pack);
  if (!pack) {
    throw std::runtime_error("the rule pack " + home.config.rule_pack.string() +
                             " does not load; run 'sluisctl policy check " +
                             home.config.rule_pack.string() + "'");
  }
  return std::move(*pack);
}

sluis::store::StoreOptions store_options(const daemon::DaemonConfig& c) {
  sluis::store::StoreOptions o;
  o.data_path = c.data_dir / "data.db";
  o.key_store_path = c.data_dir / "keys.db";
  return o;
}

crypto::RootKey unlock(const fs::path& key_file, const std::optional<std::string>& pass_file) {
  auto sealed = crypto::root_key_file_is_sealed(key_file);
  if (!sealed) {
    throw std::runtime_error("the root key file " + key_file.string() +
                             " cannot be used: " + sealed.error().message());
  }
  crypto::SecretBuffer pass(0);
  if (*sealed) pass = read_passphrase(pass_file, "Root key passphrase: ", false);
  auto root = crypto::read_root_key(key_file, pass.reveal());
  if (!root) {
    throw std::runtime_error("the root key file " + key_file.string() +
                             " does not open: " + root.error().message());
  }
  return std::move(*root);
}

/// --passphrase-file, else the configuration's [paths] passphrase_file, else none (prompt).
std::optional<std::string> passphrase_file(const Home& home, const Options& opt) {
  if (auto f = opt.get("passphrase-file")) return f;
  if (!home.config.passphrase_file.empty()) return home.config.passphrase_file.string();
  return std::nullopt;
}

template <class T> void check_server(const server::ServerResult<T>& r, const std::string& what) {
  if (!r) throw std::runtime_error(what + ": " + r.error().message());
}

/// True for a numeric IPv4 or IPv6 address (what [server] listen_address accepts).
bool is_numeric_address(const std::string& a) {
  unsigned char buf[sizeof(in6_addr)];
  return ::inet_pton(AF_INET, a.c_str(), buf) == 1 || ::inet_pton(AF_INET6, a.c_str(), buf) == 1;
}

/// A port option: 0 (a free port, for tests) to 65535.
std::uint64_t parse_port(const std::string& name, const std::string& value) {
  const auto port = parse_count(name, value);
  if (port > 65535) throw UsageError("option --" + name + " needs a port from 0 to 65535");
  return port;
}

/// The rule pack init copies when no --rule-pack is given: the installed copy beside the
/// executable (BIN/../share/sluis/policy/packs/, where the Debian package puts it, so an
/// installed sluisctl needs no source tree), else the checkout's policy/packs/.
fs::path default_rule_pack() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path installed = exe.parent_path().parent_path() / "share" / "sluis" / "policy" /
                               "packs" / fs::path(SLUIS_DEFAULT_RULE_PACK).filename();
    if (fs::exists(installed, ec)) return installed;
  }
  return fs::path(SLUIS_DEFAULT_RULE_PACK);
}

int init(Args args) {
  const Options opt(args,
                    {"home", "passphrase-file", "listen-address", "port", "metrics-port",
                     "server-name", "server-ip", "rule-pack", "argon2-ops", "argon2-mem-mib"},
                    {"raw-key"});
  const fs::path dir = fs::absolute(opt.require("home"));
  // A configuration already in place (the Debian package's /etc/sluis/sluis.toml, linked into
  // the home by its postinst) is used as it is when it names nothing created yet.
  const bool given_config = fs::exists(dir / "sluis.toml");
  if (given_config) {
    const auto given = daemon::load_daemon_config(dir / "sluis.toml");
    if (fs::exists(given.key_file) || fs::exists(given.server.tls.ca_certificate) ||
        fs::exists(given.data_dir / "data.db")) {
      std::fprintf(stderr,
                   "sluisctl: %s already holds a gateway (its root key, CA or store exists); "
                   "init never overwrites one. Choose another --home.\n",
                   dir.c_str());
      return kExitFailed;
    }
    for (const char* o : {"listen-address", "port", "metrics-port"}) {
      if (opt.get(o)) {
        throw UsageError("--" + std::string(o) + " cannot change the configuration that is " +
                         "already in " + (dir / "sluis.toml").string() + " (" +
                         fs::canonical(dir / "sluis.toml").string() +
                         "); set the address and ports there, then run init without it");
      }
    }
  }
  // Configuration: the documented default (the API on loopback only), with the address and
  // ports asked for. Checked before anything is created.
  std::string config(daemon::default_config_toml());
  auto replace_line = [&config](const std::string& key, const std::string& from,
                                const std::string& to) {
    const auto pos = config.find(key + " = " + from);
    if (pos == std::string::npos) {
      throw std::logic_error("the default configuration has no line " + key + " = " + from);
    }
    config.replace(pos, key.size() + 3 + from.size(), key + " = " + to);
  };
  if (auto a = opt.get("listen-address")) {
    if (!is_numeric_address(*a)) {
      throw UsageError("--listen-address needs a numeric IPv4 or IPv6 address of this machine, "
                       "such as 127.0.0.1 (this machine only), 0.0.0.0 or :: (every interface), "
                       "not '" + *a + "'");
    }
    replace_line("listen_address", "\"127.0.0.1\"", "\"" + *a + "\"");
  }
  // The metrics port first: [server] comes first in the file, so "port = 8443" then still finds
  // the server's line even when --metrics-port is 8443.
  if (auto p = opt.get("metrics-port")) {
    replace_line("port", "9464", std::to_string(parse_port("metrics-port", *p)));
  }
  if (auto p = opt.get("port")) {
    replace_line("port", "8443", std::to_string(parse_port("port", *p)));
  }
  if (!given_config) {
    fs::create_directories(dir);
    fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace);
    std::ofstream out(dir / "sluis.toml");
    out << config;
    if (!out.flush()) throw std::runtime_error("cannot write " + (dir / "sluis.toml").string());
  }
  const Home home = Home::open(dir.string());
  const auto& c = home.config;
  for (const auto& d : {c.key_file.parent_path(), c.server.tls.certificate.parent_path(), c.data_dir,
                        c.rule_pack.parent_path(), dir / "partners"}) {
    fs::create_directories(d);
    fs::permissions(d, fs::perms::owner_all, fs::perm_options::replace);
  }

  // Root key.
  const auto root = crypto::RootKey::random();
  if (opt.flag("raw-key")) {
    if (auto w = crypto::write_raw_root_key(c.key_file, root); !w) {
      throw std::runtime_error("cannot write the root key: " + w.error().message());
    }
  } else {
    crypto::Argon2Limits limits;
    if (auto ops = opt.get("argon2-ops")) limits.ops = parse_count("argon2-ops", *ops);
    if (auto mem = opt.get("argon2-mem-mib"))
      limits.mem_bytes = parse_count("argon2-mem-mib", *mem) << 20;
    const auto pass =
        read_passphrase(opt.get("passphrase-file"), "Passphrase for the root key: ", true);
    if (auto w = crypto::write_sealed_root_key(c.key_file, root, pass.reveal(), limits); !w) {
      throw std::runtime_error("cannot write the root key: " + w.error().message());
    }
  }

  // Gateway CA and server certificate.
  auto ca = server::GatewayCa::create("sluis gateway CA", std::chrono::hours(24 * 3650));
  check_server(ca, "cannot create the gateway CA");
  check_server(ca->save(c.server.tls.ca_certificate, home.ca_key()), "cannot save the gateway CA");
  server::ServerCertificateRequest req;
  for (const auto& part : opt.positional())
    (void)part;
  req.dns_names = {"localhost"};
  req.ip_addresses = {"127.0.0.1", "::1"};
  // --server-name / --server-ip may be given once each here (Options keeps the last).
  if (auto n = opt.get("server-name")) req.dns_names.push_back(*n);
  if (auto ip = opt.get("server-ip")) req.ip_addresses.push_back(*ip);
  auto issued = ca->issue_server_certificate(req);
  check_server(issued, "cannot issue the server certificate");
  check_server(issued->key.write_pem_file(c.server.tls.private_key), "cannot write the server key");
  check_server(issued->certificate.write_pem_file(c.server.tls.certificate),
               "cannot write the server certificate");
  check_server(server::RevocationList{}.save_file(c.server.tls.revocation_list),
               "cannot write the revocation list");

  // Rule pack.
  const fs::path pack_source =
      opt.get("rule-pack") ? fs::path(*opt.get("rule-pack")) : default_rule_pack();
  fs::copy_file(pack_source, c.rule_pack, fs::copy_options::overwrite_existing);
  // copy_file gives the copy the source's mode (0644 in a checkout); configuration is owner-only.
  fs::permissions(c.rule_pack, fs::perms::owner_read | fs::perms::owner_write,
                  fs::perm_options::replace);

  // Empty store (both files, migrated, with KEK version 1).
  auto store = sluis::store::Store::open(store_options(c), root);
  if (!store) throw std::runtime_error("cannot create the store: " + store.error().message());

  const bool loopback = server::is_loopback_address(c.server.listen_address);
  std::printf("Gateway home created in %s\n"
              "  configuration  %s\n  root key       %s (%s)\n  gateway CA     %s\n"
              "  rule pack      %s (from %s)\n  store          %s\n  HTTPS API      %s port %u (%s)\n"
              "Next: sluisctl partner add --home %s --id ... --type ... --name ...\n",
              dir.c_str(), (dir / "sluis.toml").c_str(), c.key_file.c_str(),
              opt.flag("raw-key") ? "raw: protect this file" : "sealed under your passphrase",
              c.server.tls.ca_certificate.c_str(), c.rule_pack.c_str(), pack_source.c_str(),
              c.data_dir.c_str(),
              c.server.listen_address.c_str(), static_cast<unsigned>(c.server.port),
              loopback ? "this machine only; --listen-address or [server] listen_address to "
                         "serve partners on the network"
                       : "reachable from the network",
              dir.c_str());
  return kExitOk;
}

// ---- operator acts: through the running gateway's socket, or here when it is stopped ----------

std::string account_of_this_process() {
  return ops::account_name(static_cast<unsigned>(::geteuid()));
}

/// Wipes a request that may hold an identifier once it is no longer needed.
void wipe(std::string& s) {
  if (!s.empty()) sodium_memzero(s.data(), s.size());
  s.clear();
}

/// Does one operator act (gateway/operator/include/sluis/ops/operator.hpp) and returns the
/// answer's members. When sluisd runs, the act goes over its operator socket, so sluisd's own
/// audit writer records it and its caches see it; when sluisd is stopped, sluisctl opens the
/// store and the audit log itself (taking the log's writer lock, which a running sluisd holds)
/// and records it the same way. Throws std::runtime_error with the gateway's sentence when the act
/// is refused.
json::object operator_act(const Home& home, const Options& opt, std::string request) {
  std::string answer;
  const auto& socket = home.config.operator_socket;
  auto call = ops::call_operator_channel(socket, request, std::chrono::minutes(30));
  if (call.outcome == ops::OperatorCall::Outcome::failed) {
    wipe(request);
    throw std::runtime_error(call.error);
  }
  if (call.outcome == ops::OperatorCall::Outcome::answered) {
    answer = std::move(call.answer);
  } else {
    // The gateway is not running: do the act here, on the files, audited by this process.
    if (home.config.store.engine != daemon::StoreEngine::sqlcipher) {
      wipe(request);
      throw std::runtime_error(
          "this gateway keeps its records in PostgreSQL ([store] engine in sluis.toml), and "
          "operator acts on it go through the running gateway: start sluisd, then run this "
          "command again (its operator socket " + socket.string() + " does not answer)");
    }
    const auto root = unlock(home.config.key_file, passphrase_file(home, opt));
    sluis::audit::AuditLogOptions log_options;
    log_options.path = home.config.data_dir / "audit.db";
    std::error_code ec;
    log_options.origin =
        fs::exists(log_options.path, ec) ? std::string() : home.config.audit.origin;
    auto log = sluis::audit::AuditLog::open(std::move(log_options), root);
    if (!log) {
      wipe(request);
      if (log.error() == sluis::store::Errc::in_use) {
        throw std::runtime_error(
            "the gateway is running (it holds the audit log) but its operator socket " +
            socket.string() +
            " does not answer; check [paths] operator_socket in sluis.toml, or stop sluisd");
      }
      throw std::runtime_error("the audit log " + (home.config.data_dir / "audit.db").string() +
                               " does not open: " + log.error().message() +
                               "; acts are not done without their audit record");
    }
    auto store = sluis::store::Store::open(store_options(home.config), root);
    if (!store) {
      wipe(request);
      throw std::runtime_error("the store in " + home.config.data_dir.string() +
                               " does not open: " + store.error().message());
    }
    auto pack = std::make_shared<const policy::RulePack>(rule_pack(home));
    ops::OperatorContext context;
    context.store = store->get();
    context.sqlcipher = store->get();
    context.audit = log->get();
    context.rules = [pack] { return pack; };
    answer = ops::execute_operator_request(
        context, ops::OperatorIdentity{account_of_this_process()}, request);
  }
  wipe(request);
  boost::system::error_code ec;
  auto parsed = json::parse(answer, ec);
  if (ec || !parsed.is_object()) {
    throw std::runtime_error("the gateway's answer was not understood: " + answer);
  }
  auto& object = parsed.get_object();
  if (!object["ok"].is_bool() || !object["ok"].get_bool()) {
    const auto* error = object.if_contains("error");
    throw std::runtime_error(error != nullptr && error->is_string()
                                 ? std::string(error->get_string())
                                 : "the gateway refused the act");
  }
  return std::move(object);
}

std::string text_of(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}

void say(const json::object& answer) {
  const auto message = text_of(answer, "message");
  std::printf("%c%s.\n", message.empty() ? ' ' : static_cast<char>(std::toupper(message[0])),
              message.empty() ? "" : message.c_str() + 1);
}

std::string request_of(json::object o) {
  return json::serialize(o);
}

int partner_add(Args args) {
  const Options opt(args, {"home", "id", "type", "name", "passphrase-file", "p12-password-file"},
                    {});
  const Home home = Home::open(opt.require("home"));
  const std::string id = opt.require("id");
  if (!server::is_valid_partner_id(id)) {
    throw UsageError("--id must be 1-64 characters of a-z, 0-9 and '-', e.g. ocmw-brussel");
  }
  const fs::path out = home.partner_dir(id);
  if (fs::exists(out / (id + ".crt"))) {
    throw std::runtime_error("partner " + id + " has a certificate in " + out.string() +
                             " already; see 'sluisctl partner list'");
  }
  // The credentials are made first, into a staging directory: nothing is registered for a
  // partner whose certificate could not be issued, and nothing is overwritten.
  auto ca = server::GatewayCa::load(home.config.server.tls.ca_certificate, home.ca_key());
  check_server(ca, "cannot load the gateway CA");
  server::PartnerCertificateRequest req;
  req.partner_id = id;
  req.organisation = opt.require("name");
  auto cred = ca->issue_partner_certificate(req);
  check_server(cred, "cannot issue the certificate of " + id);
  const fs::path staging = home.dir / "partners" / (".staging-" + id);
  fs::remove_all(staging);
  fs::create_directories(staging);
  fs::permissions(staging, fs::perms::owner_all, fs::perm_options::replace);
  check_server(cred->key.write_pem_file(staging / (id + ".key")), "cannot write the partner key");
  check_server(cred->certificate.write_pem_file(staging / (id + ".crt")),
               "cannot write the partner certificate");
  if (auto pw_file = opt.get("p12-password-file")) {
    const auto pw = read_passphrase(pw_file, "", false);
    const std::string_view password(reinterpret_cast<const char*>(pw.reveal().data()),
                                    pw.reveal().size());
    auto p12 = server::export_pkcs12(*cred, ca->certificate(), password, id);
    check_server(p12, "cannot export the PKCS#12 bundle");
    const mode_t old = ::umask(077);
    std::ofstream f(staging / (id + ".p12"), std::ios::binary | std::ios::trunc);
    ::umask(old);
    f.write(reinterpret_cast<const char*>(p12->data()), static_cast<std::streamsize>(p12->size()));
    if (!f.flush()) throw std::runtime_error("cannot write the PKCS#12 bundle");
  }
  try {
    (void)operator_act(home, opt,
                       request_of({{"op", "partner.add"},
                                   {"id", id},
                                   {"type", opt.require("type")},
                                   {"name", opt.require("name")}}));
  } catch (...) {
    fs::remove_all(staging);
    throw;
  }
  fs::remove_all(out);
  fs::rename(staging, out);
  std::printf("Partner %s added. Certificate (serial %s) and key are in %s — hand them to the "
              "partner over a secure channel; the key never needs to come back.\n",
              id.c_str(), cred->certificate.serial_hex().c_str(), out.c_str());
  return kExitOk;
}

int partner_list(Args args) {
  const Options opt(args, {"home", "passphrase-file"}, {});
  const Home home = Home::open(opt.require("home"));
  const auto answer = operator_act(home, opt, request_of({{"op", "partner.list"}}));
  std::printf("%-28s %-18s %-8s %s\n", "ID", "TYPE", "STATUS", "NAME");
  for (const auto& v : answer.at("partners").as_array()) {
    const auto& p = v.as_object();
    std::printf("%-28s %-18s %-8s %s\n", text_of(p, "id").c_str(), text_of(p, "type").c_str(),
                text_of(p, "status").c_str(), text_of(p, "name").c_str());
  }
  return kExitOk;
}

int partner_revoke(Args args) {
  const Options opt(args, {"home", "id", "passphrase-file"}, {});
  const Home home = Home::open(opt.require("home"));
  const std::string id = opt.require("id");
  // The certificate first: it is what the gateway checks on every handshake and request.
  const fs::path cert_path = home.partner_dir(id) / (id + ".crt");
  auto cert = server::Certificate::load_pem_file(cert_path);
  check_server(cert, "cannot read the certificate of " + id + " at " + cert_path.string());
  auto list = server::RevocationList::load_file(home.config.server.tls.revocation_list);
  check_server(list, "cannot read the revocation list");
  check_server(list->add(cert->serial_hex()), "cannot add the serial");
  check_server(list->save_file(home.config.server.tls.revocation_list),
               "cannot write the revocation list");
  // The file holds the revocation across restarts; the serial in the act makes a running sluisd
  // refuse the certificate before it answers.
  (void)operator_act(home, opt,
                     request_of({{"op", "partner.revoke"},
                                 {"id", id},
                                 {"serial", cert->serial_hex()}}));
  std::printf("Partner %s revoked: its certificate (serial %s) is refused from now on.\n",
              id.c_str(), cert->serial_hex().c_str());
  return kExitOk;
}

int worker_cmd(std::string_view verb, Args args) {
  const Options opt(args, {"home", "partner", "worker", "role", "passphrase-file"}, {});
  const Home home = Home::open(opt.require("home"));
  const std::string partner = opt.require("partner");
  if (verb == "list") {
    const auto answer =
        operator_act(home, opt, request_of({{"op", "worker.list"}, {"partner", partner}}));
    std::printf("%-28s %-16s %s\n", "WORKER", "ROLE", "STATUS");
    for (const auto& v : answer.at("workers").as_array()) {
      const auto& w = v.as_object();
      std::printf("%-28s %-16s %s\n", text_of(w, "worker").c_str(), text_of(w, "role").c_str(),
                  text_of(w, "status").c_str());
    }
    return kExitOk;
  }
  json::object request{{"op", "worker." + std::string(verb)},
                       {"partner", partner},
                       {"worker", opt.require("worker")}};
  if (verb == "add") request["role"] = opt.require("role");
  say(operator_act(home, opt, request_of(std::move(request))));
  return kExitOk;
}

int rotate(Args args) {
  const Options opt(args, {"home", "passphrase-file"}, {});
  const Home home = Home::open(opt.require("home"));
  say(operator_act(home, opt, request_of({{"op", "key.rotate"}})));
  return kExitOk;
}

int backup(Args args) {
  const Options opt(args, {"home", "out", "passphrase-file"}, {"with-key-snapshot"});
  const Home home = Home::open(opt.require("home"));
  const fs::path out = fs::absolute(opt.require("out"));
  const auto answer = operator_act(home, opt,
                                   request_of({{"op", "backup"},
                                               {"out", out.string()},
                                               {"key_snapshot", opt.flag("with-key-snapshot")}}));
  say(answer);
  if (opt.flag("with-key-snapshot")) {
    std::printf(
        "The key-store snapshot can bring back erased clients' keys until it is destroyed:\n"
        "keep it apart from data backups and delete it on schedule. Keep the newest one: the\n"
        "data store's key journal continues it, so it and any later data backup restore\n"
        "every key (sluisctl restore).\n");
  }
  return kExitOk;
}

std::uint64_t count_of(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (v == nullptr) return 0;
  if (v->is_uint64()) return v->get_uint64();
  if (v->is_int64() && v->get_int64() >= 0) return static_cast<std::uint64_t>(v->get_int64());
  return 0;
}

bool typed_on_terminal(std::string_view word) {
  if (::isatty(STDIN_FILENO) == 0) return false;
  std::printf("Type '%.*s' to go on anyway: ", static_cast<int>(word.size()), word.data());
  std::fflush(stdout);
  char line[32] = {};
  if (std::fgets(line, sizeof line, stdin) == nullptr) return false;
  return std::string_view(line).starts_with(word);
}

int restore(Args args) {
  const Options opt(args, {"home", "data", "keys", "out", "passphrase-file"}, {"force"});
  const Home home = Home::open(opt.require("home"));
  const auto data = opt.get("data");
  const auto keys = opt.get("keys");
  if (!data && !keys) {
    throw UsageError("name what to restore: --data FILE (a data-*.db backup) and/or --keys FILE "
                     "(a keys-*.db snapshot)");
  }
  json::object request{{"op", "restore.check"}};
  if (data) request["data"] = fs::absolute(*data).string();
  if (keys) request["keys"] = fs::absolute(*keys).string();
  const auto check = operator_act(home, opt, request_of(request));
  const auto unreadable = count_of(check, "unreadable_fragments");
  std::printf("Checked: %llu fragments; the key journal gives back %llu data keys made after the "
              "snapshot.\n",
              static_cast<unsigned long long>(count_of(check, "fragments")),
              static_cast<unsigned long long>(count_of(check, "journal_keys")));
  if (unreadable > 0) {
    std::printf(
        "WARNING: after this restore %llu fragments of %llu clients could not be read: their "
        "data keys are in neither the key snapshot nor the data store's key journal.\n",
        static_cast<unsigned long long>(unreadable),
        static_cast<unsigned long long>(count_of(check, "unreadable_clients")));
    const auto journal = text_of(check, "journal_snapshot");
    const auto* matches = check.if_contains("journal_matches");
    if (!journal.empty() && (matches == nullptr || !matches->is_bool() || !matches->get_bool())) {
      std::printf("The key journal continues the key snapshot written to %s: restore that one "
                  "(--keys %s) and nothing is lost.\n",
                  journal.c_str(), journal.c_str());
    } else {
      std::printf("Use the newest key snapshot (keys-*.db) taken at or after the data backup; a "
                  "key snapshot older than the backup lacks the keys made in between.\n");
    }
    if (!opt.flag("force") && !typed_on_terminal("restore")) {
      throw std::runtime_error("nothing was restored; choose another snapshot, or confirm on a "
                               "terminal or pass --force to restore anyway");
    }
  }
  request["op"] = "restore";
  request["force"] = unreadable > 0;
  say(operator_act(home, opt, request_of(request)));
  // A fresh snapshot and backup at once: the journal then continues a snapshot that exists, and
  // the restored state is itself backed up.
  const fs::path out = opt.get("out") ? fs::absolute(*opt.get("out"))
                                      : fs::absolute(keys ? *keys : *data).parent_path();
  say(operator_act(home, opt,
                   request_of({{"op", "backup"}, {"out", out.string()}, {"key_snapshot", true}})));
  std::printf("Start sluisd again. Destroy key snapshots older than the one just written on your "
              "usual schedule.\n");
  return kExitOk;
}

int status(Args args) {
  const Options opt(args, {"home", "passphrase-file"}, {});
  const Home home = Home::open(opt.require("home"));
  auto call = ops::call_operator_channel(
      home.config.operator_socket, request_of({{"op", "status"}}), std::chrono::seconds(10));
  if (call.outcome == ops::OperatorCall::Outcome::no_gateway) {
    std::printf("The gateway is not running (nothing answers on %s).\n",
                home.config.operator_socket.c_str());
    return kExitFailed;
  }
  if (call.outcome == ops::OperatorCall::Outcome::failed) throw std::runtime_error(call.error);
  boost::system::error_code ec;
  auto answer = json::parse(call.answer, ec);
  if (ec || !answer.is_object())
    throw std::runtime_error("the gateway's answer was not understood");
  const auto& o = answer.as_object();
  std::printf("The gateway is running: %s partners, %s clients, %s audit events (log %s).\n",
              json::serialize(o.at("partners")).c_str(), json::serialize(o.at("clients")).c_str(),
              json::serialize(o.at("audit_events")).c_str(), text_of(o, "audit_origin").c_str());
  return kExitOk;
}

bool confirmed_on_terminal(std::string_view what) {
  if (::isatty(STDIN_FILENO) == 0) return false;
  std::printf("%.*s\nType 'erase' to confirm: ", static_cast<int>(what.size()), what.data());
  std::fflush(stdout);
  char line[32] = {};
  if (std::fgets(line, sizeof line, stdin) == nullptr) return false;
  return std::string_view(line).starts_with("erase");
}

int client_erase(Args args) {
  const Options opt(args,
                    {"home", "scheme", "identifier-file", "case-partner", "partner", "pseudonym",
                     "reason", "passphrase-file"},
                    {"yes"});
  const Home home = Home::open(opt.require("home"));
  const auto reason = opt.require("reason");
  json::object request{{"op", "client.erase"}, {"reason", reason}};
  std::string described;
  if (auto pseudonym = opt.get("pseudonym")) {
    if (opt.get("scheme")) throw UsageError("give either --scheme or --partner/--pseudonym");
    request["partner"] = opt.require("partner");
    request["pseudonym"] = *pseudonym;
    described = "the client known to " + opt.require("partner") + " as " + *pseudonym;
  } else {
    const auto scheme = opt.get("scheme");
    if (!scheme) {
      throw UsageError("name the client: --scheme national-register|bis|case-number (the number "
                       "is read from --identifier-file or asked without echo), or --partner and "
                       "--pseudonym");
    }
    request["scheme"] = *scheme;
    if (auto cp = opt.get("case-partner")) request["case_partner"] = *cp;
    // The identifier never goes on the command line (shell history, ps): a file or a prompt.
    const auto identifier =
        read_passphrase(opt.get("identifier-file"), "Client's " + *scheme + " number: ", false);
    request["identifier"] = std::string_view(
        reinterpret_cast<const char*>(identifier.reveal().data()), identifier.reveal().size());
    described = "the client with this " + *scheme + " number";
  }
  const std::string warning = "This erases " + described +
                              " for good: every fragment, pseudonym, relationship and consent, "
                              "and the keys of their data (also in every backup).";
  if (!opt.flag("yes") && !confirmed_on_terminal(warning)) {
    throw UsageError("an erasure cannot be undone; confirm it on a terminal, or pass --yes");
  }
  std::string serialized = json::serialize(request);
  for (auto& [k, v] : request) {
    if (v.is_string()) sodium_memzero(v.get_string().data(), v.get_string().size());
  }
  say(operator_act(home, opt, std::move(serialized)));
  return kExitOk;
}

int guarded(const char* group, int (*fn)(Args), Args args) {
  try {
    return fn(args);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "sluisctl %s: %s.\n%s", group, e.what(), kGatewayUsage);
    return kExitUsage;
  } catch (const server::ConfigError& e) {
    std::fprintf(stderr, "sluisctl: the configuration is wrong: %s\n", e.what());
    return kExitFailed;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sluisctl: %s\n", e.what());
    return kExitFailed;
  }
}

}  // namespace

int print_gateway_usage() {
  std::fputs(kGatewayUsage, stdout);
  return kExitOk;
}

int run_init(Args args) {
  return guarded("init", &init, args);
}

int run_rotate(Args args) {
  return guarded("rotate", &rotate, args);
}

int run_backup(Args args) {
  return guarded("backup", &backup, args);
}

int run_restore(Args args) {
  return guarded("restore", &restore, args);
}

int run_status(Args args) {
  return guarded("status", &status, args);
}

int run_client(Args args) {
  if (!args.empty() && args[0] == "erase") return guarded("client", &client_erase, args.subspan(1));
  std::fputs(kGatewayUsage, stderr);
  return kExitUsage;
}

int run_partner(Args args) {
  if (!args.empty() && args[0] == "add") return guarded("partner", &partner_add, args.subspan(1));
  if (!args.empty() && args[0] == "list") return guarded("partner", &partner_list, args.subspan(1));
  if (!args.empty() && args[0] == "revoke") {
    return guarded("partner", &partner_revoke, args.subspan(1));
  }
  std::fputs(kGatewayUsage, stderr);
  return kExitUsage;
}

int run_worker(Args args) {
  if (args.empty() ||
      (args[0] != "add" && args[0] != "list" && args[0] != "disable" && args[0] != "enable")) {
    std::fputs(kGatewayUsage, stderr);
    return kExitUsage;
  }
  const std::string verb(args[0]);
  try {
    return worker_cmd(verb, args.subspan(1));
  } catch (const UsageError& e) {
    std::fprintf(stderr, "sluisctl worker: %s.\n%s", e.what(), kGatewayUsage);
    return kExitUsage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sluisctl: %s\n", e.what());
    return kExitFailed;
  }
}

}  // namespace sluis::ctl
