// A real HTTP/1.1 server on 127.0.0.1:<ephemeral port> for tests of code that talks HTTP (the
// egress proxy, the AI proxy and its OpenAI-compatible upstream, examples). Handlers are
// registered per method and path, every request is recorded for assertions, and a response can
// be delayed or the connection dropped to exercise timeouts and transport errors.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace plugvisor::testsupport {

class FakeHttpServer {
 public:
  using Headers = std::vector<std::pair<std::string, std::string>>;

  struct Request {
    std::string method;
    std::string target;  // as sent: path and query
    std::string path;    // target without the query
    std::string query;   // after '?', empty if none
    Headers headers;     // names lower-cased, in arrival order
    std::string body;
    // First value of a header (name case-insensitive), or nullopt.
    std::optional<std::string> header(std::string_view name) const;
  };

  struct Response {
    int status = 200;
    // Content-Length is added unless given; "Transfer-Encoding: chunked" sends the body
    // chunked instead (the client then learns its size only as it arrives).
    Headers headers;
    std::string body;
    // Waited before anything is sent; the server keeps serving other connections meanwhile.
    std::chrono::milliseconds delay{0};
    // Close the connection without answering (a transport error for the client).
    bool drop_connection = false;
  };

  using Handler = std::function<Response(const Request&)>;

  // Binds `bind_address` (any 127.0.0.0/8 address works on Linux, handy for a "different
  // host") on an ephemeral port and starts serving on a background thread. Throws on failure,
  // which fails the test that constructed it.
  explicit FakeHttpServer(const std::string& bind_address = "127.0.0.1");
  ~FakeHttpServer();  // stops serving and joins the thread; pending delays are cut short
  FakeHttpServer(const FakeHttpServer&) = delete;
  FakeHttpServer& operator=(const FakeHttpServer&) = delete;

  uint16_t port() const;
  const std::string& address() const;
  // "http://<address>:<port>" + path.
  std::string url(const std::string& path = "") const;

  // `method` "*" matches any method. `path` is matched exactly against the path without the
  // query; "*" matches any path. A later registration for the same pair replaces the earlier
  // one; without a match the answer is 404.
  void on(const std::string& method, const std::string& path, Handler handler);
  // A handler answering with `responses` in order, then repeating the last one.
  static Handler sequence(std::vector<Response> responses);
  // Shorthands for a fixed answer.
  static Handler reply(int status, std::string body, Headers headers = {});

  std::vector<Request> requests() const;  // a copy of every request received, in order
  size_t request_count() const;
  // Waits until at least `n` requests have been received; returns whether they were.
  bool wait_for_requests(size_t n, std::chrono::milliseconds timeout) const;
  void clear_requests();

  struct Impl;  // public only so the sessions in the .cc can name it

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace plugvisor::testsupport
