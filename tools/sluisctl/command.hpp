// The sluisctl sub-command interface: each command group lives in its own file.
#pragma once

#include <span>
#include <string_view>

namespace sluis::ctl {

/// Arguments after the group name (e.g. for `sluisctl policy check FILE`: {"check", "FILE"}).
using Args = std::span<const std::string_view>;

/// Exit codes: 0 success; 1 the operation ran and said no (e.g. a rule pack has errors, a
/// verification failed); 2 usage error (a sentence on stderr says what to type instead).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;

int run_card(Args args);     // card_cmd.cpp
int run_policy(Args args);   // policy_cmd.cpp
int run_key(Args args);      // key_cmd.cpp
int run_init(Args args);     // gateway_cmd.cpp
int run_partner(Args args);  // gateway_cmd.cpp
int run_worker(Args args);   // gateway_cmd.cpp
int run_rotate(Args args);   // gateway_cmd.cpp
int run_backup(Args args);   // gateway_cmd.cpp
int run_restore(Args args);  // gateway_cmd.cpp
int run_client(Args args);   // gateway_cmd.cpp
int run_status(Args args);   // gateway_cmd.cpp
int run_audit(Args args);    // audit_cmd.cpp
int run_store(Args args);    // store_cmd.cpp

/// Prints the usage of init, partner, worker, rotate, backup, client and status on stdout and
/// returns kExitOk (their --help).
int print_gateway_usage();  // gateway_cmd.cpp

}  // namespace sluis::ctl
