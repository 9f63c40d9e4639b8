// sluisctl card: issue anonymous client cards and derive service pseudonyms from them.
#include "sluis/crypto/card.hpp"
#include "sluis/crypto/secret.hpp"
#include "sluisctl/command.hpp"
#include "sluisctl/options.hpp"

#include <qrencode.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

namespace sluis::ctl {
namespace {

constexpr const char* kCardUsage =
    "usage:\n"
    "  sluisctl card new [--qr-svg FILE] [--code-only]\n"
    "      Makes a new card secret and prints its code (and writes the code as a QR code in SVG).\n"
    "      The code is the client's key: print it on the card, then let it go; sluis never\n"
    "      stores it.\n"
    "  sluisctl card pseudonym --service SERVICE_ID [CODE...]\n"
    "      Derives the pseudonym a service's own system sends to the gateway for this card\n"
    "      (the public derivation in docs/partner-guide/card-pseudonyms.md). The code is read\n"
    "      from the arguments or, when there are none, from the first line of standard input.\n";

// Wipes a std::string that held a card code before it is freed.
struct WipeOnExit {
  std::string& s;
  ~WipeOnExit() { crypto::wipe(std::span<char>(s.data(), s.size())); }
};

// Writes `text` as a QR code (error correction M, 4-module quiet zone) in SVG, mode 0600.
bool write_qr_svg(const std::string& path, const std::string& text) {
  std::unique_ptr<QRcode, decltype(&QRcode_free)> qr(
      QRcode_encodeString(text.c_str(), 0, QR_ECLEVEL_M, QR_MODE_8, 1), &QRcode_free);
  if (!qr) return false;
  const int w = qr->width;
  constexpr int kQuiet = 4;
  constexpr int kScale = 8;
  const int size = (w + 2 * kQuiet) * kScale;
  std::ostringstream svg;
  svg << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << size << "\" height=\"" << size
      << "\" viewBox=\"0 0 " << w + 2 * kQuiet << ' ' << w + 2 * kQuiet
      << "\" shape-rendering=\"crispEdges\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n<path fill=\"#000\" d=\"";
  for (int y = 0; y < w; ++y) {
    for (int x = 0; x < w; ++x) {
      if ((qr->data[y * w + x] & 1) != 0)
        svg << 'M' << x + kQuiet << ',' << y + kQuiet << "h1v1h-1z";
    }
  }
  svg << "\"/>\n</svg>\n";
  const mode_t old = ::umask(077);
  std::ofstream out(path, std::ios::trunc);
  ::umask(old);
  out << svg.str();
  return static_cast<bool>(out.flush());
}

int card_new(Args args) {
  const Options opt(args, {"qr-svg"}, {"code-only"});
  if (!opt.positional().empty()) throw UsageError("card new takes no arguments");
  const auto secret = crypto::new_card_secret();
  std::string code = crypto::format_card_code(secret);
  const WipeOnExit wipe{code};
  if (auto svg = opt.get("qr-svg")) {
    if (!write_qr_svg(*svg, code)) {
      std::fprintf(stderr, "sluisctl: could not write the QR code to %s\n", svg->c_str());
      return kExitFailed;
    }
  }
  if (opt.flag("code-only")) {
    std::printf("%s\n", code.c_str());
  } else {
    std::printf("Card code: %s\n", code.c_str());
    std::printf("Print it on the card for the client. It is their key: sluis never stores it,\n"
                "and a lost card cannot be recovered (issue a new card instead).\n");
  }
  return kExitOk;
}

int card_pseudonym(Args args) {
  const Options opt(args, {"service"}, {});
  const std::string service = opt.require("service");
  if (service.empty()) throw UsageError("--service needs the service's partner id");
  std::string code;
  const WipeOnExit wipe{code};
  if (opt.positional().empty()) {
    std::getline(std::cin, code);
  } else {
    for (const auto& part : opt.positional())
      code += part;
  }
  auto secret = crypto::parse_card_code(code);
  if (!secret) {
    if (secret.error() == crypto::Errc::bad_check_character) {
      std::fprintf(stderr, "sluisctl: the card code has a typo (its check character does not "
                           "match); read it again from the card.\n");
    } else {
      std::fprintf(stderr, "sluisctl: that is not a card code: a card code has 27 letters and "
                           "digits, printed in groups of three (no I, L, O, U or Z).\n");
    }
    return kExitFailed;
  }
  std::printf("%s\n", crypto::service_pseudonym(*secret, service).c_str());
  return kExitOk;
}

}  // namespace

int run_card(Args args) {
  try {
    if (!args.empty() && args[0] == "new") return card_new(args.subspan(1));
    if (!args.empty() && args[0] == "pseudonym") return card_pseudonym(args.subspan(1));
    if (!args.empty() && args[0] == "help") {
      std::fputs(kCardUsage, stdout);
      return kExitOk;
    }
    std::fputs(kCardUsage, stderr);
    return kExitUsage;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "sluisctl card: %s.\n%s", e.what(), kCardUsage);
    return kExitUsage;
  }
}

}  // namespace sluis::ctl
