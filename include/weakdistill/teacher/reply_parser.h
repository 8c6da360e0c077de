// Turning a teacher's reply into a candidate sample (SPEC.md: the last JSON
// object in the reply, code fences allowed).
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "weakdistill/core/sample.h"
#include "weakdistill/teacher/rejection.h"

namespace weakdistill {

// Either a sample or the reason there is none.
struct ParsedReply {
  std::optional<Sample> sample;
  std::optional<Rejection> rejection;
};

// Parses `content`, the reply's message, for `task`:
//   - finish_reason "length" -> kTruncated (whatever the content holds);
//   - invalid UTF-8 in the reply -> kUnparseable;
//   - the candidates are the top-level JSON objects of the content: every span that
//     is a complete JSON object and lies neither inside another such object nor
//     inside one's strings. They may sit inside ``` or ```json fences or be bare,
//     after any amount of reasoning text; braces inside JSON strings do not count,
//     and an object nested in another (an entity of "entities") is never a
//     candidate on its own;
//   - the candidates are tried from the last to the first, and the first that parses
//     and holds the task's fields with a non-blank "text" is the answer. So a later
//     object without the fields ({"confidence": 0.9}) does not hide an earlier answer;
//   - classification {"text", "label"}; ner {"text", "entities": [{"text", "type"}]}
//     (entities may be empty); summarization {"text", "summary"}. Values must be
//     strings (a number label is accepted as its decimal text). An object nested
//     deeper than kMaxJsonNesting (core/jsonl.h) is not an answer;
//   - no answer -> kEmptyText when some object held the task's field (label,
//     entities, summary) but a missing or blank "text", else kUnparseable. The detail
//     quotes the last object and says what it lacks, or the reply's end when it
//     holds no JSON object.
// Repairs: raw control characters (line breaks, tabs) inside JSON strings are
// accepted, since their meaning is plain; nothing else is repaired (full-width
// quotes, single quotes, trailing commas make an object unparseable).
// Text, label, summary and each entity's text and type are trimmed of surrounding
// whitespace. For ner the sample's entities carry text and type only (start = end =
// 0); verification finds their offsets. The scan is linear in the reply's length
// (each '{' is checked once, nested objects are skipped by memo).
ParsedReply parse_reply(Task task, std::string_view content, std::string_view finish_reason);

// Most samples taken from one reply (teacher.samples_per_request's upper bound).
inline constexpr int kMaxSamplesPerReply = 32;

// Every sample of a teacher's generation (teacher.h), in reply order; never empty:
//   - a reply cut while the model was still reasoning (an unclosed <think>, or finish_reason
//     "length" with reasoning and no answer text) -> one kTruncatedInReasoning;
//   - the answer is read from g.reply only (the reasoning is never parsed), so a JSON object
//     inside <think> is not taken;
//   - when the last top-level object holding a "samples" array exists (the several-samples
//     form, {"reasoning": "...", "samples": [{...}, ...]}), each item is a sample or its own
//     rejection, as parse_reply judges an object ("samples[2]: no \"label\"");
//   - otherwise, when `samples` > 1, every top-level object that holds the task's fields is a
//     sample (a bare array of objects, or objects one after another);
//   - otherwise parse_reply's single answer.
// At most kMaxSamplesPerReply are taken; a reply asked for k may give more or fewer. With
// finish_reason "length" the complete samples before the cut are kept (they were paid for)
// and one kTruncated stands for the rest; with `samples` 1 a cut reply is one kTruncated.
struct Generation;
std::vector<ParsedReply> parse_generation(Task task, const Generation& g, int samples = 1);

}  // namespace weakdistill
