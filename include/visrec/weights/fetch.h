// `visrec weights fetch`: downloads published weights into the cache (libcurl), checking the
// SHA-256 prefix their file name carries. Nothing partial or unverified is ever left in the cache.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>

namespace visrec::weights {

struct FetchOptions {
  std::string name;           // a KnownWeights() name, e.g. resnet50
  std::filesystem::path dir;  // empty = WeightsCacheDir()
  std::string url;            // empty = the published URL; a mirror must keep the file name (it carries the hash)
  int64_t max_bytes = int64_t(2) << 30;  // larger downloads are refused
  long connect_timeout_s = 30;
  long stall_timeout_s = 60;  // abort when under 1 KiB/s for this long
  void Validate() const;
};

struct FetchResult {
  std::filesystem::path path;
  bool already_there = false;  // a verified copy was in the cache: nothing downloaded
  int64_t bytes = 0;
  std::string sha256;
};

// UsageError for an unknown name or a URL whose file name carries no hash; NetworkError (exit 11)
// for a failed transfer, an HTTP error status, a truncated body or a hash mismatch; IoError when
// the cache cannot be written. The file is verified (hash, readable checkpoint) before it is renamed
// into place.
FetchResult Fetch(const FetchOptions& options);

}  // namespace visrec::weights
