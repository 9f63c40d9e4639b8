// The load driver: one coroutine per keep-alive connection on one io_context per thread; every
// response timed from the first byte written to the last byte read.
#include "driver.hpp"
#include "process_cpu.hpp"

#include "rfc3339.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <memory>
#include <mutex>
#include <random>
#include <string_view>
#include <thread>

namespace sluis::bench {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using Stream = beast::ssl_stream<beast::tcp_stream>;
using Request = http::request<http::string_body>;
constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

// Largest response body accepted (a dossier of hundreds of fragments fits many times over).
constexpr std::uint64_t kMaxBody = 64ULL << 20;
// Hard limit for a --requests run, so a stalled server cannot keep the tool running forever.
constexpr std::chrono::seconds kRequestsRunLimit{600};

/// A partner's TLS identity and the operations its connections perform.
struct PartnerOps {
  std::string partner;
  std::shared_ptr<ssl::context> tls;
  std::vector<const ReadOp*> reads;
  std::vector<const WriteOp*> writes;
  std::vector<const ConsentOp*> consents;
};

std::shared_ptr<ssl::context> client_context(const RunPlan& plan,
                                             const std::filesystem::path& certificate,
                                             const std::filesystem::path& key) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  if (SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_3_VERSION) != 1) {
    throw LoadError("OpenSSL refused to require TLS 1.3");
  }
  boost::system::error_code ec;
  if (ctx->load_verify_file(plan.ca.string(), ec); ec) {
    throw LoadError("cannot read the CA certificate " + plan.ca.string() +
                    "; give the gateway CA (HOME/tls/ca.crt) with --ca");
  }
  ctx->set_verify_mode(ssl::verify_peer);
  if (ctx->use_certificate_chain_file(certificate.string(), ec); ec) {
    throw LoadError("cannot read the client certificate " + certificate.string() +
                    "; issue it with sluisctl partner add or sluis-dataset");
  }
  if (ctx->use_private_key_file(key.string(), ssl::context::pem, ec); ec) {
    throw LoadError("cannot read the client key " + key.string() +
                    " (or it does not belong to the certificate)");
  }
  return ctx;
}

/// The partners whose connections run the plan's workload, each with its operations.
std::vector<PartnerOps> partner_pools(const RunPlan& plan) {
  std::vector<PartnerOps> out;
  if (plan.kind == WorkloadKind::static_file) {
    if (plan.certificate.empty() || plan.key.empty()) {
      throw LoadError("the static workload needs --cert and --key (a client certificate of the "
                      "gateway CA)");
    }
    out.push_back({"-", client_context(plan, plan.certificate, plan.key), {}, {}, {}});
    return out;
  }
  const auto& w = plan.workload;
  for (const auto& p : w.partners) {
    PartnerOps ops;
    ops.partner = p.partner;
    for (const auto& r : w.reads)
      if (r.partner == p.partner) ops.reads.push_back(&r);
    for (const auto& o : w.writes)
      if (o.partner == p.partner) ops.writes.push_back(&o);
    for (const auto& c : w.consents)
      if (c.partner == p.partner) ops.consents.push_back(&c);
    const bool useful = (plan.kind == WorkloadKind::read && !ops.reads.empty()) ||
                        (plan.kind == WorkloadKind::mix && !ops.reads.empty()) ||
                        (plan.kind == WorkloadKind::write && !ops.writes.empty()) ||
                        (plan.kind == WorkloadKind::consent && !ops.consents.empty());
    if (!useful) continue;
    ops.tls = client_context(plan, p.certificate, p.key);
    out.push_back(std::move(ops));
  }
  if (out.empty()) {
    throw LoadError("the workload file has no partner with operations for this workload; "
                    "regenerate it with sluis-dataset");
  }
  return out;
}

std::string consent_body(const ConsentOp& op) {
  const auto now = std::chrono::system_clock::now();
  const auto start = rfc3339(now - std::chrono::minutes(1));
  const auto end = rfc3339(now + std::chrono::hours(24 * 30));
  return R"({"legal_basis":"consent","provisions":[{"grantee":{"partner":")" + op.grantee +
         R"("},"categories":["housing","appointment"],"purposes":["care-coordination"],)"
         R"("period":{"start":")" +
         start + R"(","end":")" + end + R"("}}],"evidence":{"recorded_by":{"partner":")" +
         op.partner + R"(","worker":")" + op.worker + R"(","role":")" + op.role +
         R"("},"channel":"in-person","language":"nl","recorded_at":")" + start + R"("}})";
}

std::string fragment_body(const WriteOp& op) {
  static const std::string kValue(80, 'x');
  std::string fields;
  for (const char* name : {"summary", "situation", "since", "next-step", "note"}) {
    if (!fields.empty()) fields += ',';
    fields += "\"" + std::string(name) + "\":\"" + kValue + "\"";
  }
  return R"({"category":")" + op.category + R"(","fields":{)" + fields + "}}";
}

std::size_t count_fragments(std::string_view body) {
  constexpr std::string_view kNeedle = "\"fragment\":\"";
  std::size_t n = 0;
  for (auto pos = body.find(kNeedle); pos != std::string_view::npos;
       pos = body.find(kNeedle, pos + kNeedle.size())) {
    ++n;
  }
  return n;
}

/// State every connection of a run shares.
struct Shared {
  const RunPlan& plan;
  std::vector<tcp::resolver::results_type> endpoints;  ///< one per RunPlan::ports entry
  Clock::time_point measure_from;
  Clock::time_point deadline;
  std::atomic<std::uint64_t> claimed{0};
  std::atomic<bool> saved{false};
  std::mutex ack_mutex;
  std::ofstream ack_log;  ///< open when RunPlan::ack_log is set

  /// One line of the answer log (RunPlan::ack_log); the line ends in '\n'.
  void log_answer(const std::string& line) {
    const std::lock_guard lock(ack_mutex);
    ack_log << line;
  }

  [[nodiscard]] bool measuring(Clock::time_point t) const { return t >= measure_from; }
  /// False once the run is over; claims one measured operation in a --requests run.
  [[nodiscard]] bool may_start() {
    const auto now = Clock::now();
    if (now >= deadline) return false;
    if (plan.requests && measuring(now)) return claimed.fetch_add(1) < *plan.requests;
    return true;
  }
};

/// One exchange's outcome.
struct Exchange {
  const char* failure = nullptr;  ///< error kind, or nullptr
  unsigned status = 0;
  bool keep_alive = false;
  std::string request_id;    ///< the server's X-Request-Id
  std::string content_type;
  std::string body;
  Clock::time_point started;
  Clock::duration latency{};
};

const char* classify(const boost::system::error_code& ec, bool reading) {
  if (ec == beast::error::timeout) return "timeout";
  if (ec == http::error::end_of_stream || ec == asio::error::eof ||
      ec == asio::error::connection_reset || ec == ssl::error::stream_truncated) {
    return "closed-by-server";
  }
  return reading ? "receive" : "send";
}

asio::awaitable<Exchange> exchange(Stream& stream, beast::flat_buffer& buffer, Request& req,
                                   std::chrono::milliseconds timeout, bool quick_ack) {
  Exchange x;
  x.started = Clock::now();
  beast::get_lowest_layer(stream).expires_after(timeout);
  auto [wec, written] = co_await http::async_write(stream, req, kUseTuple);
  (void)written;
  if (wec) {
    x.failure = classify(wec, false);
    co_return x;
  }
  if (quick_ack) {
    // Linux clears quick-ack mode again on its own, so it is set before every response.
    const int one = 1;
    static_cast<void>(::setsockopt(beast::get_lowest_layer(stream).socket().native_handle(),
                                   IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one));
  }
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxBody);
  auto [rec, read] = co_await http::async_read(stream, buffer, parser, kUseTuple);
  (void)read;
  if (rec) {
    x.failure = classify(rec, true);
    co_return x;
  }
  x.latency = Clock::now() - x.started;
  auto res = parser.release();
  x.status = res.result_int();
  x.keep_alive = res.keep_alive();
  x.request_id = std::string(res["X-Request-Id"]);
  x.content_type = std::string(res[http::field::content_type]);
  x.body = std::move(res.body());
  co_return x;
}

/// One connection: connects (again after Connection: close or an error), then runs operations
/// of its partner until the run is over.
class Connection {
 public:
  Connection(Shared& shared, const PartnerOps& ops, std::size_t index, RunResult& out)
      : shared_(shared), ops_(ops), out_(out), rng_(0x5eed0000ULL + index), cursor_(index * 7919),
        port_index_(index % shared.endpoints.size()) {}

  asio::awaitable<void> run() {
    const auto& plan = shared_.plan;
    auto ex = co_await asio::this_coro::executor;
    asio::steady_timer pace(ex);
    // Every connection opens at once, so that a paced run really holds all of them open; the
    // pacing starts once it is open, at a random offset so connections do not send in step.
    static_cast<void>(co_await connect(ex));
    auto next = Clock::now();
    std::chrono::duration<double> period{0};
    if (plan.rate_per_connection > 0) {
      period = std::chrono::duration<double>(1.0 / plan.rate_per_connection);
      std::uniform_real_distribution<double> offset(0, period.count());
      next +=
          std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(offset(rng_)));
    }
    for (;;) {
      if (plan.rate_per_connection > 0) {
        pace.expires_at(std::min(next, shared_.deadline));
        co_await pace.async_wait(kUseTuple);
        next += std::chrono::duration_cast<Clock::duration>(period);
      }
      if (!shared_.may_start()) break;
      if (!stream_) {
        if (!co_await connect(ex)) {
          pace.expires_after(std::chrono::milliseconds(100));  // do not spin on a dead server
          co_await pace.async_wait(kUseTuple);
          continue;
        }
      }
      co_await operate();
    }
    close();
  }

 private:
  asio::awaitable<bool> connect(const asio::any_io_executor& ex) {
    const auto& plan = shared_.plan;
    stream_ = std::make_unique<Stream>(ex, *ops_.tls);
    buffer_.clear();
    // SSL_set_tlsext_host_name without its C cast: the name is only read.
    if (SSL_ctrl(stream_->native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                 const_cast<char*>(plan.server_name.c_str())) != 1) {
      fail("tls-setup", Clock::now());
      co_return false;
    }
    stream_->set_verify_callback(ssl::host_name_verification(plan.server_name));
    const auto t = Clock::now();
    beast::get_lowest_layer(*stream_).expires_after(plan.timeout);
    auto [cec, ep] =
        co_await beast::get_lowest_layer(*stream_).async_connect(shared_.endpoints[port_index_],
                                                                 kUseTuple);
    (void)ep;
    if (cec) {
      fail(cec == beast::error::timeout ? "connect-timeout" : "connect", t);
      co_return false;
    }
    beast::get_lowest_layer(*stream_).socket().set_option(tcp::no_delay(true));
    auto [hec] = co_await stream_->async_handshake(ssl::stream_base::client, kUseTuple);
    if (hec) {
      fail(hec == beast::error::timeout ? "handshake-timeout" : "handshake", t);
      co_return false;
    }
    ++out_.connects;
    co_return true;
  }

  void close() {
    if (!stream_) return;
    boost::system::error_code ignored;
    beast::get_lowest_layer(*stream_).socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(*stream_).socket().close(ignored);
    stream_.reset();
  }

  void fail(const char* kind, Clock::time_point started) {
    close();
    // The node may be down: the next connection goes to the next port (the same with one port).
    port_index_ = (port_index_ + 1) % shared_.endpoints.size();
    if (!shared_.measuring(started)) return;
    ++out_.errors;
    ++out_.error_kinds[kind];
  }

  Request request(http::verb verb, std::string target, const std::string& worker) const {
    Request req{verb, target, 11};
    req.set(http::field::host, shared_.plan.server_name);
    req.set(http::field::user_agent, "sluis-loadgen");
    if (!worker.empty()) req.set("Sluis-Worker", worker);
    req.keep_alive(true);
    return req;
  }

  /// Sends `req`, records the outcome; returns the exchange when the status was `expected`.
  asio::awaitable<std::optional<Exchange>> call(Request& req, unsigned expected, OpKind op) {
    req.prepare_payload();
    auto x =
        co_await exchange(*stream_, buffer_, req, shared_.plan.timeout, shared_.plan.quick_ack);
    if (x.failure != nullptr) {
      fail(x.failure, x.started);
      co_return std::nullopt;
    }
    if (!x.keep_alive) close();  // the server's per-connection request limit: connect again
    if (shared_.ack_log.is_open()) log_answer(req, x, op);
    if (x.status != expected) {
      if (shared_.measuring(x.started)) {
        ++out_.errors;
        ++out_.error_kinds["http-" + std::to_string(x.status)];
      }
      co_return std::nullopt;
    }
    if (shared_.measuring(x.started)) {
      const auto us = std::chrono::duration_cast<std::chrono::microseconds>(x.latency).count();
      out_.samples.push_back({static_cast<std::uint32_t>(std::min<long long>(us, UINT32_MAX)), op});
      out_.body_bytes += x.body.size();
    }
    co_return x;
  }

  /// The answer log's line for one answered request: operation, status, request id, port,
  /// partner, worker, method and target, content type, and the id a 201 created (fragment or
  /// consent; "-" otherwise), tab-separated.
  void log_answer(const Request& req, const Exchange& x, OpKind op) {
    std::string created = "-";
    if (x.status == 201 && (op == OpKind::write || op == OpKind::consent_grant)) {
      boost::system::error_code ec;
      const auto v = boost::json::parse(x.body, ec);
      const auto* obj = ec ? nullptr : v.if_object();
      const auto* id =
          obj == nullptr ? nullptr : obj->if_contains(op == OpKind::write ? "fragment" : "consent");
      if (id != nullptr && id->is_string()) created = std::string(id->as_string());
    }
    const auto worker = req["Sluis-Worker"];
    std::string line = std::string(to_string(op)) + '\t' + std::to_string(x.status) + '\t' +
                       (x.request_id.empty() ? "-" : x.request_id) + '\t' +
                       std::to_string(shared_.plan.ports[port_index_]) + '\t' + ops_.partner +
                       '\t' + (worker.empty() ? "-" : std::string(worker)) + '\t' +
                       std::string(req.method_string()) + ' ' + std::string(req.target()) + '\t' +
                       (x.content_type.empty() ? "-" : x.content_type) + '\t' + created + '\n';
    shared_.log_answer(line);
  }

  void save(const std::string& body) {
    const auto& path = shared_.plan.save_response;
    if (!path || shared_.saved.exchange(true)) return;
    std::ofstream f(*path, std::ios::binary | std::ios::trunc);
    f << body;
    if (!f.flush()) std::fprintf(stderr, "sluis-loadgen: cannot write %s\n", path->c_str());
  }

  template <class T> const T& next_of(const std::vector<const T*>& v) {
    return *v[cursor_++ % v.size()];
  }

  asio::awaitable<void> operate() {
    switch (shared_.plan.kind) {
    case WorkloadKind::static_file: co_await static_get(); break;
    case WorkloadKind::read: co_await read(next_of(ops_.reads)); break;
    case WorkloadKind::write: co_await write(next_of(ops_.writes)); break;
    case WorkloadKind::consent: co_await consent(next_of(ops_.consents)); break;
    case WorkloadKind::mix: {
      const auto dice = rng_() % 100;
      if (dice >= 95 && !ops_.consents.empty()) {
        co_await consent(next_of(ops_.consents));
      } else if (dice >= 90 && !ops_.writes.empty()) {
        co_await write(next_of(ops_.writes));
      } else {
        co_await read(next_of(ops_.reads));
      }
      break;
    }
    }
  }

  asio::awaitable<void> static_get() {
    auto req = request(http::verb::get, shared_.plan.static_path, shared_.plan.static_worker);
    if (auto x = co_await call(req, 200, OpKind::static_file)) save(x->body);
  }

  asio::awaitable<void> read(const ReadOp& op) {
    auto req = request(http::verb::get, "/v1/clients/" + op.pseudonym + "/dossier", op.worker);
    req.set("Sluis-Purpose", "care-coordination");
    auto x = co_await call(req, 200, OpKind::read);
    if (!x) co_return;
    if (count_fragments(x->body) != op.fragments) {
      // Counted as an error, not a sample: a read that did not return the whole dossier.
      if (shared_.measuring(x->started)) {
        out_.samples.pop_back();
        out_.body_bytes -= x->body.size();
        ++out_.errors;
        ++out_.error_kinds["read-incomplete"];
      }
      co_return;
    }
    save(x->body);
  }

  asio::awaitable<void> write(const WriteOp& op) {
    auto req = request(http::verb::post, "/v1/clients/" + op.pseudonym + "/fragments", op.worker);
    req.set(http::field::content_type, "application/json");
    req.body() = fragment_body(op);
    co_await call(req, 201, OpKind::write);
  }

  asio::awaitable<void> consent(const ConsentOp& op) {
    const std::string base = "/v1/clients/" + op.pseudonym + "/consents";
    auto grant = request(http::verb::post, base, op.worker);
    grant.set(http::field::content_type, "application/json");
    grant.body() = consent_body(op);
    auto x = co_await call(grant, 201, OpKind::consent_grant);
    if (!x) co_return;
    boost::system::error_code ec;
    const auto v = boost::json::parse(x->body, ec);
    const auto* obj = ec ? nullptr : v.if_object();
    const auto* id = obj == nullptr ? nullptr : obj->if_contains("consent");
    if (id == nullptr || !id->is_string()) {
      if (shared_.measuring(x->started)) {
        ++out_.errors;
        ++out_.error_kinds["consent-without-id"];
      }
      co_return;
    }
    if (!stream_ && !co_await connect(co_await asio::this_coro::executor)) co_return;
    auto revoke =
        request(http::verb::delete_, base + "/" + std::string(id->as_string()), op.worker);
    co_await call(revoke, 200, OpKind::consent_revoke);
  }

  Shared& shared_;
  const PartnerOps& ops_;
  RunResult& out_;
  std::mt19937_64 rng_;
  std::size_t cursor_;
  std::size_t port_index_;  ///< which of RunPlan::ports the next connection goes to
  std::unique_ptr<Stream> stream_;
  beast::flat_buffer buffer_;
};

}  // namespace

const char* to_string(OpKind k) noexcept {
  switch (k) {
  case OpKind::read: return "read";
  case OpKind::write: return "write";
  case OpKind::consent_grant: return "consent-grant";
  case OpKind::consent_revoke: return "consent-revoke";
  case OpKind::static_file: return "static";
  }
  return "?";
}

RunResult run_load(const RunPlan& plan) {
  if (plan.connections == 0) throw LoadError("--connections must be at least 1");
  if (plan.threads == 0) throw LoadError("--threads must be at least 1");
  const auto pools = partner_pools(plan);

  if (plan.ports.empty()) throw LoadError("--port needs at least one port");
  asio::io_context resolver_context;
  tcp::resolver resolver(resolver_context);
  std::vector<tcp::resolver::results_type> endpoints;
  for (const auto port : plan.ports) {
    boost::system::error_code ec;
    endpoints.push_back(resolver.resolve(plan.host, std::to_string(port), ec));
    if (ec)
      throw LoadError("cannot resolve --host " + plan.host + "; give an address like 127.0.0.1");
  }

  const auto start = Clock::now();
  Shared shared{plan,
                std::move(endpoints),
                start + std::chrono::duration_cast<Clock::duration>(plan.warmup),
                {},
                {0},
                {false},
                {},
                {}};
  if (plan.ack_log) {
    shared.ack_log.open(*plan.ack_log, std::ios::trunc);
    if (!shared.ack_log) throw LoadError("cannot write the answer log " + plan.ack_log->string());
  }
  shared.deadline =
      shared.measure_from + (plan.duration
                                 ? std::chrono::duration_cast<Clock::duration>(*plan.duration)
                                 : std::chrono::duration_cast<Clock::duration>(kRequestsRunLimit));

  std::vector<RunResult> partial(plan.threads);
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  std::vector<std::unique_ptr<Connection>> connections;
  for (unsigned t = 0; t < plan.threads; ++t)
    contexts.push_back(std::make_unique<asio::io_context>(1));
  for (std::size_t i = 0; i < plan.connections; ++i) {
    const unsigned t = static_cast<unsigned>(i % plan.threads);
    connections.push_back(
        std::make_unique<Connection>(shared, pools[i % pools.size()], i, partial[t]));
    asio::co_spawn(*contexts[t], connections.back()->run(), asio::detached);
  }
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < plan.threads; ++t)
    threads.emplace_back([&ctx = *contexts[t]] { ctx.run(); });
  // The server's CPU is sampled from this thread, which runs no connection: once when the
  // measured time starts, once when every connection has finished.
  std::optional<std::chrono::microseconds> cpu_from, db_from;
  if (!plan.server_pids.empty() || !plan.database_pids.empty()) {
    std::this_thread::sleep_until(shared.measure_from);
    if (!plan.server_pids.empty()) cpu_from = process_cpu_time(plan.server_pids);
    if (!plan.database_pids.empty()) db_from = process_tree_cpu_time(plan.database_pids);
  }
  for (auto& th : threads)
    th.join();
  const auto end = Clock::now();
  std::optional<std::chrono::microseconds> cpu_to, db_to;
  if (!plan.server_pids.empty()) cpu_to = process_cpu_time(plan.server_pids);
  if (!plan.database_pids.empty()) db_to = process_tree_cpu_time(plan.database_pids);

  RunResult out;
  for (auto& p : partial) {
    out.samples.insert(out.samples.end(), p.samples.begin(), p.samples.end());
    out.errors += p.errors;
    for (const auto& [k, n] : p.error_kinds)
      out.error_kinds[k] += n;
    out.connects += p.connects;
    out.body_bytes += p.body_bytes;
  }
  out.seconds = std::chrono::duration<double>(end - shared.measure_from).count();
  if (shared.ack_log.is_open() && !shared.ack_log.flush())
    throw LoadError("cannot write the answer log " + plan.ack_log->string());
  if (cpu_from && cpu_to) out.server_cpu = *cpu_to - *cpu_from;
  if (db_from && db_to) out.database_cpu = *db_to - *db_from;
  return out;
}

}  // namespace sluis::bench
