// HTTP/1.1 on a socket, as much of it as the fake server needs: reading one request at a time
// (FakeOpenAIServer::Impl::read_request) and writing a response's head. fake_openai_server.cc
// says why the fake uses raw POSIX sockets.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

#include "fake/fake_openai_internal.h"

namespace weakdistill::testing {
namespace {

using nlohmann::json;

// Bounds that keep a misbehaving client from making the fake allocate without limit.
constexpr std::size_t kMaxHeaderBytes = 64 * 1024;
constexpr std::size_t kMaxBodyBytes = 64 * 1024 * 1024;
// What a multipart upload may add around its file, on top of options.batch_file_max_bytes.
constexpr std::size_t kMultipartOverheadBytes = 64 * 1024;

const char* reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 413:
      return "Payload Too Large";
    case 431:
      return "Request Header Fields Too Large";
    case 422:
      return "Unprocessable Entity";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Status";
  }
}

}  // namespace

HttpResponse error_response(int status, const std::string& message, const std::string& type,
                            const json& code, const json& param) {
  json body = {{"error", {{"message", message}, {"type", type}, {"param", param}, {"code", code}}}};
  return {status, body.dump(), {}};
}

std::string serialize_head(const HttpResponse& response, std::size_t content_length,
                           bool keep_alive) {
  std::string head =
      "HTTP/1.1 " + std::to_string(response.status) + " " + reason_phrase(response.status) + "\r\n";
  head += "Content-Type: " + response.content_type + "\r\n";
  head += "Content-Length: " + std::to_string(content_length) + "\r\n";
  head += keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
  for (const auto& [name, value] : response.headers) head += name + ": " + value + "\r\n";
  head += "\r\n";
  return head;
}

bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    // MSG_NOSIGNAL: a client that went away must not kill the process with SIGPIPE.
    const ssize_t sent = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(sent));
  }
  return true;
}

bool FakeOpenAIServer::Impl::read_request(int fd, std::string& buffer, HttpRequest& request) {
  auto receive_more = [&]() {
    char chunk[16384];
    while (true) {
      const ssize_t got = ::recv(fd, chunk, sizeof chunk, 0);
      if (got > 0) {
        buffer.append(chunk, static_cast<std::size_t>(got));
        // Clients that write headers and body separately without TCP_NODELAY (httplib's
        // default) hold the body back until the headers are ACKed; a delayed ACK would
        // add 40 ms to every keep-alive request. Linux clears the flag, so set it each time.
        const int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
        return true;
      }
      if (got < 0 && errno == EINTR) continue;
      return false;
    }
  };
  auto reject = [&](int status, const std::string& message) {
    const HttpResponse response = error_response(status, message, "invalid_request_error", nullptr);
    send_all(fd, serialize_head(response, response.body.size(), false) + response.body);
    return false;
  };

  std::size_t header_end;
  while (true) {
    // RFC 9112 lets a server skip empty lines before a request line.
    const std::size_t start = buffer.find_first_not_of("\r\n");
    buffer.erase(0, start == std::string::npos ? buffer.size() : start);
    header_end = buffer.find("\r\n\r\n");
    if (header_end != std::string::npos) break;
    if (buffer.size() > kMaxHeaderBytes) return reject(431, "request headers too large");
    if (!receive_more()) return false;
  }

  std::string_view head(buffer.data(), header_end);
  const std::size_t line_end = std::min(head.find("\r\n"), head.size());
  const std::string_view request_line = head.substr(0, line_end);
  const std::size_t space1 = request_line.find(' ');
  const std::size_t space2 = request_line.rfind(' ');
  if (space1 == std::string_view::npos || space2 == space1) {
    return reject(400, "malformed request line");
  }
  request = HttpRequest{};
  request.method = std::string(request_line.substr(0, space1));
  const std::string_view target = request_line.substr(space1 + 1, space2 - space1 - 1);
  request.path = std::string(target.substr(0, std::min(target.find('?'), target.size())));
  const std::string_view version = request_line.substr(space2 + 1);

  std::string_view rest = line_end < head.size() ? head.substr(line_end + 2) : std::string_view();
  while (!rest.empty()) {
    const std::size_t end = std::min(rest.find("\r\n"), rest.size());
    const std::string_view line = rest.substr(0, end);
    rest = end < rest.size() ? rest.substr(end + 2) : std::string_view();
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return reject(400, "malformed header line");
    request.headers.emplace_back(lowercase(trim(line.substr(0, colon))),
                                 std::string(trim(line.substr(colon + 1))));
  }

  const std::string connection = lowercase(request.header("connection"));
  request.keep_alive = version == "HTTP/1.0" ? connection.find("keep-alive") != std::string::npos
                                             : connection.find("close") == std::string::npos;
  if (request.has_header("transfer-encoding")) {
    return reject(501, "chunked request bodies are not supported by the fake server");
  }
  std::size_t content_length = 0;
  if (request.has_header("content-length")) {
    const std::string text = request.header("content-length");
    const auto [end, error] =
        std::from_chars(text.data(), text.data() + text.size(), content_length);
    if (error != std::errc() || end != text.data() + text.size()) {
      return reject(400, "invalid Content-Length");
    }
  }
  // A file upload may be as large as the batch file limit allows, so that a file just over it
  // gets the API's 400 rather than this 413.
  std::size_t max_body = kMaxBodyBytes;
  if (request.path == "/v1/files") {
    const std::size_t limit = options.batch_file_max_bytes;
    max_body = std::max(max_body, limit > SIZE_MAX - kMultipartOverheadBytes
                                      ? SIZE_MAX
                                      : limit + kMultipartOverheadBytes);
  }
  if (content_length > max_body) return reject(413, "request body too large");

  const std::size_t body_start = header_end + 4;
  if (buffer.size() < body_start + content_length &&
      lowercase(request.header("expect")) == "100-continue") {
    if (!send_all(fd, "HTTP/1.1 100 Continue\r\n\r\n")) return false;
  }
  while (buffer.size() < body_start + content_length) {
    if (!receive_more()) return false;
  }
  request.body = buffer.substr(body_start, content_length);
  buffer.erase(0, body_start + content_length);
  return true;
}

std::string lowercase(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

}  // namespace weakdistill::testing
