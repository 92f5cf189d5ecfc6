// `visrec extract --merge-shards N`: no model here, only artifact I/O (kept out of the LibTorch TU).
#include <algorithm>
#include <chrono>
#include <map>

#include <spdlog/spdlog.h>

#include "visrec/artifact/contracts.h"
#include "visrec/artifact/csv.h"
#include "visrec/artifact/inputs.h"
#include "visrec/artifact/npy.h"
#include "visrec/extract/extract.h"
#include "visrec/util/errors.h"
#include "visrec/util/fs.h"
#include "visrec/util/sha256.h"

namespace visrec::extract {

namespace {

struct Shard {
  Artifact ex, pre;
  NpyArray<float> features, photo_features;
  std::vector<std::string> ids, missing;
  CsvTable photos, images;
};

struct ShardSet {
  std::vector<Shard> parts;
  std::vector<ArtifactInput> inputs;
  std::string catalog_digest, catalog_path;  // the catalog every shard's preprocess read
};

// Every shard's extract artifact and its preprocess parent, checked to be of one run: shard i of
// N, same parameters, same catalog, photo counts that agree.
ShardSet LoadShards(int shards, const RunContext& ctx) {
  ShardSet set;
  set.parts.resize(size_t(shards));
  for (int k = 0; k < shards; ++k) {
    ShardSpec spec{k, shards};
    Shard& s = set.parts[size_t(k)];
    s.ex = OpenLatest(ctx.workdir, "extract", VerifyLevel::kCheap, spec.Pointer());
    s.pre = OpenParent(s.ex, "preprocess", "preprocess");
    const std::string pre_shard = contract::PreprocessParams::From(s.pre.manifest).shard;
    if (pre_shard != spec.Text())
      throw ArtifactError("extract: " + s.ex.dir.string() + " is not shard " + spec.Text() +
                          " (its preprocess artifact says '" + (pre_shard.empty() ? "none" : pre_shard) + "')");
    if (k > 0 && s.ex.manifest.params != set.parts[0].ex.manifest.params)
      throw ArtifactError("extract: shards 0/" + std::to_string(shards) + " and " + spec.Text() +
                          " ran with different models or parameters; rerun them alike");
    for (const auto& in : s.pre.manifest.InputsWithRole("catalog")) {
      if (k == 0) {
        set.catalog_digest = in.digest;
        set.catalog_path = in.path;
      } else if (in.digest != set.catalog_digest) {
        throw ArtifactError("extract: shard " + spec.Text() + " was made from a different catalog than shard 0/" +
                            std::to_string(shards) + "; rerun every shard on the same catalog");
      }
    }
    s.features = s.ex.ReadArray<float>("features.npy");
    s.photo_features = s.ex.ReadArray<float>("photo_features.npy");
    s.ids = ReadLines(s.ex.File("ids.txt"));
    s.missing = ReadLines(s.ex.File("items_without_features.txt"));
    s.photos = ReadCsv(s.ex.File("photos.csv"));
    s.images = ReadCsv(s.pre.File("images.csv"));
    if (s.photos.rows.size() != s.images.rows.size() || int64_t(s.photos.rows.size()) != s.photo_features.rows())
      throw ArtifactError("extract: " + s.ex.dir.string() + " and its preprocess artifact disagree on the photo count");
    set.inputs.push_back(s.ex.AsInput("shard-" + std::to_string(k)));
  }
  return set;
}

struct PhotoRef {
  int64_t order;
  size_t shard;
  int64_t row;
};

// Photos in catalog order, as an unsharded preprocess lists them.
std::vector<PhotoRef> PhotosInCatalogOrder(const ShardSet& set) {
  std::map<std::pair<std::string, std::string>, int64_t> catalog_order;
  std::error_code ec;
  if (!fs::exists(set.catalog_path, ec) || Sha256File(set.catalog_path) != set.catalog_digest)
    throw InputError("extract: the catalog '" + set.catalog_path +
                     "' the shards were made from is gone or changed; "
                     "the merge needs it to put photos in catalog order");
  Catalog cat = ReadCatalog(set.catalog_path);
  for (size_t i = 0; i < cat.photos.size(); ++i)
    catalog_order.emplace(std::make_pair(cat.photos[i].item_id, cat.photos[i].image), int64_t(i));
  std::vector<PhotoRef> photos;
  for (size_t k = 0; k < set.parts.size(); ++k) {
    const CsvTable& im = set.parts[k].images;
    const int ci = im.Column("item_id"), cm = im.Column("image");
    for (size_t r = 0; r < im.rows.size(); ++r) {
      auto it = catalog_order.find({im.rows[r][size_t(ci)], im.rows[r][size_t(cm)]});
      if (it == catalog_order.end())
        throw ArtifactError("extract: photo '" + im.rows[r][size_t(cm)] + "' of shard " + std::to_string(k) +
                            " is not in the catalog");
      photos.push_back({it->second, k, int64_t(r)});
    }
  }
  std::sort(photos.begin(), photos.end(), [](const PhotoRef& a, const PhotoRef& b) { return a.order < b.order; });
  return photos;
}

// features.npy, ids.txt and items_without_features.txt: items in sorted id order across shards.
void WriteItems(const ShardSet& set, const std::map<std::string, std::pair<size_t, int64_t>>& item_at,
                const std::vector<std::string>& missing, int64_t dim, ArtifactBuilder& b) {
  std::vector<float> feat;
  feat.reserve(item_at.size() * size_t(dim));
  std::string ids;
  for (const auto& [id, at] : item_at) {
    const auto& f = set.parts[at.first].features.data;
    feat.insert(feat.end(), f.begin() + at.second * dim, f.begin() + (at.second + 1) * dim);
    ids += id + "\n";
  }
  WriteNpy(b.Path("features.npy"), DType::kF32, {int64_t(item_at.size()), dim}, feat.data());
  WriteFileAtomic(b.Path("ids.txt"), ids);
  std::string missing_txt;
  for (const auto& m : missing) missing_txt += m + "\n";
  WriteFileAtomic(b.Path("items_without_features.txt"), missing_txt);
}

// photo_features.npy and photos.csv in catalog order.
void WritePhotos(const ShardSet& set, const std::vector<PhotoRef>& photos, int64_t dim, ArtifactBuilder& b) {
  std::vector<float> photo_feat;
  photo_feat.reserve(photos.size() * size_t(dim));
  std::string photos_csv = "row,sha256,item_id\n";
  for (size_t i = 0; i < photos.size(); ++i) {
    const Shard& s = set.parts[photos[i].shard];
    const auto& f = s.photo_features.data;
    photo_feat.insert(photo_feat.end(), f.begin() + photos[i].row * dim, f.begin() + (photos[i].row + 1) * dim);
    const auto& pr = s.photos.rows[size_t(photos[i].row)];
    photos_csv += CsvLine({std::to_string(i), pr[1], pr[2]});
  }
  WriteNpy(b.Path("photo_features.npy"), DType::kF32, {int64_t(photos.size()), dim}, photo_feat.data());
  WriteFileAtomic(b.Path("photos.csv"), photos_csv);
}

}  // namespace

StageResult MergeShards(int shards, const RunContext& ctx) {
  if (shards < 2 || shards > 100000) throw UsageError("extract: --merge-shards N needs 2 <= N <= 100000");
  if (const std::string missing = MissingShardsText(ctx.workdir, "extract", shards); !missing.empty())
    throw ArtifactError("extract: " + missing + " (preprocess and extract, each with that --shard)");
  auto t0 = std::chrono::steady_clock::now();
  const ShardSet set = LoadShards(shards, ctx);
  const std::vector<Shard>& parts = set.parts;
  const int64_t dim = parts[0].features.cols();

  // Items: sorted ids across shards, each in exactly one shard.
  std::map<std::string, std::pair<size_t, int64_t>> item_at;  // id -> (shard, row)
  std::vector<std::string> missing;
  for (size_t k = 0; k < parts.size(); ++k) {
    if (parts[k].features.cols() != dim) throw ArtifactError("extract: shards hold features of different sizes");
    for (size_t r = 0; r < parts[k].ids.size(); ++r)
      if (!item_at.emplace(parts[k].ids[r], std::make_pair(k, int64_t(r))).second)
        throw ArtifactError("extract: item '" + parts[k].ids[r] +
                            "' is in two shards; were they run with different N?");
    missing.insert(missing.end(), parts[k].missing.begin(), parts[k].missing.end());
  }
  std::sort(missing.begin(), missing.end());
  const std::vector<PhotoRef> photos = PhotosInCatalogOrder(set);

  json params = parts[0].ex.manifest.params;
  params["merged_shards"] = shards;
  const std::string key = ComputeArtifactKey("extract", kStageVersion, params, set.inputs);
  if (auto up = FindUpToDate(ctx, "extract", key)) return *up;
  ArtifactBuilder b(ctx.workdir, "extract", kStageVersion, params, set.inputs);
  b.set_tag(ctx.tag);
  int64_t computed = 0;
  for (const auto& s : parts) {
    computed += contract::ExtractSummary::From(s.ex.manifest).photos_computed;
    for (const auto& f : s.ex.manifest.failures) b.AddFailure(f.id, f.file, f.reason);
  }
  WriteItems(set, item_at, missing, dim, b);
  WritePhotos(set, photos, dim, b);
  for (const char* f : {"features.npy", "photo_features.npy", "ids.txt", "items_without_features.txt", "photos.csv"})
    b.AddOutput(f);
  const int64_t n = int64_t(photos.size());
  b.counts() =
      contract::ExtractSummary{int64_t(item_at.size()), dim, n, computed, n - computed, int64_t(missing.size()), shards}
          .ToJson();
  b.extra()["untrained"] = contract::ExtractSummary::From(parts[0].ex.manifest).untrained;
  b.producer()["merged_from"] = parts[0].ex.manifest.producer;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  b.SetTiming("total", secs);
  Artifact a = b.Commit();
  spdlog::info("extract: merged {} shards: {} items x {}, {} photos -> {}", shards, item_at.size(), dim, photos.size(),
               a.dir.string());
  return StageResult{a, false, secs};
}

}  // namespace visrec::extract
