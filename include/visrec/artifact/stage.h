// What every stage shares: where it works, how hard it may push, and what it reports back.
#pragma once
#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "visrec/artifact/artifact.h"

namespace visrec {

// A stable partition of items for runs spread over machines: item i belongs to shard
// (first 8 bytes of sha256(item id), big-endian) mod count. Independent of catalog order and size.
struct ShardSpec {
  int index = 0, count = 1;
  bool active() const { return count > 1; }
  bool Owns(const std::string& item_id) const;
  std::string Text() const;     // "1/3"
  std::string Pointer() const;  // "latest" or "latest.shard-1-of-3"
  // "i/N", 0 <= i < N; UsageError naming `flag` otherwise.
  static ShardSpec Parse(const std::string& text, const std::string& flag = "--shard");
};

// The workdir every command uses when --workdir is not given.
inline constexpr const char* kDefaultWorkdir = "visrec-work";

struct RunContext {
  std::filesystem::path workdir = kDefaultWorkdir;  // artifacts go to WORKDIR/<stage>/<key>/
  bool force = false;                               // recompute even when an up-to-date artifact exists
  int threads = 0;                                  // 0 = all cores
  ShardSpec shard;                                  // sharded stages read and write the shard's own pointer
  std::string tag;  // a run label for the artifacts made (not part of any key); see ValidateTag
};

// A tag is 1-64 printable ASCII characters; UsageError naming the problem otherwise.
void ValidateTag(const std::string& tag);

// For a merge of `count` shards of `stage`: "" when every shard's pointer exists in WORKDIR/<stage>,
// else one sentence naming all the missing shards (the first 10) and the command that makes them.
std::string MissingShardsText(const std::filesystem::path& workdir, const std::string& stage, int count);

// ArtifactError naming the merge to run when `a` holds one shard's part of a stage (a shard's own
// artifact, made with --shard), for commands that need the whole stage's outputs.
void RequireWholeArtifact(const Artifact& a, const std::string& command);

int ResolveThreads(int requested);  // 0 -> hardware concurrency, at least 1

struct StageResult {
  Artifact artifact;
  bool reused = false;  // an up-to-date artifact existed; nothing was recomputed
  double seconds = 0;
  // The stage's one-line summary of its artifact (contract::SummaryLine): `run`'s table prints it.
  std::string Summary() const;
};

// The up-to-date check every stage makes before computing: unless --force, an existing valid
// artifact with this key becomes `latest` again and is returned as reused (and logged).
// `pointer` ("" = the context's shard pointer) is the one set to the artifact found.
std::optional<StageResult> FindUpToDate(const RunContext& context, const std::string& stage, const std::string& key,
                                        const std::string& pointer = "");

}  // namespace visrec
