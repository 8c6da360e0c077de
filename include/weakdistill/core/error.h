// Exceptions thrown by the library. cli/ maps them to exit codes: InputError and
// UsageError to 2 (the user must change what they gave), anything else to 1.
#pragma once

#include <stdexcept>
#include <string>

namespace weakdistill {

// Bad input data or configuration: the message names the file and line (or the
// config key) and the problem.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
  // Out of line, so that the type's identity lives in libweakdistill and an
  // error thrown in a dlopen'ed plugin is caught as this type.
  ~InputError() override;
};

// A command used wrongly (incompatible options, a missing option the parser
// could not catch).
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
  ~UsageError() override;
};

// Formats "file:line: message" (line 0 means the whole file: "file: message").
std::string at(const std::string& file, std::size_t line, const std::string& message);

}  // namespace weakdistill
