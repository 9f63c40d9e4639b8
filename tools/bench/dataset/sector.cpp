// The synthetic sector: deterministic names, relationships, categories and field values.
#include "sector.hpp"

#include <array>
#include <cstdio>
#include <stdexcept>

namespace sluis::bench {
namespace {

constexpr std::array<std::string_view, 8> kTypes = {
    "ocmw",       "caw",     "home-care",    "mental-health", "community-health",
    "youth-care", "housing", "low-threshold"};
constexpr std::array<std::string_view, 8> kTypeNames = {
    "OCMW", "CAW", "Thuiszorg", "CGG", "Wijkgezondheidscentrum", "Jeugdhulp", "SVK", "Nachtopvang"};

// What each home type writes: categories it discloses to a CAW that a social worker may read
// for care coordination (policy/packs/brussels-welfare.toml, [disclosure.*] and
// [matrix.social-worker]).
constexpr std::array<std::string_view, 5> kOcmwWrites = {"housing", "income", "case-note",
                                                         "appointment", "contact"};
constexpr std::array<std::string_view, 5> kCommunityWrites = {"housing", "income", "appointment",
                                                              "contact", "identity"};
constexpr std::array<std::string_view, 4> kHousingWrites = {"housing", "appointment", "contact",
                                                            "identity"};
// What the consent of a shared client grants its CAW: everything the home type discloses to it.
constexpr std::array<std::string_view, 6> kOcmwGrants = {"contact", "identity",  "housing",
                                                         "income",  "case-note", "appointment"};
constexpr std::array<std::string_view, 5> kCommunityGrants = {"contact", "identity", "housing",
                                                              "income", "appointment"};
constexpr std::array<std::string_view, 4> kHousingGrants = {"contact", "identity", "housing",
                                                            "appointment"};

constexpr std::size_t kNrnCapacity = 100ULL * 12 * 28 * 998;

std::string_view role_for(std::string_view type) {
  if (type == "home-care") return "nurse";
  if (type == "mental-health") return "psychologist";
  if (type == "community-health") return "doctor";
  return "social-worker";
}

std::string padded(std::size_t n, int width) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%0*zu", width, n);
  return buf;
}

}  // namespace

void SectorShape::check() const {
  if (partners < kTypes.size()) {
    throw std::invalid_argument("--partners must be at least 8: one of each partner type of the "
                                "default rule pack");
  }
  if (partners > 9999) throw std::invalid_argument("--partners must be at most 9999");
  if (workers < partners) {
    throw std::invalid_argument("--workers must be at least --partners: every partner needs a "
                                "worker");
  }
  if (clients < 6) {
    throw std::invalid_argument("--clients must be at least 6 (every third client is shared; the "
                                "read workload needs shared clients)");
  }
  if (clients > kNrnCapacity) {
    throw std::invalid_argument("--clients must be at most " + std::to_string(kNrnCapacity) +
                                " (distinct synthetic national register numbers)");
  }
  if (read_clients == 0) throw std::invalid_argument("--read-clients must be at least 1");
  if (read_fragments == 0 || read_fragments > 1000) {
    throw std::invalid_argument("--read-fragments must be from 1 to 1000");
  }
  if (fragments_per_client > 1000) {
    throw std::invalid_argument("--fragments must be at most 1000 per client");
  }
  if (fields_per_fragment == 0 || fields_per_fragment > 64) {
    throw std::invalid_argument("--fields must be from 1 to 64 (a fragment's field limit)");
  }
  if (field_bytes < 16 || field_bytes > 4096) {
    throw std::invalid_argument("--field-bytes must be from 16 to 4096");
  }
}

Sector::Sector(const SectorShape& shape) : shape_(shape) {
  shape_.check();
  for (std::size_t p = 0; p < shape_.partners; ++p) {
    const auto type = kTypes[p % kTypes.size()];
    const std::size_t number = p / kTypes.size() + 1;
    partners_.push_back({std::string(type) + "-" + padded(number, 3), std::string(type),
                         std::string(kTypeNames[p % kTypes.size()]) + " " + padded(number, 3)});
    if (type == "ocmw" || type == "community-health" || type == "housing") homes_.push_back(p);
    if (type == "caw") caws_.push_back(p);
  }
  first_worker_.assign(shape_.partners, 0);
  for (std::size_t w = 0; w < shape_.workers; ++w) {
    const std::size_t p = w % shape_.partners;
    if (w < shape_.partners) first_worker_[p] = w;
    workers_.push_back({p, partners_[p].id + "-w" + padded(w / shape_.partners + 1, 4),
                        std::string(role_for(partners_[p].type))});
  }
  for (std::size_t f = 0; f < shape_.fields_per_fragment; ++f) {
    static constexpr std::array<std::string_view, 5> kNames = {"summary", "situation", "since",
                                                               "next-step", "note"};
    field_names_.push_back(f < kNames.size() ? std::string(kNames[f])
                                             : "detail-" + std::to_string(f));
  }
  const std::size_t shared_clients = (shape_.clients + 2) / 3;
  read_count_ = std::min(shape_.read_clients, shared_clients / 2);
  stride_ = read_count_ == 0 ? 1 : shared_clients / read_count_;
  change_count_ = read_count_;
}

const SectorWorker& Sector::first_worker(std::size_t partner) const {
  return workers_.at(first_worker_.at(partner));
}

std::size_t Sector::home_partner(std::size_t client) const {
  return homes_[client % homes_.size()];
}

std::size_t Sector::sharing_partner(std::size_t client) const {
  return caws_[(client / 3) % caws_.size()];
}

ClientSet Sector::set_of(std::size_t client) const {
  if (!shared(client)) return ClientSet::plain;
  const std::size_t k = client / 3;
  if (k / stride_ >= read_count_) return ClientSet::plain;
  if (k % stride_ == 0) return ClientSet::read;
  if (k % stride_ == 1) return ClientSet::changes;
  return ClientSet::plain;
}

std::size_t Sector::fragment_count(std::size_t client) const {
  return set_of(client) == ClientSet::read ? shape_.read_fragments : shape_.fragments_per_client;
}

std::string_view Sector::category(std::size_t client, std::size_t k) const {
  const auto& type = partners_[home_partner(client)].type;
  if (type == "ocmw") return kOcmwWrites[k % kOcmwWrites.size()];
  if (type == "community-health") return kCommunityWrites[k % kCommunityWrites.size()];
  return kHousingWrites[k % kHousingWrites.size()];
}

std::span<const std::string_view> Sector::consented_categories(std::size_t client) const {
  const auto& type = partners_[home_partner(client)].type;
  if (type == "ocmw") return kOcmwGrants;
  if (type == "community-health") return kCommunityGrants;
  return kHousingGrants;
}

std::string Sector::field_value(std::size_t client, std::size_t k, std::size_t field) const {
  static constexpr std::string_view kText =
      "Talked with the client about the next steps; agreed to meet again next week at the "
      "office and to call the landlord about the repairs before then. ";
  std::string out =
      "c" + std::to_string(client) + "/" + std::to_string(k) + "/" + std::to_string(field) + ": ";
  while (out.size() < shape_.field_bytes)
    out += kText;
  out.resize(shape_.field_bytes);
  return out;
}

std::string Sector::national_register_number(std::size_t client) {
  const std::size_t serial = 1 + client % 998;
  const std::size_t day = 1 + (client / 998) % 28;
  const std::size_t month = 1 + (client / (998 * 28)) % 12;
  const std::size_t year = (client / (998 * 28 * 12)) % 100;
  const std::uint64_t first9 = year * 10'000'000ULL + month * 100'000ULL + day * 1000ULL + serial;
  const std::uint64_t check = 97 - first9 % 97;
  return padded(static_cast<std::size_t>(first9), 9) + padded(static_cast<std::size_t>(check), 2);
}

}  // namespace sluis::bench
