// The stored form of a fragment's sealed fields (see sealed_fields.hpp).
#include "sluis/store/sealed_fields.hpp"

#include "sluis/crypto/field.hpp"

#include <cassert>

namespace sluis::store {

namespace {
constexpr std::size_t kMaxNameLength = 64;
}  // namespace

std::vector<std::uint8_t> sealed_fields_header(std::size_t count) {
  assert(count >= 1 && count <= kMaxFieldsPerFragment);
  std::vector<std::uint8_t> blob;
  blob.reserve(2 + count * 160);
  blob.push_back(kSealedFieldsFormat);
  blob.push_back(static_cast<std::uint8_t>(count));
  return blob;
}

void append_sealed_field(std::vector<std::uint8_t>& blob, std::string_view name,
                         std::span<const std::uint8_t> sealed) {
  assert(!name.empty() && name.size() <= kMaxNameLength);
  blob.push_back(static_cast<std::uint8_t>(name.size()));
  blob.insert(blob.end(), name.begin(), name.end());
  const auto n = static_cast<std::uint32_t>(sealed.size());
  for (int shift = 0; shift < 32; shift += 8)
    blob.push_back(static_cast<std::uint8_t>(n >> shift));
  blob.insert(blob.end(), sealed.begin(), sealed.end());
}

Result<void> decode_sealed_fields(std::span<const std::uint8_t> blob,
                                  std::vector<SealedFieldView>& out) {
  const auto damaged = make_error_code(Errc::storage_failure);
  out.clear();
  if (blob.size() < 2 || blob[0] != kSealedFieldsFormat) return damaged;
  const std::size_t count = blob[1];
  if (count == 0 || count > kMaxFieldsPerFragment) return damaged;
  std::size_t at = 2;
  for (std::size_t n = 0; n < count; ++n) {
    if (at >= blob.size()) return damaged;
    const std::size_t name_size = blob[at++];
    if (name_size == 0 || name_size > kMaxNameLength || blob.size() - at < name_size + 4) {
      return damaged;
    }
    const std::string_view name(reinterpret_cast<const char*>(blob.data() + at), name_size);
    at += name_size;
    std::size_t sealed_size = 0;
    for (int b = 0; b < 4; ++b)
      sealed_size |= std::size_t{blob[at + static_cast<std::size_t>(b)]} << (8 * b);
    at += 4;
    if (sealed_size > crypto::kMaxFieldPlaintext + 64 || blob.size() - at < sealed_size) {
      return damaged;
    }
    out.push_back({name, blob.subspan(at, sealed_size)});
    at += sealed_size;
  }
  if (at != blob.size()) return damaged;
  return {};
}

}  // namespace sluis::store
