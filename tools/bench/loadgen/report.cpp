// Run summaries: exact nearest-rank percentiles over the recorded samples; text and JSON.
#include "report.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>

namespace sluis::bench {
namespace {

double ms(std::uint32_t micros) {
  return static_cast<double>(micros) / 1000.0;
}

/// Throughput of successful requests (all kinds) per second of measured time.
double throughput(const RunResult& r, std::size_t count) {
  return r.seconds > 0 ? static_cast<double>(count) / r.seconds : 0.0;
}

/// The server's CPU time over the measured time divided by the successful responses in it.
double cpu_us_per_request(const std::optional<std::chrono::microseconds>& cpu, std::size_t count) {
  if (!cpu || count == 0) return 0.0;
  return static_cast<double>(cpu->count()) / static_cast<double>(count);
}

}  // namespace

LatencySummary summarise(const RunResult& result, std::optional<OpKind> op) {
  std::vector<std::uint32_t> v;
  v.reserve(result.samples.size());
  for (const auto& s : result.samples) {
    if (!op || s.op == *op) v.push_back(s.micros);
  }
  LatencySummary out;
  out.count = v.size();
  if (v.empty()) return out;
  std::sort(v.begin(), v.end());
  auto rank = [&](double p) {
    const auto k = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
    return ms(v[std::clamp<std::size_t>(k, 1, v.size()) - 1]);
  };
  out.p50 = rank(50);
  out.p90 = rank(90);
  out.p99 = rank(99);
  out.max = ms(v.back());
  double sum = 0;
  for (const auto x : v)
    sum += static_cast<double>(x);
  out.mean = sum / static_cast<double>(v.size()) / 1000.0;
  return out;
}

std::string text_report(const RunPlan& plan, const RunResult& r, const std::string& name) {
  const auto all = summarise(r, std::nullopt);
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line,
                "sluis-loadgen: workload %s, %zu connections, %.1f s measured (after %.1f s "
                "warm-up)\n",
                name.c_str(), plan.connections, r.seconds, plan.warmup.count());
  out += line;
  std::snprintf(line, sizeof line,
                "  requests   %zu ok, %llu errors, %llu TLS connections opened in the whole run\n",
                all.count, static_cast<unsigned long long>(r.errors),
                static_cast<unsigned long long>(r.connects));
  out += line;
  for (const auto& [kind, n] : r.error_kinds) {
    std::snprintf(line, sizeof line, "    error %-20s %llu\n", kind.c_str(),
                  static_cast<unsigned long long>(n));
    out += line;
  }
  std::snprintf(line, sizeof line, "  throughput %.1f requests/s (%.0f body bytes/response)\n",
                throughput(r, all.count),
                all.count ? static_cast<double>(r.body_bytes) / static_cast<double>(all.count)
                          : 0.0);
  out += line;
  if (r.server_cpu) {
    std::snprintf(line, sizeof line,
                  "  server CPU %.1f us per request (%.2f s of CPU over the measured time)\n",
                  cpu_us_per_request(r.server_cpu, all.count),
                  static_cast<double>(r.server_cpu->count()) / 1e6);
    out += line;
  }
  if (r.database_cpu) {
    std::snprintf(line, sizeof line,
                  "  database CPU %.1f us per request (%.2f s of CPU over the measured time)\n",
                  cpu_us_per_request(r.database_cpu, all.count),
                  static_cast<double>(r.database_cpu->count()) / 1e6);
    out += line;
  }
  auto latency_line = [&](const char* label, const LatencySummary& s) {
    std::snprintf(line, sizeof line,
                  "  %-15s n=%-8zu p50 %7.2f  p90 %7.2f  p99 %7.2f  max %8.2f  mean %7.2f ms\n",
                  label, s.count, s.p50, s.p90, s.p99, s.max, s.mean);
    out += line;
  };
  latency_line("latency all", all);
  for (std::size_t k = 0; k < kOpKinds; ++k) {
    const auto op = static_cast<OpKind>(k);
    const auto s = summarise(r, op);
    if (s.count > 0 && s.count != all.count) latency_line(to_string(op), s);
  }
  return out;
}

std::string json_report(const RunPlan& plan, const RunResult& r, const std::string& name) {
  // Written by hand rather than with Boost.JSON so that every number has a fixed number of
  // decimals and no exponent: the baseline script reads this with sed.
  const auto all = summarise(r, std::nullopt);
  std::string out = "{";
  auto key = [&](std::string_view k) {
    if (out.size() > 1 && out.back() != '{') out += ',';
    out += '"';
    out += k;
    out += "\":";
  };
  auto number = [&](std::string_view k, double v) {
    key(k);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.3f", v);
    out += buf;
  };
  auto count = [&](std::string_view k, std::uint64_t v) {
    key(k);
    out += std::to_string(v);
  };
  auto latency = [&](const LatencySummary& s) {
    key("latency_ms");
    out += '{';
    number("p50", s.p50);
    number("p90", s.p90);
    number("p99", s.p99);
    number("max", s.max);
    number("mean", s.mean);
    out += '}';
  };
  key("workload");
  out += "\"" + name + "\"";  // one of the fixed workload names: nothing to escape
  count("connections", plan.connections);
  count("threads", plan.threads);
  number("rate_per_connection", plan.rate_per_connection);
  number("warmup_s", plan.warmup.count());
  number("measured_s", r.seconds);
  count("ok", all.count);
  count("errors", r.errors);
  key("error_kinds");
  out += '{';
  for (const auto& [kind, n] : r.error_kinds)
    count(kind, n);  // fixed ASCII kinds ("timeout", "http-503", …)
  out += '}';
  count("tls_connections", r.connects);
  number("throughput_rps", throughput(r, all.count));
  if (r.server_cpu) {
    number("server_cpu_s", static_cast<double>(r.server_cpu->count()) / 1e6);
    number("server_cpu_us_per_request", cpu_us_per_request(r.server_cpu, all.count));
  }
  if (r.database_cpu) {
    number("database_cpu_s", static_cast<double>(r.database_cpu->count()) / 1e6);
    number("database_cpu_us_per_request", cpu_us_per_request(r.database_cpu, all.count));
  }
  number("response_bytes_mean",
         all.count ? static_cast<double>(r.body_bytes) / static_cast<double>(all.count) : 0.0);
  latency(all);
  key("operations");
  out += '{';
  for (std::size_t k = 0; k < kOpKinds; ++k) {
    const auto op = static_cast<OpKind>(k);
    const auto s = summarise(r, op);
    if (s.count == 0) continue;
    key(to_string(op));
    out += '{';
    count("ok", s.count);
    number("throughput_rps", throughput(r, s.count));
    latency(s);
    out += '}';
  }
  out += "}}\n";
  return out;
}

}  // namespace sluis::bench
