#include "weakdistill/core/bio.h"

#include <fstream>

#include "weakdistill/core/atomic_file.h"
#include "weakdistill/core/error.h"
#include "weakdistill/core/utf8.h"

namespace weakdistill {
namespace {

struct Builder {
  Sample sample;
  std::size_t length = 0;  // code points so far
  bool open = false;       // the last entity is still being extended
  std::size_t first_line = 0;
};

}  // namespace

Dataset read_bio(const std::string& path, std::size_t* repairs) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": cannot open file");
  Dataset ds;
  ds.task = Task::kNer;
  ds.path = path;
  if (repairs) *repairs = 0;

  Builder b;
  auto finish = [&]() {
    if (b.length > 0) {
      ds.samples.push_back(std::move(b.sample));
      ds.lines.push_back(b.first_line);
    }
    b = Builder{};
  };

  std::string line;
  std::size_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (lineno == 1) {
      const std::string_view rest = utf8::strip_bom(line);
      line.erase(0, line.size() - rest.size());
    }
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::string where = path + ":" + std::to_string(lineno);
    // A line ending "\r\r\n" would leave a '\r' at the end of the tag: "O\r" is
    // an unknown tag, but "B-PER\r" would make the type "PER\r", which no BIO file
    // can hold (the reader drops one '\r'), so write_bio would change it (found by
    // fuzzing).
    if (!line.empty() && line.back() == '\r') {
      throw InputError(where +
                       ": a stray carriage return ends the line; lines must end in "
                       "\\n or \\r\\n");
    }
    if (line.empty()) {
      finish();
      continue;
    }
    if (const auto bad = utf8::find_invalid(line)) {
      throw InputError(where + ": invalid UTF-8 at byte " + std::to_string(*bad + 1));
    }
    // The token may itself be a space, so split at the last separator.
    const auto sep = line.find_last_of(" \t");
    if (sep == std::string::npos || sep == 0) {
      throw InputError(where + ": expected \"CHAR TAG\", got \"" + line + "\"");
    }
    const std::string token = line.substr(0, sep);
    const std::string tag = line.substr(sep + 1);
    if (utf8::length(token) != 1) {
      throw InputError(where + ": the token \"" + token +
                       "\" is not one character; weakdistill's BIO is character-level");
    }
    if (b.length == 0) b.first_line = lineno;

    std::string type;
    char kind;
    if (tag == "O") {
      kind = 'O';
    } else if (tag.size() > 2 && (tag[0] == 'B' || tag[0] == 'I') && tag[1] == '-') {
      kind = tag[0];
      type = tag.substr(2);
    } else {
      throw InputError(where + ": unknown tag \"" + tag + "\" (expected O, B-TYPE or I-TYPE)");
    }

    if (kind == 'O') {
      b.open = false;
    } else if (kind == 'I' && b.open && b.sample.entities.back().type == type) {
      Entity& e = b.sample.entities.back();
      e.end = b.length + 1;
      e.text += token;
    } else {
      if (kind == 'I' && repairs) ++*repairs;
      b.sample.entities.push_back(Entity{b.length, b.length + 1, type, token});
      b.open = true;
    }
    b.sample.text += token;
    ++b.length;
  }
  if (in.bad()) throw InputError(path + ": read error");
  finish();
  if (ds.samples.empty()) throw InputError(path + ": no sentences (the file is empty)");
  return ds;
}

std::vector<std::string> to_bio_tags(std::size_t length, const std::vector<Entity>& entities) {
  std::vector<std::string> tags(length, "O");
  for (const Entity& e : entities) {
    for (std::size_t i = e.start; i < e.end && i < length; ++i) {
      tags[i] = (i == e.start ? "B-" : "I-") + e.type;
    }
  }
  return tags;
}

void write_bio(const std::string& path, const std::vector<Sample>& samples) {
  AtomicFile file(path);
  // read_bio drops a byte order mark at the start of the file, so a first text that
  // starts with U+FEFF (a BOM read as a token) needs one written before it, or it
  // would not read back (found by fuzzing).
  if (!samples.empty() && samples[0].text.starts_with("\xEF\xBB\xBF")) {
    file.stream() << "\xEF\xBB\xBF";
  }
  for (std::size_t k = 0; k < samples.size(); ++k) {
    const std::u32string text = utf8::decode(samples[k].text);
    for (char32_t c : text) {
      if (c == U'\n' || c == U'\r') {
        throw InputError("sample " + std::to_string(k + 1) +
                         ": the text holds a line break, which BIO cannot represent");
      }
    }
    const auto tags = to_bio_tags(text.size(), samples[k].entities);
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
      utf8::append(out, text[i]);
      out += ' ';
      out += tags[i];
      out += '\n';
    }
    out += '\n';
    file.stream() << out;
  }
  file.commit();
}

}  // namespace weakdistill
