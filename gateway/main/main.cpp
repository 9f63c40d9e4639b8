// sluisd: the gateway daemon. Wiring only — configuration, keys, store, audit log, rules, server.
#include "startup.hpp"

#include "sluis/api/api.hpp"
#include "sluis/daemon/config.hpp"
#include "sluis/domain/break_glass_expiry.hpp"
#include "sluis/domain/consent_cache.hpp"
#include "sluis/ops/operator.hpp"
#include "sluis/ops/operator_channel.hpp"
#include "sluis/server/server.hpp"

#include <sys/stat.h>

#include <cstdio>
#include <exception>
#include <optional>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  // Every file sluisd creates (databases and their -wal/-shm files, the audit lock, the log
  // file, the operator socket's directory) is the owner's alone (docs/operations.md).
  ::umask(077);
  using namespace sluis;
  try {
    const auto cli = daemon::parse_command_line(argc, argv);
    if (cli.help) {
      std::fputs(daemon::usage(), stdout);
      return 0;
    }
    daemon::forbid_core_dumps();
    const auto config = daemon::load_daemon_config(cli.config);
    auto log = server::LogSink::open(config.server.log_destination, config.server.log_level);

    daemon::OpenedEngine engine;
    std::unique_ptr<sluis::audit::AuditLog> audit;
    {
      // The root key is needed only to open the store and the log; it is wiped when this scope
      // ends (they keep their own derived keys in guarded memory).
      auto passphrase_file = cli.passphrase_file;
      if (!passphrase_file && !config.passphrase_file.empty()) {
        passphrase_file = config.passphrase_file;
      }
      const auto root = daemon::unlock_root_key(config.key_file, passphrase_file);
      engine = daemon::open_engine(config, root);
      audit = daemon::open_audit_log(config, root);
    }
    // On PostgreSQL the rule pack in force is the database's, one for every node; the file
    // seeds an empty database and is what `policy reload` validates and stores.
    sluis::pgstore::PgStorage* const pg = engine.postgresql.get();
    std::optional<daemon::SharedRulePack> shared_rules;
    if (pg != nullptr) shared_rules = daemon::load_shared_rules(*pg, config.rule_pack);
    api::CurrentRulePack rules(shared_rules ? shared_rules->pack
                                            : daemon::load_rules(config.rule_pack));
    if (shared_rules && shared_rules->file_differs) {
      log->event(server::LogLevel::warn, "rule_pack_file_differs",
                 "the_database_rule_pack_is_in_force");
    }
    if (pg != nullptr) {
      // Another node's reload: in force here before the request that reads its generation goes
      // on (or within a second, by the listener).
      pg->watch_rule_pack(
          [&rules, log](const sluis::pgstore::StoredRulePack& stored) {
            auto pack = policy::parse_rule_pack(stored.text, "the rule pack stored in the database");
            if (!pack) {
              log->event(server::LogLevel::error, "stored_rule_pack_did_not_load",
                         "kept_previous_rule_pack");
              return;
            }
            rules.replace(std::make_shared<const policy::RulePack>(std::move(*pack)));
            log->event(server::LogLevel::info, "rule_pack_taken_from_database");
          },
          shared_rules->generation);
    }

    sluis::store::Storage& storage = engine.storage();
    api::GatewayContext context;
    context.store = &storage;
    context.audit = audit.get();
    context.rules = &rules;
    context.limits.max_body_bytes = config.server.limits.body_limit_bytes;
    // Parsed consents of a client another node erased or linked go when this node notices
    // (on PostgreSQL; the SQLCipher engine has no other node).
    context.consent_cache = std::make_shared<sluis::domain::ConsentCache>();
    storage.watch_dropped_clients([cache = context.consent_cache] { cache->clear(); });

    // Operator acts (sluisctl over the local socket, SIGHUP) run through one audited path.
    ops::OperatorContext operator_context;
    operator_context.store = &storage;
    operator_context.sqlcipher = engine.sqlcipher.get();
    operator_context.audit = audit.get();
    operator_context.rules = [&rules] { return rules.get(); };
    operator_context.reload_rules = [&rules, &config,
                                     pg](const ops::OperatorIdentity& who) -> std::string {
      // A broken pack never replaces a working one: the old rules stay in force (everywhere).
      std::string text;
      try {
        text = daemon::read_rule_pack_text(config.rule_pack);
      } catch (const daemon::StartupRefusal& e) {
        return std::string(e.what()) + "; the previous one stays in force";
      }
      auto pack = policy::parse_rule_pack(text, config.rule_pack.string());
      if (!pack) {
        return "the rule pack " + config.rule_pack.string() +
               " did not load; the previous one stays in force:" +
               daemon::describe(pack.error(), 10);
      }
      if (pg != nullptr) {
        // Stored for every node; this node's watcher puts it in force before this returns.
        if (auto stored = pg->store_rule_pack(text, "operator:" + who.user); !stored) {
          return "the rule pack " + config.rule_pack.string() +
                 " could not be stored in the database (" + stored.error().message() +
                 "); the previous one stays in force on every node";
        }
        return {};
      }
      rules.replace(std::make_shared<const policy::RulePack>(std::move(*pack)));
      return {};
    };

    server::ServerHooks hooks;
    hooks.log = log;
    hooks.on_reload = [&operator_context, log] {
      const auto answer = ops::execute_operator_request(
          operator_context, ops::OperatorIdentity{"sighup"}, R"({"op":"policy.reload"})");
      if (answer.starts_with(R"({"ok":true)")) {
        log->event(server::LogLevel::info, "rule_pack_reloaded");
      } else {
        log->event(server::LogLevel::error, "rule_pack_reload_failed", "kept_previous_rule_pack");
        std::fprintf(stderr, "sluisd: SIGHUP: %s\n", answer.c_str());
      }
    };

    // Constructed (nothing opened yet) before the operator channel, which puts revocations in
    // force in it; started after the channel is up.
    server::HttpsServer server(config.server, api::make_api_router(context), hooks);
    operator_context.revoke_certificate = [&server](std::string_view serial) {
      return static_cast<bool>(server.revocations().revoke_now(serial));
    };
    // On PostgreSQL the revoked serials are shared: this node's file adds its serials to the
    // database (a revocation is never undone, so the union is safe), and every serial any node
    // stored is in force here — before the request that reads their generation goes on, and
    // for handshakes within a second (the listener's poll).
    if (pg != nullptr) {
      if (auto file = server::RevocationList::load_file(config.server.tls.revocation_list)) {
        const std::vector<std::string> serials(file->serials().begin(), file->serials().end());
        if (auto r = pg->add_revoked_serials(serials, ""); !r) {
          throw daemon::StartupRefusal("cannot store the revocation list's serials in the "
                                       "PostgreSQL database (" + r.error().message() + ")");
        }
      }
      auto watched = pg->watch_revoked_serials([&server](const std::vector<std::string>& list) {
        server::RevocationList revoked;
        for (const auto& serial : list)
          (void)revoked.add(serial);  // stored canonical; a malformed one is skipped
        server.revocations().revoke_all_now(revoked);
      });
      if (!watched) {
        throw daemon::StartupRefusal("cannot read the revoked certificate serials from the "
                                     "PostgreSQL database (" + watched.error().message() + ")");
      }
    }
    // Before the server goes: no watcher runs once this guard is destroyed.
    struct StopWatching {
      sluis::pgstore::PgStorage* pg;
      ~StopWatching() {
        if (pg != nullptr) pg->stop_watching();
      }
    } stop_watching{pg};

    std::optional<ops::OperatorChannel> channel;
    if (!config.operator_socket.empty()) {
      ops::OperatorChannelOptions channel_options;
      channel_options.socket = config.operator_socket;
      channel_options.handler = [&operator_context, log](std::string_view request,
                                                         const ops::PeerAccount& peer) {
        log->event(server::LogLevel::info, "operator_request");
        return ops::execute_operator_request(operator_context,
                                                 ops::OperatorIdentity{peer.user}, request);
      };
      try {
        channel.emplace(std::move(channel_options));
      } catch (const std::runtime_error& e) {
        throw daemon::StartupRefusal(e.what());
      }
    }

    // Ends of break-the-glass grants go on the record within seconds (and at start, for grants
    // that ended while the gateway was stopped).
    // On PostgreSQL only the node holding the once-only lock sweeps, so an end is recorded
    // once (docs/store.md "Several nodes").
    std::function<bool()> sweeps_here;
    if (pg != nullptr) sweeps_here = [pg] { return pg->holds_once_only_lock(); };
    sluis::domain::BreakGlassExpirySweeper sweeper(
        storage, *audit, std::chrono::seconds(5),
        [log](boost::system::error_code) {
          log->event(server::LogLevel::error, "break_glass_expiry_not_recorded", "will_retry");
        },
        std::move(sweeps_here));

    const bool on_postgresql = config.store.engine == daemon::StoreEngine::postgresql;
    log->event(server::LogLevel::info, "store_engine",
               on_postgresql ? server::LogLiteral("postgresql") : server::LogLiteral("sqlcipher"));
    server.start();
    if (cli.port_file) daemon::write_port_file(*cli.port_file, server.port());
    server.run_until_signalled();
    log->event(server::LogLevel::info, "stopped");
    return 0;
  } catch (const std::exception& e) {
    // Every start-up failure is a sentence for the operator (config, key, store, rules, port).
    std::fprintf(stderr, "sluisd: %s\n", e.what());
    return 1;
  }
}
