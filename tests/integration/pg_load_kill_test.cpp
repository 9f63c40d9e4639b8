// Two real sluisd nodes on one PostgreSQL database under sluis-loadgen's mixed load over both
// ports, killed with SIGKILL in turn (the integrator's node first): every acknowledged write reads
// back the same from both nodes, every answered request has its audit events, the integrator
// moved, `sluisctl audit verify` passes on each node, and no answer was a 5xx but 503 problem+json.
#include "pg_two_nodes.hpp"
#include "workload_file.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <map>
#include <regex>
#include <set>
#include <sstream>

using namespace sluis::test;

namespace {

/// A loopback port free at the time of asking (a node restarted after SIGKILL needs its own
/// port again, so the load generator's port list stays right).
std::uint16_t free_port() {
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(s >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t n = sizeof a;
  REQUIRE(::getsockname(s, reinterpret_cast<sockaddr*>(&a), &n) == 0);
  ::close(s);
  return ntohs(a.sin_port);
}

/// The inodes of the sockets process `pid` has open.
std::set<std::string> socket_inodes(pid_t pid) {
  std::set<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    const auto target = fs::read_symlink(e.path(), ec).string();
    if (!ec && target.rfind("socket:[", 0) == 0) out.insert(target.substr(8, target.size() - 9));
  }
  return out;
}

/// The inode of the IPv4 TCP socket whose local port is `port` (from /proc/net/tcp), or "".
std::string inode_of_local_port(int port) {
  std::istringstream in(read_text("/proc/net/tcp"));
  std::string line;
  std::getline(in, line);  // the header
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string sl, local, remote, st, queues, timer, retr, uid, timeout, inode;
    f >> sl >> local >> remote >> st >> queues >> timer >> retr >> uid >> timeout >> inode;
    const auto colon = local.find(':');
    if (colon != std::string::npos && std::stoi(local.substr(colon + 1), nullptr, 16) == port)
      return inode;
  }
  return {};
}

/// One node: its own home (a copy of the migrated one), a fixed port, restartable.
struct Node {
  std::string name;
  fs::path home;
  std::uint16_t port = 0;
  pid_t pid = -1;

  void start() {
    const auto port_file = home / "port";
    fs::remove(port_file);
    pid = spawn_process({SLUISD_PATH, "--config", (home / "sluis.toml").string(), "--port-file",
                         port_file.string()},
                        home / ("sluisd-" + std::to_string(++starts) + ".txt"));
    const auto end = std::chrono::steady_clock::now() + 60s;
    while (std::chrono::steady_clock::now() < end) {
      const auto text = read_text(port_file);
      if (!text.empty() && text.back() == '\n') {
        REQUIRE(std::stoul(text) == port);
        return;
      }
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;
        break;
      }
      std::this_thread::sleep_for(20ms);
    }
    FAIL("sluisd " << name << " did not start: "
                   << read_text(home / ("sluisd-" + std::to_string(starts) + ".txt")));
  }
  void kill9() {
    REQUIRE(pid > 0);
    ::kill(pid, SIGKILL);
    wait_process(pid);
    pid = -1;
  }
  ~Node() {
    if (pid > 0) kill9();
  }
  int starts = 0;
};

/// Which node's session holds the integrator's advisory lock (nullptr: none yet).
Node* integrator(RawPg& raw, std::array<Node*, 2> nodes) {
  const auto ports =
      raw.column("SELECT a.client_port::text FROM pg_locks l JOIN pg_stat_activity a ON a.pid = "
                 "l.pid WHERE l.locktype = 'advisory' AND l.granted AND "
                 "((l.classid::bigint << 32) | l.objid::bigint) = " +
                 std::to_string(kIntegratorLockKey));
  if (ports.size() != 1) return nullptr;
  const auto inode = inode_of_local_port(std::stoi(std::string(ports[0].begin(), ports[0].end())));
  if (inode.empty()) return nullptr;
  for (Node* n : nodes) {
    if (n->pid > 0 && socket_inodes(n->pid).count(inode) != 0) return n;
  }
  return nullptr;
}

/// Waits (up to 20 s) until a running node holds the integrator lock; that node.
Node* await_integrator(RawPg& raw, std::array<Node*, 2> nodes) {
  const auto end = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < end) {
    if (Node* n = integrator(raw, nodes)) return n;
    std::this_thread::sleep_for(50ms);
  }
  FAIL("no node took the integrator lock within 20 s");
  return nullptr;
}

/// One line of sluis-loadgen's --ack-log.
struct Answer {
  std::string op, request_id, partner, worker, method_target, content_type, created;
  unsigned status = 0;
  std::uint16_t port = 0;
};

std::vector<Answer> read_answers(const fs::path& file) {
  std::vector<Answer> out;
  std::istringstream in(read_text(file));
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::size_t from = 0;
    for (auto tab = line.find('\t'); tab != std::string::npos; tab = line.find('\t', from)) {
      f.push_back(line.substr(from, tab - from));
      from = tab + 1;
    }
    f.push_back(line.substr(from));
    REQUIRE(f.size() == 9);
    Answer a;
    a.op = f[0];
    a.status = static_cast<unsigned>(std::stoul(f[1]));
    a.request_id = f[2];
    a.port = static_cast<std::uint16_t>(std::stoul(f[3]));
    a.partner = f[4];
    a.worker = f[5];
    a.method_target = f[6];
    a.content_type = f[7];
    a.created = f[8];
    out.push_back(std::move(a));
  }
  return out;
}

/// GET `target` on `port` as `partner`'s `worker`.
Response get_as(std::uint16_t port, const fs::path& ca_file,
                const sluis::bench::PartnerCredentialPaths& partner, const std::string& worker,
                const std::string& target) {
  gw::Credential cred{gw::PrivateKey::load_pem_file(partner.key).value(),
                      gw::Certificate::load_pem_file(partner.certificate).value()};
  const auto ca = gw::Certificate::load_pem_file(ca_file).value();
  TlsClient client(port, ca, ClientOptions{&cred, false});
  REQUIRE_FALSE(client.connect());
  auto r = client.request("GET", target, {},
                          {{"Sluis-Worker", worker}, {"Sluis-Purpose", "care-coordination"}});
  REQUIRE(r);
  return *r;
}

}  // namespace

TEST_CASE("two sluisd nodes on PostgreSQL killed in turn under load: nothing lost, all audited",
          "[integration][postgresql][slow]") {
  TempDir dir;
  const fs::path home_a = dir.path() / "a";
  std::string out;
  REQUIRE(run_process({SLUISCTL_PATH, "init", "--home", home_a.string(), "--raw-key", "--port", "0",
                       "--metrics-port", "0"},
                      out, dir.path()) == 0);
  INFO(out);
  REQUIRE(run_process({SLUIS_DATASET_PATH, "--home", home_a.string(), "--partners", "8",
                       "--workers", "40", "--clients", "200", "--fragments", "2", "--read-clients",
                       "20", "--read-fragments", "3", "--fields", "2", "--field-bytes", "40"},
                      out, dir.path()) == 0);
  // sluis-dataset writes the store directly; the move wants the audit log a home with records
  // has, and an operator act done on the stopped home makes it.
  REQUIRE(run_process({SLUISCTL_PATH, "partner", "list", "--home", home_a.string()}, out,
                      dir.path()) == 0);
  const std::string conninfo = PgServer::instance().new_database();
  REQUIRE(run_process({SLUISCTL_PATH, "store", "migrate", "--to", "postgresql", "--home",
                       home_a.string(), "--conninfo", conninfo, "--switch"},
                      out, dir.path()) == 0);
  // Node B: the same home (keys, CA, server certificate, rule pack, [store]) on its own port.
  const fs::path home_b = dir.path() / "b";
  fs::copy(home_a, home_b, fs::copy_options::recursive);
  Node a{"A", home_a, free_port()};
  Node b{"B", home_b, free_port()};
  for (Node* n : {&a, &b}) {
    const auto config = n->home / "sluis.toml";
    write_text(config, std::regex_replace(read_text(config), std::regex("\nport = 0 "),
                                          "\nport = " + std::to_string(n->port) + " ",
                                          std::regex_constants::format_first_only));
  }
  a.start();
  b.start();
  RawPg raw(conninfo);
  const std::array<Node*, 2> nodes{&a, &b};

  const fs::path ack_log = dir.path() / "answers.tsv";
  const pid_t load = spawn_process(
      {SLUIS_LOADGEN_PATH, "--port", std::to_string(a.port) + "," + std::to_string(b.port), "--ca",
       (home_a / "tls/ca.crt").string(), "--workload", "mix", "--workload-file",
       (home_a / "workload.tsv").string(), "--connections", "8", "--duration", "22", "--warmup",
       "0", "--timeout-ms", "5000", "--ack-log", ack_log.string()},
      dir.path() / "loadgen.txt");

  // Three kills: the integrator's node, then the other one, then the integrator's again; each
  // restarted on its port. After each the lock is held by a node that was not killed.
  std::vector<std::string> holders;
  std::this_thread::sleep_for(3s);
  for (int kill = 0; kill < 3; ++kill) {
    Node* holder = await_integrator(raw, nodes);
    holders.push_back(holder->name);
    Node* victim = kill == 1 ? (holder == &a ? &b : &a) : holder;
    victim->kill9();
    if (victim == holder) {
      Node* next = await_integrator(raw, nodes);
      CHECK(next != victim);
      holders.push_back(next->name);
    }
    std::this_thread::sleep_for(1s);  // the load runs on the other node alone
    victim->start();
    std::this_thread::sleep_for(3s);
  }
  const int load_status = wait_process(load);
  INFO(read_text(dir.path() / "loadgen.txt"));
  REQUIRE(load_status == 0);
  // The integrator moved: more than one node held the lock in turn.
  CHECK(std::set<std::string>(holders.begin(), holders.end()).size() == 2);

  const auto answers = read_answers(ack_log);
  const auto workload = sluis::bench::read_workload(home_a / "workload.tsv");
  std::map<std::string, const sluis::bench::PartnerCredentialPaths*> credentials;
  for (const auto& p : workload.partners)
    credentials[p.partner] = &p;

  // No answer was a 5xx other than 503 problem+json; both nodes answered.
  std::set<std::uint16_t> answered_on;
  std::size_t ok = 0;
  for (const auto& x : answers) {
    INFO(x.op << " " << x.status << " " << x.method_target << " " << x.content_type);
    if (x.status >= 500) {
      CHECK(x.status == 503);
      CHECK(x.content_type.rfind("application/problem+json", 0) == 0);
    }
    if (x.status / 100 == 2) {
      ++ok;
      answered_on.insert(x.port);
    }
  }
  CHECK(ok >= 100);
  CHECK(answered_on.size() == 2);

  // Every acknowledged write reads back, the same, from both nodes: the fragments in their
  // client's dossier with the values written, the consents in the client's list.
  std::map<std::pair<std::string, std::string>, std::vector<const Answer*>> by_client;
  for (const auto& x : answers) {
    if (x.status != 201 || (x.op != "write" && x.op != "consent-grant")) continue;
    REQUIRE(x.created != "-");
    by_client[{x.partner + "\t" + x.worker, x.method_target.substr(x.method_target.find(' ') + 1)}]
        .push_back(&x);
  }
  REQUIRE_FALSE(by_client.empty());
  const std::string value(80, 'x');
  std::size_t checked = 0;
  for (const auto& [who, written] : by_client) {
    const auto tab = who.first.find('\t');
    const auto& partner = *credentials.at(who.first.substr(0, tab));
    const auto worker = who.first.substr(tab + 1);
    const auto client = who.second.substr(0, who.second.rfind('/'));
    for (Node* n : nodes) {
      const auto dossier = get_as(n->port, home_a / "tls/ca.crt", partner, worker,
                                  client + "/dossier");
      const auto consents = get_as(n->port, home_a / "tls/ca.crt", partner, worker,
                                   client + "/consents");
      REQUIRE(dossier.status == 200);
      REQUIRE(consents.status == 200);
      std::map<std::string, json::object> fragments;
      const auto dossier_json = body_json(dossier);
      for (const auto& f : dossier_json.at("fragments").as_array())
        fragments[std::string(f.at("fragment").as_string())] = f.as_object();
      for (const Answer* x : written) {
        INFO(n->name << " " << x->op << " " << x->created);
        if (x->op == "write") {
          REQUIRE(fragments.count(x->created) == 1);
          const auto& fields = fragments[x->created].at("fields").as_object();
          CHECK(fields.size() == 5);
          for (const auto& [name, v] : fields)
            CHECK(v.as_string() == value);
        } else {
          CHECK(consents.body.find("\"" + x->created + "\"") != std::string::npos);
        }
        ++checked;
      }
    }
  }
  CHECK(checked >= 2);

  // Every request answered 2xx has its audit event(s) in the log, and the log is integrated.
  const auto until = std::chrono::steady_clock::now() + 30s;
  while (pg_number(raw, "SELECT size::text FROM audit_tree") !=
             pg_number(raw, "SELECT next::text FROM audit_sequence") &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(100ms);
  }
  const auto all = pg_number(raw, "SELECT next::text FROM audit_sequence");
  CHECK(pg_number(raw, "SELECT size::text FROM audit_tree") == all);
  std::set<std::string> audited;
  for (const auto& id : raw.column("SELECT DISTINCT convert_from(canonical, 'UTF8')::json->>"
                                   "'request_id' FROM audit_event"))
    audited.emplace(id.begin(), id.end());
  std::size_t unaudited = 0;
  for (const auto& x : answers) {
    if (x.status / 100 != 2) continue;
    if (audited.count(x.request_id) == 0) {
      if (++unaudited <= 5) UNSCOPED_INFO("unaudited: " << x.op << " " << x.request_id);
    }
  }
  CHECK(unaudited == 0);

  for (Node* n : nodes) {
    const auto [status, text] = sluisctl("audit verify --key " + (n->home / "keys/root.key").string() +
                                         " --config " + (n->home / "sluis.toml").string());
    INFO(text);
    CHECK(status == 0);
    CHECK_THAT(text, Catch::Contains("The audit log verifies: " + std::to_string(all) + " events"));
  }
}
