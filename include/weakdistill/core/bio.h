// The character-level BIO format of NER corpora: one "char TAG" pair a line,
// a blank line after each sentence (docs/FORMATS.md).
#pragma once

#include <string>
#include <vector>

#include "weakdistill/core/jsonl.h"
#include "weakdistill/core/sample.h"

namespace weakdistill {

// Reads a BIO file into ner samples. Each token must be one code point; tags
// are O, B-X, I-X. An I-X that does not continue an open X entity starts a new
// one (the conlleval convention); `repairs`, when given, counts those. Throws
// InputError naming path:line for anything else.
Dataset read_bio(const std::string& path, std::size_t* repairs = nullptr);

// The BIO tags of a sentence of `length` code points (entities must be valid).
std::vector<std::string> to_bio_tags(std::size_t length, const std::vector<Entity>& entities);

// Writes samples as BIO atomically. Throws InputError if a text holds a line
// break, which the format cannot represent.
void write_bio(const std::string& path, const std::vector<Sample>& samples);

}  // namespace weakdistill
