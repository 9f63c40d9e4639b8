// The "sluis.console.input" error category (form, query, cookie and static-path parsing).
#include "sluis/console/http_input.hpp"

#include <string>

namespace sluis::console {
namespace {

class InputCategory final : public boost::system::error_category {
 public:
  [[nodiscard]] const char* name() const noexcept override { return "sluis.console.input"; }

  [[nodiscard]] std::string message(int ev) const override {
    switch (static_cast<InputErrc>(ev)) {
    case InputErrc::too_large: return "input too large";
    case InputErrc::too_many_fields: return "too many fields";
    case InputErrc::name_too_long: return "field name too long";
    case InputErrc::value_too_long: return "field value too long";
    case InputErrc::bad_escape: return "incomplete percent escape";
    case InputErrc::invalid_utf8: return "text is not valid UTF-8";
    case InputErrc::bad_name: return "field name not allowed";
    case InputErrc::control_character: return "control character not allowed";
    case InputErrc::duplicate_name: return "field given more than once";
    case InputErrc::malformed: return "malformed input";
    case InputErrc::bad_path: return "path not allowed";
    case InputErrc::not_found: return "no such file";
    }
    return "unknown input error";
  }
};

}  // namespace

const boost::system::error_category& input_category() noexcept {
  static const InputCategory category;
  return category;
}

boost::system::error_code make_error_code(InputErrc e) noexcept {
  return {static_cast<int>(e), input_category()};
}

}  // namespace sluis::console
