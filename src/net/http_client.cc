#include "weakdistill/net/http_client.h"

#include <fmt/format.h>
#include <httplib.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <filesystem>
#include <mutex>
#include <random>
#include <thread>

#include "weakdistill/core/error.h"
#include "weakdistill/core/json_excerpt.h"
#include "weakdistill/core/jsonl.h"
#include "weakdistill/core/utf8.h"
#include "weakdistill/core/options.h"

namespace weakdistill {

HttpFatalError::~HttpFatalError() = default;

bool sleep_unless_cancelled(double seconds, const std::atomic<bool>* cancel) {
  using Clock = std::chrono::steady_clock;
  const auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(seconds));
  while (Clock::now() < until) {
    if (cancel != nullptr && cancel->load()) return false;
    const Clock::duration left = until - Clock::now();
    std::this_thread::sleep_for(std::min<Clock::duration>(left, std::chrono::milliseconds(20)));
  }
  return cancel == nullptr || !cancel->load();
}

void read_http_options(OptionReader& r, HttpOptions& o) {
  r.get("base_url", o.base_urls);
  r.get("api_key_env", o.api_key_env);
  r.get("concurrency", o.concurrency);
  r.get("timeout_s", o.timeout_s);
  r.get("connect_timeout_s", o.connect_timeout_s);
  r.get("max_retries", o.max_retries);
  r.get("backoff_initial_s", o.backoff_initial_s);
  r.get("backoff_max_s", o.backoff_max_s);
  r.get("ca_file", o.ca_file);
  r.get("verify_tls", o.verify_tls);
  if (!o.ca_file.empty() && !std::filesystem::is_regular_file(o.ca_file)) {
    r.fail("ca_file", "no such file: " + o.ca_file);
  }
}

namespace {

using Clock = std::chrono::steady_clock;

struct Endpoint {
  std::string scheme_host_port;  // "https://api.example.com:443"
  std::string prefix;            // "/v1" (no trailing slash; may be empty)
  std::string url;               // as the user wrote it, for messages
};

Endpoint parse_base_url(const std::string& url, const std::string& context) {
  const std::string key = context + ".base_url";
  auto bad = [&](const std::string& why) -> InputError {
    return InputError(
        fmt::format("{}: \"{}\" is not a usable URL: {} (expected like "
                    "http://127.0.0.1:8000/v1)",
                    key, url, why));
  };
  std::string rest;
  if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else if (url.rfind("https://", 0) == 0) {
    rest = url.substr(8);
  } else {
    throw bad("the scheme must be http:// or https://");
  }
  const std::size_t slash = rest.find('/');
  const std::string authority = rest.substr(0, slash);
  std::string prefix = slash == std::string::npos ? "" : rest.substr(slash);
  if (prefix.find_first_of("?#") != std::string::npos) throw bad("no query or fragment allowed");
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  if (authority.empty()) throw bad("no host");
  if (authority.find('@') != std::string::npos) {
    throw bad("credentials in the URL are not supported; use api_key_env");
  }
  std::string host = authority;
  std::string port;
  if (authority.front() == '[') {  // IPv6 literal
    const std::size_t close = authority.find(']');
    if (close == std::string::npos) throw bad("unclosed '[' in the host");
    host = authority.substr(0, close + 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') throw bad("junk after the IPv6 address");
      port = authority.substr(close + 2);
    }
  } else if (const std::size_t colon = authority.rfind(':'); colon != std::string::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty() || host == "[]") throw bad("no host");
  if (host.find_first_of(" \t\r\n") != std::string::npos) throw bad("whitespace in the host");
  if (!port.empty() || authority.back() == ':') {
    if (port.empty() || port.size() > 5 ||
        !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      throw bad("the port must be a number");
    }
    const int p = std::stoi(port);
    if (p < 1 || p > 65535) throw bad("the port must be in 1..65535");
  }
  Endpoint e;
  e.scheme_host_port = url.substr(0, url.size() - rest.size()) + authority;
  e.prefix = prefix;
  e.url = url;
  return e;
}

bool retryable_status(int status) {
  return status == 408 || status == 409 || status == 429 || status >= 500;
}

// The server's own explanation: OpenAI {"error": {"message"}}, vLLM/others
// {"message"} or {"detail"}, else the start of the body. A message that is not a string (an
// object, an array: some servers nest their errors) is quoted as JSON.
std::string server_message(const std::string& body) {
  const auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_object()) {
    if (auto it = j.find("error"); it != j.end() && !it->is_null()) return error_message(*it);
    for (const char* k : {"message", "detail"}) {
      if (auto m = j.find(k); m != j.end()) return error_message(*m);
    }
  }
  std::string s = utf8::make_valid(std::string_view(body).substr(0, 200));
  if (body.size() > 200) s += "...";
  return s;
}

// Seconds from a Retry-After header (delta-seconds or an HTTP date); -1 if absent or unreadable.
double parse_retry_after(const std::string& value) {
  if (value.empty()) return -1;
  char* end = nullptr;
  const double s = std::strtod(value.c_str(), &end);
  if (end != value.c_str() && *end == '\0') return s >= 0 ? s : -1;
  std::tm tm{};
  if (strptime(value.c_str(), "%a, %d %b %Y %H:%M:%S", &tm) != nullptr) {
    const double delta = std::difftime(timegm(&tm), std::time(nullptr));
    return std::max(0.0, delta);
  }
  return -1;
}

std::string redact_key(const std::string& key, std::string text) {
  if (key.empty()) return text;
  for (std::size_t p = text.find(key); p != std::string::npos; p = text.find(key, p + 3)) {
    text.replace(p, key.size(), "***");
  }
  return text;
}

double jitter_uniform(double hi) {
  thread_local std::mt19937_64 engine{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, hi)(engine);
}

}  // namespace

struct HttpClient::Impl {
  struct Replica {
    Endpoint endpoint;
    std::mutex mutex;
    std::vector<std::unique_ptr<httplib::Client>> idle;  // kept-alive connections
    std::atomic<std::int64_t> down_until{0};             // steady-clock ns; skipped until then
  };
  const HttpOptions* options = nullptr;
  std::vector<std::unique_ptr<Replica>> replicas;
  std::atomic<std::size_t> next_replica{0};
  std::string key;

  std::unique_ptr<httplib::Client> acquire(Replica& r) {
    {
      std::lock_guard lock(r.mutex);
      if (!r.idle.empty()) {
        auto c = std::move(r.idle.back());
        r.idle.pop_back();
        return c;
      }
    }
    auto c = std::make_unique<httplib::Client>(r.endpoint.scheme_host_port);
    const auto split = [](double s, time_t& sec, time_t& usec) {
      sec = static_cast<time_t>(s);
      usec = static_cast<time_t>((s - static_cast<double>(sec)) * 1e6);
    };
    time_t sec, usec;
    split(options->connect_timeout_s, sec, usec);
    c->set_connection_timeout(sec, usec);
    split(options->timeout_s, sec, usec);
    c->set_read_timeout(sec, usec);
    c->set_write_timeout(sec, usec);
    c->set_keep_alive(true);
    c->set_tcp_nodelay(true);
    c->enable_server_certificate_verification(options->verify_tls);
    if (!options->ca_file.empty()) c->set_ca_cert_path(options->ca_file.c_str());
    return c;
  }

  void release(Replica& r, std::unique_ptr<httplib::Client> c) {
    std::lock_guard lock(r.mutex);
    r.idle.push_back(std::move(c));
  }

  // Round-robin over replicas that are up, avoiding `avoid` when another is up.
  std::size_t pick(std::size_t avoid) {
    const std::size_t n = replicas.size();
    const auto now = Clock::now().time_since_epoch().count();
    for (std::size_t tries = 0; tries < 2 * n; ++tries) {
      const std::size_t i = next_replica.fetch_add(1) % n;
      if (n > 1 && i == avoid && tries < n) continue;
      if (replicas[i]->down_until.load() <= now) return i;
    }
    return next_replica.fetch_add(1) % n;  // all down: try anyway
  }

  // One request with its retries; `cancel` (may be null) ends retry waits early. `send`
  // makes one attempt on a connection with the full path and the headers; `raw` keeps a 2xx
  // body as text (HttpOutcome::text) instead of parsing it as JSON.
  using Send = std::function<httplib::Result(httplib::Client&, const std::string& full_path,
                                             const httplib::Headers&)>;
  HttpOutcome request(const std::string& path, const Send& send, bool raw,
                      const std::atomic<bool>* cancel);
  HttpOutcome post(const std::string& path, const std::string& body,
                   const std::atomic<bool>* cancel) {
    return request(
        path, [&](httplib::Client& c, const std::string& full, const httplib::Headers& h) {
          return c.Post(full.c_str(), h, body, "application/json");
        },
        false, cancel);
  }
};

HttpClient::HttpClient(HttpOptions options) : options_(std::move(options)), impl_(new Impl) {
  impl_->options = &options_;
  const std::string& ctx = options_.context;
  if (options_.base_urls.empty()) throw InputError(ctx + ".base_url: no URL given");
  for (const auto& url : options_.base_urls) {
    auto r = std::make_unique<Impl::Replica>();
    r->endpoint = parse_base_url(url, ctx);
    impl_->replicas.push_back(std::move(r));
  }
  if (options_.concurrency < 1) throw InputError(ctx + ".concurrency: must be at least 1");
  if (options_.max_retries < 0) throw InputError(ctx + ".max_retries: must be at least 0");
  if (!(options_.timeout_s > 0)) throw InputError(ctx + ".timeout_s: must be positive");
  if (!(options_.connect_timeout_s > 0)) {
    throw InputError(ctx + ".connect_timeout_s: must be positive");
  }
  if (options_.backoff_initial_s < 0 || options_.backoff_max_s < 0) {
    throw InputError(ctx + ".backoff_initial_s/backoff_max_s: must not be negative");
  }
  if (!options_.api_key_env.empty()) {
    const char* v = std::getenv(options_.api_key_env.c_str());
    if (v == nullptr || *v == '\0') {
      throw InputError(fmt::format(
          "{}.api_key_env: the environment variable {} is not set (or empty); export it with the "
          "API key, or remove api_key_env for a server that needs no key",
          ctx, options_.api_key_env));
    }
    impl_->key = v;
  }
}

HttpClient::~HttpClient() = default;

std::string HttpClient::redact(std::string text) const { return redact_key(impl_->key, text); }

namespace {


std::string fatal_advice(int status, const HttpOptions& o) {
  switch (status) {
    case 401:
      return o.api_key_env.empty()
                 ? fmt::format(
                       "the server wants an API key: set {}.api_key_env to the name of the "
                       "environment variable that holds it",
                       o.context)
                 : fmt::format("check the API key in the environment variable {} ({}.api_key_env)",
                               o.api_key_env, o.context);
    case 403:
      return "the key is not allowed this model or endpoint: check " + o.context +
             ".model and the key's permissions";
    case 404:
      return "check " + o.context + ".base_url (usually ending in /v1) and " + o.context +
             ".model (the server's model name)";
    default:
      return "the server rejected the request: check the " + o.context +
             " options (model, max_tokens, response_format)";
  }
}

}  // namespace

HttpOutcome HttpClient::post(const std::string& path, const nlohmann::json& body) {
  return impl_->post(path, body.dump(), nullptr);
}

HttpOutcome HttpClient::post_serialized(const std::string& path, const std::string& body) {
  return impl_->post(path, body, nullptr);
}

HttpOutcome HttpClient::get(const std::string& path, const std::atomic<bool>* cancel) {
  return impl_->request(
      path, [&](httplib::Client& c, const std::string& full, const httplib::Headers& h) {
        return c.Get(full.c_str(), h);
      },
      false, cancel);
}

HttpOutcome HttpClient::get_text(const std::string& path, const std::atomic<bool>* cancel) {
  return impl_->request(
      path, [&](httplib::Client& c, const std::string& full, const httplib::Headers& h) {
        return c.Get(full.c_str(), h);
      },
      true, cancel);
}

HttpOutcome HttpClient::del(const std::string& path, const std::atomic<bool>* cancel) {
  return impl_->request(
      path, [&](httplib::Client& c, const std::string& full, const httplib::Headers& h) {
        return c.Delete(full.c_str(), h);
      },
      false, cancel);
}

HttpOutcome HttpClient::post_json(const std::string& path, const nlohmann::json& body,
                                  const std::atomic<bool>* cancel) {
  return impl_->post(path, body.dump(), cancel);
}

HttpOutcome HttpClient::post_file(const std::string& path,
                                  const std::vector<std::pair<std::string, std::string>>& fields,
                                  const std::string& file_field, const std::string& file_name,
                                  const std::string& content, const std::atomic<bool>* cancel) {
  httplib::MultipartFormDataItems items;
  for (const auto& [name, value] : fields) items.push_back({name, value, "", ""});
  items.push_back({file_field, content, file_name, "application/jsonl"});
  return impl_->request(
      path, [&](httplib::Client& c, const std::string& full, const httplib::Headers& h) {
        return c.Post(full.c_str(), h, items);
      },
      false, cancel);
}

HttpOutcome HttpClient::Impl::request(const std::string& path, const Send& send, bool raw,
                                      const std::atomic<bool>* cancel) {
  Impl& impl = *this;
  const HttpOptions& o = *options;
  HttpOutcome out;
  httplib::Headers headers;
  if (!impl.key.empty()) headers.emplace("Authorization", "Bearer " + impl.key);
  std::size_t last = impl.replicas.size();  // none yet
  for (int attempt = 0;; ++attempt) {
    if (cancel != nullptr && cancel->load()) {
      out.error = "cancelled";
      return out;
    }
    const std::size_t ri = impl.pick(last);
    last = ri;
    auto& replica = *impl.replicas[ri];
    out.attempts = attempt + 1;
    out.replica = replica.endpoint.url;
    double retry_after = -1;
    auto client = impl.acquire(replica);
    auto res = send(*client, replica.endpoint.prefix + path, headers);
    if (!res) {
      const auto err = res.error();
      out.status = 0;
      out.error = fmt::format("{} at {}: {}", o.context, replica.endpoint.url,
                              err == httplib::Error::Read ? "no complete reply (timeout or "
                                                            "connection dropped)"
                                                          : httplib::to_string(err));
      if (err == httplib::Error::Connection || err == httplib::Error::ConnectionTimeout ||
          err == httplib::Error::SSLConnection) {
        // Skip this replica for a while so that the others take its share.
        const auto pause = std::chrono::duration_cast<Clock::duration>(
            std::chrono::duration<double>(std::min(5.0, std::max(0.5, o.backoff_initial_s))));
        replica.down_until.store((Clock::now() + pause).time_since_epoch().count());
      }
      if (err == httplib::Error::SSLServerVerification) {
        throw HttpFatalError(fmt::format("{} at {}: the server's TLS certificate could not be "
                                         "verified; set {}.ca_file to its CA's PEM file",
                                         o.context, replica.endpoint.url, o.context),
                             0);
      }
      // The connection object is dropped: after an error its socket state is unknown.
    } else {
      out.status = res->status;
      impl.release(replica, std::move(client));
      if (res->status >= 200 && res->status < 300 && raw) {
        out.ok = true;
        out.error.clear();
        out.text = std::move(res->body);
        return out;
      }
      if (res->status >= 200 && res->status < 300) {
        // A body nested past kMaxJsonNesting parses (without recursion) but every copy of it
        // recurses once a level: a million '[' from a broken server would overflow the stack.
        const bool too_deep = json_nesting(res->body) > kMaxJsonNesting;
        out.body = too_deep ? nlohmann::json(nlohmann::json::value_t::discarded)
                            : nlohmann::json::parse(res->body, nullptr, false);
        if (!out.body.is_discarded()) {
          out.ok = true;
          out.error.clear();
          return out;
        }
        out.body = nullptr;
        out.error = fmt::format(
            "{} at {}: HTTP {} with a body that is not JSON ({} bytes{})", o.context,
            replica.endpoint.url, res->status, res->body.size(),
            too_deep ? fmt::format(", nested deeper than {} levels", kMaxJsonNesting)
                : "");
      } else {
        const std::string message = redact_key(key, server_message(res->body));
        out.error = fmt::format("{} at {}: HTTP {}: {}", o.context, replica.endpoint.url,
                                res->status, message);
        if (!retryable_status(res->status)) {
          throw HttpFatalError(out.error + "; " + fatal_advice(res->status, o), res->status);
        }
        retry_after = parse_retry_after(res->get_header_value("Retry-After"));
      }
    }
    if (attempt >= o.max_retries) {
      out.error += fmt::format(" (gave up after {} attempts)", out.attempts);
      return out;
    }
    double wait =
        jitter_uniform(std::min(o.backoff_max_s, o.backoff_initial_s * std::pow(2.0, attempt)));
    if (retry_after > wait) wait = std::min(retry_after, o.backoff_max_s);
    spdlog::debug("{}; retry {} of {} in {:.2f} s", out.error, attempt + 1, o.max_retries, wait);
    if (!sleep_unless_cancelled(wait, cancel)) {
      out.error = "cancelled";
      return out;
    }
  }
}

std::vector<HttpOutcome> HttpClient::post_many(
    const std::string& path, const std::vector<nlohmann::json>& bodies,
    const std::function<void(std::size_t, const HttpOutcome&)>& on_done,
    const std::atomic<bool>* cancel) {
  std::vector<std::string> serialized;
  serialized.reserve(bodies.size());
  for (const auto& body : bodies) serialized.push_back(body.dump());
  return post_many_serialized(path, serialized, on_done, cancel);
}

std::vector<HttpOutcome> HttpClient::post_many_serialized(
    const std::string& path, const std::vector<std::string>& bodies,
    const std::function<void(std::size_t, const HttpOutcome&)>& on_done,
    const std::atomic<bool>* cancel) {
  std::vector<HttpOutcome> outcomes(bodies.size());
  std::atomic<std::size_t> next{0};
  std::atomic<bool> stop{false};
  std::mutex done_mutex;
  std::exception_ptr failure;
  // Set by a fatal error here or (through the watcher) by the caller's cancel;
  // wakes the retry waits of requests in flight.
  std::atomic<bool> any_stop{false};
  auto worker = [&] {
    for (;;) {
      const std::size_t i = next.fetch_add(1);
      if (i >= bodies.size()) return;
      HttpOutcome outcome;
      if (stop.load() || (cancel != nullptr && cancel->load())) {
        outcome.error = "cancelled";
      } else {
        try {
          outcome = impl_->post(path, bodies[i], &any_stop);
        } catch (...) {
          std::lock_guard lock(done_mutex);
          if (!failure) failure = std::current_exception();
          stop.store(true);
          any_stop.store(true);
          continue;
        }
      }
      std::lock_guard lock(done_mutex);
      outcomes[i] = outcome;
      if (on_done && !stop.load()) {
        try {
          on_done(i, outcomes[i]);
        } catch (...) {
          if (!failure) failure = std::current_exception();
          stop.store(true);
          any_stop.store(true);
        }
      }
    }
  };
  // The caller's cancel flag is watched by a small thread that forwards it to
  // any_stop, so that retry sleeps wake within 50 ms of a cancel.
  std::atomic<bool> finished{false};
  std::thread watcher;
  if (cancel != nullptr) {
    watcher = std::thread([&] {
      while (!finished.load()) {
        if (cancel->load()) {
          any_stop.store(true);
          return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    });
  }
  const std::size_t n_workers =
      std::min<std::size_t>(static_cast<std::size_t>(options_.concurrency), bodies.size());
  std::vector<std::thread> workers;
  workers.reserve(n_workers);
  for (std::size_t t = 0; t < n_workers; ++t) workers.emplace_back(worker);
  for (auto& t : workers) t.join();
  finished.store(true);
  if (watcher.joinable()) watcher.join();
  if (failure) std::rethrow_exception(failure);
  return outcomes;
}

}  // namespace weakdistill
