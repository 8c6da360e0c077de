// Why a teacher's reply did not become a candidate sample. Every rejected reply
// is kept with one of these (the run store, `teacher try`, the report).
#pragma once

#include <string>
#include <string_view>

namespace weakdistill {

enum class RejectReason {
  kRequestFailed,     // the teacher never answered (retries exhausted)
  kTruncated,         // finish_reason "length": the reply was cut
  kTruncatedInReasoning,  // cut while the model was still reasoning: no answer was begun
  kUnparseable,       // no JSON object with the task's fields
  kEmptyText,         // "text" missing or blank
  kLabelNotInSet,     // classification label, or ner entity type, outside the label set
  kEntityNotInText,   // an ner entity string does not occur in the text
  kSummaryInvalid,    // summary empty, or not shorter than the text
  kSummaryOverlapLow, // fewer than min_char_overlap of the summary's characters occur in the text
  kCopyOfSeed,        // the text equals its seed's
  kCopyOfLabeled,     // the text equals a labeled sample's
  kCopyOfAccepted,    // the text equals an already accepted sample's
};

// The stable snake_case name of a reason ("copy_of_seed"), used in files and reports.
std::string_view reason_name(RejectReason reason);

struct Rejection {
  RejectReason reason;
  std::string detail;  // human-readable specifics ("label \"股票\" not in the label set")
};

}  // namespace weakdistill
