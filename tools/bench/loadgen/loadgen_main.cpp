// sluis-loadgen: drives a gateway (or nginx) over HTTPS with client certificates and keep-alive,
// and reports throughput and latency percentiles as text and JSON. Wiring only.
#include "driver.hpp"
#include "report.hpp"
#include "workload_file.hpp"

#include "sluisctl/options.hpp"

#include <charconv>
#include <cstdio>
#include <exception>
#include <fstream>
#include <string>
#include <vector>

namespace {

using sluis::bench::RunPlan;
using sluis::bench::WorkloadKind;
using sluis::ctl::UsageError;

constexpr const char* kUsage =
    "usage: sluis-loadgen --port N[,N...] --ca FILE --workload read|write|consent|mix|static\n"
    "                     [--workload-file FILE] [--cert FILE --key FILE] [--path P]\n"
    "                     [--worker W]\n"
    "                     [--connections N] [--duration S | --requests N] [--warmup S]\n"
    "                     [--rate R] [--threads N] [--host ADDR] [--server-name NAME]\n"
    "                     [--timeout-ms N] [--json FILE] [--save-response FILE] [--quick-ack]\n"
    "                     [--server-pid PID[,PID...]] [--database-pid PID[,PID...]]\n"
    "                     [--ack-log FILE]\n"
    "  read      consent-checked dossier reads (GET …/dossier), fragment count checked\n"
    "  write     new fragments (POST …/fragments)\n"
    "  consent   consent granted and withdrawn (POST …/consents, DELETE …/consents/ID)\n"
    "  mix       90 % read, 5 % write, 5 % consent grant+revoke\n"
    "  static    GET --path with --cert/--key (the nginx baseline); --worker W adds the\n"
    "            Sluis-Worker header (a /v1 path such as /v1/partners: the transport's floor)\n"
    "  The sluis workloads take partners, workers, pseudonyms and client certificates from\n"
    "  --workload-file (written by sluis-dataset). Defaults: 64 connections, 10 s after 1 s of\n"
    "  warm-up, as fast as responses come (--rate R: R requests/s per connection), 1 thread,\n"
    "  --host 127.0.0.1, --server-name localhost. --requests N counts operations after the\n"
    "  warm-up (a consent operation is two requests). --quick-ack acknowledges every segment at\n"
    "  once (TCP_QUICKACK), a diagnostic that removes the delayed-ACK stall of servers without\n"
    "  TCP_NODELAY; ordinary clients do not do that. --server-pid samples those processes' CPU\n"
    "  time (/proc) at the start and end of the measured time and reports the server's CPU per\n"
    "  request (every process of a multi-process server, e.g. nginx's master and workers).\n"
    "  --database-pid samples a PostgreSQL cluster the same way, reported apart: each PID is a\n"
    "  postmaster, counted with every child process (backends, WAL writer, checkpointer, ...)\n"
    "  and the children it has already waited for (a backend that exits in between counts).\n"
    "  Several ports (several nodes of one gateway): connections are spread over them round-robin,\n"
    "  and a connection that fails connects again on the next port, so the run goes on while a\n"
    "  node is down (the failures are counted by kind). --ack-log FILE writes one tab-separated\n"
    "  line per answered request: operation, status, request id, port, partner, worker, method\n"
    "  and target, content type, and the fragment or consent id a 201 created (or -).\n";

double parse_seconds(const std::string& name, const std::string& value) {
  double v = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
  if (ec != std::errc() || end != value.data() + value.size() || v < 0 || v > 86400) {
    throw UsageError("--" + name + " needs a number of seconds from 0 to 86400, not '" + value +
                     "'");
  }
  return v;
}

struct Invocation {
  RunPlan plan;
  std::string workload_name;
  std::optional<std::string> json_path;
  bool help = false;
};

/// The process ids of option `name` (PID[,PID...]); empty when the option is not given.
std::vector<pid_t> pid_list(const sluis::ctl::Options& opt, const std::string& name) {
  std::vector<pid_t> out;
  const auto v = opt.get(name);
  if (!v) return out;
  std::string_view rest = *v;
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const auto one = std::string(rest.substr(0, comma));
    const auto pid = sluis::ctl::parse_count(name, one);
    if (pid == 0 || pid > 4'194'304) throw UsageError("--" + name + " takes process ids like 1234,1240");
    out.push_back(static_cast<pid_t>(pid));
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
  }
  return out;
}

Invocation parse(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  const sluis::ctl::Options opt(args,
                                {"host", "port", "server-name", "ca", "cert", "key", "connections",
                                 "duration", "requests", "warmup", "workload", "workload-file",
                                 "path", "worker", "rate", "threads", "timeout-ms", "json", "save-response", "server-pid",
                                 "database-pid", "ack-log"},
                                {"help", "quick-ack"});
  Invocation inv;
  if (opt.flag("help")) {
    inv.help = true;
    return inv;
  }
  if (!opt.positional().empty()) {
    throw UsageError("unexpected argument '" + opt.positional().front() + "'; see --help");
  }
  auto& p = inv.plan;
  {
    const std::string ports = opt.require("port");
    std::string_view rest = ports;
    while (!rest.empty() || p.ports.empty()) {
      const auto comma = rest.find(',');
      const auto one = std::string(rest.substr(0, comma));
      const auto port = sluis::ctl::parse_count("port", one);
      if (port == 0 || port > 65535) throw UsageError("--port must be from 1 to 65535");
      p.ports.push_back(static_cast<std::uint16_t>(port));
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    }
  }
  p.ca = opt.require("ca");
  if (auto v = opt.get("host")) p.host = *v;
  if (auto v = opt.get("server-name")) p.server_name = *v;
  inv.workload_name = opt.require("workload");
  const auto& w = inv.workload_name;
  if (w == "read") {
    p.kind = WorkloadKind::read;
  } else if (w == "write") {
    p.kind = WorkloadKind::write;
  } else if (w == "consent") {
    p.kind = WorkloadKind::consent;
  } else if (w == "mix") {
    p.kind = WorkloadKind::mix;
  } else if (w == "static") {
    p.kind = WorkloadKind::static_file;
  } else {
    throw UsageError("--workload must be read, write, consent, mix or static, not '" + w + "'");
  }
  if (p.kind == WorkloadKind::static_file) {
    if (opt.get("workload-file")) {
      throw UsageError("--workload static takes --cert/--key and --path, not --workload-file");
    }
    p.certificate = opt.require("cert");
    p.key = opt.require("key");
    if (auto v = opt.get("path")) p.static_path = *v;
    if (auto v = opt.get("worker")) p.static_worker = *v;
    if (p.static_path.empty() || p.static_path.front() != '/') {
      throw UsageError("--path must start with '/'");
    }
  } else {
    if (opt.get("cert") || opt.get("key") || opt.get("path") || opt.get("worker")) {
      throw UsageError("the sluis workloads take certificates from --workload-file; --cert, "
                       "--key, --path and --worker are for --workload static");
    }
    p.workload = sluis::bench::read_workload(opt.require("workload-file"));
  }
  if (auto v = opt.get("connections")) {
    p.connections = sluis::ctl::parse_count("connections", *v);
    if (p.connections == 0 || p.connections > 100'000) {
      throw UsageError("--connections must be from 1 to 100000");
    }
  }
  if (opt.get("duration") && opt.get("requests")) {
    throw UsageError("give --duration or --requests, not both");
  }
  if (auto v = opt.get("requests")) {
    p.requests = sluis::ctl::parse_count("requests", *v);
    if (*p.requests == 0) throw UsageError("--requests must be at least 1");
  } else {
    p.duration = std::chrono::duration<double>(
        opt.get("duration") ? parse_seconds("duration", *opt.get("duration")) : 10.0);
    if (p.duration->count() <= 0) throw UsageError("--duration must be more than 0 seconds");
  }
  if (auto v = opt.get("warmup"))
    p.warmup = std::chrono::duration<double>(parse_seconds("warmup", *v));
  if (auto v = opt.get("rate")) {
    p.rate_per_connection = parse_seconds("rate", *v);
    if (p.rate_per_connection <= 0) throw UsageError("--rate must be more than 0 requests/s");
  }
  if (auto v = opt.get("threads")) {
    const auto t = sluis::ctl::parse_count("threads", *v);
    if (t == 0 || t > 64) throw UsageError("--threads must be from 1 to 64");
    p.threads = static_cast<unsigned>(t);
  }
  if (auto v = opt.get("timeout-ms")) {
    const auto t = sluis::ctl::parse_count("timeout-ms", *v);
    if (t == 0 || t > 600'000) throw UsageError("--timeout-ms must be from 1 to 600000");
    p.timeout = std::chrono::milliseconds(t);
  }
  inv.json_path = opt.get("json");
  if (auto v = opt.get("save-response")) p.save_response = *v;
  p.quick_ack = opt.flag("quick-ack");
  if (auto v = opt.get("ack-log")) p.ack_log = *v;
  p.server_pids = pid_list(opt, "server-pid");
  p.database_pids = pid_list(opt, "database-pid");
  return inv;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const auto inv = parse(argc, argv);
    if (inv.help) {
      std::fputs(kUsage, stdout);
      return 0;
    }
    const auto result = sluis::bench::run_load(inv.plan);
    std::fputs(sluis::bench::text_report(inv.plan, result, inv.workload_name).c_str(), stdout);
    if (inv.json_path) {
      std::ofstream out(*inv.json_path, std::ios::trunc);
      out << sluis::bench::json_report(inv.plan, result, inv.workload_name);
      if (!out.flush()) {
        std::fprintf(stderr, "sluis-loadgen: cannot write %s\n", inv.json_path->c_str());
        return 1;
      }
    }
    if (result.samples.empty()) {
      std::fprintf(stderr,
                   "sluis-loadgen: no request succeeded; check that the server listens on %s "
                   "port %u and accepts this CA and client certificate (errors above)\n",
                   inv.plan.host.c_str(), static_cast<unsigned>(inv.plan.ports.front()));
      return 1;
    }
    return 0;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "sluis-loadgen: %s\n%s", e.what(), kUsage);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sluis-loadgen: %s\n", e.what());
    return 1;
  }
}
