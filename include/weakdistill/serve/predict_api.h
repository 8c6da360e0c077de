// The HTTP API of `weakdistill serve` without the HTTP (docs/SERVE.md): request bodies to
// samples, predictions and errors to JSON bodies. Kept apart from the server so that every rule
// about what a client may send is tested without a socket.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "weakdistill/core/sample.h"
#include "weakdistill/student/student.h"

namespace weakdistill::serve {

// An answer the client gets instead of a result: the HTTP status and the fields of OpenAI's
// error object, {"error": {"message", "type", "param", "code"}}. The type follows from the
// status (error_type()).
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string code, const std::string& message, std::string param = "")
      : std::runtime_error(message),
        status_(status),
        code_(std::move(code)),
        param_(std::move(param)) {}
  int status() const { return status_; }
  const std::string& code() const { return code_; }
  const std::string& param() const { return param_; }

 private:
  int status_;
  std::string code_;
  std::string param_;
};

// OpenAI's error type for an HTTP status: "invalid_request_error" (400, 404, 405, 413, 415),
// "authentication_error" (401), "server_error" (5xx, and anything else).
const char* error_type(int status);

// The JSON body of an error; `param` is null when empty.
std::string error_body(int status, std::string_view code, std::string_view message,
                       std::string_view param = {});

struct PredictLimits {
  // Texts in one request; more is 400 too_many_texts.
  std::size_t max_texts = 256;
  // Characters (code points) in one text; more is 400 text_too_long.
  std::size_t max_text_chars = 20000;
};

// The inputs of a POST /v1/predict body: {"texts": ["...", ...]} or
// {"inputs": [{"text": "...", "id": "..." or 12}, ...]} (exactly one of the two; other keys are
// refused, so that a misspelt option is not silently ignored). Throws ApiError 400 with code
// invalid_utf8 (the byte offset), invalid_json (the parser's message), invalid_type (the field,
// e.g. "texts[3]", and the type found), missing_field, unknown_field, too_many_texts,
// text_too_long (the field, its length and the limit).
std::vector<Sample> parse_predict_request(std::string_view body, const PredictLimits& limits);

// The body of a successful answer: {"predictions": [...]}, each item what `weakdistill predict`
// writes for that input (id when given, text, the task's fields, "scores").
std::string predict_response(const std::vector<Sample>& inputs,
                             const std::vector<Prediction>& predictions, Task task);

}  // namespace weakdistill::serve
