// A deterministic synthetic care sector: who the partners, workers and clients are, what each
// client's dossier holds and who may read it. Pure: no store, no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluis::bench {

/// How big the sector is. Validated by SectorShape::check.
struct SectorShape {
  std::size_t partners = 200;
  std::size_t workers = 5000;
  std::size_t clients = 10'000;
  std::size_t fragments_per_client = 10;  ///< every client outside the read set
  std::size_t read_clients = 2000;        ///< clients the read workload uses (capped, see below)
  std::size_t read_fragments = 20;        ///< fragments of each read-set client
  std::size_t fields_per_fragment = 5;
  std::size_t field_bytes = 80;  ///< length of each field value

  /// Throws std::invalid_argument with a sentence naming the option to change.
  void check() const;
};

/// One partner: id "<type>-<nnn>", its partner type in the default rule pack.
struct SectorPartner {
  std::string id;
  std::string type;
  std::string name;
};

/// One worker: id "<partner>-w<nnnn>" and a role that fits the partner's type.
struct SectorWorker {
  std::size_t partner = 0;  ///< index into Sector::partners
  std::string id;
  std::string role;
};

/// Which role in a client's story an index plays.
enum class ClientSet {
  plain,    ///< registered at its home partner only, or shared without being in a workload
  read,     ///< shared, consented, 20 fragments: the read workload reads it
  changes,  ///< shared, consented: the write and consent workloads write on it
};

/// The synthetic sector of the default rule pack (brussels-welfare).
///
/// - Partners cycle through the eight partner types (ocmw, caw, home-care, mental-health,
///   community-health, youth-care, housing, low-threshold); at least one of each is needed.
/// - Workers are spread over partners round-robin (every partner has at least one); their role
///   is social-worker, nurse (home care), psychologist (mental health) or doctor (community
///   health).
/// - Client n is registered with a national register number at its *home* partner, one of the
///   ocmw, community-health and housing partners (round-robin). Every third client (n % 3 == 0)
///   is *shared*: also registered at a CAW partner, and has consented that this CAW reads the
///   categories its home partner may disclose to a CAW, for care coordination. The read set is
///   every stride-th shared client, the change set the one after each.
/// - Fragments are owned by the home partner, categories cycling over what the home partner's
///   type discloses to a CAW and a social worker may read, so every fragment of a read-set client
///   is permitted to its CAW: a read returns all of them (consent-checked, audited, opened).
class Sector {
 public:
  explicit Sector(const SectorShape& shape);

  [[nodiscard]] const SectorShape& shape() const noexcept { return shape_; }
  [[nodiscard]] const std::vector<SectorPartner>& partners() const noexcept { return partners_; }
  [[nodiscard]] const std::vector<SectorWorker>& workers() const noexcept { return workers_; }
  /// The first worker of each partner (the one that writes and reads in the workloads).
  [[nodiscard]] const SectorWorker& first_worker(std::size_t partner) const;

  /// Index of client n's home partner.
  [[nodiscard]] std::size_t home_partner(std::size_t client) const;
  [[nodiscard]] bool shared(std::size_t client) const noexcept { return client % 3 == 0; }
  /// Index of the CAW partner a shared client is also registered at.
  [[nodiscard]] std::size_t sharing_partner(std::size_t client) const;
  [[nodiscard]] ClientSet set_of(std::size_t client) const;
  [[nodiscard]] std::size_t fragment_count(std::size_t client) const;
  /// Category of the client's fragment number `k` (0-based).
  [[nodiscard]] std::string_view category(std::size_t client, std::size_t k) const;
  /// The categories a shared client's consent grants its sharing partner.
  [[nodiscard]] std::span<const std::string_view> consented_categories(std::size_t client) const;
  /// Field names of every fragment, in order.
  [[nodiscard]] const std::vector<std::string>& field_names() const noexcept {
    return field_names_;
  }
  /// A field value of shape().field_bytes ordinary characters, different per client, fragment
  /// and field.
  [[nodiscard]] std::string field_value(std::size_t client, std::size_t k, std::size_t field) const;
  /// Client n's national register number: 11 digits with a valid check (born in the 1900s).
  [[nodiscard]] static std::string national_register_number(std::size_t client);

  /// Clients in the read set / change set.
  [[nodiscard]] std::size_t read_set_size() const noexcept { return read_count_; }
  [[nodiscard]] std::size_t change_set_size() const noexcept { return change_count_; }

 private:
  SectorShape shape_;
  std::vector<SectorPartner> partners_;
  std::vector<SectorWorker> workers_;
  std::vector<std::size_t> first_worker_;
  std::vector<std::size_t> homes_;  ///< partner indices of the home types
  std::vector<std::size_t> caws_;
  std::vector<std::string> field_names_;
  std::size_t stride_ = 1;
  std::size_t read_count_ = 0;
  std::size_t change_count_ = 0;
};

}  // namespace sluis::bench
