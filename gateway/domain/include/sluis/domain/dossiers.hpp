// Dossiers: fragments written by partners, sealed field by field, and the permission-filtered read.
#pragma once

#include "sluis/domain/records.hpp"

#include <functional>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluis::domain {

/// Dossier settings the rule pack supplies.
struct DossierOptions {
  /// Categories that identify a person; refused on anonymous clients.
  std::set<std::string, std::less<>> identifying_categories{"contact", "identity"};
};

/// The caller's permission decision for one fragment, given only its metadata. Called with the
/// unit of work held: it must not call back into the storage or services built on it.
using FragmentPermit = std::function<bool(const FragmentMeta&)>;

/// One fragment for the bulk path.
struct NewFragment {
  ClientId client;
  std::string owner_partner;
  std::string worker;
  std::string category;
  std::vector<FieldInput> fields;
};

/// Fragments of client dossiers. Every field is sealed with crypto::seal_field under the
/// client × category data key (created and wrapped on first use); plaintext is never stored.
///
/// Threads: as the Storage it is built on (each call is one unit of work, serialised with the
/// others).
class Dossiers {
 public:
  explicit Dossiers(Storage& storage, DossierOptions options = {});

  /// Adds a first-version fragment owned by `partner_id`, written by `worker_id`, in one
  /// transaction. Preconditions checked: category and field names are names ([a-z0-9-_.],
  /// 1..64), 1..kMaxFieldsPerFragment distinct fields, each at most crypto::kMaxFieldPlaintext.
  /// Errors: invalid_argument; not_found (no such client, or the partner has no care
  /// relationship with it); not_permitted (partner revoked);
  /// identifying_category_on_anonymous (nothing is written).
  [[nodiscard]] Result<FragmentMeta>
  add_fragment(const ClientId& client, std::string_view partner_id, std::string_view worker_id,
               std::string_view category, std::span<const FieldInput> fields);
  /// Writes a new version of `previous` (same client and category) with `fields`; the previous
  /// version stops being current. Only the owning partner may supersede. Errors: not_found,
  /// not_permitted (another partner's fragment), conflict (already superseded), invalid_argument.
  [[nodiscard]] Result<FragmentMeta> supersede(const FragmentId& previous,
                                               std::string_view partner_id,
                                               std::string_view worker_id,
                                               std::span<const FieldInput> fields);
  /// Bulk import path (one transaction, prepared statements): as add_fragment for each, without
  /// relationship checks (operator import). All or nothing.
  [[nodiscard]] Result<std::vector<FragmentId>>
  add_fragments_bulk(std::span<const NewFragment> fragments);

  /// Metadata of the client's current fragments (oldest first). Never opens a field.
  [[nodiscard]] Result<std::vector<FragmentMeta>> list_current(const ClientId& client) const;
  /// As list_current, each fragment with its fields still sealed (as stored), from one snapshot:
  /// the decide-then-open read decides on these and opens exactly them (open_fragments), so what
  /// is opened is what was decided on and recorded, with one pass over the rows.
  [[nodiscard]] Result<std::vector<SealedFragment>>
  list_current_sealed(const ClientId& client) const;
  /// Opens fragments from list_current_sealed(client), in the order given, for
  /// `requesting_partner`, which must (still) have a care relationship with the client, else
  /// not_found (the client may have been erased since the listing). Errors as read_dossier.
  [[nodiscard]] Result<std::vector<DossierEntry>>
  open_fragments(const ClientId& client, std::string_view requesting_partner,
                 std::span<const SealedFragment* const> fragments) const;
  /// Metadata of one fragment version (current or superseded). Errors: not_found.
  [[nodiscard]] Result<FragmentMeta> find(const FragmentId& fragment) const;

  /// The dossier read. For `client` as seen by `requesting_partner` (which must have a care
  /// relationship, else not_found), returns exactly the current fragments for which `permit`
  /// answers true (and, when given, of `category`), oldest first, each with its fields opened
  /// and its provenance. Fragments not permitted are skipped before any key is fetched or field
  /// read: the result carries nothing about them (not a count, a gap or an order change).
  /// A permitted fragment whose data key is gone is returned with no fields and
  /// `key_unavailable` set; the others open as usual. Errors: not_found, crypto_failure (a
  /// permitted field did not open under its key: damage; no partial result is returned).
  [[nodiscard]] Result<std::vector<DossierEntry>>
  read_dossier(const ClientId& client, std::string_view requesting_partner,
               const FragmentPermit& permit,
               std::optional<std::string_view> category = std::nullopt) const;

 private:
  Storage& storage_;
  DossierOptions options_;
};

}  // namespace sluis::domain
