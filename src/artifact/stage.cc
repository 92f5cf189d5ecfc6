#include "visrec/artifact/stage.h"

#include "visrec/artifact/artifact.h"
#include "visrec/artifact/contracts.h"
#include "visrec/util/errors.h"
#include "visrec/util/numfmt.h"
#include "visrec/util/sha256.h"

#include <thread>

#include <spdlog/spdlog.h>

namespace visrec {

std::optional<StageResult> FindUpToDate(const RunContext& ctx, const std::string& stage, const std::string& key,
                                        const std::string& pointer) {
  LockStageKey(ctx.workdir, stage, key);  // held until this key's artifact is committed
  if (ctx.force) return std::nullopt;
  std::optional<Artifact> a = FindArtifact(ctx.workdir, stage, key);
  if (!a) return std::nullopt;
  SetLatest(*a, pointer.empty() ? ctx.shard.Pointer() : pointer);
  UnlockStageKey(ctx.workdir, stage, key);
  spdlog::info("{}: up to date ({}), nothing recomputed", stage, a->dir.string());
  if (!ctx.tag.empty() && a->manifest.tag != ctx.tag)
    spdlog::warn(
        "{}: --tag '{}' is not recorded: the artifact was reused, and keeps {} (a tag is written only when a "
        "stage computes; --force recomputes)",
        stage, ctx.tag, a->manifest.tag.empty() ? std::string("no tag") : "its tag '" + a->manifest.tag + "'");
  return StageResult{*a, true, 0};
}

bool ShardSpec::Owns(const std::string& item_id) const {
  if (count <= 1) return true;
  const std::string h = Sha256Hex(item_id);
  uint64_t v = std::stoull(h.substr(0, 16), nullptr, 16);
  return int(v % uint64_t(count)) == index;
}

std::string ShardSpec::Text() const { return std::to_string(index) + "/" + std::to_string(count); }

std::string ShardSpec::Pointer() const {
  return active() ? "latest.shard-" + std::to_string(index) + "-of-" + std::to_string(count) : "latest";
}

ShardSpec ShardSpec::Parse(const std::string& text, const std::string& flag) {
  ShardSpec s;
  const size_t slash = text.find('/');
  auto i = slash == std::string::npos ? std::nullopt : ParseInt(text.substr(0, slash));
  auto n = slash == std::string::npos ? std::nullopt : ParseInt(text.substr(slash + 1));
  if (!i || !n || *n < 1 || *n > 100000 || *i < 0 || *i >= *n)
    throw UsageError(flag + " must be i/N with 0 <= i < N <= 100000 (e.g. 0/3, 1/3, 2/3), got '" + text + "'");
  s.index = int(*i);
  s.count = int(*n);
  return s;
}

std::string MissingShardsText(const fs::path& workdir, const std::string& stage, int count) {
  std::string list;
  int missing = 0;
  for (int k = 0; k < count; ++k) {
    std::error_code ec;
    if (!fs::exists(workdir / stage / ShardSpec{k, count}.Pointer(), ec) && ++missing <= 10)
      list += (list.empty() ? "" : ", ") + std::to_string(k);
  }
  if (missing == 0) return "";
  const std::string n = std::to_string(count);
  return std::to_string(missing) + " of " + n + " shards have no " + stage + " artifact in " +
         (workdir / stage).string() + " (no latest.shard-i-of-" + n + " for i = " + list +
         (missing > 10 ? ", ..." : "") + "); run `visrec " + stage + " --shard i/" + n + "` for each";
}

void RequireWholeArtifact(const Artifact& a, const std::string& command) {
  const std::string part = a.manifest.OptionalParam<std::string>("score_part").value_or("");
  if (!part.empty())
    throw ArtifactError(command + ": '" + a.dir.string() + "' holds only user part " + part +
                        "'s recommendations; merge the "
                        "parts first (`visrec recommend --merge-parts " +
                        part.substr(part.find('/') + 1) +
                        "`, docs/operations.md: Sharding) and use the merged artifact");
  const std::string shard = a.manifest.OptionalParam<std::string>("shard").value_or("");
  if (shard.empty()) return;
  const std::string n = shard.substr(shard.find('/') + 1);
  throw ArtifactError(command + ": '" + a.dir.string() + "' is only shard " + shard + "'s part of a " + a.stage +
                      " run; merge the shards first (`visrec " + a.stage + " --merge-shards " + n +
                      "`, docs/operations.md: Sharding) and use the merged artifact");
}

std::string StageResult::Summary() const { return contract::SummaryLine(artifact.manifest); }

int ResolveThreads(int requested) {
  if (requested > 0) return requested;
  unsigned hc = std::thread::hardware_concurrency();
  return hc == 0 ? 1 : int(hc);
}

}  // namespace visrec

namespace visrec {

void ValidateTag(const std::string& tag) {
  if (tag.empty() || tag.size() > 64) throw UsageError("--tag must be 1 to 64 characters");
  for (unsigned char c : tag)
    if (c < 0x20 || c > 0x7e)
      throw UsageError("--tag may hold printable ASCII only (letters, digits, punctuation, spaces)");
}

}  // namespace visrec
