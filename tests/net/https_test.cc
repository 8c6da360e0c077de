// HTTPS through OpenSSL: a local TLS server with a certificate the test makes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <cstdlib>
#include <thread>

#include "support/temp_dir.h"
#include "weakdistill/net/http_client.h"

namespace weakdistill {
namespace {

using ::testing::HasSubstr;

class HttpsServer {
 public:
  HttpsServer(const std::string& cert, const std::string& key)
      : server_(cert.c_str(), key.c_str()) {
    server_.Post("/v1/chat/completions", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"choices":[{"message":{"content":"over tls"},"finish_reason":"stop"}]})",
                      "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ~HttpsServer() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_) + "/v1"; }
  bool valid() const { return server_.is_valid(); }

 private:
  httplib::SSLServer server_;
  int port_ = 0;
  std::thread thread_;
};

TEST(Https, TalksTlsWithATrustedCertificateAndRefusesAnUntrustedOne) {
  testing::TempDir dir;
  const std::string cert = dir.file("cert.pem"), key = dir.file("key.pem");
  const std::string cmd =
      "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 "
      "-addext subjectAltName=IP:127.0.0.1 -keyout '" +
      key + "' -out '" + cert + "' >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0) GTEST_SKIP() << "the openssl program is not installed";
  HttpsServer server(cert, key);
  ASSERT_TRUE(server.valid());

  HttpOptions o;
  o.base_urls = {server.url()};
  o.max_retries = 0;
  o.ca_file = cert;
  HttpClient client(o);
  const HttpOutcome out = client.post("/chat/completions", {{"model", "m"}});
  ASSERT_TRUE(out.ok) << out.error;
  EXPECT_EQ(out.body["choices"][0]["message"]["content"], "over tls");

  // Without the certificate among the trusted ones: refused, with what to do.
  o.ca_file.clear();
  HttpClient untrusted(o);
  try {
    untrusted.post("/chat/completions", {{"model", "m"}});
    ADD_FAILURE() << "an untrusted certificate was accepted";
  } catch (const HttpFatalError& e) {
    EXPECT_THAT(e.what(), HasSubstr("teacher.ca_file"));
  }
}

}  // namespace
}  // namespace weakdistill
