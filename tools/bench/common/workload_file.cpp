// The workload file: tab-separated lines, one per partner credential and per operation.
#include "workload_file.hpp"

#include <charconv>
#include <fstream>
#include <string_view>

namespace sluis::bench {
namespace {

constexpr std::string_view kHeader = "# sluis-loadgen workload v1";

void put(std::ofstream& out, std::initializer_list<std::string_view> values) {
  bool first = true;
  for (const auto v : values) {
    if (v.find_first_of("\t\r\n") != std::string_view::npos) {
      throw std::runtime_error("a workload value contains a tab or a line break: '" +
                               std::string(v) + "'");
    }
    if (!first) out << '\t';
    out << v;
    first = false;
  }
  out << '\n';
}

std::vector<std::string_view> split_tabs(std::string_view line) {
  std::vector<std::string_view> out;
  for (;;) {
    const auto tab = line.find('\t');
    out.push_back(line.substr(0, tab));
    if (tab == std::string_view::npos) return out;
    line.remove_prefix(tab + 1);
  }
}

}  // namespace

void write_workload(const std::filesystem::path& path, const Workload& w) {
  std::ofstream out(path, std::ios::trunc);
  if (!out) throw std::runtime_error("cannot create the workload file " + path.string());
  out << kHeader << " (written by sluis-dataset; see docs/performance.md)\n";
  for (const auto& p : w.partners) {
    put(out, {"partner", p.partner, p.certificate.string(), p.key.string()});
  }
  for (const auto& r : w.reads) {
    put(out, {"read", r.partner, r.worker, r.pseudonym, std::to_string(r.fragments)});
  }
  for (const auto& o : w.writes)
    put(out, {"write", o.partner, o.worker, o.pseudonym, o.category});
  for (const auto& c : w.consents)
    put(out, {"consent", c.partner, c.worker, c.role, c.pseudonym, c.grantee});
  if (!out.flush()) throw std::runtime_error("cannot write the workload file " + path.string());
}

Workload read_workload(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) {
    throw WorkloadError(path.string() +
                        ": cannot read the workload file; create it with sluis-dataset "
                        "--workload FILE");
  }
  const auto base = path.parent_path();
  Workload w;
  std::string line;
  std::size_t number = 0;
  auto fail = [&](const std::string& sentence) {
    throw WorkloadError(path.string() + ":" + std::to_string(number) + ": " + sentence);
  };
  while (std::getline(in, line)) {
    ++number;
    if (number == 1) {
      if (!std::string_view(line).starts_with(kHeader)) {
        fail("this is not a sluis-loadgen workload file (the first line must start with '" +
             std::string(kHeader) + "'); create one with sluis-dataset --workload FILE");
      }
      continue;
    }
    if (line.empty() || line.front() == '#') continue;
    const auto f = split_tabs(line);
    for (const auto v : f) {
      if (v.empty()) fail("an empty value; every value is separated by exactly one tab");
    }
    auto need = [&](std::size_t n) {
      if (f.size() != n) {
        fail("a '" + std::string(f[0]) + "' line has " + std::to_string(n - 1) +
             " tab-separated values, this one has " + std::to_string(f.size() - 1));
      }
    };
    const auto kind = f[0];
    if (kind == "partner") {
      need(4);
      auto resolve = [&](std::string_view p) {
        std::filesystem::path q(p);
        return q.is_absolute() ? q : base / q;
      };
      w.partners.push_back({std::string(f[1]), resolve(f[2]), resolve(f[3])});
    } else if (kind == "read") {
      need(5);
      std::size_t n = 0;
      const auto [end, ec] = std::from_chars(f[4].data(), f[4].data() + f[4].size(), n);
      if (ec != std::errc() || end != f[4].data() + f[4].size()) {
        fail("the fragment count of a read must be a whole number, not '" + std::string(f[4]) +
             "'");
      }
      w.reads.push_back({std::string(f[1]), std::string(f[2]), std::string(f[3]), n});
    } else if (kind == "write") {
      need(5);
      w.writes.push_back(
          {std::string(f[1]), std::string(f[2]), std::string(f[3]), std::string(f[4])});
    } else if (kind == "consent") {
      need(6);
      w.consents.push_back({std::string(f[1]), std::string(f[2]), std::string(f[3]),
                            std::string(f[4]), std::string(f[5])});
    } else {
      fail("unknown line kind '" + std::string(kind) +
           "'; expected partner, read, write or consent");
    }
  }
  if (number == 0) fail("the workload file is empty; create it with sluis-dataset --workload FILE");
  return w;
}

}  // namespace sluis::bench
