// The QR encoder, checked by decoding: a reader written here from ISO/IEC 18004 finds the
// finders, timing, format and version information, unmasks, reads the codewords back, checks
// every Reed-Solomon block by its syndromes and recovers the text. The same reader decodes
// libqrencode's symbols (test tooling only) for the same text and version: both must give the
// same codewords. Plus known vectors (ISO 18004 Annex I's RS example, format and version bits).
#include "sluis/console/qr.hpp"

#include <catch2/catch.hpp>

#include <qrencode.h>

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

using namespace sluis::console;

namespace {

// A symbol as a plain matrix, from our encoder or from libqrencode.
struct Symbol {
  int n = 0;
  std::vector<bool> dark;  // row-major
  [[nodiscard]] bool at(int x, int y) const { return dark[static_cast<std::size_t>(y * n + x)]; }
};

Symbol from_ours(const QrCode& q) {
  Symbol s;
  s.n = static_cast<int>(q.size());
  for (std::size_t y = 0; y < q.size(); ++y)
    for (std::size_t x = 0; x < q.size(); ++x)
      s.dark.push_back(q.dark(x, y));
  return s;
}

Symbol from_libqrencode(const std::string& text, int version) {
  std::unique_ptr<QRcode, decltype(&QRcode_free)> q(
      QRcode_encodeString8bit(text.c_str(), version, QR_ECLEVEL_M), &QRcode_free);
  REQUIRE(q != nullptr);
  Symbol s;
  s.n = q->width;
  for (int i = 0; i < q->width * q->width; ++i)
    s.dark.push_back((q->data[i] & 1U) != 0);
  return s;
}

// --- The reader ------------------------------------------------------------------------------

// ISO 18004 Table 9, level M, versions 1-10 (written out again here, from the standard).
struct Blocks {
  int ec, b1, d1, b2, d2;
};
constexpr std::array<Blocks, 11> kM = {{{0, 0, 0, 0, 0},
                                        {10, 1, 16, 0, 0},
                                        {16, 1, 28, 0, 0},
                                        {26, 1, 44, 0, 0},
                                        {18, 2, 32, 0, 0},
                                        {24, 2, 43, 0, 0},
                                        {16, 4, 27, 0, 0},
                                        {18, 4, 31, 0, 0},
                                        {22, 2, 38, 2, 39},
                                        {22, 3, 36, 2, 37},
                                        {26, 4, 43, 1, 44}}};
// Annex E alignment centres.
const std::vector<std::vector<int>> kCentres = {{},          {},          {6, 18},    {6, 22},
                                                {6, 26},     {6, 30},     {6, 34},    {6, 22, 38},
                                                {6, 24, 42}, {6, 26, 46}, {6, 28, 50}};

std::uint8_t gf_mul(std::uint8_t a, std::uint8_t b) {
  // Log-free shift-and-add, the other way round from the encoder's (LSB first).
  std::uint8_t r = 0;
  while (b != 0) {
    if ((b & 1U) != 0) r ^= a;
    a = static_cast<std::uint8_t>((a << 1U) ^ (((a & 0x80U) != 0) ? 0x1DU : 0U));
    b >>= 1U;
  }
  return r;
}

// True when every syndrome S_i = c(α^i), i < ec, is zero: the block is a codeword.
bool rs_block_ok(const std::vector<std::uint8_t>& block, int ec) {
  std::uint8_t alpha_i = 1;
  for (int i = 0; i < ec; ++i) {
    std::uint8_t s = 0;
    for (const auto c : block)
      s = static_cast<std::uint8_t>(gf_mul(s, alpha_i) ^ c);  // Horner
    if (s != 0) return false;
    alpha_i = gf_mul(alpha_i, 2);
  }
  return true;
}

int popcount(std::uint32_t v) {
  int c = 0;
  for (; v != 0; v &= v - 1)
    ++c;
  return c;
}

struct Decoded {
  int version = 0;
  int level_bits = -1;  // 0 = M
  int mask = -1;
  std::vector<std::uint8_t> codewords;  // as placed (interleaved)
  std::string text;
  bool rs_ok = false;
};

std::optional<Decoded> decode(const Symbol& s) {
  Decoded out;
  if ((s.n - 17) % 4 != 0) return std::nullopt;
  out.version = (s.n - 17) / 4;
  if (out.version < 1 || out.version > 10) return std::nullopt;
  const int n = s.n;

  // Finder patterns and timing must be where the standard puts them.
  for (const auto& [cx, cy] : std::vector<std::pair<int, int>>{{3, 3}, {n - 4, 3}, {3, n - 4}}) {
    for (int dy = -3; dy <= 3; ++dy)
      for (int dx = -3; dx <= 3; ++dx) {
        const int d = std::max(std::abs(dx), std::abs(dy));
        if (s.at(cx + dx, cy + dy) != (d != 2)) return std::nullopt;
      }
  }
  for (int i = 8; i < n - 8; ++i) {
    if (s.at(i, 6) != (i % 2 == 0) || s.at(6, i) != (i % 2 == 0)) return std::nullopt;
  }
  if (!s.at(8, n - 8)) return std::nullopt;  // the dark module

  // Format information, both copies (Figure 25), bit 14 first as read.
  std::uint32_t f1 = 0, f2 = 0;
  const std::vector<std::pair<int, int>> copy1 = {{0, 8}, {1, 8}, {2, 8}, {3, 8}, {4, 8},
                                                  {5, 8}, {7, 8}, {8, 8}, {8, 7}, {8, 5},
                                                  {8, 4}, {8, 3}, {8, 2}, {8, 1}, {8, 0}};
  for (const auto& [x, y] : copy1)
    f1 = (f1 << 1U) | (s.at(x, y) ? 1U : 0U);
  for (int i = 0; i < 7; ++i)
    f2 = (f2 << 1U) | (s.at(8, n - 1 - i) ? 1U : 0U);
  for (int i = 0; i < 8; ++i)
    f2 = (f2 << 1U) | (s.at(n - 8 + i, 8) ? 1U : 0U);
  if (f1 != f2) return std::nullopt;
  // A valid BCH(15,5) word after unmasking: its remainder by 0x537 is zero.
  std::uint32_t word = f1 ^ 0x5412U;
  std::uint32_t rem = word;
  for (int bit = 14; bit >= 10; --bit)
    if (((rem >> static_cast<unsigned>(bit)) & 1U) != 0)
      rem ^= 0x537U << static_cast<unsigned>(bit - 10);
  if (rem != 0) return std::nullopt;
  out.level_bits = static_cast<int>((word >> 13U) & 3U);
  out.mask = static_cast<int>((word >> 10U) & 7U);

  // Version information (versions 7+), both blocks, must be the BCH(18,6) word of the version.
  if (out.version >= 7) {
    std::uint32_t v1 = 0, v2 = 0;
    for (int i = 17; i >= 0; --i) {
      v1 = (v1 << 1U) | (s.at(n - 11 + i % 3, i / 3) ? 1U : 0U);
      v2 = (v2 << 1U) | (s.at(i / 3, n - 11 + i % 3) ? 1U : 0U);
    }
    if (v1 != v2 || static_cast<int>(v1 >> 12U) != out.version) return std::nullopt;
    std::uint32_t r = v1;
    for (int bit = 17; bit >= 12; --bit)
      if (((r >> static_cast<unsigned>(bit)) & 1U) != 0)
        r ^= 0x1F25U << static_cast<unsigned>(bit - 12);
    if (r != 0) return std::nullopt;
  }

  // Which modules are function patterns.
  std::vector<bool> fn(static_cast<std::size_t>(n * n), false);
  auto mark = [&](int x, int y) {
    if (x >= 0 && y >= 0 && x < n && y < n) fn[static_cast<std::size_t>(y * n + x)] = true;
  };
  for (int y = 0; y < 9; ++y)
    for (int x = 0; x < 9; ++x) {
      mark(x, y);                     // top-left finder, separator, both format strips
      if (x < 8) mark(n - 1 - x, y);  // top-right finder, separator, format in row 8
      if (y < 8) mark(x, n - 1 - y);  // bottom-left, format in column 8, the dark module
    }
  for (int i = 0; i < n; ++i) {
    mark(i, 6);
    mark(6, i);
  }
  const auto& c = kCentres[static_cast<std::size_t>(out.version)];
  for (const int ay : c)
    for (const int ax : c) {
      if ((ax == 6 && ay == 6) || (ax == 6 && ay == c.back()) || (ax == c.back() && ay == 6))
        continue;
      for (int dy = -2; dy <= 2; ++dy)
        for (int dx = -2; dx <= 2; ++dx)
          mark(ax + dx, ay + dy);
    }
  if (out.version >= 7) {
    for (int i = 0; i < 18; ++i) {
      mark(n - 11 + i % 3, i / 3);
      mark(i / 3, n - 11 + i % 3);
    }
  }

  // Read the bits in placement order, unmasking (Table 10: i = row, j = column).
  auto masked = [&](int x, int y) {
    const int i = y, j = x;
    switch (out.mask) {
    case 0: return (i + j) % 2 == 0;
    case 1: return i % 2 == 0;
    case 2: return j % 3 == 0;
    case 3: return (i + j) % 3 == 0;
    case 4: return (i / 2 + j / 3) % 2 == 0;
    case 5: return (i * j) % 2 + (i * j) % 3 == 0;
    case 6: return ((i * j) % 2 + (i * j) % 3) % 2 == 0;
    default: return ((i * j) % 3 + (i + j) % 2) % 2 == 0;
    }
  };
  std::vector<int> bits;
  bool up = true;
  for (int col = n - 1; col > 0; col -= 2) {
    if (col == 6) col = 5;
    for (int k = 0; k < n; ++k) {
      const int y = up ? n - 1 - k : k;
      for (int x = col; x >= col - 1; --x) {
        if (fn[static_cast<std::size_t>(y * n + x)]) continue;
        bits.push_back((s.at(x, y) != masked(x, y)) ? 1 : 0);
      }
    }
    up = !up;
  }
  const Blocks& b = kM[static_cast<std::size_t>(out.version)];
  const int total = b.b1 * (b.d1 + b.ec) + b.b2 * (b.d2 + b.ec);
  if (static_cast<int>(bits.size()) / 8 != total) return std::nullopt;
  for (int i = 0; i < total; ++i) {
    int v = 0;
    for (int k = 0; k < 8; ++k)
      v = (v << 1) | bits[static_cast<std::size_t>(i * 8 + k)];
    out.codewords.push_back(static_cast<std::uint8_t>(v));
  }

  // De-interleave into blocks (data then EC), check each, join the data.
  const int nblocks = b.b1 + b.b2;
  std::vector<std::vector<std::uint8_t>> blocks(static_cast<std::size_t>(nblocks));
  std::size_t k = 0;
  for (int i = 0; i < std::max(b.d1, b.d2); ++i)
    for (int blk = 0; blk < nblocks; ++blk)
      if (i < (blk < b.b1 ? b.d1 : b.d2))
        blocks[static_cast<std::size_t>(blk)].push_back(out.codewords[k++]);
  for (int i = 0; i < b.ec; ++i)
    for (int blk = 0; blk < nblocks; ++blk)
      blocks[static_cast<std::size_t>(blk)].push_back(out.codewords[k++]);
  out.rs_ok = true;
  std::vector<std::uint8_t> data;
  for (int blk = 0; blk < nblocks; ++blk) {
    auto& bl = blocks[static_cast<std::size_t>(blk)];
    out.rs_ok = out.rs_ok && rs_block_ok(bl, b.ec);
    data.insert(data.end(), bl.begin(), bl.end() - b.ec);
  }
  // Byte mode: 0100, the count, the bytes.
  std::size_t pos = 0;
  auto take = [&](int nbits) {
    int v = 0;
    for (int i = 0; i < nbits; ++i, ++pos)
      v = (v << 1) | ((data[pos / 8] >> (7 - pos % 8)) & 1);
    return v;
  };
  if (take(4) != 0b0100) return std::nullopt;
  const int count = take(out.version <= 9 ? 8 : 16);
  if (static_cast<std::size_t>(count) * 8 + pos > data.size() * 8) return std::nullopt;
  for (int i = 0; i < count; ++i)
    out.text.push_back(static_cast<char>(take(8)));
  return out;
}

}  // namespace

TEST_CASE("qr: Reed-Solomon codewords match ISO 18004 Annex I", "[console][qr]") {
  // "01234567" in numeric mode, version 1-M: the 16 data codewords and their 10 EC codewords.
  const std::vector<std::uint8_t> data = {0x10, 0x20, 0x0C, 0x56, 0x61, 0x80, 0xEC, 0x11,
                                          0xEC, 0x11, 0xEC, 0x11, 0xEC, 0x11, 0xEC, 0x11};
  const std::vector<std::uint8_t> ec = {0xA5, 0x24, 0xD4, 0xC1, 0xED, 0x36, 0xC7, 0x87, 0x2C, 0x55};
  CHECK(qr_error_correction(data, 10) == ec);
  auto codeword = data;
  codeword.insert(codeword.end(), ec.begin(), ec.end());
  CHECK(rs_block_ok(codeword, 10));
  codeword[3] ^= 0x01U;
  CHECK_FALSE(rs_block_ok(codeword, 10));
}

TEST_CASE("qr: format and version information are the standard's BCH words", "[console][qr]") {
  // ISO 18004 Annex C (level M, masks 0-7) and Annex D (versions 7-10).
  const std::array<std::uint32_t, 8> format_m = {0x5412, 0x5125, 0x5E7C, 0x5B4B,
                                                 0x45F9, 0x40CE, 0x4F97, 0x4AA0};
  for (int mask = 0; mask < 8; ++mask)
    CHECK(qr_format_bits(mask) == format_m[static_cast<std::size_t>(mask)]);
  CHECK(qr_version_bits(7) == 0x07C94);
  CHECK(qr_version_bits(8) == 0x085BC);
  CHECK(qr_version_bits(9) == 0x09A99);
  CHECK(qr_version_bits(10) == 0x0A4D3);
  // Any two format words differ in at least 7 bits (BCH(15,5) has distance 7).
  for (int a = 0; a < 8; ++a)
    for (int b = a + 1; b < 8; ++b)
      CHECK(popcount(qr_format_bits(a) ^ qr_format_bits(b)) >= 7);
}

TEST_CASE("qr: a card code and the console's URL decode back, with valid structure",
          "[console][qr]") {
  const std::string code = "8RJ-5WX-FNS-R6Q-KAT-14E-M3A-4NK-62D";
  for (const std::string& text :
       {code, "https://console.example.org/guest#" + code,
        "https://sluis-console.ocmw-brussel.example.be/low-threshold/guests/register#" + code}) {
    auto q = encode_qr(text);
    REQUIRE(q.has_value());
    const auto d = decode(from_ours(*q));
    REQUIRE(d);
    CHECK(d->version == q->version());
    CHECK(d->level_bits == 0);  // M
    CHECK(d->mask == q->mask());
    CHECK(d->rs_ok);
    CHECK(d->text == text);
  }
  // The smallest version that holds it: 35 bytes need version 3 at level M (v2-M holds 26).
  CHECK(encode_qr(code)->version() == 3);
  CHECK(encode_qr("https://console.example.org/guest#" + code)->version() == 5);
}

TEST_CASE("qr: symbols agree codeword for codeword with libqrencode's, versions 1 to 10",
          "[console][qr]") {
  // Byte counts at and around each version's capacity (v1-M: 14 bytes ... v10-M: 213).
  const std::array<std::size_t, 11> capacity = {0, 14, 26, 42, 62, 84, 106, 122, 152, 180, 213};
  for (int v = 1; v <= 10; ++v) {
    for (const std::size_t len :
         {capacity[static_cast<std::size_t>(v)], capacity[static_cast<std::size_t>(v - 1)] + 1}) {
      std::string text;
      for (std::size_t i = 0; i < len; ++i)
        text.push_back(static_cast<char>('a' + (i * 7 + static_cast<std::size_t>(v)) % 26));
      auto q = encode_qr(text);
      REQUIRE(q.has_value());
      INFO("version " << v << ", " << len << " bytes");
      CHECK(q->version() == v);
      const auto ours = decode(from_ours(*q));
      const auto theirs = decode(from_libqrencode(text, v));
      REQUIRE(ours);
      REQUIRE(theirs);
      CHECK(ours->rs_ok);
      CHECK(theirs->rs_ok);
      CHECK(ours->text == text);
      CHECK(theirs->text == text);
      CHECK(ours->codewords == theirs->codewords);
    }
  }
  // Bytes beyond ASCII are bytes: UTF-8 text comes back byte for byte.
  const std::string utf8 = "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x8F\xA0";
  const auto d = decode(from_ours(*encode_qr(utf8)));
  REQUIRE(d);
  CHECK(d->text == utf8);
  CHECK(d->codewords == decode(from_libqrencode(utf8, encode_qr(utf8)->version()))->codewords);
}

TEST_CASE("qr: limits, minimum versions and determinism", "[console][qr]") {
  CHECK(encode_qr(std::string(213, 'x')).has_value());
  const auto too_long = encode_qr(std::string(214, 'x'));
  REQUIRE_FALSE(too_long.has_value());
  CHECK(too_long.error() == std::errc::message_size);
  CHECK(encode_qr("", 1)->version() == 1);
  CHECK(encode_qr("abc", 7)->version() == 7);
  CHECK_FALSE(encode_qr("abc", 0).has_value());
  CHECK_FALSE(encode_qr("abc", 11).has_value());
  const auto a = from_ours(*encode_qr("https://console.example.org/guest#000-838-R5S"));
  const auto b = from_ours(*encode_qr("https://console.example.org/guest#000-838-R5S"));
  CHECK(a.dark == b.dark);
}

TEST_CASE("qr: the SVG has the quiet zone, one path, an escaped title and no inline style",
          "[console][qr]") {
  auto q = encode_qr("000-838-R5S-YPQ-DR2-9G2-6WP-2R5-RM1").value();
  const auto svg = render_qr_svg(q, "card-qr", "QR code of the card <script>\"", 0.5);
  REQUIRE(svg.has_value());
  const auto& s = svg->str();
  // Version 3: 29 modules + 2 × 4 quiet = 37; 37 × 0.5 mm = 18.5 mm.
  CHECK(s.find("viewBox=\"0 0 37 37\" width=\"18.5mm\" height=\"18.5mm\"") != std::string::npos);
  CHECK(s.find("<title id=\"card-qr\">QR code of the card &lt;script&gt;&quot;</title>") !=
        std::string::npos);
  CHECK(s.find("aria-labelledby=\"card-qr\"") != std::string::npos);
  CHECK(s.find("style") == std::string::npos);
  CHECK(s.find("<script") == std::string::npos);
  CHECK(s.find("RM1") == std::string::npos);  // the encoded code is not in the markup as text
  // The top-left finder's first row: 7 dark modules starting after the quiet zone.
  CHECK(s.find("d=\"M4 4h7v1h-7z") != std::string::npos);
  std::size_t paths = 0;
  for (auto p = s.find("<path"); p != std::string::npos; p = s.find("<path", p + 1))
    ++paths;
  CHECK(paths == 1);
  const auto scalable = render_qr_svg(q, "card-qr", "QR").value();
  CHECK(scalable.str().find("width=\"") == scalable.str().find("width=\"37\""));  // only the rect
  CHECK_FALSE(render_qr_svg(q, "Card QR", "x").has_value());
  CHECK_FALSE(render_qr_svg(q, "card-qr", "\xC3\x28").has_value());
}
