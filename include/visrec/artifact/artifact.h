// Versioned, immutable, self-describing artifacts: the only contract between stages.
//
// Layout:  WORKDIR/<stage>/<key16>/{manifest.json, data files...}
//          WORKDIR/<stage>/latest   (text: the key16 the next stage takes unless told otherwise)
// The key is a digest of (stage, stage version, canonical parameters, input digests), so the same
// inputs and parameters map to the same directory (a rerun is a no-op) and a changed parameter makes
// a new version beside the old one. An artifact is built in a hidden temporary directory, fsynced,
// then renamed into place; manifest.json is written last. A directory without a valid manifest does
// not exist for readers.
#pragma once
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "visrec/artifact/manifest.h"
#include "visrec/artifact/npy.h"

namespace visrec {

namespace fs = std::filesystem;
using nlohmann::json;

// Bumped only when the manifest/directory layout changes (not when a stage changes meaning).
constexpr int kArtifactSchemaVersion = 1;

// sha256 of a manifest's canonical JSON without its own "manifest_sha256" field: written last by
// ArtifactBuilder, checked by `verify` (an edited count or failure list shows).
std::string ManifestBodyDigest(const json& manifest);

// One writer per (stage, key) across processes: an advisory flock on WORKDIR/<stage>/.lock-<key16>,
// taken by FindUpToDate and held until that key's artifact is committed (or the process ends), so a
// second concurrent run waits, then finds the artifact up to date. Re-entrant within a process.
// Best effort: where no lock file can be made (read-only or full disk) the stage runs unlocked.
void LockStageKey(const fs::path& workdir, const std::string& stage, const std::string& key);
void UnlockStageKey(const fs::path& workdir, const std::string& stage, const std::string& key);

// Computes the key: sha256 of the canonical JSON of (stage, version, params, input roles+digests).
// nlohmann::json keeps object keys sorted, so option order never matters.
std::string ComputeArtifactKey(const std::string& stage, int stage_version, const json& params,
                               const std::vector<ArtifactInput>& inputs);

struct Artifact {
  fs::path dir;
  json manifest_json;  // manifest.json as read: for digests, `verify` and tools that show it whole
  Manifest manifest;   // the same, typed and checked: what readers use
  std::string stage;
  std::string key;
  std::string content_digest;  // what a child records as this input's digest

  fs::path File(const std::string& name) const;  // checks the file is a listed output
  const ManifestOutput& Output(const std::string& name) const;
  // Reads an npy output and checks dtype and shape against the manifest.
  template <class T>
  NpyArray<T> ReadArray(const std::string& name) const;
  ArtifactInput AsInput(const std::string& role) const;
};

enum class VerifyLevel {
  kCheap,  // manifest, schema, every output present with the recorded size, npy headers
  kFull,   // plus every output's sha256
};

// Opens PATH: an artifact directory, or a stage directory (follows `latest`). Throws ArtifactError
// with a message saying what is wrong and what to do.
Artifact OpenArtifact(const fs::path& path, VerifyLevel level = VerifyLevel::kCheap);
// The artifact of `stage` that `latest` points to, in WORKDIR.
// `pointer` names the pointer file: "latest", or a shard's own ("latest.shard-1-of-3").
Artifact OpenLatest(const fs::path& workdir, const std::string& stage, VerifyLevel level = VerifyLevel::kCheap,
                    const std::string& pointer = "latest");
// The artifact a command reads: `given` (an artifact or stage directory) when set, else the
// `pointer` of `stage` in WORKDIR. ArtifactError "COMMAND: 'DIR' is a S artifact, expected STAGE"
// when it belongs to another stage.
Artifact OpenGivenOrLatest(const std::string& command, const fs::path& given, const fs::path& workdir,
                           const std::string& stage, const std::string& pointer = "latest");
// A file a stage reads, as its manifest records it: role, absolute normalized path, sha256.
ArtifactInput FileInput(const std::string& role, const fs::path& file);
// An existing, valid artifact with this key, if any (the up-to-date check).
std::optional<Artifact> FindArtifact(const fs::path& workdir, const std::string& stage, const std::string& key);
// Points WORKDIR/<stage>/latest at the artifact (atomic replace).
void SetLatest(const Artifact& artifact, const std::string& pointer = "latest");

class ArtifactBuilder {
 public:
  ArtifactBuilder(fs::path workdir, std::string stage, int stage_version, json params,
                  std::vector<ArtifactInput> inputs);
  ~ArtifactBuilder();  // removes the staging directory unless committed
  ArtifactBuilder(const ArtifactBuilder&) = delete;
  ArtifactBuilder& operator=(const ArtifactBuilder&) = delete;

  const std::string& key() const { return key_; }
  std::string key16() const { return key_.substr(0, 16); }
  fs::path target_dir() const;
  fs::path staging_dir() const { return staging_; }  // write outputs here
  fs::path Path(const std::string& file) const { return staging_ / file; }

  // Registers a file written into the staging dir: records bytes and sha256 (and npy dtype/shape).
  void AddOutput(const std::string& file);

  json& counts() { return counts_; }
  json& extra() { return extra_; }  // stage-specific metadata (e.g. explained variance)
  json& producer() { return producer_; }
  void AddFailure(const std::string& id, const std::string& file, const std::string& reason);
  void SetTiming(const std::string& name, double seconds) { timings_[name] = seconds; }

  // fsync, manifest last, rename into place, update `latest`. Returns the opened artifact.
  // Which pointer Commit() moves to the new artifact ("latest" unless a shard writes it).
  void set_pointer(std::string pointer) { pointer_ = std::move(pointer); }
  // A run label (`--tag`): recorded in the manifest, not part of the key.
  void set_tag(std::string tag) { tag_ = std::move(tag); }
  Artifact Commit();

 private:
  std::string tag_;
  std::string pointer_ = "latest";
  fs::path workdir_;
  std::string stage_;
  int stage_version_;
  json params_;
  std::vector<ArtifactInput> inputs_;
  std::string key_;
  fs::path staging_;
  json outputs_ = json::array();
  json counts_ = json::object();
  json extra_ = json::object();
  json producer_;
  json failures_ = json::array();
  json timings_ = json::object();
  bool committed_ = false;
};

// The parent artifact `child` records in input role `role` (a `stage` artifact), checked against
// the recorded content digest. When the recorded path is gone (a moved workdir), the same key
// directory under child's workdir is used.
Artifact OpenParent(const Artifact& child, const std::string& role, const std::string& stage);

// Where an input recorded in `child`'s manifest is now. A copied or moved workdir reads its own
// parents: an artifact input (".../<stage>/<key16>") or a file inside one (".../<stage>/<key16>/f")
// is taken from the workdir holding `child` when it is there; otherwise the recorded path. *inside
// says which was used.
fs::path ResolveRecordedPath(const Artifact& child, const std::string& recorded, const std::string& kind,
                             bool* inside = nullptr);

// The artifacts of a workdir: each stage's `latest` (all versions with `all`), for `verify W`.
std::vector<fs::path> WorkdirArtifacts(const fs::path& workdir, bool all);

struct VerifyIssue {
  std::string artifact;
  std::string problem;
};
// Recomputes digests of PATH and, recursively, of every artifact in its lineage that still exists.
std::vector<VerifyIssue> VerifyLineage(const fs::path& path, std::vector<std::string>* checked);
std::vector<VerifyIssue> VerifyLineage(const std::vector<fs::path>& paths, std::vector<std::string>* checked);

// sha256 over the sorted (relative name, file sha256) pairs: a digest for a set of source files.
std::string FileSetDigest(const std::vector<std::pair<std::string, std::string>>& name_and_sha);

}  // namespace visrec
