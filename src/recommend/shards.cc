#include <cmath>
#include <functional>
#include <map>
#include <set>

#include <spdlog/spdlog.h>

#include "visrec/artifact/csv.h"
#include "visrec/artifact/npy.h"
#include "visrec/util/errors.h"
#include "visrec/util/fs.h"
#include "visrec/util/version.h"
#include "phases.h"

namespace visrec::recommend::internal {
namespace {
std::string ListFile(int source, const char* what) {
  return std::string("lists_") + kSourceName[source] + "_" + what + ".npy";
}
}  // namespace

// `recommend --shard i/N`: the shard's items' neighbour lists of every source, up to `neighbors`
// each (-1 / 0 padded), rows in universe order; the whole universe's ids for the merge to check.
StageResult WriteShardLists(const RecommendOptions& o, const RunContext& ctx, const json& params,
                            const std::vector<ArtifactInput>& inputs, const std::string& lists_key,
                            const std::vector<std::string>& ids, const std::vector<char>& own, const Lists& lists,
                            const PhaseClock& clock) {
  ArtifactBuilder b(ctx.workdir, kStage, kStageVersion, params, inputs);
  b.set_tag(ctx.tag);
  b.set_pointer(ctx.shard.Pointer());
  std::vector<int32_t> rows;
  for (size_t i = 0; i < own.size(); ++i)
    if (own[i]) rows.push_back(int32_t(i));
  const int64_t m = int64_t(rows.size()), nb = o.neighbors;
  WriteNpy(b.Path("shard_items.npy"), DType::kI32, {m}, rows.data());
  b.AddOutput("shard_items.npy");
  std::vector<int32_t> idx(size_t(m * nb));
  std::vector<float> score(size_t(m * nb));
  for (int s = 0; s < 3; ++s) {
    std::fill(idx.begin(), idx.end(), -1);
    std::fill(score.begin(), score.end(), 0.f);
    for (int64_t q = 0; q < m; ++q) {
      const auto& list = lists.sims[s][size_t(rows[size_t(q)])];
      for (size_t r = 0; r < list.size() && int64_t(r) < nb; ++r) {
        idx[size_t(q * nb) + r] = list[r].item;
        score[size_t(q * nb) + r] = list[r].score;
      }
    }
    WriteNpy(b.Path(ListFile(s, "items")), DType::kI32, {m, nb}, idx.data());
    WriteNpy(b.Path(ListFile(s, "scores")), DType::kF32, {m, nb}, score.data());
    b.AddOutput(ListFile(s, "items"));
    b.AddOutput(ListFile(s, "scores"));
  }
  WriteLines(b.Path("ids.txt"), ids);
  b.AddOutput("ids.txt");
  b.counts() = {{"items", ids.size()}, {"shard_items", m}, {"text_similarity", lists.has_text}};
  b.extra()["lists_key"] = lists_key;  // inputs and list parameters, which the merge must match
  b.extra()["visual_index"] = lists.visual_index;
  clock.Record(b);
  Artifact a = b.Commit();
  spdlog::info(
      "recommend: shard {}: neighbour lists of {} of {} items -> {}; when all {} shards are done, run "
      "`visrec recommend --merge-shards {}` with the same inputs and list flags",
      ctx.shard.Text(), m, ids.size(), a.dir.string(), ctx.shard.count, ctx.shard.count);
  return StageResult{a, false, clock.Seconds()};
}

// The parameters the neighbour lists depend on: a shard's identity. The others (top-K, weights,
// blend, recency, stored scoring) shape only scoring and outputs, so changing them reruns the merge
// alone.
json ListParams(const json& params) {
  json p = params;
  for (const char* k : {"k", "similar_k", "w_cf", "w_visual", "w_text", "blend", "store_scoring", "half_life_days"})
    p.erase(k);
  return p;
}

std::string ParamDifferences(const Manifest& manifest, const json& list_params,
                             const std::vector<ArtifactInput>& inputs) {
  std::vector<std::string> diffs;
  json theirs = manifest.params;
  theirs.erase("shard");
  theirs.erase("score_part");
  for (const auto& [name, value] : list_params.items())
    if (!theirs.contains(name) || theirs[name] != value)
      diffs.push_back(name + " " + (theirs.contains(name) ? theirs[name].dump() : std::string("unset")) +
                      " (merge: " + value.dump() + ")");
  for (const auto& [name, value] : theirs.items())
    if (!list_params.contains(name)) diffs.push_back(name + " " + value.dump() + " (merge: unset)");
  std::map<std::string, std::string> their_inputs;
  for (const auto& in : manifest.inputs) their_inputs[in.role] = in.digest;
  for (const auto& in : inputs) {
    const auto it = their_inputs.find(in.role);
    if (it == their_inputs.end())
      diffs.push_back("no " + in.role + " input (merge: " + in.path + ")");
    else if (it->second != in.digest)
      diffs.push_back("another " + in.role + " (merge: " + in.path + ")");
    their_inputs.erase(in.role);
  }
  for (const auto& [role, digest] : their_inputs) diffs.push_back("a " + role + " input the merge does not have");
  std::string out;
  for (const auto& d : diffs) out += (out.empty() ? "" : "; ") + d;
  return out.empty() ? "its recorded key differs" : out;
}

namespace {

// The merge's state across shards: which shard owns each item, and the lists gathered so far.
struct ShardGather {
  const std::vector<std::string>& ids;
  int neighbors;
  TopK (&sims)[3];
  std::vector<int32_t> owner;  // shard of each item row; -1 until one lists it
  std::vector<int64_t> stamp;  // duplicate neighbours within one list
  std::function<void(const std::string&)> problem;

  int64_t n() const { return int64_t(ids.size()); }

  // Each row of shard_items.npy: in range, listed once, by the shard that owns the item.
  bool Claim(const NpyArray<int32_t>& rows, const ShardSpec& spec, const std::string& rerun) {
    const int64_t m_rows = rows.shape.empty() ? 0 : rows.shape[0];
    for (int64_t q = 0; q < m_rows; ++q) {
      const int32_t row = rows.data[size_t(q)];
      if (row < 0 || row >= n()) {
        problem("names item row " + std::to_string(row) + ", out of range; " + rerun);
        return false;
      }
      if (owner[size_t(row)] >= 0) {
        problem("item '" + ids[size_t(row)] + "' is listed " +
                (owner[size_t(row)] == spec.index ? std::string("twice")
                                                  : "also by shard " + std::to_string(owner[size_t(row)])) +
                "; " + rerun);
        return false;
      }
      if (!spec.Owns(ids[size_t(row)])) {
        problem("holds item '" + ids[size_t(row)] + "', which belongs to another shard; " + rerun);
        return false;
      }
      owner[size_t(row)] = spec.index;
    }
    return true;
  }

  // One source's lists of the shard's items: one row of --neighbors each, best first, unique,
  // finite, -1 padded at the end only.
  bool ReadSource(const Artifact& a, int s, const NpyArray<int32_t>& rows, const std::string& rerun) {
    const int64_t m_rows = rows.shape.empty() ? 0 : rows.shape[0];
    const auto items = a.ReadArray<int32_t>(ListFile(s, "items"));
    const auto scores = a.ReadArray<float>(ListFile(s, "scores"));
    if (items.shape != std::vector<int64_t>{m_rows, neighbors} || scores.shape != items.shape) {
      problem("its " + std::string(kSourceName[s]) + " lists are not one row of --neighbors " +
              std::to_string(neighbors) + " per shard item; " + rerun);
      return false;
    }
    for (int64_t q = 0; q < m_rows; ++q) {
      const int32_t row = rows.data[size_t(q)];
      auto& list = sims[s][size_t(row)];
      bool padding = false;
      for (int64_t r = 0; r < neighbors; ++r) {
        const int32_t j = items.data[size_t(q * neighbors + r)];
        const float score = scores.data[size_t(q * neighbors + r)];
        if (j == -1) {
          padding = true;
          continue;
        }
        const bool bad = padding || j < 0 || j >= n() || j == row || !std::isfinite(score) ||
                         stamp[size_t(j)] == row * 3 + s || (!list.empty() && list.back().score < score);
        if (bad) {
          problem("its " + std::string(kSourceName[s]) + " list of item '" + ids[size_t(row)] +
                  "' is malformed at rank " + std::to_string(r + 1) + "; " + rerun);
          return false;
        }
        stamp[size_t(j)] = row * 3 + s;
        list.push_back(Neighbor{j, score});
      }
    }
    return true;
  }
};

}  // namespace

// `recommend --merge-shards N`: every shard's lists into `sims`, after checking each shard (present;
// a recommend shard artifact of this stage version, made by this visrec build, from the same inputs
// and list parameters, over the same items; every output's sha256; each item in exactly the shard
// that owns it; lists well formed). Every problem of every shard is reported at once.
void GatherShardLists(int count, const fs::path& workdir, const std::string& lists_key, const json& list_params,
                      const std::vector<ArtifactInput>& inputs, const std::vector<std::string>& ids, int neighbors,
                      Lists& lists) {
  const int64_t n = int64_t(ids.size());
  for (auto& s : lists.sims) s.assign(size_t(n), {});
  std::vector<std::string> problems;
  std::string current;  // the shard being read, for problem()
  ShardGather g{ids,
                neighbors,
                lists.sims,
                std::vector<int32_t>(size_t(n), -1),
                std::vector<int64_t>(size_t(n), -1),
                [&](const std::string& what) { problems.push_back("shard " + current + ": " + what); }};
  std::set<std::string> kernels;
  for (int k = 0; k < count; ++k) {
    const ShardSpec spec{k, count};
    current = spec.Text();
    std::error_code ec;
    if (!fs::exists(workdir / kStage / spec.Pointer(), ec)) continue;  // named below
    const std::string rerun =
        "rerun `visrec recommend --shard " + spec.Text() + " --force` with the merge's inputs and list flags";
    try {
      const Artifact a = OpenLatest(workdir, kStage, VerifyLevel::kFull, spec.Pointer());
      const Manifest& m = a.manifest;
      const std::optional<std::string> shard = a.stage == kStage ? m.OptionalParam<std::string>("shard") : std::nullopt;
      if (shard != spec.Text() || !m.OptionalExtra<std::string>("lists_key")) {
        g.problem(a.dir.string() + " is not a recommend shard " + spec.Text() + " artifact; " + rerun);
        continue;
      }
      if (const std::string p = StageAndBuildProblem(a, "shard"); !p.empty()) {
        g.problem(p + "; " + rerun);
        continue;
      }
      if (m.Extra<std::string>("lists_key") != lists_key) {
        g.problem("made with other inputs or list flags: " + ParamDifferences(m, list_params, inputs) + "; " + rerun);
        continue;
      }
      if (ReadLines(a.File("ids.txt")) != ids) {
        g.problem(a.dir.string() + " lists other items than the merge sees; " + rerun);
        continue;
      }
      const auto rows = a.ReadArray<int32_t>("shard_items.npy");
      bool ok = g.Claim(rows, spec, rerun);
      for (int s = 0; s < 3 && ok; ++s) ok = g.ReadSource(a, s, rows, rerun);
      if (!ok) continue;
      lists.merged_from.push_back(a.dir.filename().string());
      const json index = m.Extra<json>("visual_index");  // {"kind", "kernel"}; HNSW shards have no kernel
      const auto kernel = index.is_object() ? index.find("kernel") : index.end();
      kernels.insert(kernel != index.end() && kernel->is_string() ? kernel->get<std::string>() : "");
    } catch (const Error& e) {  // unreadable or damaged: named with its shard and the fix
      g.problem(std::string(e.what()) + "; " + rerun);
    }
  }
  if (const std::string text = MissingShardsText(workdir, kStage, count); !text.empty())
    problems.insert(problems.begin(), text);
  if (problems.empty())
    for (int64_t i = 0; i < n; ++i)
      if (g.owner[size_t(i)] < 0) {
        problems.push_back("item '" + ids[size_t(i)] + "' is in none of the " + std::to_string(count) +
                           " shards' lists (were they run with another N?); rerun its shard");
        break;
      }
  if (!problems.empty()) ThrowProblems("recommend: cannot merge " + std::to_string(count) + " shards:", problems);
  std::string kernel;
  for (const auto& k : kernels) kernel += (kernel.empty() ? "" : ",") + k;
  if (kernels.size() > 1)
    spdlog::warn(
        "recommend: the shards ran different visual kernels ({}); their lists can differ from one run's in the "
        "last bits of a score (docs/operations.md: Sharding)",
        kernel);
  lists.visual_index = json{{"kind", "exact"}, {"kernel", kernel}};
}

std::string StageAndBuildProblem(const Artifact& a, const char* kind) {
  const Manifest& m = a.manifest;
  if (m.stage_version != kStageVersion)
    return a.dir.string() + " has recommend stage version " + std::to_string(m.stage_version) + ", this visrec " +
           std::to_string(kStageVersion);
  const std::string build = VisrecVersion() + " (" + GitSha() + ")";
  // Shown as "?" when unrecorded: a build that cannot be told apart is never the merge's.
  auto recorded = [&](const char* field) {
    auto it = m.producer.find(field);
    return it != m.producer.end() && it->is_string() ? it->get<std::string>() : std::string("?");
  };
  const std::string made_by = recorded("visrec") + " (" + recorded("git_sha") + ")";
  if (made_by != build)
    return "made by visrec " + made_by + ", the merge is " + build + "; every " + kind +
           " and the merge must run the same build";
  return "";
}

void ThrowProblems(const std::string& what, const std::vector<std::string>& problems) {
  std::string text;
  for (size_t q = 0; q < problems.size() && q < 12; ++q) text += "\n  " + problems[q];
  if (problems.size() > 12) text += "\n  ... and " + std::to_string(problems.size() - 12) + " more";
  throw ArtifactError(what + text);
}

}  // namespace visrec::recommend::internal
