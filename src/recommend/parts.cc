#include <cmath>
#include <fstream>

#include <spdlog/spdlog.h>

#include "visrec/artifact/csv.h"
#include "visrec/artifact/npy.h"
#include "visrec/util/errors.h"
#include "visrec/util/fs.h"
#include "visrec/util/sha256.h"
#include "phases.h"

namespace visrec::recommend::internal {
namespace {
// "" when every part's pointer exists, else one sentence naming the missing parts and their command.
std::string MissingPartsText(const fs::path& workdir, int count) {
  std::string list;
  int missing = 0;
  for (int j = 0; j < count; ++j) {
    std::error_code ec;
    if (fs::exists(workdir / kStage / PartPointer(ShardSpec{j, count}), ec)) continue;
    if (++missing <= 10) list += (list.empty() ? "" : ", ") + std::to_string(j) + "/" + std::to_string(count);
  }
  if (missing == 0) return "";
  if (missing > 10) list += " and " + std::to_string(missing - 10) + " more";
  return std::to_string(missing) + " of " + std::to_string(count) + " user parts are missing (" + list +
         "); run `visrec recommend --score-part j/" + std::to_string(count) +
         "` for each, with the merge's inputs and flags";
}

// The blend a part used: its weights, which every part and the merge must share; "" when the
// record is not an object with three finite weights.
std::string BlendWeights(const json& blend) {
  if (!blend.is_object()) return "";
  json w = json::array();
  for (const char* k : {"w_cf", "w_visual", "w_text"}) {
    if (!blend.contains(k) || !blend[k].is_number() || !std::isfinite(blend[k].get<double>())) return "";
    w.push_back(blend[k]);
  }
  return w.dump();
}
}  // namespace

std::string PartPointer(const ShardSpec& part) {
  return "latest.part-" + std::to_string(part.index) + "-of-" + std::to_string(part.count);
}

std::pair<int64_t, int64_t> PartRange(const ShardSpec& part, int64_t users) {
  return {users * part.index / part.count, users * (part.index + 1) / part.count};
}

std::string UsersDigest(const std::vector<std::string>& users) {
  std::string all;
  for (const auto& u : users) (all += u) += '\n';
  return Sha256Hex(all);
}

StageResult WritePart(const RecommendOptions& o, const RunContext& ctx, const json& part_params,
                      const std::vector<ArtifactInput>& inputs, const std::string& key, const FlatHistories& h,
                      const UserRecs& r, const std::vector<std::string>& ids, const Blend& blend, int k, int threads,
                      const PhaseClock& clock) {
  ArtifactBuilder b(ctx.workdir, kStage, kStageVersion, part_params, inputs);
  b.set_tag(ctx.tag);
  b.set_pointer(PartPointer(o.score_part));
  const int64_t begin = r.begin, count = int64_t(r.recs.size());
  // recommendations.csv's lines of these users, without the header: the parts concatenated after
  // one header are the whole file.
  WriteLinesInParallel(b.Path("recommendations.csv"), "", count, threads, [&](int64_t q, std::string& out) {
    AppendRecommendationLines(out, h.users[size_t(begin + q)], r.recs[size_t(q)], ids, blend.w);
  });
  std::vector<int32_t> items;
  std::vector<float> scores;
  RecArrays(r, k, items, scores);
  WriteNpy(b.Path("rec_items.npy"), DType::kI32, {count, k}, items.data());
  WriteNpy(b.Path("rec_scores.npy"), DType::kF32, {count, k}, scores.data());
  for (const char* f : {"recommendations.csv", "rec_items.npy", "rec_scores.npy"}) b.AddOutput(f);
  b.counts() = {{"users", count},
                {"user_begin", begin},
                {"user_end", begin + count},
                {"users_total", h.users.size()},
                {"items", ids.size()},
                {"users_popularity_fallback", r.Fallbacks()}};
  b.extra()["key"] = key;  // the whole run's: what the merge of the parts must compute
  b.extra()["users_sha256"] = UsersDigest(h.users);
  b.extra()["blend"] = blend.record;
  clock.Record(b);
  Artifact a = b.Commit();
  spdlog::info(
      "recommend: user part {}: users {}..{} of {} -> {}; when all {} parts are done, run `visrec recommend "
      "--merge-parts {}` with the same inputs and flags",
      o.score_part.Text(), begin, begin + count, h.users.size(), a.dir.string(), o.score_part.count,
      o.score_part.count);
  return StageResult{a, false, clock.Seconds()};
}

namespace {

// What makes a part not this merge's part: not a user part j of M, an edited manifest, another
// stage version or build, other inputs or flags, other users. Empty when it is this merge's.
std::string PartIdentityProblem(const Artifact& a, const ShardSpec& part, const std::string& key, const json& params,
                                const std::vector<ArtifactInput>& inputs, const std::string& users_digest,
                                int64_t users, const std::string& rerun) {
  const Manifest& m = a.manifest;
  const std::optional<std::string> score_part =
      a.stage == kStage ? m.OptionalParam<std::string>("score_part") : std::nullopt;
  if (score_part != part.Text() || !m.OptionalExtra<std::string>("key"))
    return a.dir.string() + " is not a recommend user part " + part.Text() + " artifact; " + rerun;
  // The blend and the counts are in no output's digest: the manifest's own digest covers them.
  if (m.manifest_sha256 != ManifestBodyDigest(a.manifest_json))
    return "its manifest.json was edited after it was written (manifest_sha256 differs); " + rerun;
  if (const std::string p = StageAndBuildProblem(a, "part"); !p.empty()) return p + "; " + rerun;
  if (m.Extra<std::string>("key") != key)
    return "made with other inputs or flags: " + ParamDifferences(m, params, inputs) + "; " + rerun +
           " (or, if the part is right, give the merge its flags)";
  const auto [begin, end] = PartRange(part, users);
  const int64_t their_begin = m.Count<int64_t>("user_begin"), their_end = m.Count<int64_t>("user_end");
  if (m.Extra<std::string>("users_sha256") != users_digest || their_begin != begin || their_end != end)
    return "scored other users than the merge reads (users " + std::to_string(their_begin) + ".." +
           std::to_string(their_end) + ", the merge expects " + std::to_string(begin) + ".." + std::to_string(end) +
           " of " + std::to_string(users) + "); " + rerun;
  return "";
}

}  // namespace

GatheredParts GatherParts(int count, const fs::path& workdir, const std::string& key, const json& params,
                          const std::vector<ArtifactInput>& inputs, const FlatHistories& h, int32_t n_items, int k,
                          Blend& blend) {
  GatheredParts out;
  const int64_t users = int64_t(h.users.size());
  out.rec_items.assign(size_t(users) * size_t(k), -1);
  out.rec_scores.assign(size_t(users) * size_t(k), 0.f);
  const std::string digest = UsersDigest(h.users);
  std::vector<std::string> problems;
  json first_blend;
  for (int j = 0; j < count; ++j) {
    const ShardSpec part{j, count};
    std::error_code ec;
    if (!fs::exists(workdir / kStage / PartPointer(part), ec)) continue;  // named below
    const std::string rerun =
        "rerun `visrec recommend --score-part " + part.Text() + " --force` with the merge's inputs and flags";
    const auto problem = [&](const std::string& what) { problems.push_back("part " + part.Text() + ": " + what); };
    try {
      const Artifact a = OpenLatest(workdir, kStage, VerifyLevel::kFull, PartPointer(part));
      if (const std::string p = PartIdentityProblem(a, part, key, params, inputs, digest, users, rerun); !p.empty()) {
        problem(p);
        continue;
      }
      const auto [begin, end] = PartRange(part, users);
      const auto items = a.ReadArray<int32_t>("rec_items.npy");
      const auto scores = a.ReadArray<float>("rec_scores.npy");
      if (items.shape != std::vector<int64_t>{end - begin, k} || scores.shape != items.shape) {
        problem("its rec_items.npy / rec_scores.npy are not " + std::to_string(end - begin) + " x " +
                std::to_string(k) + "; " + rerun);
        continue;
      }
      bool ok = true;
      for (size_t q = 0; q < items.data.size() && ok; ++q)
        if (items.data[q] < -1 || items.data[q] >= n_items || !std::isfinite(scores.data[q])) {
          problem("its recommendation " + std::to_string(q % size_t(k) + 1) + " of user '" +
                  h.users[size_t(begin) + q / size_t(k)] + "' is out of range; " + rerun);
          ok = false;
        }
      if (!ok) continue;
      const json their_blend = a.manifest.OptionalExtra<json>("blend").value_or(json());
      if (BlendWeights(their_blend).empty()) {
        problem("records no blend weights (extra.blend); " + rerun);
        continue;
      }
      if (first_blend.is_null()) {
        first_blend = their_blend;
      } else if (BlendWeights(their_blend) != BlendWeights(first_blend)) {
        problem("used blend weights " + BlendWeights(their_blend) + ", an earlier part " + BlendWeights(first_blend) +
                "; " + rerun);
        continue;
      }
      std::copy(items.data.begin(), items.data.end(), out.rec_items.begin() + begin * k);
      std::copy(scores.data.begin(), scores.data.end(), out.rec_scores.begin() + begin * k);
      out.fallbacks += a.manifest.Count<int64_t>("users_popularity_fallback");
      out.csv_chunks.push_back({a.File("recommendations.csv"), a.Output("recommendations.csv").sha256});
      out.artifacts.push_back(a.dir.filename().string());
    } catch (const Error& e) {  // unreadable or damaged: named with its part and the fix
      problem(std::string(e.what()) + "; " + rerun);
    }
  }
  if (const std::string text = MissingPartsText(workdir, count); !text.empty()) problems.insert(problems.begin(), text);
  if (!problems.empty()) ThrowProblems("recommend: cannot merge " + std::to_string(count) + " user parts:", problems);
  blend.record = first_blend;
  blend.w[kCf] = first_blend.at("w_cf").get<double>();
  blend.w[kVisual] = first_blend.at("w_visual").get<double>();
  blend.w[kText] = first_blend.at("w_text").get<double>();
  return out;
}

void ConcatenateFiles(const fs::path& dst, const std::string& header, const std::vector<CheckedFile>& sources) {
  FileStreamWriter w(dst);
  w.Write(header);
  std::vector<char> buf(size_t(1) << 20);
  for (const auto& src : sources) {
    std::ifstream in(src.path, std::ios::binary);
    if (!in) throw IoError("cannot read '" + src.path.string() + "'");
    Sha256 digest;
    while (in) {
      in.read(buf.data(), std::streamsize(buf.size()));
      if (in.gcount() <= 0) continue;
      digest.Update(buf.data(), size_t(in.gcount()));
      w.Write(std::string_view(buf.data(), size_t(in.gcount())));
    }
    if (in.bad()) throw IoError("read error in '" + src.path.string() + "'");
    // The part was checked when gathered, possibly long before: a part rewritten since is refused.
    if (digest.HexDigest() != src.sha256)
      throw ArtifactError("recommend: '" + src.path.string() +
                          "' changed while the parts were merged (a part rerun?); "
                          "rerun the merge once every part is done");
  }
  w.Close();
}

}  // namespace visrec::recommend::internal
