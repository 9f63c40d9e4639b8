// A QR code encoder (ISO/IEC 18004:2015: byte mode, error correction level M, versions 1 to 10)
// and its rendering as SVG, for the card a low-threshold service prints at the desk.
#pragma once

#include "sluis/console/template.hpp"

#include <boost/system/result.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluis::console {

inline constexpr int kQrMinVersion = 1;
/// Version 10 at level M holds 213 bytes: a card code (35) and the console's URL with room.
inline constexpr int kQrMaxVersion = 10;

/// A QR symbol: `size` × `size` modules (17 + 4 × version), row-major, true = dark. The matrix
/// encodes whatever was given (for a card: its secret), so it is wiped when destroyed; move-only.
class QrCode {
 public:
  QrCode(const QrCode&) = delete;
  QrCode& operator=(const QrCode&) = delete;
  QrCode(QrCode&&) noexcept = default;
  QrCode& operator=(QrCode&&) noexcept = default;
  ~QrCode();

  [[nodiscard]] int version() const noexcept { return version_; }
  /// The data mask chosen (0..7): the one with the lowest penalty score (ISO 18004 §7.8.3).
  [[nodiscard]] int mask() const noexcept { return mask_; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  /// The module at column x, row y (both < size()).
  [[nodiscard]] bool dark(std::size_t x, std::size_t y) const noexcept {
    return modules_[y * size_ + x] != 0;
  }

 private:
  friend boost::system::result<QrCode> encode_qr(std::string_view bytes, int min_version);
  QrCode(int version, int mask, std::size_t size, std::vector<std::uint8_t> modules)
      : version_(version), mask_(mask), size_(size), modules_(std::move(modules)) {}
  int version_ = 0;
  int mask_ = 0;
  std::size_t size_ = 0;
  std::vector<std::uint8_t> modules_;
};

/// Encodes `bytes` in byte mode (ISO 18004 §7.4.5: 8-bit bytes, here UTF-8 text as it is) at
/// error correction level M, in the smallest version from `min_version` up that holds it;
/// tries all eight masks and keeps the lowest penalty (the first on a tie), so equal input gives
/// an equal symbol. Errors: std::errc::message_size (over the capacity of version 10-M, 213
/// bytes), std::errc::invalid_argument (min_version outside 1..10). Thread-safe.
[[nodiscard]] boost::system::result<QrCode> encode_qr(std::string_view bytes, int min_version = 1);

/// The symbol as an SVG image fragment: a white square with the four-module quiet zone, one
/// <path> of the dark modules (fill="#000000", 21:1 on white), crispEdges, `role="img"`
/// labelled by a <title> holding `title` (escaped; never put the encoded text itself there)
/// whose element id is `id` ([a-z][a-z0-9-]{0,31}, unique on the page).
/// `module_mm` > 0 sets width and height in millimetres for print (e.g. 0.5 mm per module),
/// else the image scales to its container. Rendered by the template engine: no inline style.
/// Errors: std::errc::invalid_argument (a bad id, or a title that is not UTF-8).
[[nodiscard]] boost::system::result<Html> render_qr_svg(const QrCode& qr, std::string_view id,
                                                        std::string_view title,
                                                        double module_mm = 0.0);

/// The Reed–Solomon error-correction codewords of `data` (ISO 18004 §7.5.2: GF(256) with the
/// polynomial x^8 + x^4 + x^3 + x^2 + 1, generator roots α^0..α^(n-1)). Exposed for tests.
[[nodiscard]] std::vector<std::uint8_t> qr_error_correction(std::span<const std::uint8_t> data,
                                                            std::size_t ec_codewords);

/// The 15 format bits for level M and `mask` (BCH(15,5), XOR 101010000010010), and the 18
/// version bits for versions 7 and up (BCH(18,6)). Exposed for tests.
[[nodiscard]] std::uint32_t qr_format_bits(int mask) noexcept;
[[nodiscard]] std::uint32_t qr_version_bits(int version) noexcept;

}  // namespace sluis::console
