// Errors raised by native code. Native code never exits or aborts: it throws dapo::Error,
// and bindings/ turns it into a JavaScript error of the matching kind with `code` set.
#pragma once
#include <stdexcept>
#include <string>

namespace dapo {

enum class ErrorKind { Type, Range, Runtime };

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, std::string code, const std::string& message)
      : std::runtime_error(message), kind_(kind), code_(std::move(code)) {}
  ErrorKind kind() const { return kind_; }
  const std::string& code() const { return code_; }

 private:
  ErrorKind kind_;
  std::string code_;
};

[[noreturn]] inline void throw_range(const std::string& message) {
  throw Error(ErrorKind::Range, "ERR_DAPO_RANGE", message);
}
// A non-finite value computed from finite inputs (an overflow): a range error with its own code,
// so a caller can tell "my input was bad" from "the numbers blew up".
[[noreturn]] inline void throw_nonfinite(const std::string& message) {
  throw Error(ErrorKind::Range, "ERR_DAPO_NONFINITE", message);
}
[[noreturn]] inline void throw_runtime(const std::string& code, const std::string& message) {
  throw Error(ErrorKind::Runtime, code, message);
}

}  // namespace dapo
