// One io_context on one thread, asynchronous Beast sessions: a delayed response is a timer,
// not a sleeping thread, so a test's timeout fires while the server keeps answering others and
// the destructor never waits for a delay to run out.
#include "fake_http_server.h"

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>

namespace plugvisor::testsupport {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace

struct FakeHttpServer::Impl {
  asio::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  std::string address;
  uint16_t port = 0;
  std::thread thread;

  mutable std::mutex mu;
  mutable std::condition_variable received;
  std::vector<std::pair<std::pair<std::string, std::string>, Handler>> routes;
  std::vector<Request> requests;

  void accept();
  Handler route(const std::string& method, const std::string& path) const {
    std::lock_guard lock(mu);
    // Last registration wins, so search from the back.
    for (auto it = routes.rbegin(); it != routes.rend(); ++it) {
      const auto& [m, p] = it->first;
      if ((m == "*" || m == method) && (p == "*" || p == path)) return it->second;
    }
    return {};
  }
  void record(const Request& r) {
    {
      std::lock_guard lock(mu);
      requests.push_back(r);
    }
    received.notify_all();
  }
};

namespace {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, FakeHttpServer::Impl& server)
      : stream_(std::move(socket)), timer_(stream_.get_executor()), server_(server) {}

  void read() {
    parser_.emplace();
    parser_->body_limit(256u << 20);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       if (!ec) self->handle();
                     });
  }

 private:
  void handle() {
    const auto& msg = parser_->get();
    FakeHttpServer::Request req;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    const size_t q = req.target.find('?');
    req.path = req.target.substr(0, q);
    req.query = q == std::string::npos ? "" : req.target.substr(q + 1);
    for (const auto& field : msg) {
      req.headers.emplace_back(lower(std::string(field.name_string())), std::string(field.value()));
    }
    req.body = msg.body();
    keep_alive_ = msg.keep_alive();
    server_.record(req);

    FakeHttpServer::Response answer;
    if (auto handler = server_.route(req.method, req.path)) {
      try {
        answer = handler(req);
      } catch (const std::exception& e) {
        // The handler runs on the server thread; an escaping exception would end the process.
        answer = {500, {}, std::string("fake server handler threw: ") + e.what(), {}, false};
      }
    } else {
      answer = {404, {}, "no handler for " + req.method + " " + req.path, {}, false};
    }
    if (answer.drop_connection) {
      beast::error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
      stream_.socket().close(ignored);
      return;
    }
    build(answer, req.method == "HEAD");
    if (answer.delay.count() > 0) {
      timer_.expires_after(answer.delay);
      timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
        if (!ec) self->write();
      });
    } else {
      write();
    }
  }

  void build(const FakeHttpServer::Response& answer, bool head) {
    response_ = {};
    response_.version(11);
    response_.result(static_cast<unsigned>(answer.status));
    bool has_length = false;
    bool chunked = false;
    for (const auto& [name, value] : answer.headers) {
      const std::string lname = lower(name);
      if (lname == "transfer-encoding" && lower(value) == "chunked") {
        chunked = true;  // Beast writes the framing itself; see chunked(true) below
        continue;
      }
      response_.insert(name, value);
      has_length = has_length || lname == "content-length";
    }
    if (chunked) {
      response_.chunked(true);
    } else if (!has_length) {
      response_.content_length(answer.body.size());
    }
    if (!head) response_.body() = answer.body;
    response_.keep_alive(keep_alive_);
  }

  void write() {
    http::async_write(stream_, response_,
                      [self = shared_from_this()](beast::error_code ec, size_t) {
                        if (ec || !self->keep_alive_) {
                          beast::error_code ignored;
                          self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
                          return;
                        }
                        self->read();
                      });
  }

  beast::tcp_stream stream_;
  asio::steady_timer timer_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
  bool keep_alive_ = true;
  FakeHttpServer::Impl& server_;
};

}  // namespace

void FakeHttpServer::Impl::accept() {
  acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (ec) return;  // closed: the server is stopping
    std::make_shared<Session>(std::move(socket), *this)->read();
    accept();
  });
}

std::optional<std::string> FakeHttpServer::Request::header(std::string_view name) const {
  const std::string want = lower(name);
  for (const auto& [n, v] : headers) {
    if (n == want) return v;
  }
  return std::nullopt;
}

FakeHttpServer::FakeHttpServer(const std::string& bind_address) : impl_(std::make_unique<Impl>()) {
  const tcp::endpoint endpoint(asio::ip::make_address(bind_address), 0);
  impl_->acceptor.open(endpoint.protocol());
  impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
  impl_->acceptor.bind(endpoint);
  impl_->acceptor.listen();
  impl_->address = bind_address;
  impl_->port = impl_->acceptor.local_endpoint().port();
  impl_->accept();
  impl_->thread = std::thread([impl = impl_.get()] { impl->ioc.run(); });
}

FakeHttpServer::~FakeHttpServer() {
  impl_->ioc.stop();
  impl_->thread.join();
  // Sessions still pending (e.g. mid-delay) are destroyed with the io_context, closing sockets.
}

uint16_t FakeHttpServer::port() const { return impl_->port; }
const std::string& FakeHttpServer::address() const { return impl_->address; }

std::string FakeHttpServer::url(const std::string& path) const {
  return "http://" + impl_->address + ":" + std::to_string(impl_->port) + path;
}

void FakeHttpServer::on(const std::string& method, const std::string& path, Handler handler) {
  std::lock_guard lock(impl_->mu);
  impl_->routes.push_back({{method, path}, std::move(handler)});
}

FakeHttpServer::Handler FakeHttpServer::sequence(std::vector<Response> responses) {
  struct State {
    std::mutex mu;
    std::vector<Response> responses;
    size_t next = 0;
  };
  auto state = std::make_shared<State>();
  state->responses = std::move(responses);
  return [state](const Request&) {
    std::lock_guard lock(state->mu);
    if (state->responses.empty()) return Response{500, {}, "empty sequence", {}, false};
    const size_t i = std::min(state->next, state->responses.size() - 1);
    ++state->next;
    return state->responses[i];
  };
}

FakeHttpServer::Handler FakeHttpServer::reply(int status, std::string body, Headers headers) {
  return [status, body = std::move(body), headers = std::move(headers)](const Request&) {
    return Response{status, headers, body, {}, false};
  };
}

std::vector<FakeHttpServer::Request> FakeHttpServer::requests() const {
  std::lock_guard lock(impl_->mu);
  return impl_->requests;
}

size_t FakeHttpServer::request_count() const {
  std::lock_guard lock(impl_->mu);
  return impl_->requests.size();
}

bool FakeHttpServer::wait_for_requests(size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->mu);
  return impl_->received.wait_for(lock, timeout, [&] { return impl_->requests.size() >= n; });
}

void FakeHttpServer::clear_requests() {
  std::lock_guard lock(impl_->mu);
  impl_->requests.clear();
}

}  // namespace plugvisor::testsupport
