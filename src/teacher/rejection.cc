#include "weakdistill/teacher/rejection.h"

namespace weakdistill {

std::string_view reason_name(RejectReason reason) {
  switch (reason) {
    case RejectReason::kRequestFailed:
      return "request_failed";
    case RejectReason::kTruncated:
      return "truncated";
    case RejectReason::kTruncatedInReasoning:
      return "truncated_in_reasoning";
    case RejectReason::kUnparseable:
      return "unparseable";
    case RejectReason::kEmptyText:
      return "empty_text";
    case RejectReason::kLabelNotInSet:
      return "label_not_in_set";
    case RejectReason::kEntityNotInText:
      return "entity_not_in_text";
    case RejectReason::kSummaryInvalid:
      return "summary_invalid";
    case RejectReason::kSummaryOverlapLow:
      return "summary_overlap_low";
    case RejectReason::kCopyOfSeed:
      return "copy_of_seed";
    case RejectReason::kCopyOfLabeled:
      return "copy_of_labeled";
    case RejectReason::kCopyOfAccepted:
      return "copy_of_accepted";
  }
  return "unknown";
}

}  // namespace weakdistill
