// sluisctl: the operator, DPO, policy and key command line. Wiring only; groups live in *_cmd.cpp.
#include "sluisctl/command.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace sluis::ctl;

constexpr std::string_view kUsage =
    "usage: sluisctl <group> [<command>] [options]\n"
    "\n"
    "groups:\n"
    "  init                         create a gateway home (keys, CA, configuration, store)\n"
    "  partner add | list | revoke  organisations and their certificates\n"
    "  worker  add | list | disable | enable   named workers at a partner\n"
    "  rotate                       rotate the key-encryption key\n"
    "  backup                       back up the data store (and optionally the key store)\n"
    "  restore                      restore a data backup and/or a key-store snapshot\n"
    "  client  erase                erase a client for good (crypto-shredding)\n"
    "  status                       is the gateway running? (its operator socket)\n"
    "  key     new | check | rotate | sqlcipher\n"
    "                               root key files; a file's key for the sqlcipher CLI\n"
    "  card    new | pseudonym      anonymous client cards (low-threshold services)\n"
    "  policy  check | explain      validate a rule pack, explain an access decision\n"
    "  audit   verify | checkpoint | query | export | report | access-report\n"
    "                               the DPO's tools on the audit log\n"
    "  store   migrate | kek        move a stopped home's records into PostgreSQL;\n"
    "                               rotate and destroy its KEK versions there\n"
    "  commands                     list every command, one per line (for scripts)\n"
    "\n"
    "Every group and command answers --help (or 'sluisctl <group> help') with its options.\n";

/// The usage of a group that has a `help` command of its own, printed on stdout (exit 0).
template <int (*Run)(Args)> int help_of() {
  static constexpr std::array<std::string_view, 1> kHelp{"help"};
  return Run(Args(kHelp.data(), kHelp.size()));
}

/// One command group: its name, its commands (none: the group is itself the command), how to
/// run it and how to print its usage on stdout.
struct Group {
  std::string_view name;
  std::vector<std::string_view> commands;
  int (*run)(Args);
  int (*help)();
};

/// Every command sluisctl has. Dispatch goes through this table only, so a command missing here
/// cannot be reached, and `sluisctl commands` (which the CLI test walks with --help) lists it.
const std::vector<Group>& groups() {
  static const std::vector<Group> kGroups = {
      {"init", {}, run_init, print_gateway_usage},
      {"partner", {"add", "list", "revoke"}, run_partner, print_gateway_usage},
      {"worker", {"add", "list", "disable", "enable"}, run_worker, print_gateway_usage},
      {"rotate", {}, run_rotate, print_gateway_usage},
      {"backup", {}, run_backup, print_gateway_usage},
      {"restore", {}, run_restore, print_gateway_usage},
      {"client", {"erase"}, run_client, print_gateway_usage},
      {"status", {}, run_status, print_gateway_usage},
      {"key", {"new", "check", "rotate", "sqlcipher"}, run_key, help_of<run_key>},
      {"card", {"new", "pseudonym"}, run_card, help_of<run_card>},
      {"policy", {"check", "explain"}, run_policy, help_of<run_policy>},
      {"audit",
       {"verify", "checkpoint", "query", "export", "report", "access-report"},
       run_audit,
       help_of<run_audit>},
      {"store", {"migrate", "kek"}, run_store, help_of<run_store>},
  };
  return kGroups;
}

bool asks_for_help(Args args) {
  if (!args.empty() && args[0] == "help") return true;
  return std::any_of(args.begin(), args.end(),
                     [](std::string_view a) { return a == "--help" || a == "-h"; });
}

std::string joined(const std::vector<std::string_view>& words) {
  std::string out;
  for (const auto w : words)
    out.append(out.empty() ? "" : ", ").append(w);
  return out;
}

int dispatch(const Group& group, Args rest) {
  if (asks_for_help(rest)) return group.help();
  if (!group.commands.empty() && !rest.empty() &&
      std::find(group.commands.begin(), group.commands.end(), rest[0]) == group.commands.end()) {
    std::fprintf(stderr,
                 "sluisctl %.*s: there is no command '%.*s'; the commands are %s (see 'sluisctl "
                 "%.*s --help').\n",
                 static_cast<int>(group.name.size()), group.name.data(),
                 static_cast<int>(rest[0].size()), rest[0].data(), joined(group.commands).c_str(),
                 static_cast<int>(group.name.size()), group.name.data());
    return kExitUsage;
  }
  return group.run(rest);
}

}  // namespace

int main(int argc, char** argv) {
  // Everything sluisctl writes (configuration, keys, backups, databases) is the owner's alone
  // (docs/operations.md "Create a gateway home").
  ::umask(077);
  std::vector<std::string_view> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
    std::fputs(kUsage.data(), args.empty() ? stderr : stdout);
    return args.empty() ? kExitUsage : kExitOk;
  }
  const std::string_view name = args[0];
  if (name == "commands") {
    for (const auto& g : groups()) {
      if (g.commands.empty()) std::printf("%.*s\n", static_cast<int>(g.name.size()), g.name.data());
      for (const auto c : g.commands) {
        std::printf("%.*s %.*s\n", static_cast<int>(g.name.size()), g.name.data(),
                    static_cast<int>(c.size()), c.data());
      }
    }
    return kExitOk;
  }
  const auto& table = groups();
  const auto group =
      std::find_if(table.begin(), table.end(), [&](const Group& g) { return g.name == name; });
  if (group == table.end()) {
    std::fprintf(stderr, "sluisctl: unknown group '%.*s'.\n%s", static_cast<int>(name.size()),
                 name.data(), kUsage.data());
    return kExitUsage;
  }
  try {
    return dispatch(*group, Args(args.data() + 1, args.size() - 1));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sluisctl: %s\n", e.what());
    return kExitFailed;
  }
}
