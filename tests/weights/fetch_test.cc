// `visrec weights fetch` against a loopback HTTP server started by the test (127.0.0.1, no
// internet): a good download, a wrong hash, a body cut short, an HTTP error, and the name lookup
// of `--weights resnet18` in the cache afterwards.
#include "visrec/weights/fetch.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <map>
#include <thread>

#include "../test_util.h"
#include "visrec/artifact/weights_cache.h"
#include "visrec/util/errors.h"
#include "visrec/util/sha256.h"

namespace visrec::weights {
namespace {

namespace fs = std::filesystem;

// Serves canned responses by path until destroyed. A response may promise more bytes than it sends.
class LoopbackServer {
 public:
  struct Response {
    int status = 200;
    std::string body;
    size_t promised = 0;  // Content-Length; 0 = body.size()
  };
  explicit LoopbackServer(std::map<std::string, Response> routes) : routes_(std::move(routes)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 8) != 0)
      throw std::runtime_error("loopback server: cannot listen");
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~LoopbackServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  std::string Url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }

 private:
  void Serve() {
    while (!stop_) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string req;
      char buf[4096];
      while (req.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        req.append(buf, size_t(n));
      }
      std::string path = req.substr(4, req.find(' ', 4) - 4);  // "GET /path HTTP/1.1"
      auto it = routes_.find(path);
      Response r = it == routes_.end() ? Response{404, "not found", 0} : it->second;
      std::string head = "HTTP/1.1 " + std::to_string(r.status) + (r.status == 200 ? " OK" : " Error") +
                         "\r\nContent-Length: " + std::to_string(r.promised ? r.promised : r.body.size()) +
                         "\r\nConnection: close\r\n\r\n";
      std::string all = head + r.body;
      for (size_t sent = 0; sent < all.size();) {
        ssize_t n = ::send(c, all.data() + sent, all.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) break;
        sent += size_t(n);
      }
      ::close(c);
    }
  }
  std::map<std::string, Response> routes_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

std::vector<std::string> Listing(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

TEST(WeightsFetch, LoopbackDownloadsAreVerifiedAndNothingPartialStays) {
  testing::TempDir tmp;
  ::setenv("NO_PROXY", "127.0.0.1", 1);  // a proxy configured on the machine must not see loopback
  ::setenv("no_proxy", "127.0.0.1", 1);
  const std::string good = testing::ReadText(fs::path(VISREC_FIXTURES_DIR) / "checkpoint" / "resnet18-tv.pth");
  const std::string hash = Sha256Hex(good).substr(0, 8);
  const std::string name = "/resnet18-" + hash + ".pth";
  std::string flipped = good;
  flipped[flipped.size() / 2] ^= 1;
  LoopbackServer server({{"/good" + name, {200, good, 0}},
                         {"/wrong" + name, {200, flipped, 0}},
                         {"/short" + name, {200, good.substr(0, good.size() / 3), good.size()}},
                         {"/nohash/resnet18.pth", {200, good, 0}}});
  const fs::path cache = tmp / "xdg" / "visrec" / "weights";
  FetchOptions o;
  o.name = "resnet18";
  o.dir = cache;
  o.connect_timeout_s = 5;
  o.stall_timeout_s = 5;

  o.url = server.Url("/wrong" + name);
  testing::ExpectThrowWith<NetworkError>([&] { Fetch(o); }, {"SHA-256", hash.c_str(), "nothing was stored"});
  EXPECT_TRUE(Listing(cache).empty()) << "a download failing its hash leaves nothing behind";

  o.url = server.Url("/short" + name);
  testing::ExpectThrowWith<NetworkError>([&] { Fetch(o); }, {"ended early", "nothing was stored"});
  EXPECT_TRUE(Listing(cache).empty()) << "a truncated download leaves no partial file";

  o.url = server.Url("/missing" + name);
  testing::ExpectThrowWith<NetworkError>([&] { Fetch(o); }, {"HTTP status 404"});
  EXPECT_TRUE(Listing(cache).empty());

  o.url = server.Url("/nohash/resnet18.pth");
  EXPECT_THROW(Fetch(o), UsageError);

  o.url = server.Url("/good/resnet50-" + hash + ".pth");  // another network's file name
  testing::ExpectThrowWith<UsageError>([&] { Fetch(o); }, {"resnet18-<first hex digits"});
  o.url = server.Url("/good/evil-" + hash + ".pth");
  EXPECT_THROW(Fetch(o), UsageError);

  // A download killed midway leaves .NAME.part-PID; the next fetch removes it (that process is gone).
  fs::create_directories(cache);
  testing::WriteText(cache / (".resnet18-" + hash + ".pth.part-999999999"), "half");
  o.url = server.Url("/good" + name);
  FetchResult r = Fetch(o);
  EXPECT_FALSE(r.already_there);
  EXPECT_EQ(r.path, cache / ("resnet18-" + hash + ".pth"));
  EXPECT_EQ(testing::ReadText(r.path), good);
  EXPECT_EQ(Listing(cache), std::vector<std::string>{"resnet18-" + hash + ".pth"});
  EXPECT_TRUE(Fetch(o).already_there) << "a verified cached copy is not downloaded again";
  // A mirror's NAME-<hex>.pth is what `--weights resnet18` finds when the published file is absent.
  const char* old_xdg = std::getenv("XDG_CACHE_HOME");
  const std::string saved = old_xdg ? old_xdg : "";
  ::setenv("XDG_CACHE_HOME", (tmp / "xdg").c_str(), 1);
  EXPECT_EQ(ResolveWeights("resnet18"), r.path);
  if (old_xdg)
    ::setenv("XDG_CACHE_HOME", saved.c_str(), 1);
  else
    ::unsetenv("XDG_CACHE_HOME");

  o.name = "nosuch";
  EXPECT_THROW(Fetch(o), UsageError);
}

TEST(WeightsFetch, NamesResolveInTheCacheOrSayWhatToRun) {
  testing::TempDir tmp;
  const char* old = std::getenv("XDG_CACHE_HOME");
  const std::string saved = old ? old : "";
  ::setenv("XDG_CACHE_HOME", (tmp / "xdg").c_str(), 1);
  testing::ExpectThrowWith<InputError>([] { ResolveWeights("resnet50"); },
                                       {"visrec weights fetch resnet50", "not downloaded"});
  testing::ExpectThrowWith<UsageError>([] { WeightsByName("resnet50", "resnet18", "extract"); }, {"--model resnet50"});
  const fs::path cached = tmp / "xdg" / "visrec" / "weights" / "resnet50-0676ba61.pth";
  fs::create_directories(cached.parent_path());
  testing::WriteText(cached, "x");
  std::string known;
  EXPECT_EQ(ResolveWeights("resnet50", &known), cached);
  EXPECT_EQ(known, "resnet50");
  EXPECT_EQ(ResolveWeights("some/file.pth"), fs::path("some/file.pth")) << "paths are left alone";
  EXPECT_EQ(HashPrefixOfFileName("resnet50-0676ba61.pth"), "0676ba61");
  EXPECT_EQ(HashPrefixOfFileName("resnet50.pth"), "");
  EXPECT_EQ(HashPrefixOfFileName("resnet50-XYZ12345.pth"), "");
  if (old)
    ::setenv("XDG_CACHE_HOME", saved.c_str(), 1);
  else
    ::unsetenv("XDG_CACHE_HOME");
}

}  // namespace
}  // namespace visrec::weights
