#include "visrec/artifact/artifact.h"

#include <fcntl.h>
#include <sys/file.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include <algorithm>
#include <map>
#include <mutex>
#include <atomic>
#include <chrono>
#include <ctime>
#include <set>

#include <spdlog/spdlog.h>

#include "visrec/artifact/stage_versions.h"
#include "visrec/util/errors.h"
#include "visrec/util/fs.h"
#include "visrec/util/sha256.h"
#include "visrec/util/version.h"

namespace visrec {
namespace {

constexpr const char* kManifest = "manifest.json";
constexpr const char* kLatest = "latest";

std::string ContentDigest(const json& manifest) {
  // Identity of the data: the key plus every output's digest. Timings and hosts stay out.
  json c;
  c["key"] = manifest.at("key");
  json outs = json::array();
  for (const auto& o : manifest.at("outputs")) outs.push_back({o.at("file"), o.at("sha256")});
  c["outputs"] = outs;
  return Sha256Hex(c.dump());
}

[[noreturn]] void Corrupt(const fs::path& dir, const std::string& why) {
  throw ArtifactError("artifact '" + dir.string() + "' is unusable: " + why +
                      "; rerun its stage with --force to rebuild it");
}

json ReadManifest(const fs::path& dir) {
  fs::path mp = dir / kManifest;
  std::error_code ec;
  if (!fs::exists(mp, ec))
    throw ArtifactError("'" + dir.string() +
                        "' has no manifest.json, so it is not a finished artifact"
                        " (an interrupted write leaves none); rerun the stage that produces it");
  std::string text = ReadFileBytes(mp);
  json m;
  try {
    m = json::parse(text);
  } catch (const std::exception& e) {
    Corrupt(dir, std::string("manifest.json is not valid JSON (") + e.what() + ")");
  }
  if (!m.is_object() || !m.contains("schema_version") || !m["schema_version"].is_number_integer())
    Corrupt(dir, "manifest.json lacks an integer schema_version");
  int schema = m["schema_version"].get<int>();
  if (schema > kArtifactSchemaVersion)
    throw ArtifactError("artifact '" + dir.string() + "' has schema version " + std::to_string(schema) +
                        " but this visrec (" + VisrecVersion() + ") reads up to version " +
                        std::to_string(kArtifactSchemaVersion) + "; upgrade visrec or rerun the stage");
  if (schema < 1) Corrupt(dir, "schema_version " + std::to_string(schema) + " is not valid");
  for (const char* field : {"stage", "stage_version", "key", "params", "inputs", "outputs"})
    if (!m.contains(field)) Corrupt(dir, std::string("manifest.json lacks '") + field + "'");
  if (!m["outputs"].is_array()) Corrupt(dir, "manifest 'outputs' is not a list");
  if (!m["stage"].is_string() || !m["stage_version"].is_number_integer())
    Corrupt(dir, "manifest 'stage' is not a name or 'stage_version' not an integer");
  const std::string stage = m["stage"].get<std::string>();
  const int version = m["stage_version"].get<int>(), known = stage_version::Known(stage);
  if (known > 0 && version > known) {
    const json* producer = m.contains("producer") && m["producer"].is_object() ? &m["producer"] : nullptr;
    const std::string made_by = producer && producer->contains("visrec") && (*producer)["visrec"].is_string()
                                    ? (*producer)["visrec"].get<std::string>()
                                    : std::string("?");
    throw ArtifactError("artifact '" + dir.string() + "' was made by " + stage + " stage version " +
                        std::to_string(version) + " (visrec " + made_by + "), but this visrec (" + VisrecVersion() +
                        ") reads " + stage + " up to version " + std::to_string(known) +
                        "; upgrade visrec, or rerun `visrec " + stage + "` with this one");
  }
  return m;
}

void CheckOutputs(const fs::path& dir, const json& m, VerifyLevel level) {
  for (const auto& o : m["outputs"]) {
    if (!o.contains("file") || !o.contains("bytes") || !o.contains("sha256"))
      Corrupt(dir, "an output entry lacks file/bytes/sha256");
    std::string name = o["file"].get<std::string>();
    if (name.find("..") != std::string::npos || (!name.empty() && name[0] == '/'))
      Corrupt(dir, "output name '" + name + "' escapes the artifact directory");
    fs::path p = dir / name;
    std::error_code ec;
    auto size = fs::file_size(p, ec);
    if (ec) Corrupt(dir, "output '" + name + "' is missing");
    if (size != o["bytes"].get<uint64_t>())
      Corrupt(dir, "output '" + name + "' has " + std::to_string(size) + " bytes, manifest says " +
                       std::to_string(o["bytes"].get<uint64_t>()));
    if (o.contains("dtype")) {
      NpyHeader h = ReadNpyHeader(p);
      if (DTypeName(h.dtype) != o["dtype"].get<std::string>())
        Corrupt(dir, "output '" + name + "' holds " + DTypeName(h.dtype) + ", manifest says " +
                         o["dtype"].get<std::string>());
      if (h.shape != o["shape"].get<std::vector<int64_t>>())
        Corrupt(dir, "output '" + name + "' shape differs from the manifest");
    }
    if (level == VerifyLevel::kFull && Sha256File(p) != o["sha256"].get<std::string>())
      Corrupt(dir, "output '" + name + "' does not match its recorded sha256 (modified or damaged)");
  }
}

// This machine, as "h" + 8 hex digits of its host name's sha256: a process id means nothing on
// another host sharing the workdir (pods or nodes on shared storage).
const std::string& HostTag() {
  static const std::string tag = [] {
    char name[256] = {0};
    if (::gethostname(name, sizeof name - 1) != 0) name[0] = '\0';
    return "h" + Sha256Hex(name).substr(0, 8);
  }();
  return tag;
}

// "<pid>-h<host8>-<clock>-<counter>": unique among concurrent writers on any host.
std::string UniqueSuffix() {
  static std::atomic<int> counter{0};
  auto now = std::chrono::steady_clock::now().time_since_epoch().count();
  return std::to_string(::getpid()) + "-" + HostTag() + "-" + std::to_string(now % 1000000007) + "-" +
         std::to_string(counter++);
}

// Hidden directories left by a process that died mid-write (".tmp-<key16>-<pid>-...") or mid-swap
// (".old-<key16>-<pid>-..."): removed once their writer is gone; they were never visible to readers.
// Only this host's are judged (a name carrying another host's tag belongs to a process this host
// cannot see, e.g. another pod writing into the same shared workdir).
// An ".old-" directory whose key directory is missing is the previous good artifact of a swap that
// was interrupted between its two renames (filesystems without atomic exchange): it is put back.
void RemoveStaleStaging(const fs::path& stage_dir) {
  std::error_code ec;
  for (auto it = fs::directory_iterator(stage_dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const bool is_tmp = name.rfind(".tmp-", 0) == 0, is_old = name.rfind(".old-", 0) == 0;
    if (!is_tmp && !is_old) continue;
    if (name.size() < 5 + 16 + 2) continue;
    const std::string rest = name.substr(5 + 16 + 1);
    const pid_t pid = pid_t(std::atol(rest.c_str()));
    const size_t dash = rest.find('-');
    if (dash != std::string::npos && rest.compare(dash + 1, 1, "h") == 0 &&
        rest.compare(dash + 1, HostTag().size(), HostTag()) != 0)
      continue;  // another host's writer
    if (pid <= 0 || pid == ::getpid() || ::kill(pid, 0) == 0 || errno != ESRCH) continue;
    const fs::path key_dir = stage_dir / name.substr(5, 16);
    std::error_code ec2;
    if (is_old && !fs::exists(key_dir, ec2) && fs::exists(it->path() / kManifest, ec2)) {
      fs::rename(it->path(), key_dir, ec2);
      if (!ec2) {
        spdlog::warn("restored '{}' from an interrupted replacement", key_dir.string());
        continue;
      }
    }
    RemoveAllQuiet(it->path());
  }
}

// Swaps two directories in one step (Linux renameat2 RENAME_EXCHANGE), so a kill at any moment
// leaves either the old or the new artifact under the key name. False where unsupported.
bool ExchangeDirs(const fs::path& a, const fs::path& b) {
#ifdef RENAME_EXCHANGE
  return ::renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE) == 0;
#else
  (void)a;
  (void)b;
  return false;
#endif
}

}  // namespace

std::string ComputeArtifactKey(const std::string& stage, int stage_version, const json& params,
                               const std::vector<ArtifactInput>& inputs) {
  json k;
  k["stage"] = stage;
  k["stage_version"] = stage_version;
  k["params"] = params;
  json in = json::array();
  for (const auto& i : inputs) in.push_back({{"role", i.role}, {"digest", i.digest}});
  k["inputs"] = in;
  return Sha256Hex(k.dump());
}

std::string FileSetDigest(const std::vector<std::pair<std::string, std::string>>& name_and_sha) {
  auto sorted = name_and_sha;
  std::sort(sorted.begin(), sorted.end());
  Sha256 h;
  for (const auto& [n, d] : sorted) {
    h.Update(n);
    h.Update("\0", 1);
    h.Update(d);
    h.Update("\n", 1);
  }
  return h.HexDigest();
}

fs::path Artifact::File(const std::string& name) const {
  Output(name);
  return dir / name;
}

const ManifestOutput& Artifact::Output(const std::string& name) const {
  if (const ManifestOutput* o = manifest.FindOutput(name)) return *o;
  throw ArtifactError("artifact '" + dir.string() + "' (stage " + stage + ") has no output '" + name +
                      "'; it may come from an older visrec, rerun the stage with --force");
}

template <class T>
NpyArray<T> Artifact::ReadArray(const std::string& name) const {
  const ManifestOutput& o = Output(name);
  NpyArray<T> a = ReadNpy<T>(dir / name);
  if (!o.dtype.empty() && a.shape != o.shape) Corrupt(dir, "output '" + name + "' shape differs from the manifest");
  return a;
}
template NpyArray<float> Artifact::ReadArray<float>(const std::string&) const;
template NpyArray<double> Artifact::ReadArray<double>(const std::string&) const;
template NpyArray<uint8_t> Artifact::ReadArray<uint8_t>(const std::string&) const;
template NpyArray<int32_t> Artifact::ReadArray<int32_t>(const std::string&) const;
template NpyArray<int64_t> Artifact::ReadArray<int64_t>(const std::string&) const;

ArtifactInput Artifact::AsInput(const std::string& role) const {
  return {role, "artifact", fs::absolute(dir).lexically_normal().string(), content_digest, manifest.manifest_sha256};
}

std::string ManifestBodyDigest(const json& manifest) {
  json body = manifest;
  body.erase("manifest_sha256");
  return Sha256Hex(body.dump(-1, ' ', false, json::error_handler_t::replace));
}

namespace {
std::mutex g_locks_mutex;
std::map<std::string, int> g_locks;  // lock file -> fd held by this process
}  // namespace

void LockStageKey(const fs::path& workdir, const std::string& stage, const std::string& key) {
  const fs::path dir = workdir / stage;
  const std::string file = (dir / (".lock-" + key.substr(0, 16))).string();
  std::lock_guard<std::mutex> guard(g_locks_mutex);
  if (g_locks.count(file)) return;
  std::error_code ec;
  fs::create_directories(dir, ec);
  const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    spdlog::debug("{}: no lock file ({}); running without the concurrent-run lock", stage, ErrnoText());
    return;
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    spdlog::info("{}: another visrec is computing this version ({}); waiting for it", stage, key.substr(0, 16));
    while (::flock(fd, LOCK_EX) != 0 && errno == EINTR) {}
  }
  g_locks[file] = fd;
}

void UnlockStageKey(const fs::path& workdir, const std::string& stage, const std::string& key) {
  const std::string file = (workdir / stage / (".lock-" + key.substr(0, 16))).string();
  std::lock_guard<std::mutex> guard(g_locks_mutex);
  auto it = g_locks.find(file);
  if (it == g_locks.end()) return;
  ::close(it->second);  // releases the flock
  g_locks.erase(it);
}

namespace {
// A pointer file's key without the whitespace an editor or another OS may add (CR, spaces, tabs,
// newlines on either side).
std::string TrimPointer(const std::string& text) {
  const char* ws = " \t\r\n";
  const size_t first = text.find_first_not_of(ws);
  return first == std::string::npos ? std::string() : text.substr(first, text.find_last_not_of(ws) - first + 1);
}

// `path` itself, or for a stage folder (no manifest, a `latest` pointer) the version it points to.
// "w/reduce/KEY/" (as shells complete folder names) names the same folder as "w/reduce/KEY", whose
// filename() is the key: every path to an artifact is taken without the trailing separator.
fs::path WithoutTrailingSeparator(const fs::path& path) {
  return path.has_filename() || !path.has_parent_path() || path == path.root_path() ? path : path.parent_path();
}

fs::path LatestDir(const fs::path& path) {
  std::error_code ec;
  if (fs::exists(path / kManifest, ec) || !fs::exists(path / kLatest, ec)) return path;
  std::string key = ReadFileBytes(path / kLatest);
  key = TrimPointer(key);
  if (key.empty() || key.find('/') != std::string::npos)
    throw ArtifactError("'" + (path / kLatest).string() + "' is damaged; rerun the stage");
  return path / key;
}
}  // namespace

Artifact OpenArtifact(const fs::path& path, VerifyLevel level) {
  std::error_code ec;
  if (!fs::exists(path, ec))
    throw ArtifactError("'" + path.string() + "' does not exist; run the stage that produces it first");
  const fs::path dir = LatestDir(WithoutTrailingSeparator(path));
  Artifact a;
  a.dir = dir;
  a.manifest_json = ReadManifest(dir);
  CheckOutputs(dir, a.manifest_json, level);
  a.manifest = Manifest::Parse(a.manifest_json, dir);
  a.stage = a.manifest.stage;
  a.key = a.manifest.key;
  a.content_digest = ContentDigest(a.manifest_json);
  return a;
}

Artifact OpenLatest(const fs::path& workdir, const std::string& stage, VerifyLevel level, const std::string& pointer) {
  fs::path sd = workdir / stage;
  std::error_code ec;
  if (!fs::exists(sd / pointer, ec)) {
    if (pointer != kLatest)
      throw ArtifactError("no '" + stage + "' artifact for this shard in workdir '" + workdir.string() + "' (no " +
                          (sd / pointer).string() + "); run `visrec " + stage + "` with the same --shard first");
    throw ArtifactError("no '" + stage + "' artifact in workdir '" + workdir.string() + "'; run `visrec " + stage +
                        "` (or `visrec run`) first");
  }
  if (pointer == kLatest) return OpenArtifact(sd, level);
  std::string key = ReadFileBytes(sd / pointer);
  key = TrimPointer(key);
  if (key.empty() || key.find('/') != std::string::npos)
    throw ArtifactError("'" + (sd / pointer).string() + "' is damaged; rerun the stage");
  return OpenArtifact(sd / key, level);
}

Artifact OpenGivenOrLatest(const std::string& command, const fs::path& given, const fs::path& workdir,
                           const std::string& stage, const std::string& pointer) {
  Artifact a = given.empty() ? OpenLatest(workdir, stage, VerifyLevel::kCheap, pointer) : OpenArtifact(given);
  if (a.stage != stage)
    throw ArtifactError(command + ": '" + a.dir.string() + "' is a " + a.stage + " artifact, expected " + stage);
  return a;
}

ArtifactInput FileInput(const std::string& role, const fs::path& file) {
  return {role, "file", fs::absolute(file).lexically_normal().string(), Sha256File(file)};
}

std::optional<Artifact> FindArtifact(const fs::path& workdir, const std::string& stage, const std::string& key) {
  fs::path dir = workdir / stage / key.substr(0, 16);
  std::error_code ec;
  if (!fs::exists(dir / kManifest, ec)) return std::nullopt;
  try {
    Artifact a = OpenArtifact(dir, VerifyLevel::kCheap);
    if (a.key != key) return std::nullopt;
    return a;
  } catch (const ArtifactError& e) {
    spdlog::warn("existing {} artifact is damaged and will be rebuilt: {}", stage, e.what());
    return std::nullopt;
  }
}

void SetLatest(const Artifact& a, const std::string& pointer) {
  WriteFileAtomic(a.dir.parent_path() / pointer, a.dir.filename().string() + "\n");
}

ArtifactBuilder::ArtifactBuilder(fs::path workdir, std::string stage, int stage_version, json params,
                                 std::vector<ArtifactInput> inputs)
    : workdir_(std::move(workdir)), stage_(std::move(stage)), stage_version_(stage_version), params_(std::move(params)),
      inputs_(std::move(inputs)) {
  key_ = ComputeArtifactKey(stage_, stage_version_, params_, inputs_);
  fs::path sd = workdir_ / stage_;
  std::error_code ec;
  fs::create_directories(sd, ec);
  if (ec) throw IoError("cannot create '" + sd.string() + "': " + ec.message());
  RemoveStaleStaging(sd);
  staging_ = sd / (".tmp-" + key16() + "-" + UniqueSuffix());
  fs::create_directory(staging_, ec);
  if (ec) throw IoError("cannot create '" + staging_.string() + "': " + ec.message());
  producer_ = ProducerInfo();
}

ArtifactBuilder::~ArtifactBuilder() {
  if (!committed_) RemoveAllQuiet(staging_);
  UnlockStageKey(workdir_, stage_, key_);  // a failed stage lets a waiting run try
}

fs::path ArtifactBuilder::target_dir() const { return workdir_ / stage_ / key16(); }

void ArtifactBuilder::AddOutput(const std::string& file) {
  fs::path p = staging_ / file;
  std::error_code ec;
  auto size = fs::file_size(p, ec);
  if (ec) throw IoError("stage " + stage_ + " did not write '" + p.string() + "'");
  json o{{"file", file}, {"bytes", size}, {"sha256", Sha256File(p)}};
  if (p.extension() == ".npy") {
    NpyHeader h = ReadNpyHeader(p);
    o["dtype"] = DTypeName(h.dtype);
    o["shape"] = h.shape;
  }
  outputs_.push_back(o);
}

void ArtifactBuilder::AddFailure(const std::string& id, const std::string& file, const std::string& reason) {
  failures_.push_back({{"id", id}, {"file", file}, {"reason", reason}});
}

Artifact ArtifactBuilder::Commit() {
  json m;
  m["schema_version"] = kArtifactSchemaVersion;
  m["stage"] = stage_;
  m["stage_version"] = stage_version_;
  m["key"] = key_;
  m["producer"] = producer_;
  m["params"] = params_;
  json in = json::array();
  for (const auto& i : inputs_) {
    in.push_back({{"role", i.role}, {"kind", i.kind}, {"path", i.path}, {"digest", i.digest}});
    if (!i.manifest_digest.empty()) in.back()["manifest_sha256"] = i.manifest_digest;
  }
  m["inputs"] = in;
  m["outputs"] = outputs_;
  m["counts"] = counts_;
  m["failures"] = failures_;
  m["extra"] = extra_;
  m["timings_s"] = timings_;
  if (!tag_.empty()) m["tag"] = tag_;
  std::time_t now = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  m["created_utc"] = buf;
  m["manifest_sha256"] = ManifestBodyDigest(m);

  for (const auto& o : outputs_) FsyncFile(staging_ / o["file"].get<std::string>());
  MaybeInjectFailure("before-manifest");
  WriteFileAtomic(staging_ / kManifest, m.dump(2, ' ', false, json::error_handler_t::replace) + "\n");
  FsyncDir(staging_);
  MaybeInjectFailure("before-rename");

  fs::path target = target_dir();
  std::error_code ec;
  if (fs::exists(target, ec)) {
    // Same key means same inputs and parameters: the old directory is a damaged or forced copy.
    if (ExchangeDirs(staging_, target)) {
      committed_ = true;  // the staging path now holds the old copy
      RemoveAllQuiet(staging_);
    } else {
      fs::path trash = workdir_ / stage_ / (".old-" + key16() + "-" + UniqueSuffix());
      fs::rename(target, trash, ec);
      if (ec) throw IoError("cannot move aside '" + target.string() + "': " + ec.message());
      MaybeInjectFailure("between-renames");
      fs::rename(staging_, target, ec);
      if (ec) {
        std::error_code ec2;
        fs::rename(trash, target, ec2);
        throw IoError("cannot rename '" + staging_.string() + "' into place: " + ec.message());
      }
      RemoveAllQuiet(trash);
    }
  } else {
    fs::rename(staging_, target, ec);
    if (ec) throw IoError("cannot rename '" + staging_.string() + "' into place: " + ec.message());
  }
  committed_ = true;
  FsyncDir(target.parent_path());
  Artifact a = OpenArtifact(target, VerifyLevel::kCheap);
  SetLatest(a, pointer_);
  UnlockStageKey(workdir_, stage_, key_);
  return a;
}

namespace {

// The manifest itself: its key must follow from its stage, parameters and inputs, its folder must
// be named after that key, and every data file in the folder must be listed.
void VerifyManifest(const Artifact& a, std::vector<VerifyIssue>& issues) {
  try {
    std::vector<ArtifactInput> recorded;
    for (const auto& in : a.manifest_json.at("inputs"))
      recorded.push_back({in.at("role").get<std::string>(), in.value("kind", ""), in.value("path", ""),
                          in.at("digest").get<std::string>()});
    const std::string key =
        ComputeArtifactKey(a.manifest.stage, a.manifest.stage_version, a.manifest_json.at("params"), recorded);
    if (key != a.key)
      issues.push_back({a.dir.string(),
                        "manifest.json was edited: its key does not follow from its stage, "
                        "parameters and inputs; rerun the stage"});
    if (a.dir.filename().string() != a.key.substr(0, 16))
      issues.push_back({a.dir.string(), "the folder name does not match the manifest's key " + a.key.substr(0, 16)});
    if (!a.manifest.manifest_sha256.empty() && ManifestBodyDigest(a.manifest_json) != a.manifest.manifest_sha256)
      issues.push_back({a.dir.string(),
                        "manifest.json was edited after it was written (its manifest_sha256 does not "
                        "match its content); rerun the stage"});
    std::set<std::string> listed{kManifest};
    for (const auto& o : a.manifest.outputs) listed.insert(o.file);
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(a.dir, ec))
      if (!listed.count(e.path().filename().string()))
        issues.push_back({a.dir.string(), "'" + e.path().filename().string() +
                                              "' is not listed in the manifest's outputs (was an entry removed?)"});
  } catch (const json::exception& e) {
    issues.push_back({a.dir.string(), std::string("manifest.json is malformed: ") + e.what()});
  }
}

// Each input: a parent artifact must exist unchanged (and is queued in `todo` to be checked in
// turn); an input file still present must have its recorded digest.
void VerifyInputs(const Artifact& a, std::vector<VerifyIssue>& issues, std::vector<std::string>* checked,
                  std::vector<fs::path>& todo) {
  for (const auto& in : a.manifest.inputs) {
    const std::string& kind = in.kind;
    const std::string& recorded = in.path;
    bool inside = false;
    const std::string ip = ResolveRecordedPath(a, recorded, kind, &inside).string();
    if (kind == "artifact") {
      std::error_code ec;
      if (!fs::exists(ip, ec)) {
        issues.push_back({a.dir.string(), "parent artifact '" + ip + "' is gone"});
        continue;
      }
      if (checked && !inside)
        checked->push_back("  parent " + ip + " taken from its recorded path (not inside this workdir)");
      try {
        Artifact parent = OpenArtifact(ip, VerifyLevel::kCheap);
        if (parent.content_digest != in.digest)
          issues.push_back({a.dir.string(), "parent '" + ip + "' changed since this artifact was built"});
        else if (!in.manifest_digest.empty() && parent.manifest.manifest_sha256 != in.manifest_digest)
          issues.push_back(
              {a.dir.string(), "the manifest of parent '" + ip + "' was edited since this artifact was built"});
      } catch (const Error&) {}
      todo.push_back(ip);
    } else if (kind == "file") {
      std::error_code ec;
      if (!fs::exists(ip, ec)) continue;  // inputs may move; only digests of present files are checked
      try {
        if (Sha256File(ip) != in.digest)
          issues.push_back({a.dir.string(), "input file '" + ip + "' changed since this artifact was built"});
      } catch (const Error& e) {
        issues.push_back({a.dir.string(), e.what()});
      }
    }
  }
}

}  // namespace

std::vector<VerifyIssue> VerifyLineage(const fs::path& path, std::vector<std::string>* checked) {
  return VerifyLineage(std::vector<fs::path>{path}, checked);
}

fs::path ResolveRecordedPath(const Artifact& child, const std::string& recorded, const std::string& kind,
                             bool* inside) {
  const fs::path p = WithoutTrailingSeparator(recorded);  // older artifacts recorded what was typed
  const fs::path workdir = child.dir.parent_path().parent_path();
  fs::path local;
  if (kind == "artifact") {
    local = workdir / p.parent_path().filename() / p.filename();
    local /= kManifest;
  } else if (kind == "file" && !p.parent_path().empty()) {
    local = workdir / p.parent_path().parent_path().filename() / p.parent_path().filename() / p.filename();
  }
  std::error_code ec;
  const bool here = !local.empty() && fs::exists(local, ec) &&
                    (kind == "artifact" || fs::exists(local.parent_path() / kManifest, ec));
  if (inside) *inside = here;
  if (!here) return p;
  return kind == "artifact" ? local.parent_path() : local;
}

std::vector<fs::path> WorkdirArtifacts(const fs::path& workdir, bool all) {
  std::vector<fs::path> out;
  std::error_code ec;
  std::vector<fs::path> stages;
  for (const auto& e : fs::directory_iterator(workdir, ec))
    if (e.is_directory(ec) && e.path().filename().string()[0] != '.') stages.push_back(e.path());
  std::sort(stages.begin(), stages.end());
  for (const auto& sd : stages) {
    if (all) {
      std::vector<fs::path> versions;
      for (const auto& e : fs::directory_iterator(sd, ec))
        if (e.is_directory(ec) && fs::exists(e.path() / kManifest, ec)) versions.push_back(e.path());
      std::sort(versions.begin(), versions.end());
      out.insert(out.end(), versions.begin(), versions.end());
    } else {
      if (fs::exists(sd / kLatest, ec)) out.push_back(sd);
      // Shards' and user parts' own pointers (latest.shard-i-of-N, ...): a workdir where only
      // shards ran has no `latest` yet, and its shards are artifacts all the same.
      std::vector<fs::path> pointed;
      for (const auto& e : fs::directory_iterator(sd, ec)) {
        const std::string name = e.path().filename().string();
        if (name.rfind(std::string(kLatest) + ".", 0) != 0 || !e.is_regular_file(ec)) continue;
        const std::string key = TrimPointer(ReadFileBytes(e.path()));
        if (!key.empty() && key.find('/') == std::string::npos && fs::exists(sd / key / kManifest, ec))
          pointed.push_back(sd / key);
      }
      std::sort(pointed.begin(), pointed.end());
      out.insert(out.end(), pointed.begin(), pointed.end());
    }
  }
  return out;
}

std::vector<VerifyIssue> VerifyLineage(const std::vector<fs::path>& paths, std::vector<std::string>* checked) {
  std::vector<VerifyIssue> issues;
  std::set<std::string> seen;  // shared ancestors are checked once
  std::vector<fs::path> todo(paths.rbegin(), paths.rend());
  while (!todo.empty()) {
    fs::path p = todo.back();
    todo.pop_back();
    Artifact a;
    try {
      // A stage folder and its latest version are one artifact: checked and listed once.
      if (!seen.insert(fs::weakly_canonical(LatestDir(p)).string()).second) continue;
      a = OpenArtifact(p, VerifyLevel::kFull);
    } catch (const Error& e) {
      issues.push_back({p.string(), e.what()});
      continue;
    }
    if (checked) checked->push_back(a.dir.string() + " (" + a.stage + ")");
    VerifyManifest(a, issues);
    VerifyInputs(a, issues, checked, todo);
  }
  return issues;
}

Artifact OpenParent(const Artifact& child, const std::string& role, const std::string& stage) {
  for (const auto& in : child.manifest.inputs)
    if (in.role == role && in.kind == "artifact") {
      fs::path p = ResolveRecordedPath(child, in.path, "artifact");
      std::error_code ec;
      if (!fs::exists(p, ec)) p = child.dir.parent_path().parent_path() / stage / p.filename();
      Artifact a = OpenArtifact(p);
      if (a.content_digest != in.digest)
        throw ArtifactError("'" + a.dir.string() + "' changed since '" + child.dir.string() +
                            "' was made from it; rerun the pipeline (visrec run)");
      return a;
    }
  throw ArtifactError("'" + child.dir.string() + "' records no " + role + " input");
}

}  // namespace visrec
