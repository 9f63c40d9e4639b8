// clientDataJSON (WebAuthn L2 §5.8.1) read as strict JSON (RFC 8259): one object, unique member
// names, valid UTF-8, bounded nesting. A dedicated reader rather than a general JSON library
// because the relying party must refuse duplicate members, which general parsers merge silently.
#include "sluis/console/utf8.hpp"
#include "sluis/console/webauthn.hpp"

#include <string_view>
#include <utility>
#include <vector>

namespace sluis::console {
namespace {

constexpr std::size_t kMaxJsonDepth = 8;

// A JSON value reduced to what the checks need: strings and booleans keep their value, anything
// else (numbers, null, nested objects and arrays) is validated and then only its kind is kept.
struct Member {
  enum class Kind { string, boolean, other } kind = Kind::other;
  std::string text;
  bool boolean = false;
};

class JsonReader {
 public:
  explicit JsonReader(std::string_view in) : in_(in) {}

  // The top-level object: member name -> value, names unique.
  bool object(std::vector<std::pair<std::string, Member>>& members) {
    skip_ws();
    if (!consume('{')) return false;
    skip_ws();
    if (consume('}')) return finish();
    for (;;) {
      skip_ws();
      std::string name;
      if (!string(name)) return false;
      for (const auto& m : members) {
        if (m.first == name) return false;  // duplicate member
      }
      skip_ws();
      if (!consume(':')) return false;
      Member value;
      if (!member_value(value, 1)) return false;
      members.emplace_back(std::move(name), std::move(value));
      skip_ws();
      if (consume(',')) continue;
      if (consume('}')) return finish();
      return false;
    }
  }

 private:
  bool finish() {
    skip_ws();
    return pos_ == in_.size();
  }

  bool member_value(Member& out, std::size_t depth) {
    skip_ws();
    if (pos_ >= in_.size()) return false;
    const char c = in_[pos_];
    if (c == '"') {
      out.kind = Member::Kind::string;
      return string(out.text);
    }
    if (literal("true")) {
      out.kind = Member::Kind::boolean;
      out.boolean = true;
      return true;
    }
    if (literal("false")) {
      out.kind = Member::Kind::boolean;
      out.boolean = false;
      return true;
    }
    out.kind = Member::Kind::other;
    return skip_value(depth);
  }

  // Validates any JSON value without keeping it (nested objects: names unique too).
  bool skip_value(std::size_t depth) {
    if (depth > kMaxJsonDepth) return false;
    skip_ws();
    if (pos_ >= in_.size()) return false;
    const char c = in_[pos_];
    if (c == '"') {
      std::string ignored;
      return string(ignored);
    }
    if (literal("true") || literal("false") || literal("null")) return true;
    if (c == '-' || (c >= '0' && c <= '9')) return number();
    if (c == '[') {
      ++pos_;
      skip_ws();
      if (consume(']')) return true;
      for (;;) {
        if (!skip_value(depth + 1)) return false;
        skip_ws();
        if (consume(',')) continue;
        return consume(']');
      }
    }
    if (c == '{') {
      ++pos_;
      skip_ws();
      if (consume('}')) return true;
      std::vector<std::string> names;
      for (;;) {
        skip_ws();
        std::string name;
        if (!string(name)) return false;
        for (const auto& n : names) {
          if (n == name) return false;
        }
        names.push_back(std::move(name));
        skip_ws();
        if (!consume(':')) return false;
        if (!skip_value(depth + 1)) return false;
        skip_ws();
        if (consume(',')) continue;
        return consume('}');
      }
    }
    return false;
  }

  // RFC 8259 §6: -? int frac? exp?
  bool number() {
    consume('-');
    if (consume('0')) {
      // no leading zeros
    } else if (!digits()) {
      return false;
    }
    if (consume('.') && !digits()) return false;
    if (pos_ < in_.size() && (in_[pos_] == 'e' || in_[pos_] == 'E')) {
      ++pos_;
      if (!consume('+')) consume('-');
      if (!digits()) return false;
    }
    return true;
  }

  bool digits() {
    const std::size_t start = pos_;
    while (pos_ < in_.size() && in_[pos_] >= '0' && in_[pos_] <= '9')
      ++pos_;
    return pos_ > start;
  }

  static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  bool hex4(std::uint32_t& out) {
    if (in_.size() - pos_ < 4) return false;
    out = 0;
    for (int i = 0; i < 4; ++i) {
      const int h = hex(in_[pos_++]);
      if (h < 0) return false;
      out = (out << 4U) | static_cast<std::uint32_t>(h);
    }
    return true;
  }

  static void append_utf8(std::string& s, std::uint32_t cp) {
    if (cp < 0x80) {
      s += static_cast<char>(cp);
    } else if (cp < 0x800) {
      s += static_cast<char>(0xc0 | (cp >> 6U));
      s += static_cast<char>(0x80 | (cp & 0x3fU));
    } else if (cp < 0x10000) {
      s += static_cast<char>(0xe0 | (cp >> 12U));
      s += static_cast<char>(0x80 | ((cp >> 6U) & 0x3fU));
      s += static_cast<char>(0x80 | (cp & 0x3fU));
    } else {
      s += static_cast<char>(0xf0 | (cp >> 18U));
      s += static_cast<char>(0x80 | ((cp >> 12U) & 0x3fU));
      s += static_cast<char>(0x80 | ((cp >> 6U) & 0x3fU));
      s += static_cast<char>(0x80 | (cp & 0x3fU));
    }
  }

  // RFC 8259 §7. The whole input was checked as UTF-8 first, so raw bytes are copied as they are;
  // escapes must form scalar values (a lone surrogate escape is refused).
  bool string(std::string& out) {
    if (!consume('"')) return false;
    while (pos_ < in_.size()) {
      const char c = in_[pos_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= in_.size()) return false;
      const char e = in_[pos_++];
      switch (e) {
      case '"': out += '"'; break;
      case '\\': out += '\\'; break;
      case '/': out += '/'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'u': {
        std::uint32_t cp = 0;
        if (!hex4(cp)) return false;
        if (cp >= 0xdc00 && cp <= 0xdfff) return false;
        if (cp >= 0xd800 && cp <= 0xdbff) {
          std::uint32_t low = 0;
          if (!consume('\\') || !consume('u') || !hex4(low)) return false;
          if (low < 0xdc00 || low > 0xdfff) return false;
          cp = 0x10000 + ((cp - 0xd800) << 10U) + (low - 0xdc00);
        }
        append_utf8(out, cp);
        break;
      }
      default: return false;
      }
    }
    return false;
  }

  bool literal(std::string_view word) {
    if (in_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  bool consume(char c) {
    if (pos_ < in_.size() && in_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  void skip_ws() {
    while (pos_ < in_.size() &&
           (in_[pos_] == ' ' || in_[pos_] == '\t' || in_[pos_] == '\n' || in_[pos_] == '\r'))
      ++pos_;
  }

  std::string_view in_;
  std::size_t pos_ = 0;
};

}  // namespace

WebauthnResult<ClientData> parse_client_data(std::span<const std::uint8_t> bytes) {
  if (bytes.empty() || bytes.size() > kMaxClientDataBytes)
    return WebauthnErrc::client_data_malformed;
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  if (!is_valid_utf8(text)) return WebauthnErrc::client_data_malformed;
  std::vector<std::pair<std::string, Member>> members;
  if (!JsonReader(text).object(members)) return WebauthnErrc::client_data_malformed;

  ClientData out;
  bool have_type = false, have_challenge = false, have_origin = false;
  for (auto& [name, value] : members) {
    const bool is_string = value.kind == Member::Kind::string;
    if (name == "type") {
      if (!is_string) return WebauthnErrc::client_data_malformed;
      out.type = std::move(value.text);
      have_type = true;
    } else if (name == "challenge") {
      if (!is_string) return WebauthnErrc::client_data_malformed;
      out.challenge = std::move(value.text);
      have_challenge = true;
    } else if (name == "origin") {
      if (!is_string) return WebauthnErrc::client_data_malformed;
      out.origin = std::move(value.text);
      have_origin = true;
    } else if (name == "crossOrigin") {
      if (value.kind != Member::Kind::boolean) return WebauthnErrc::client_data_malformed;
      out.cross_origin = value.boolean;
    } else if (name == "topOrigin") {
      if (!is_string) return WebauthnErrc::client_data_malformed;
      out.top_origin = std::move(value.text);
    }
  }
  if (!have_type || !have_challenge || !have_origin) return WebauthnErrc::client_data_malformed;
  return out;
}

}  // namespace sluis::console
