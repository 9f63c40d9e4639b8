// sluisd: the gateway daemon. Wiring only — configuration, keys, store, audit log, rules, server.
#include "startup.hpp"

#include "sluis/gateway/api.hpp"
#include "sluis/gateway/server.hpp"

#include <cstdio>
#include <exception>

int main(int argc, char** argv) {
  using namespace sluis;
  try {
    const auto cli = daemon::parse_command_line(argc, argv);
    if (cli.help) {
      std::fputs(daemon::usage(), stdout);
      return 0;
    }
    daemon::forbid_core_dumps();
    const auto config = gateway::load_server_config(cli.config);
    auto log = gateway::LogSink::open(config.log_destination, config.log_level);

    std::unique_ptr<gateway::Store> store;
    std::unique_ptr<gateway::AuditLog> audit;
    {
      // The root key is needed only to open the store and the log; it is wiped when this scope
      // ends (they keep their own derived keys in guarded memory).
      const auto root = daemon::unlock_root_key(config.key_file, cli.passphrase_file);
      store = daemon::open_store(config, root);
      audit = daemon::open_audit_log(config, root);
    }
    gateway::CurrentRulePack rules(daemon::load_rules(config.rule_pack));

    gateway::GatewayContext context;
    context.store = store.get();
    context.audit = audit.get();
    context.rules = &rules;
    context.limits.max_body_bytes = config.limits.body_limit_bytes;

    gateway::ServerHooks hooks;
    hooks.log = log;
    hooks.on_reload = [&rules, &config, log] {
      // A broken pack never replaces a working one: the old rules stay in force.
      auto pack = policy::load_rule_pack(config.rule_pack.string());
      if (!pack) {
        log->event(gateway::LogLevel::error, "rule_pack_reload_failed", "kept_previous_rule_pack");
        std::fprintf(stderr,
                     "sluisd: the rule pack %s did not load; the previous one stays in "
                     "force:%s\n",
                     config.rule_pack.c_str(), daemon::describe(pack.error(), 10).c_str());
        return;
      }
      rules.replace(std::make_shared<const policy::RulePack>(std::move(*pack)));
      log->event(gateway::LogLevel::info, "rule_pack_reloaded");
    };

    gateway::HttpsServer server(config, gateway::make_api_router(context), hooks);
    server.start();
    if (cli.port_file) daemon::write_port_file(*cli.port_file, server.port());
    server.run_until_signalled();
    log->event(gateway::LogLevel::info, "stopped");
    return 0;
  } catch (const std::exception& e) {
    // Every start-up failure is a sentence for the operator (config, key, store, rules, port).
    std::fprintf(stderr, "sluisd: %s\n", e.what());
    return 1;
  }
}
