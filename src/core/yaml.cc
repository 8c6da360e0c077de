#include "weakdistill/core/yaml.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "weakdistill/core/error.h"
#include "weakdistill/core/utf8.h"

namespace weakdistill {
namespace {

nlohmann::json scalar(const YAML::Node& node) {
  const std::string& s = node.Scalar();
  if (node.Tag() == "!") return s;  // quoted: a string whatever it looks like
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE" || s == "yes" || s == "Yes") return true;
  if (s == "false" || s == "False" || s == "FALSE" || s == "no" || s == "No") return false;
  const char* begin = s.c_str();
  char* end = nullptr;
  errno = 0;
  const long long i = std::strtoll(begin, &end, 10);
  if (end != begin && *end == '\0' && errno == 0) return static_cast<std::int64_t>(i);
  errno = 0;
  const double d = std::strtod(begin, &end);
  // strtod also reads "nan", "inf" and hex floats; a config means those as text.
  const bool plain_number = s.find_first_not_of("0123456789+-.eE") == std::string::npos;
  if (end != begin && *end == '\0' && errno == 0 && plain_number) return d;
  return s;
}

// What a document may expand to. An alias repeats its anchor's whole value, so
// nine levels of ten aliases in 700 bytes would expand to 10^9 values and run out
// of memory, and five levels (80,000 values) make to_yaml() take seconds, since
// it parses every string it writes (both found while fuzzing). A config holds
// hundreds of values.
constexpr std::size_t kMaxValues = 10'000;
constexpr std::size_t kMaxScalarBytes = std::size_t{16} << 20;
struct Budget {
  std::size_t values = 0;
  std::size_t scalar_bytes = 0;
};

// YAML allows no C0 control character but tab and line ends (nor DEL) in a document, yet
// yaml-cpp takes them raw and from "\0"-style escapes, and its emitter then writes them as bytes
// that are not UTF-8: the run folder's config.yaml would not load again (found by the config
// fuzzer in a CI smoke run: a NUL in a key and a URL).
// And yaml-cpp decodes a "\xAA" escape to the single byte AA rather than to U+00AA in UTF-8
// (also found by the config fuzzer): the value would not be UTF-8 though the file is.
void check_printable(const std::string& text, const YAML::Node& node, const std::string& name) {
  if (utf8::find_invalid(text)) {
    throw InputError(at(name, node.Mark().line + 1,
                        "an escape such as \\xAA makes a value that is not UTF-8; write the "
                        "character itself, or \\u00AA"));
  }
  if (const auto c = utf8::find_control(text)) {
    char code[8];
    std::snprintf(code, sizeof code, "%04X", static_cast<unsigned>(*c));
    throw InputError(at(name, node.Mark().line + 1,
                        std::string("a control character (U+") + code +
                            ") in a value or key; a config holds printable text"));
  }
}

nlohmann::json convert(const YAML::Node& node, const std::string& name, int depth, Budget& budget) {
  if (depth > 64) {
    throw InputError(at(name, node.Mark().line + 1, "nesting deeper than 64 levels"));
  }
  ++budget.values;
  if (node.IsScalar()) {
    budget.scalar_bytes += node.Scalar().size();
    check_printable(node.Scalar(), node, name);
  }
  if (budget.values > kMaxValues || budget.scalar_bytes > kMaxScalarBytes) {
    throw InputError(at(name, node.Mark().line + 1,
                        "the document expands to over " + std::to_string(kMaxValues) +
                            " values or 16 MB of text (anchors and aliases repeat what "
                            "they name)"));
  }
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Scalar:
      return scalar(node);
    case YAML::NodeType::Sequence: {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& item : node) out.push_back(convert(item, name, depth + 1, budget));
      return out;
    }
    case YAML::NodeType::Map: {
      nlohmann::json out = nlohmann::json::object();
      for (const auto& kv : node) {
        if (!kv.first.IsScalar()) {
          throw InputError(at(name, kv.first.Mark().line + 1, "a key must be a plain name"));
        }
        const std::string key = kv.first.Scalar();
        check_printable(key, kv.first, name);
        if (out.contains(key)) {
          throw InputError(at(name, kv.first.Mark().line + 1, "duplicate key \"" + key + "\""));
        }
        out[key] = convert(kv.second, name, depth + 1, budget);
      }
      return out;
    }
  }
  return nullptr;
}

}  // namespace

nlohmann::json parse_yaml(const std::string& text, const std::string& name) {
  // yaml-cpp passes invalid UTF-8 through into scalars, and such a string breaks
  // later: nlohmann's dump() throws on it (an error message quoting the value),
  // and to_yaml() writes U+FFFD for it, so a run folder's config.yaml would not
  // read back as the config it records. A config is UTF-8 text: say so here.
  if (const auto bad = utf8::find_invalid(text)) {
    const std::size_t line = std::count(text.begin(), text.begin() + *bad, '\n') + 1;
    throw InputError(at(name, line,
                        "invalid UTF-8 (byte " + std::to_string(*bad + 1) +
                            " of the file); a config must be UTF-8 text"));
  }
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw InputError(at(name, e.mark.line >= 0 ? e.mark.line + 1 : 0, e.msg));
  }
  Budget budget;
  nlohmann::json j = convert(root, name, 0, budget);
  if (j.is_null()) return nlohmann::json::object();
  return j;
}

nlohmann::json read_yaml_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": cannot open the file");
  std::stringstream buffer;
  buffer << in.rdbuf();
  return parse_yaml(buffer.str(), path);
}

}  // namespace weakdistill
