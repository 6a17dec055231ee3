// Error types shared by every library.
// UserError is for problems the user can fix (bad file, row, key, flag): its message says what was
// wrong and a HINT line says what to do. Everything else is a plain std::runtime_error.
#pragma once

#include <stdexcept>
#include <string>

namespace cxr {

class UserError : public std::runtime_error {
 public:
  UserError(const std::string& what, const std::string& hint = "")
      : std::runtime_error(hint.empty() ? what : what + "\nHINT: " + hint) {}
};

}  // namespace cxr
