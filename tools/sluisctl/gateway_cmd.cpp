// sluisctl init | partner | worker: set up a gateway home, enrol partners and their workers.
//
// These commands work on the gateway's files directly (store, key file, CA, revocation list).
// SQLite's locking lets them run while sluisd runs: sluisd re-reads the revocation list within a
// second of a change and checks partners and workers in the store on every request, so a
// revocation or a disabled worker takes effect at once.
#include "sluis/crypto/keyfile.hpp"
#include "sluis/gateway/ca.hpp"
#include "sluis/gateway/config.hpp"
#include "sluis/gateway/registry.hpp"
#include "sluis/gateway/store.hpp"
#include "sluis/policy/rule_pack.hpp"
#include "sluisctl/command.hpp"
#include "sluisctl/options.hpp"
#include "sluisctl/passphrase.hpp"

#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

namespace sluis::ctl {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr const char* kGatewayUsage =
    "usage:\n"
    "  sluisctl init --home DIR [--raw-key | --passphrase-file F] [--port N] [--metrics-port N]\n"
    "                [--server-name NAME]... [--server-ip IP]... [--rule-pack FILE]\n"
    "      Creates a gateway home: root key, gateway CA, server certificate, configuration\n"
    "      (DIR/sluis.toml), rule pack and an empty store. Refuses a DIR that already has one.\n"
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
    "Every command that opens the store takes --passphrase-file F when the root key is sealed.\n";

// The gateway home as the configuration describes it.
struct Home {
  fs::path dir;
  gateway::ServerConfig config;

  static Home open(const std::string& dir) {
    const fs::path d = fs::absolute(dir);
    if (!fs::exists(d / "sluis.toml")) {
      throw UsageError(d.string() +
                       " is not a gateway home (no sluis.toml); run 'sluisctl init "
                       "--home " +
                       dir + "' first");
    }
    return Home{d, gateway::load_server_config(d / "sluis.toml")};
  }
  [[nodiscard]] fs::path partner_dir(const std::string& id) const { return dir / "partners" / id; }
  [[nodiscard]] fs::path ca_key() const {
    return config.tls.ca_certificate.parent_path() / "ca.key";
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

gateway::StoreOptions store_options(const gateway::ServerConfig& c) {
  gateway::StoreOptions o;
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

std::unique_ptr<gateway::Store> open_store(const Home& home, const Options& opt) {
  const auto root = unlock(home.config.key_file, opt.get("passphrase-file"));
  auto store = gateway::Store::open(store_options(home.config), root);
  if (!store) {
    throw std::runtime_error("the store in " + home.config.data_dir.string() +
                             " does not open: " + store.error().message());
  }
  return std::move(*store);
}

void check(const gateway::Result<void>& r, const std::string& what) {
  if (!r) throw std::runtime_error(what + ": " + r.error().message());
}

template <class T> void check_server(const gateway::ServerResult<T>& r, const std::string& what) {
  if (!r) throw std::runtime_error(what + ": " + r.error().message());
}

int init(Args args) {
  const Options opt(args,
                    {"home", "passphrase-file", "port", "metrics-port", "server-name", "server-ip",
                     "rule-pack", "argon2-ops", "argon2-mem-mib"},
                    {"raw-key"});
  const fs::path dir = fs::absolute(opt.require("home"));
  if (fs::exists(dir / "sluis.toml")) {
    std::fprintf(stderr,
                 "sluisctl: %s already holds a gateway (sluis.toml exists); init never "
                 "overwrites one. Choose another --home.\n",
                 dir.c_str());
    return kExitFailed;
  }
  fs::create_directories(dir);
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace);

  // Configuration: the documented default, with the ports asked for.
  std::string config(gateway::default_config_toml());
  auto replace_line = [&config](const std::string& key, const std::string& from,
                                const std::string& to) {
    const auto pos = config.find(key + " = " + from);
    if (pos != std::string::npos)
      config.replace(pos, key.size() + 3 + from.size(), key + " = " + to);
  };
  if (auto p = opt.get("port"))
    replace_line("port", "8443", std::to_string(parse_count("port", *p)));
  if (auto p = opt.get("metrics-port")) {
    replace_line("port", "9464", std::to_string(parse_count("metrics-port", *p)));
  }
  {
    std::ofstream out(dir / "sluis.toml");
    out << config;
    if (!out.flush()) throw std::runtime_error("cannot write " + (dir / "sluis.toml").string());
  }
  const Home home = Home::open(dir.string());
  const auto& c = home.config;
  for (const auto& d : {c.key_file.parent_path(), c.tls.certificate.parent_path(), c.data_dir,
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
  auto ca = gateway::GatewayCa::create("sluis gateway CA", std::chrono::hours(24 * 3650));
  check_server(ca, "cannot create the gateway CA");
  check_server(ca->save(c.tls.ca_certificate, home.ca_key()), "cannot save the gateway CA");
  gateway::ServerCertificateRequest req;
  for (const auto& part : opt.positional())
    (void)part;
  req.dns_names = {"localhost"};
  req.ip_addresses = {"127.0.0.1", "::1"};
  // --server-name / --server-ip may be given once each here (Options keeps the last).
  if (auto n = opt.get("server-name")) req.dns_names.push_back(*n);
  if (auto ip = opt.get("server-ip")) req.ip_addresses.push_back(*ip);
  auto server = ca->issue_server_certificate(req);
  check_server(server, "cannot issue the server certificate");
  check_server(server->key.write_pem_file(c.tls.private_key), "cannot write the server key");
  check_server(server->certificate.write_pem_file(c.tls.certificate),
               "cannot write the server certificate");
  check_server(gateway::RevocationList{}.save_file(c.tls.revocation_list),
               "cannot write the revocation list");

  // Rule pack.
  const fs::path pack_source =
      opt.get("rule-pack") ? fs::path(*opt.get("rule-pack")) : fs::path(SLUIS_DEFAULT_RULE_PACK);
  fs::copy_file(pack_source, c.rule_pack, fs::copy_options::overwrite_existing);

  // Empty store (both files, migrated, with KEK version 1).
  auto store = gateway::Store::open(store_options(c), root);
  if (!store) throw std::runtime_error("cannot create the store: " + store.error().message());

  std::printf("Gateway home created in %s\n"
              "  configuration  %s\n  root key       %s (%s)\n  gateway CA     %s\n"
              "  rule pack      %s\n  store          %s\n"
              "Next: sluisctl partner add --home %s --id ... --type ... --name ...\n",
              dir.c_str(), (dir / "sluis.toml").c_str(), c.key_file.c_str(),
              opt.flag("raw-key") ? "raw: protect this file" : "sealed under your passphrase",
              c.tls.ca_certificate.c_str(), c.rule_pack.c_str(), c.data_dir.c_str(), dir.c_str());
  return kExitOk;
}

int partner_add(Args args) {
  const Options opt(args, {"home", "id", "type", "name", "passphrase-file", "p12-password-file"},
                    {});
  const Home home = Home::open(opt.require("home"));
  const std::string id = opt.require("id");
  if (!gateway::is_valid_partner_id(id)) {
    throw UsageError("--id must be 1-64 characters of a-z, 0-9 and '-', e.g. ocmw-brussel");
  }
  if (!rule_pack(home).partner_type(opt.require("type"))) {
    throw UsageError("--type '" + opt.require("type") +
                     "' is not a partner type of the rule pack (see its [partner-types])");
  }
  auto store = open_store(home, opt);
  gateway::Registry registry(*store);
  check(registry.add_partner(id, opt.require("type"), opt.require("name")),
        "cannot add partner " + id + " (does it exist already? see 'sluisctl partner list')");

  auto ca = gateway::GatewayCa::load(home.config.tls.ca_certificate, home.ca_key());
  check_server(ca, "cannot load the gateway CA");
  gateway::PartnerCertificateRequest req;
  req.partner_id = id;
  req.organisation = opt.require("name");
  auto cred = ca->issue_partner_certificate(req);
  check_server(cred, "cannot issue the certificate of " + id);
  const fs::path out = home.partner_dir(id);
  fs::create_directories(out);
  fs::permissions(out, fs::perms::owner_all, fs::perm_options::replace);
  check_server(cred->key.write_pem_file(out / (id + ".key")), "cannot write the partner key");
  check_server(cred->certificate.write_pem_file(out / (id + ".crt")),
               "cannot write the partner certificate");
  if (auto pw_file = opt.get("p12-password-file")) {
    const auto pw = read_passphrase(pw_file, "", false);
    const std::string_view password(reinterpret_cast<const char*>(pw.reveal().data()),
                                    pw.reveal().size());
    auto p12 = gateway::export_pkcs12(*cred, ca->certificate(), password, id);
    check_server(p12, "cannot export the PKCS#12 bundle");
    const mode_t old = ::umask(077);
    std::ofstream f(out / (id + ".p12"), std::ios::binary | std::ios::trunc);
    ::umask(old);
    f.write(reinterpret_cast<const char*>(p12->data()), static_cast<std::streamsize>(p12->size()));
    if (!f.flush()) throw std::runtime_error("cannot write the PKCS#12 bundle");
  }
  std::printf("Partner %s added. Certificate (serial %s) and key are in %s — hand them to the "
              "partner over a secure channel; the key never needs to come back.\n",
              id.c_str(), cred->certificate.serial_hex().c_str(), out.c_str());
  return kExitOk;
}

int partner_list(Args args) {
  const Options opt(args, {"home", "passphrase-file"}, {});
  const Home home = Home::open(opt.require("home"));
  auto store = open_store(home, opt);
  auto partners = gateway::Registry(*store).list_partners();
  if (!partners) throw std::runtime_error("cannot list partners: " + partners.error().message());
  std::printf("%-28s %-18s %-8s %s\n", "ID", "TYPE", "STATUS", "NAME");
  for (const auto& p : *partners) {
    std::printf("%-28s %-18s %-8s %s\n", p.id.c_str(), p.partner_type.c_str(),
                p.revoked_at ? "revoked" : "active", p.display_name.c_str());
  }
  return kExitOk;
}

int partner_revoke(Args args) {
  const Options opt(args, {"home", "id", "passphrase-file"}, {});
  const Home home = Home::open(opt.require("home"));
  const std::string id = opt.require("id");
  // The certificate first: it is what the gateway checks on every handshake and request.
  const fs::path cert_path = home.partner_dir(id) / (id + ".crt");
  auto cert = gateway::Certificate::load_pem_file(cert_path);
  check_server(cert, "cannot read the certificate of " + id + " at " + cert_path.string());
  auto list = gateway::RevocationList::load_file(home.config.tls.revocation_list);
  check_server(list, "cannot read the revocation list");
  check_server(list->add(cert->serial_hex()), "cannot add the serial");
  check_server(list->save_file(home.config.tls.revocation_list),
               "cannot write the revocation list");
  auto store = open_store(home, opt);
  check(gateway::Registry(*store).revoke_partner(id), "cannot revoke partner " + id);
  std::printf("Partner %s revoked: its certificate (serial %s) is refused from now on.\n",
              id.c_str(), cert->serial_hex().c_str());
  return kExitOk;
}

int worker_cmd(std::string_view verb, Args args) {
  const Options opt(args, {"home", "partner", "worker", "role", "passphrase-file"}, {});
  const Home home = Home::open(opt.require("home"));
  auto store = open_store(home, opt);
  gateway::Registry registry(*store);
  const std::string partner = opt.require("partner");
  if (verb == "list") {
    auto workers = registry.list_workers(partner);
    if (!workers) throw std::runtime_error("cannot list workers: " + workers.error().message());
    std::printf("%-28s %-16s %s\n", "WORKER", "ROLE", "STATUS");
    for (const auto& w : *workers) {
      std::printf("%-28s %-16s %s\n", w.worker_id.c_str(), w.role.c_str(),
                  w.active ? "active" : "disabled");
    }
    return kExitOk;
  }
  const std::string worker = opt.require("worker");
  if (verb == "add") {
    if (!rule_pack(home).role(opt.require("role"))) {
      throw UsageError("--role '" + opt.require("role") +
                       "' is not a role of the rule pack (see its [roles])");
    }
    if (!registry.find_partner(partner)) {
      throw UsageError("there is no partner '" + partner + "'; see 'sluisctl partner list'");
    }
    check(registry.add_worker(partner, worker, opt.require("role")),
          "cannot add worker " + worker + " (enrolled already?)");
    std::printf("Worker %s enrolled at %s.\n", worker.c_str(), partner.c_str());
  } else {
    const bool enable = verb == "enable";
    check(registry.set_worker_active(partner, worker, enable), "cannot change the worker");
    std::printf("Worker %s at %s %s.\n", worker.c_str(), partner.c_str(),
                enable ? "enabled" : "disabled: refused from now on");
  }
  return kExitOk;
}

int rotate(Args args) {
  const Options opt(args, {"home", "passphrase-file"}, {});
  const Home home = Home::open(opt.require("home"));
  auto store = open_store(home, opt);
  auto version = store->rotate_kek();
  if (!version) throw std::runtime_error("rotation failed: " + version.error().message());
  std::printf("Key-encryption key rotated: version %u is current; older versions are destroyed.\n",
              version->value);
  return kExitOk;
}

int backup(Args args) {
  const Options opt(args, {"home", "out", "passphrase-file"}, {"with-key-snapshot"});
  const Home home = Home::open(opt.require("home"));
  const fs::path out = fs::absolute(opt.require("out"));
  fs::create_directories(out);
  fs::permissions(out, fs::perms::owner_all, fs::perm_options::replace);
  auto store = open_store(home, opt);
  const auto stamp = std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
  const fs::path data = out / ("data-" + stamp + ".db");
  check(store->backup_data(data), "the data backup failed");
  std::printf("Data store backed up to %s (encrypted; no key material).\n", data.c_str());
  if (opt.flag("with-key-snapshot")) {
    const fs::path keys = out / ("keys-" + stamp + ".db");
    check(store->snapshot_key_store(keys), "the key-store snapshot failed");
    std::printf("Key store snapshot written to %s. It can bring back erased clients' keys until\n"
                "it is destroyed: keep it apart from data backups and delete it on schedule.\n",
                keys.c_str());
  }
  return kExitOk;
}

int guarded(const char* group, int (*fn)(Args), Args args) {
  try {
    return fn(args);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "sluisctl %s: %s.\n%s", group, e.what(), kGatewayUsage);
    return kExitUsage;
  } catch (const gateway::ConfigError& e) {
    std::fprintf(stderr, "sluisctl: the configuration is wrong: %s\n", e.what());
    return kExitFailed;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sluisctl: %s\n", e.what());
    return kExitFailed;
  }
}

}  // namespace

int run_init(Args args) {
  return guarded("init", &init, args);
}

int run_rotate(Args args) {
  return guarded("rotate", &rotate, args);
}

int run_backup(Args args) {
  return guarded("backup", &backup, args);
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
