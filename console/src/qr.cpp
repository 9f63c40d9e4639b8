// QR code encoder after ISO/IEC 18004:2015 (byte mode, level M, versions 1-10) and its SVG.
#include "sluis/console/qr.hpp"

#include "sluis/console/catalogue.hpp"
#include "sluis/console/utf8.hpp"
#include "sluis/crypto/secret.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <limits>

namespace sluis::console {
namespace {

// ---------------------------------------------------------------------------------------------
// Capacity (ISO 18004 Table 9, level M). Per version: EC codewords per block, then the number of
// blocks and data codewords per block of the two groups. The total is checked below against the
// module count of each version, so a wrong row cannot compile.
struct BlockLayout {
  int ec_per_block;
  int blocks1, data1;
  int blocks2, data2;
  [[nodiscard]] constexpr int data_codewords() const { return blocks1 * data1 + blocks2 * data2; }
  [[nodiscard]] constexpr int total_codewords() const {
    return data_codewords() + (blocks1 + blocks2) * ec_per_block;
  }
};
constexpr std::array<BlockLayout, kQrMaxVersion + 1> kLevelM = {{
    {0, 0, 0, 0, 0},     // no version 0
    {10, 1, 16, 0, 0},   // 1
    {16, 1, 28, 0, 0},   // 2
    {26, 1, 44, 0, 0},   // 3
    {18, 2, 32, 0, 0},   // 4
    {24, 2, 43, 0, 0},   // 5
    {16, 4, 27, 0, 0},   // 6
    {18, 4, 31, 0, 0},   // 7
    {22, 2, 38, 2, 39},  // 8
    {22, 3, 36, 2, 37},  // 9
    {26, 4, 43, 1, 44},  // 10
}};

// Alignment pattern centres (ISO 18004 Annex E) for versions 2-10.
constexpr std::array<std::array<int, 3>, kQrMaxVersion + 1> kAlignment = {{
    {0, 0, 0},
    {0, 0, 0},
    {6, 18, 0},
    {6, 22, 0},
    {6, 26, 0},
    {6, 30, 0},
    {6, 34, 0},
    {6, 22, 38},
    {6, 24, 42},
    {6, 26, 46},
    {6, 28, 50},
}};

constexpr int side(int version) {
  return 17 + 4 * version;
}

// Modules left for data and EC after every function pattern (finders with separators, timing,
// alignment, format and version information, the dark module), divided into 8-bit codewords.
constexpr int raw_codewords(int version) {
  const int n = side(version);
  int modules = n * n;
  modules -= 3 * 64;        // finders with separators
  modules -= 2 * (n - 16);  // timing patterns between them
  modules -= 31;            // format information (2 × 15) and the dark module
  const int a = version == 1 ? 0 : version / 7 + 2;       // alignment centres per axis
  if (a > 0) modules -= 25 * (a * a - 3) - 10 * (a - 2);  // minus overlaps with timing
  if (version >= 7) modules -= 36;                        // version information (2 × 18)
  return modules / 8;
}
constexpr bool layout_matches_modules() {
  for (int v = 1; v <= kQrMaxVersion; ++v) {
    if (kLevelM[static_cast<std::size_t>(v)].total_codewords() != raw_codewords(v)) return false;
  }
  return true;
}
static_assert(layout_matches_modules(), "a row of the level-M table does not fit its version");
static_assert(kLevelM[10].data_codewords() == 216);  // 213 bytes + mode, count and terminator

// ---------------------------------------------------------------------------------------------
// GF(256) with x^8 + x^4 + x^3 + x^2 + 1 (0x11D), α = 2.
std::uint8_t gf_multiply(std::uint8_t a, std::uint8_t b) noexcept {
  unsigned r = 0;
  for (int i = 7; i >= 0; --i) {
    r = (r << 1U) ^ ((r >> 7U) * 0x11DU);
    r ^= ((static_cast<unsigned>(b) >> static_cast<unsigned>(i)) & 1U) * a;
  }
  return static_cast<std::uint8_t>(r);
}

// The generator polynomial ∏ (x − α^i), i < degree, highest coefficient (1) omitted.
std::vector<std::uint8_t> generator(std::size_t degree) {
  std::vector<std::uint8_t> g(degree, 0);
  g[degree - 1] = 1;
  std::uint8_t root = 1;
  for (std::size_t i = 0; i < degree; ++i) {
    for (std::size_t j = 0; j < degree; ++j) {
      g[j] = gf_multiply(g[j], root);
      if (j + 1 < degree) g[j] ^= g[j + 1];
    }
    root = gf_multiply(root, 2);
  }
  return g;
}

// ---------------------------------------------------------------------------------------------
// Bits.
class BitBuffer {
 public:
  void put(std::uint32_t value, int bits) {
    for (int i = bits - 1; i >= 0; --i)
      bits_.push_back(static_cast<std::uint8_t>((value >> static_cast<unsigned>(i)) & 1U));
  }
  [[nodiscard]] std::size_t size() const noexcept { return bits_.size(); }
  [[nodiscard]] std::vector<std::uint8_t> bytes() const {
    std::vector<std::uint8_t> out(bits_.size() / 8, 0);
    for (std::size_t i = 0; i < out.size() * 8; ++i)
      out[i / 8] = static_cast<std::uint8_t>(out[i / 8] | (bits_[i] << (7 - i % 8)));
    return out;
  }
  ~BitBuffer() { crypto::wipe(std::span(bits_)); }

 private:
  std::vector<std::uint8_t> bits_;
};

// ISO 18004 §7.4: mode 0100, the count (8 bits up to version 9, 16 from 10), the bytes, up to
// four terminator bits, zero bits to a byte boundary, then 0xEC 0x11 alternately.
std::vector<std::uint8_t> data_codewords(std::string_view text, int version) {
  const int capacity = kLevelM[static_cast<std::size_t>(version)].data_codewords() * 8;
  BitBuffer b;
  b.put(0b0100, 4);
  b.put(static_cast<std::uint32_t>(text.size()), version <= 9 ? 8 : 16);
  for (const char c : text)
    b.put(static_cast<unsigned char>(c), 8);
  b.put(0, std::min(4, capacity - static_cast<int>(b.size())));
  b.put(0, static_cast<int>((8 - b.size() % 8) % 8));
  auto out = b.bytes();
  for (std::uint8_t pad = 0xEC; out.size() < static_cast<std::size_t>(capacity / 8);
       pad = pad == 0xEC ? 0x11 : 0xEC) {
    out.push_back(pad);
  }
  return out;
}

int bits_needed(std::size_t length, int version) {
  return 4 + (version <= 9 ? 8 : 16) + 8 * static_cast<int>(length);
}

// Splits into blocks, adds each block's EC codewords, interleaves (ISO 18004 §7.6).
std::vector<std::uint8_t> final_codewords(const std::vector<std::uint8_t>& data, int version) {
  const BlockLayout& l = kLevelM[static_cast<std::size_t>(version)];
  const auto ec = static_cast<std::size_t>(l.ec_per_block);
  std::vector<std::vector<std::uint8_t>> blocks, ecs;
  std::size_t offset = 0;
  for (int b = 0; b < l.blocks1 + l.blocks2; ++b) {
    const auto n = static_cast<std::size_t>(b < l.blocks1 ? l.data1 : l.data2);
    blocks.emplace_back(data.begin() + static_cast<std::ptrdiff_t>(offset),
                        data.begin() + static_cast<std::ptrdiff_t>(offset + n));
    ecs.push_back(qr_error_correction(blocks.back(), ec));
    offset += n;
  }
  std::vector<std::uint8_t> out;
  const auto longest = static_cast<std::size_t>(std::max(l.data1, l.data2));
  for (std::size_t i = 0; i < longest; ++i) {
    for (const auto& blk : blocks)
      if (i < blk.size()) out.push_back(blk[i]);
  }
  for (std::size_t i = 0; i < ec; ++i) {
    for (const auto& e : ecs)
      out.push_back(e[i]);
  }
  for (auto& blk : blocks)
    crypto::wipe(std::span(blk));
  return out;
}

// ---------------------------------------------------------------------------------------------
// The matrix.
class Matrix {
 public:
  explicit Matrix(int version)
      : version_(version), n_(side(version)), dark_(static_cast<std::size_t>(n_ * n_), 0),
        function_(static_cast<std::size_t>(n_ * n_), 0) {}
  ~Matrix() { crypto::wipe(std::span(dark_)); }
  Matrix(const Matrix&) = default;
  Matrix& operator=(const Matrix&) = default;

  [[nodiscard]] int n() const noexcept { return n_; }
  [[nodiscard]] bool dark(int x, int y) const { return dark_[index(x, y)] != 0; }
  [[nodiscard]] bool is_function(int x, int y) const { return function_[index(x, y)] != 0; }
  void set_function(int x, int y, bool d) {
    dark_[index(x, y)] = d ? 1 : 0;
    function_[index(x, y)] = 1;
  }
  void set(int x, int y, bool d) { dark_[index(x, y)] = d ? 1 : 0; }
  void flip(int x, int y) { dark_[index(x, y)] ^= 1U; }
  [[nodiscard]] std::vector<std::uint8_t> take_modules() { return std::move(dark_); }

  void draw_function_patterns() {
    for (int i = 0; i < n_; ++i) {  // timing (row and column 6), alternating from dark
      set_function(6, i, i % 2 == 0);
      set_function(i, 6, i % 2 == 0);
    }
    draw_finder(3, 3);
    draw_finder(n_ - 4, 3);
    draw_finder(3, n_ - 4);
    const auto& centres = kAlignment[static_cast<std::size_t>(version_)];
    const int count = version_ == 1 ? 0 : version_ / 7 + 2;
    for (int i = 0; i < count; ++i) {
      for (int j = 0; j < count; ++j) {
        // Not over the three finders.
        if ((i == 0 && j == 0) || (i == 0 && j == count - 1) || (i == count - 1 && j == 0)) {
          continue;
        }
        draw_alignment(centres[static_cast<std::size_t>(i)], centres[static_cast<std::size_t>(j)]);
      }
    }
    draw_format(0);  // reserves the areas; drawn again with the chosen mask
    draw_version();
  }

  // ISO 18004 §7.9.1, Figure 25: bits 0-7 and 8-14 around the top-left finder, and again split
  // between the top-right and bottom-left ones; the dark module at (8, n - 8).
  void draw_format(int mask) {
    const std::uint32_t bits = qr_format_bits(mask);
    auto bit = [bits](int i) { return ((bits >> static_cast<unsigned>(i)) & 1U) != 0; };
    for (int i = 0; i <= 5; ++i)
      set_function(8, i, bit(i));
    set_function(8, 7, bit(6));
    set_function(8, 8, bit(7));
    set_function(7, 8, bit(8));
    for (int i = 9; i < 15; ++i)
      set_function(14 - i, 8, bit(i));
    for (int i = 0; i < 8; ++i)
      set_function(n_ - 1 - i, 8, bit(i));
    for (int i = 8; i < 15; ++i)
      set_function(8, n_ - 15 + i, bit(i));
    set_function(8, n_ - 8, true);
  }

  // ISO 18004 §7.10, Figure 27: two 6 × 3 blocks beside the top-right and bottom-left finders.
  void draw_version() {
    if (version_ < 7) return;
    const std::uint32_t bits = qr_version_bits(version_);
    for (int i = 0; i < 18; ++i) {
      const bool d = ((bits >> static_cast<unsigned>(i)) & 1U) != 0;
      const int a = n_ - 11 + i % 3;
      const int b = i / 3;
      set_function(a, b, d);
      set_function(b, a, d);
    }
  }

  // ISO 18004 §7.7.3: two-module columns from the right, upwards then downwards, skipping the
  // vertical timing column; within a column pair the right module first.
  void place(const std::vector<std::uint8_t>& codewords) {
    std::size_t i = 0;
    const std::size_t total_bits = codewords.size() * 8;
    for (int right = n_ - 1; right >= 1; right -= 2) {
      if (right == 6) right = 5;
      const bool upward = ((right + 1) & 2) == 0;
      for (int k = 0; k < n_; ++k) {
        const int y = upward ? n_ - 1 - k : k;
        for (int dx = 0; dx < 2; ++dx) {
          const int x = right - dx;
          if (is_function(x, y)) continue;
          if (i < total_bits) {
            set(x, y, ((codewords[i / 8] >> (7 - i % 8)) & 1U) != 0);
            ++i;
          }  // remainder bits stay light (ISO 18004 §7.7.3)
        }
      }
    }
  }

  void apply_mask(int mask) {
    for (int y = 0; y < n_; ++y) {
      for (int x = 0; x < n_; ++x) {
        if (!is_function(x, y) && mask_condition(mask, x, y)) flip(x, y);
      }
    }
  }

  // ISO 18004 §7.8.3, Table 11: N1 = 3, N2 = 3, N3 = 40, N4 = 10.
  [[nodiscard]] long penalty() const {
    long score = 0;
    for (int pass = 0; pass < 2; ++pass) {  // rows, then columns
      for (int a = 0; a < n_; ++a) {
        int run = 0;
        bool colour = false;
        for (int b = 0; b < n_; ++b) {
          const bool d = pass == 0 ? dark(b, a) : dark(a, b);
          if (b == 0 || d != colour) {
            if (run >= 5) score += 3 + (run - 5);
            colour = d;
            run = 1;
          } else {
            ++run;
          }
        }
        if (run >= 5) score += 3 + (run - 5);
        // Finder-like 1:1:3:1:1 with four light modules on one side (outside the symbol is
        // light: the quiet zone).
        for (int b = -4; b < n_; ++b) {
          auto at = [&](int k) {
            if (k < 0 || k >= n_) return false;
            return pass == 0 ? dark(k, a) : dark(a, k);
          };
          static constexpr std::array<bool, 11> kBefore = {false, false, false, false, true, false,
                                                           true,  true,  true,  false, true};
          static constexpr std::array<bool, 11> kAfter = {true, false, true,  true,  true, false,
                                                          true, false, false, false, false};
          bool before = true, after = true;
          for (int k = 0; k < 11; ++k) {
            before = before && at(b + k) == kBefore[static_cast<std::size_t>(k)];
            after = after && at(b + k) == kAfter[static_cast<std::size_t>(k)];
          }
          if (before) score += 40;
          if (after) score += 40;
        }
      }
    }
    for (int y = 0; y + 1 < n_; ++y) {
      for (int x = 0; x + 1 < n_; ++x) {
        const bool d = dark(x, y);
        if (d == dark(x + 1, y) && d == dark(x, y + 1) && d == dark(x + 1, y + 1)) score += 3;
      }
    }
    long dark_count = 0;
    for (const auto m : dark_)
      dark_count += m;
    const long total = static_cast<long>(n_) * n_;
    // 10 points per full 5% that the dark share is away from 50%.
    const long deviation = std::abs(dark_count * 20 - total * 10);
    score += 10 * (deviation / total);
    return score;
  }

  static bool mask_condition(int mask, int x, int y) {
    // ISO 18004 Table 10, with i = row (y) and j = column (x).
    switch (mask) {
    case 0: return (x + y) % 2 == 0;
    case 1: return y % 2 == 0;
    case 2: return x % 3 == 0;
    case 3: return (x + y) % 3 == 0;
    case 4: return (y / 2 + x / 3) % 2 == 0;
    case 5: return x * y % 2 + x * y % 3 == 0;
    case 6: return (x * y % 2 + x * y % 3) % 2 == 0;
    case 7: return ((x + y) % 2 + x * y % 3) % 2 == 0;
    default: return false;
    }
  }

 private:
  [[nodiscard]] std::size_t index(int x, int y) const {
    return static_cast<std::size_t>(y) * static_cast<std::size_t>(n_) + static_cast<std::size_t>(x);
  }
  // A 7 × 7 finder centred at (cx, cy) with its one-module light separator.
  void draw_finder(int cx, int cy) {
    for (int dy = -4; dy <= 4; ++dy) {
      for (int dx = -4; dx <= 4; ++dx) {
        const int x = cx + dx, y = cy + dy;
        if (x < 0 || y < 0 || x >= n_ || y >= n_) continue;
        const int d = std::max(std::abs(dx), std::abs(dy));
        set_function(x, y, d != 2 && d != 4);
      }
    }
  }
  void draw_alignment(int cx, int cy) {
    for (int dy = -2; dy <= 2; ++dy) {
      for (int dx = -2; dx <= 2; ++dx) {
        set_function(cx + dx, cy + dy, std::max(std::abs(dx), std::abs(dy)) != 1);
      }
    }
  }

  int version_;
  int n_;
  std::vector<std::uint8_t> dark_;
  std::vector<std::uint8_t> function_;
};

// The sized and the scalable form differ only in width and height; a section cannot sit inside
// a tag (the engine refuses it), so the start tag is written twice.
constexpr std::string_view kQrTemplate =
    R"({{#sized}}<svg xmlns="http://www.w3.org/2000/svg" class="qr" viewBox="0 0 {{side}} {{side}}" width="{{mm}}mm" height="{{mm}}mm" role="img" aria-labelledby="{{id}}" shape-rendering="crispEdges">
{{/sized}}{{^sized}}<svg xmlns="http://www.w3.org/2000/svg" class="qr" viewBox="0 0 {{side}} {{side}}" role="img" aria-labelledby="{{id}}" shape-rendering="crispEdges">
{{/sized}}<title id="{{id}}">{{title}}</title>
<rect width="{{side}}" height="{{side}}" fill="#ffffff"/>
<path fill="#000000" d="{{path}}"/>
</svg>
)";

const TemplateSet& qr_templates() {
  static const TemplateSet set = TemplateSet::from_sources({{"qr", std::string(kQrTemplate)}});
  return set;
}

const Catalogue& no_strings() {
  static const Catalogue catalogue = Catalogue::from_toml("", "en", "qr");
  return catalogue;
}

}  // namespace

QrCode::~QrCode() {
  crypto::wipe(std::span(modules_));
}

std::vector<std::uint8_t> qr_error_correction(std::span<const std::uint8_t> data,
                                              std::size_t ec_codewords) {
  if (ec_codewords == 0) return {};
  const auto g = generator(ec_codewords);
  // Polynomial division: the remainder of data(x) · x^n by g(x).
  std::vector<std::uint8_t> rem(ec_codewords, 0);
  for (const std::uint8_t b : data) {
    const std::uint8_t factor = b ^ rem[0];
    std::rotate(rem.begin(), rem.begin() + 1, rem.end());
    rem.back() = 0;
    for (std::size_t i = 0; i < ec_codewords; ++i)
      rem[i] ^= gf_multiply(g[i], factor);
  }
  return rem;
}

std::uint32_t qr_format_bits(int mask) noexcept {
  // Level M is 00 (ISO 18004 Table 12); BCH(15,5) with generator x^10+x^8+x^5+x^4+x^2+x+1.
  const auto data = static_cast<std::uint32_t>(mask & 7);
  std::uint32_t rem = data;
  for (int i = 0; i < 10; ++i)
    rem = (rem << 1U) ^ ((rem >> 9U) * 0x537U);
  return ((data << 10U) | (rem & 0x3FFU)) ^ 0x5412U;
}

std::uint32_t qr_version_bits(int version) noexcept {
  // BCH(18,6) with generator x^12+x^11+x^10+x^9+x^8+x^5+x^2+1 (ISO 18004 Annex D).
  const auto v = static_cast<std::uint32_t>(version);
  std::uint32_t rem = v;
  for (int i = 0; i < 12; ++i)
    rem = (rem << 1U) ^ ((rem >> 11U) * 0x1F25U);
  return (v << 12U) | (rem & 0xFFFU);
}

boost::system::result<QrCode> encode_qr(std::string_view bytes, int min_version) {
  if (min_version < kQrMinVersion || min_version > kQrMaxVersion) {
    return boost::system::errc::make_error_code(boost::system::errc::invalid_argument);
  }
  int version = min_version;
  while (version <= kQrMaxVersion &&
         bits_needed(bytes.size(), version) >
             kLevelM[static_cast<std::size_t>(version)].data_codewords() * 8) {
    ++version;
  }
  if (version > kQrMaxVersion) {
    return boost::system::errc::make_error_code(boost::system::errc::message_size);
  }
  auto data = data_codewords(bytes, version);
  auto codewords = final_codewords(data, version);
  crypto::wipe(std::span(data));

  Matrix base(version);
  base.draw_function_patterns();
  base.place(codewords);
  crypto::wipe(std::span(codewords));

  int best_mask = 0;
  long best_score = std::numeric_limits<long>::max();
  for (int mask = 0; mask < 8; ++mask) {
    Matrix m = base;
    m.apply_mask(mask);
    m.draw_format(mask);
    const long score = m.penalty();
    if (score < best_score) {
      best_score = score;
      best_mask = mask;
    }
  }
  Matrix chosen = base;
  chosen.apply_mask(best_mask);
  chosen.draw_format(best_mask);
  const auto n = static_cast<std::size_t>(chosen.n());
  return QrCode(version, best_mask, n, chosen.take_modules());
}

boost::system::result<Html> render_qr_svg(const QrCode& qr, std::string_view id,
                                          std::string_view title, double module_mm) {
  const bool id_ok = !id.empty() && id.size() <= 32 && id[0] >= 'a' && id[0] <= 'z' &&
                     std::all_of(id.begin(), id.end(), [](char c) {
                       return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
                     });
  if (!id_ok || !is_valid_utf8(title)) {
    return boost::system::errc::make_error_code(boost::system::errc::invalid_argument);
  }
  constexpr std::size_t kQuiet = 4;
  const std::size_t side = qr.size() + 2 * kQuiet;
  // One path: a horizontal run of dark modules is one rectangle ("M x y h len v1 h -len z").
  std::string path;
  for (std::size_t y = 0; y < qr.size(); ++y) {
    for (std::size_t x = 0; x < qr.size();) {
      if (!qr.dark(x, y)) {
        ++x;
        continue;
      }
      std::size_t run = 0;
      while (x + run < qr.size() && qr.dark(x + run, y))
        ++run;
      path += "M" + std::to_string(x + kQuiet) + " " + std::to_string(y + kQuiet) + "h" +
              std::to_string(run) + "v1h-" + std::to_string(run) + "z";
      x += run;
    }
  }
  TemplateData d;
  d.set("side", std::to_string(side));
  d.set("title", std::string(title));
  d.set("id", std::string(id));
  d.set("path", path);
  crypto::wipe(std::span(path.data(), path.size()));
  d.set_flag("sized", module_mm > 0.0);
  if (module_mm > 0.0) {
    // Tenths of a millimetre, so the output does not depend on printf's rounding of doubles.
    const auto tenths =
        static_cast<long>(std::lround(module_mm * static_cast<double>(side) * 10.0));
    d.set("mm", std::to_string(tenths / 10) + "." + std::to_string(tenths % 10));
  }
  return qr_templates().render("qr", d, no_strings());
}

}  // namespace sluis::console
