// Running an external command (the `command` student's train and predict).
#pragma once

#include <map>
#include <string>

namespace weakdistill {

// Quotes `s` for /bin/sh so that it is one word whatever it holds.
std::string shell_quote(const std::string& s);

// Replaces each {name} in `templ` with the shell-quoted value of `values[name]`.
// Throws InputError (prefixed by `context`) on a placeholder not in `values`
// or an unclosed brace; "{{" and "}}" stand for literal braces.
std::string expand_command(const std::string& templ,
                           const std::map<std::string, std::string>& values,
                           const std::string& context);

// Runs `command` with /bin/sh -c, its stdin closed and its stdout sent to our
// stderr (stdout is for results), and waits. Returns the exit status, or 128+N
// when killed by signal N.
int run_shell(const std::string& command);

}  // namespace weakdistill
