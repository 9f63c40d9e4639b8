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
    api::CurrentRulePack rules(daemon::load_rules(config.rule_pack));

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
    operator_context.reload_rules = [&rules, &config]() -> std::string {
      // A broken pack never replaces a working one: the old rules stay in force.
      auto pack = policy::load_rule_pack(config.rule_pack.string());
      if (!pack) {
        return "the rule pack " + config.rule_pack.string() +
               " did not load; the previous one stays in force:" +
               daemon::describe(pack.error(), 10);
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
    sluis::domain::BreakGlassExpirySweeper sweeper(
        storage, *audit, std::chrono::seconds(5), [log](boost::system::error_code) {
          log->event(server::LogLevel::error, "break_glass_expiry_not_recorded", "will_retry");
        });

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
