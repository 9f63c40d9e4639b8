// sluisctl: the operator, DPO, policy and key command line. Wiring only; groups live in *_cmd.cpp.
#include "sluisctl/command.hpp"

#include <sys/stat.h>

#include <cstdio>
#include <exception>
#include <string_view>
#include <vector>

namespace {

constexpr std::string_view kUsage =
    "usage: sluisctl <group> <command> [options]\n"
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
    "  key     new | check          create or check a root key file\n"
    "  card    new | pseudonym      anonymous client cards (low-threshold services)\n"
    "  policy  check | explain      validate a rule pack, explain an access decision\n"
    "  audit   verify | checkpoint | query | export | report | access-report\n"
    "                               the DPO's tools on the audit log\n"
    "\n"
    "Run 'sluisctl <group> help' for the options of a group.\n";

}  // namespace

int main(int argc, char** argv) {
  using namespace sluis::ctl;
  // Everything sluisctl writes (configuration, keys, certificates, backups, databases) is the
  // owner's alone (docs/operations.md "Create a gateway home").
  ::umask(077);
  std::vector<std::string_view> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
    std::fputs(kUsage.data(), args.empty() ? stderr : stdout);
    return args.empty() ? kExitUsage : kExitOk;
  }
  const std::string_view group = args[0];
  const Args rest(args.data() + 1, args.size() - 1);
  try {
    if (group == "key") return run_key(rest);
    if (group == "init") return run_init(rest);
    if (group == "partner") return run_partner(rest);
    if (group == "worker") return run_worker(rest);
    if (group == "rotate") return run_rotate(rest);
    if (group == "backup") return run_backup(rest);
    if (group == "restore") return run_restore(rest);
    if (group == "client") return run_client(rest);
    if (group == "status") return run_status(rest);
    if (group == "card") return run_card(rest);
    if (group == "policy") return run_policy(rest);
    if (group == "audit") return run_audit(rest);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sluisctl: %s\n", e.what());
    return kExitFailed;
  }
  std::fprintf(stderr, "sluisctl: unknown group '%.*s'.\n%s", static_cast<int>(group.size()),
               group.data(), kUsage.data());
  return kExitUsage;
}
