#include "visrec/weights/fetch.h"

#include <curl/curl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>

#include <cstdio>
#include <mutex>

#include <spdlog/spdlog.h>

#include "visrec/artifact/checkpoint.h"
#include "visrec/artifact/weights_cache.h"
#include "visrec/util/errors.h"
#include "visrec/util/fs.h"
#include "visrec/util/sha256.h"

namespace visrec::weights {

namespace fs = std::filesystem;

namespace {

const PublishedWeights* Find(const std::string& name) {
  for (const auto& w : KnownWeights())
    if (w.name == name) return &w;
  return nullptr;
}

std::string KnownNames() {
  std::string s;
  for (const auto& w : KnownWeights()) s += (s.empty() ? "" : ", ") + w.name;
  return s;
}

struct Sink {
  std::FILE* file = nullptr;
  int64_t written = 0, limit = 0;
  bool too_big = false, write_failed = false;
};

size_t Write(char* data, size_t size, size_t n, void* user) {
  auto* s = static_cast<Sink*>(user);
  const size_t len = size * n;
  if (s->written + int64_t(len) > s->limit) {
    s->too_big = true;
    return 0;  // makes curl stop with CURLE_WRITE_ERROR
  }
  if (std::fwrite(data, 1, len, s->file) != len) {
    s->write_failed = true;
    return 0;
  }
  s->written += int64_t(len);
  return len;
}

// Downloads cut short by a kill (".NAME.part-PID" whose process is gone): nothing reads them, so
// the next fetch into the folder removes them.
void RemoveAbandonedParts(const fs::path& dir) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string n = e.path().filename().string();
    auto at = n.rfind(".part-");
    if (n.empty() || n[0] != '.' || at == std::string::npos) continue;
    const std::string pid_text = n.substr(at + 6);
    if (pid_text.empty() || pid_text.size() > 9 || pid_text.find_first_not_of("0123456789") != std::string::npos)
      continue;
    const pid_t pid = pid_t(std::stol(pid_text));
    if (pid == ::getpid() || (::kill(pid, 0) != 0 && errno == ESRCH)) {
      std::error_code rm;
      fs::remove(e.path(), rm);
    }
  }
}

// The file name of a URL, without query or fragment.
std::string UrlFileName(const std::string& url) {
  std::string path = url.substr(0, url.find_first_of("?#"));
  return path.substr(path.rfind('/') + 1);
}

// The file name of `url`, which must be NAME-<hex>.pth: the name is how `--weights NAME` finds the
// file again, the hex (returned in `hash_prefix`) is the check.
std::string CheckedFileName(const FetchOptions& o, const std::string& url, std::string* hash_prefix) {
  const std::string file_name = UrlFileName(url);
  *hash_prefix = HashPrefixOfFileName(file_name);
  if (file_name.rfind(o.name + "-", 0) != 0 || fs::path(file_name).extension() != ".pth" ||
      file_name.size() != o.name.size() + 1 + hash_prefix->size() + 4)
    throw UsageError("weights fetch: --url must end in " + o.name +
                     "-<first hex digits of its SHA-256>.pth, like the "
                     "published " +
                     UrlFileName(Find(o.name)->url) + " (found '" + file_name +
                     "'); for other files, download them yourself and give --weights PATH");
  return file_name;
}

// Downloads `url` into `part` (a new file) within the options' size and time limits; returns the
// bytes written. Every failure is an error naming the URL and why; the caller removes `part`.
int64_t Download(const FetchOptions& o, const std::string& url, const fs::path& part) {
  Sink sink;
  sink.limit = o.max_bytes;
  sink.file = std::fopen(part.c_str(), "wb");
  if (!sink.file) throw IoError("weights fetch: cannot write " + part.string() + ": " + ErrnoText());

  static std::once_flag curl_init;
  std::call_once(curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  CURL* curl = curl_easy_init();
  if (!curl) {
    std::fclose(sink.file);
    throw NetworkError("weights fetch: libcurl could not start");
  }
  char err[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Write);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, err);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, o.connect_timeout_s);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1024L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, o.stall_timeout_s);
  curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(o.max_bytes));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "visrec-weights-fetch");
  const CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(curl);
  const bool closed = std::fclose(sink.file) == 0;
  if (sink.write_failed || !closed)
    throw IoError("weights fetch: writing " + part.string() + " failed: " + ErrnoText());
  if (sink.too_big || rc == CURLE_FILESIZE_EXCEEDED)
    throw NetworkError("weights fetch: " + url + " is larger than the limit of " + std::to_string(o.max_bytes) +
                       " bytes; nothing was stored");
  if (rc != CURLE_OK) {
    std::string why = err[0] ? err : curl_easy_strerror(rc);
    if (rc == CURLE_HTTP_RETURNED_ERROR) why = "HTTP status " + std::to_string(status);
    if (rc == CURLE_PARTIAL_FILE)
      why = "the transfer ended early (" + std::to_string(sink.written) + " bytes received)";
    throw NetworkError("weights fetch: downloading " + url + " failed: " + why +
                       "; nothing was stored. Check the network (or a proxy: https_proxy) and run it again");
  }
  return sink.written;
}

}  // namespace

void FetchOptions::Validate() const {
  if (!Find(name)) throw UsageError("weights fetch: unknown name '" + name + "' (known: " + KnownNames() + ")");
  if (!url.empty() && url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0)
    throw UsageError("weights fetch: --url must be an http:// or https:// address");
  if (max_bytes < 1) throw UsageError("weights fetch: the size limit must be positive");
}

FetchResult Fetch(const FetchOptions& o) {
  o.Validate();
  const std::string url = o.url.empty() ? Find(o.name)->url : o.url;
  std::string want;
  const std::string file_name = CheckedFileName(o, url, &want);
  const fs::path dir = o.dir.empty() ? WeightsCacheDir() : o.dir;
  const fs::path dest = dir / file_name;
  FetchResult r;
  r.path = dest;
  std::error_code ec;
  if (fs::is_regular_file(dest, ec)) {
    std::string sha = Sha256File(dest);
    if (sha.rfind(want, 0) == 0) {
      r.already_there = true;
      r.bytes = int64_t(fs::file_size(dest, ec));
      r.sha256 = sha;
      return r;
    }
    spdlog::warn("weights fetch: {} in the cache fails its hash check; downloading it again", dest.string());
  }
  fs::create_directories(dir, ec);
  if (ec) throw IoError("weights fetch: cannot create " + dir.string() + ": " + ec.message());
  RemoveAbandonedParts(dir);
  // Downloaded beside its final name, renamed only once verified; removed on every failure.
  const fs::path part = dir / ("." + file_name + ".part-" + std::to_string(::getpid()));
  struct Cleanup {
    fs::path p;
    bool keep = false;
    ~Cleanup() {
      std::error_code e;
      if (!keep) fs::remove(p, e);
    }
  } cleanup{part};
  spdlog::info("weights fetch: {} -> {}", url, dest.string());
  r.bytes = Download(o, url, part);
  r.sha256 = Sha256File(part);
  if (r.sha256.rfind(want, 0) != 0)
    throw NetworkError("weights fetch: " + url + " has SHA-256 " + r.sha256.substr(0, 16) + "…, but its name says " +
                       want + "…: a damaged or substituted download; nothing was stored");
  try {
    ReadTorchCheckpoint(ReadFileBytes(part), url);
  } catch (const InputError& e) {
    throw NetworkError(std::string("weights fetch: the download is not a usable checkpoint (") + e.what() +
                       "); nothing was stored");
  }
  FsyncFile(part);
  fs::rename(part, dest, ec);
  if (ec) throw IoError("weights fetch: cannot move the download to " + dest.string() + ": " + ec.message());
  cleanup.keep = true;
  FsyncDir(dir);
  return r;
}

}  // namespace visrec::weights
