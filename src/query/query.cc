#include "visrec/artifact/contracts.h"
#include "visrec/query/query.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <istream>
#include <ostream>
#include <map>
#include <unordered_map>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <spdlog/spdlog.h>

#include "visrec/artifact/csv.h"
#include "visrec/artifact/npy.h"
#include "visrec/extract/extract.h"
#include "visrec/preprocess/preprocess.h"
#include "visrec/query/sheet.h"
#include "visrec/reduce/reduce.h"
#include "visrec/util/batch_line.h"
#include "visrec/util/errors.h"
#include "visrec/util/fs.h"
#include "visrec/util/numfmt.h"
#include "visrec/util/sha256.h"

namespace visrec::query {
namespace {

using Clock = std::chrono::steady_clock;
double Ms(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double, std::milli>(b - a).count(); }

std::unordered_map<std::string, int64_t> IndexOf(const std::vector<std::string>& ids) {
  std::unordered_map<std::string, int64_t> m;
  m.reserve(ids.size() * 2);
  for (size_t i = 0; i < ids.size(); ++i) m.emplace(ids[i], int64_t(i));
  return m;
}

}  // namespace

void QueryOptions::Validate() const {
  if (threads < 0) throw UsageError("query: --threads must be >= 0");
  if (source != "hybrid" && source != "collaborative" && source != "visual" && source != "text")
    throw UsageError("query: --source must be hybrid, collaborative, visual or text");
  for (size_t a = 0; a < show.size(); ++a) {
    if (show[a].empty()) throw UsageError("query: --show has an empty column name");
    for (size_t b = a + 1; b < show.size(); ++b)
      if (show[a] == show[b]) throw UsageError("query: --show names '" + show[a] + "' twice");
  }
}

struct QueryEngine::Impl {
  QueryOptions o;
  Artifact rec, red, ex, pre;
  std::vector<std::string> item_ids, users, red_ids;
  std::unordered_map<std::string, int64_t> item_index, user_index;
  std::unique_ptr<MappedNpy> sim_idx, sim_score, rec_items, rec_scores, reduced;
  bool warned_short_lists = false;
  // recommendations.csv: where each user's rows start (built on the first user query).
  std::string rec_csv;
  std::vector<std::pair<size_t, size_t>> user_rows;  // per user: [begin, end) byte range
  // Photo queries (built on first use).
  std::unique_ptr<extract::PhotoEmbedder> embedder;
  std::unique_ptr<reduce::PcaModel> fit;
  preprocess::PreprocessOptions pre_opts;
  // Contact sheets: where each item's first photo's pixels are.
  std::map<std::string, std::pair<std::string, int64_t>> first_photo;
  std::map<std::string, std::unique_ptr<MappedNpy>> shards;

  // --source other than hybrid: that source's arrays (recommend stage version 3 and later).
  std::unique_ptr<MappedNpy> source_idx, source_score;
  // --show: item -> the asked columns' values, from the run's catalog.
  std::map<std::string, std::vector<std::string>> shown;

  void Show(QueryResult& r) const {
    if (o.show.empty()) return;
    for (auto& a : r.answers) {
      auto it = shown.find(a.item_id);
      for (size_t c = 0; c < o.show.size(); ++c)
        a.shown.push_back({o.show[c], it == shown.end() ? std::string() : it->second[c]});
    }
  }

  // A K above what recommend stored gets the stored lists, and (once) a warning saying so.
  void WarnIfShort(int k, int64_t stored, const std::string& what, const std::string& flag) {
    if (k <= stored || warned_short_lists) return;
    warned_short_lists = true;
    spdlog::warn(
        "query: --k {} is more than the {} {} recommend stored in {} (its {}); showing at most {}. Rerun "
        "recommend with a larger {} for longer lists",
        k, stored, what, rec.dir.string(), flag, stored, flag);
  }

  int64_t ItemRow(const std::string& id) const {
    auto it = item_index.find(id);
    if (it == item_index.end())
      throw InputError("item '" + id + "' is not in the catalog of " + rec.dir.string() + " (" +
                       std::to_string(item_ids.size()) + " items); check the id, or rerun the pipeline if it is new");
    return it->second;
  }

  void IndexUserRows() {
    if (!user_rows.empty() || users.empty()) return;
    rec_csv = ReadFileBytes(rec.File("recommendations.csv"));
    user_rows.assign(users.size(), {0, 0});
    size_t pos = rec_csv.find('\n');
    if (pos == std::string::npos) return;
    ++pos;
    int64_t current = -1;
    while (pos < rec_csv.size()) {
      size_t end = rec_csv.find('\n', pos);
      if (end == std::string::npos) end = rec_csv.size();
      // The first field is the user id (quoted when it holds a comma or quote).
      std::string uid;
      if (rec_csv[pos] == '"') {
        CsvTable one = ParseCsv("u\n" + rec_csv.substr(pos, end - pos) + "\n", "recommendations.csv");
        uid = one.rows.empty() ? "" : one.rows[0][0];
      } else {
        size_t comma = rec_csv.find(',', pos);
        uid = rec_csv.substr(pos, std::min(comma, end) - pos);
      }
      auto it = user_index.find(uid);
      if (it != user_index.end()) {
        if (it->second != current) user_rows[size_t(it->second)].first = pos;
        user_rows[size_t(it->second)].second = end + 1;
        current = it->second;
      }
      pos = end + 1;
    }
  }

  void LoadImageSide() {
    if (embedder) return;
    pre_opts = preprocess::OptionsFromManifest(pre.manifest);
    embedder = std::make_unique<extract::PhotoEmbedder>(ex, o.device, o.threads);
    fit = std::make_unique<reduce::PcaModel>(reduce::LoadFit(red));
    if (fit->mean.size() != embedder->dim() && embedder->dim() != 0)
      throw ArtifactError(red.dir.string() + " was fitted on " + std::to_string(fit->mean.size()) + "-d features but " +
                          ex.dir.string() + " holds " + std::to_string(embedder->dim()) + "-d ones");
  }

  void IndexPhotos() {
    if (!first_photo.empty()) return;
    CsvTable t = ReadCsv(pre.File("images.csv"));
    int ci = t.Column("item_id"), cs = t.Column("shard"), cr = t.Column("shard_row");
    if (ci < 0 || cs < 0 || cr < 0)
      throw ArtifactError(pre.File("images.csv").string() + " lacks item_id/shard/shard_row");
    for (const auto& row : t.rows)
      first_photo.emplace(row[size_t(ci)], std::make_pair(row[size_t(cs)], ParseInt(row[size_t(cr)]).value_or(-1)));
  }

  // The answers' arrays, mapped and checked against the id lists (rows, dtype) before any query.
  void MapArrays() {
    sim_idx = std::make_unique<MappedNpy>(rec.File("similar_items.npy"));
    sim_score = std::make_unique<MappedNpy>(rec.File("similar_scores.npy"));
    rec_items = std::make_unique<MappedNpy>(rec.File("rec_items.npy"));
    rec_scores = std::make_unique<MappedNpy>(rec.File("rec_scores.npy"));
    reduced = std::make_unique<MappedNpy>(red.File("reduced_l2.npy"));
    if (sim_idx->rows() != int64_t(item_ids.size()) || rec_items->rows() != int64_t(users.size()) ||
        reduced->rows() != int64_t(red_ids.size()))
      throw ArtifactError("query: array rows and id lists disagree in " + rec.dir.string() + " or " + red.dir.string() +
                          "; run `visrec verify` on them");
    // Touch the arrays' typed views once so a wrong dtype fails here, not mid-query.
    (void)sim_idx->data<int32_t>();
    (void)sim_score->data<float>();
    (void)rec_items->data<int32_t>();
    (void)rec_scores->data<float>();
    (void)reduced->data<float>();
  }

  // --source other than hybrid: that source's similar items, if the run made them.
  void MapSourceArrays() {
    if (!rec.manifest.HasOutput("similar_items_" + o.source + ".npy"))
      throw ArtifactError("query: " + rec.dir.string() +
                          " has no per-source similar items (made by a visrec before "
                          "recommend stage version 3); rerun recommend, or use --source hybrid");
    const contract::RecommendSummary counts = contract::RecommendSummary::From(rec.manifest);
    if (o.source == "text" && !counts.text_similarity)
      throw InputError("query: the run in " + rec.dir.string() +
                       " had no text similarity (no --catalog titles or "
                       "--text-columns); ask another --source");
    if (o.source == "collaborative" && !counts.has_recommendations)
      throw InputError("query: the run in " + rec.dir.string() +
                       " had no interactions, so no collaborative similarity; "
                       "ask another --source");
    source_idx = std::make_unique<MappedNpy>(rec.File("similar_items_" + o.source + ".npy"));
    source_score = std::make_unique<MappedNpy>(rec.File("similar_scores_" + o.source + ".npy"));
    if (source_idx->rows() != int64_t(item_ids.size()) || source_score->rows() != source_idx->rows())
      throw ArtifactError("query: similar_items_" + o.source + ".npy and ids.txt disagree in " + rec.dir.string() +
                          "; run `visrec verify` on it");
    (void)source_idx->data<int32_t>();
    (void)source_score->data<float>();
  }

  // --show: the asked catalog columns of every item, from the catalog the run read.
  void ReadShownColumns() {
    fs::path catalog;
    std::string digest;
    for (const auto& in : rec.manifest.InputsWithRole("catalog")) {
      catalog = ResolveRecordedPath(rec, in.path, "file");
      digest = in.digest;
    }
    if (catalog.empty())
      throw UsageError("query: --show needs the catalog, and " + rec.dir.string() + " was made without --catalog");
    std::error_code ec;
    if (!fs::is_regular_file(catalog, ec))
      throw InputError("query: --show reads the run's catalog '" + catalog.string() +
                       "', which is gone; restore it, or "
                       "query without --show");
    if (Sha256File(catalog) != digest)
      spdlog::warn("query: the catalog '{}' changed since {} was made; --show prints its current values",
                   catalog.string(), rec.dir.string());
    const Catalog cat = ReadCatalog(catalog);
    for (const auto& c : o.show)
      if (std::find(cat.columns.begin(), cat.columns.end(), c) == cat.columns.end()) {
        std::string known;
        for (const auto& k : cat.columns) known += (known.empty() ? "" : ", ") + k;
        throw UsageError("query: --show names '" + c + "', which " + catalog.string() +
                         " does not have (its columns: " + known + ")");
      }
    std::map<std::string, std::string> first_image;
    for (const auto& photo : cat.photos) first_image.emplace(photo.item_id, photo.image);
    for (const auto& [item, meta] : cat.metadata) {
      auto& values = shown[item];
      for (const auto& c : o.show) {
        auto f = meta.find(c);
        values.push_back(c == "item_id"    ? item
                         : c == "image"    ? first_image[item]
                         : f == meta.end() ? std::string()
                                           : f->second);
      }
    }
  }
};

QueryEngine::QueryEngine(const QueryOptions& o) : impl_(new Impl) {
  o.Validate();
  Impl& m = *impl_;
  m.o = o;
  m.rec = OpenGivenOrLatest("query", o.recommend, o.workdir, "recommend");
  RequireWholeArtifact(m.rec, "query");
  m.red = OpenParent(m.rec, "reduce", "reduce");
  m.ex = OpenParent(m.red, "extract", "extract");
  m.pre = OpenParent(m.ex, "preprocess", "preprocess");
  m.item_ids = ReadLines(m.rec.File("ids.txt"));
  m.users = ReadLines(m.rec.File("users.txt"));
  m.red_ids = ReadLines(m.red.File("ids.txt"));
  m.item_index = IndexOf(m.item_ids);
  m.user_index = IndexOf(m.users);
  m.MapArrays();
  // Lists from a --split run leave the held-out interactions out: fine for judging, not for serving.
  for (const auto& in : m.rec.manifest.InputsWithRole("interactions"))
    if (fs::path(in.path).filename() == "train.csv" &&
        fs::path(in.path).parent_path().parent_path().filename() == "split")
      spdlog::warn(
          "query: {} was trained on a split's training part (a `run --split` without --final); its lists lack the "
          "held-out interactions",
          m.rec.dir.string());
  if (o.source != "hybrid") m.MapSourceArrays();
  if (!o.show.empty()) m.ReadShownColumns();
}

QueryEngine::~QueryEngine() = default;

int QueryEngine::crop() const { return contract::PreprocessParams::From(impl_->pre.manifest).crop; }

QueryResult QueryEngine::Item(const std::string& id, int k) {
  auto t0 = Clock::now();
  Impl& m = *impl_;
  QueryResult r{"item", id, {}, {}};
  const int64_t row = m.ItemRow(id);
  const MappedNpy& items = m.source_idx ? *m.source_idx : *m.sim_idx;
  const MappedNpy& scores = m.source_score ? *m.source_score : *m.sim_score;
  const int64_t sk = items.cols();
  m.WarnIfShort(k, sk, "similar items per item", "--similar-k");
  const int32_t* idx = items.data<int32_t>() + row * sk;
  const float* sc = scores.data<float>() + row * sk;
  for (int64_t j = 0; j < sk && int64_t(r.answers.size()) < k; ++j) {
    if (idx[j] < 0 || idx[j] >= int64_t(m.item_ids.size())) continue;
    r.answers.push_back({m.item_ids[size_t(idx[j])], sc[j], m.o.source, {}});
  }
  m.Show(r);
  r.ms.lookup = r.ms.total = Ms(t0, Clock::now());
  return r;
}

QueryResult QueryEngine::User(const std::string& id, int k) {
  auto t0 = Clock::now();
  Impl& m = *impl_;
  QueryResult r{"user", id, {}, {}};
  auto it = m.user_index.find(id);
  if (it == m.user_index.end())
    throw InputError("user '" + id + "' has no recommendations in " + m.rec.dir.string() + " (" +
                     std::to_string(m.users.size()) +
                     " users, all from the interactions it was run on); "
                     "check the id, or rerun recommend with this user's interactions");
  m.IndexUserRows();
  m.WarnIfShort(k, m.rec_items->cols(), "recommendations per user", "--k");
  const auto [begin, end] = m.user_rows[size_t(it->second)];
  if (end > begin) {
    CsvTable t =
        ParseCsv("user_id,rank,item_id,score,reason\n" + m.rec_csv.substr(begin, end - begin), "recommendations.csv");
    for (const auto& row : t.rows) {
      if (int(r.answers.size()) >= k || row.size() < 5) break;
      r.answers.push_back({row[2], ParseDouble(row[3]).value_or(0), row[4], {}});
    }
  }
  m.Show(r);
  r.ms.lookup = r.ms.total = Ms(t0, Clock::now());
  return r;
}

QueryResult QueryEngine::Image(const fs::path& photo, int k) {
  Impl& m = *impl_;
  m.LoadImageSide();
  QueryResult r{"image", photo.string(), {}, {}};
  auto t0 = Clock::now();
  std::vector<uint8_t> px;
  try {
    px = preprocess::PreprocessPhoto(
        ReadRegularFile(photo, m.pre_opts.max_file_mb << 20, "--max-file-mb of preprocess"), m.pre_opts);
  } catch (const InputError& e) {
    throw InputError("query photo '" + photo.string() + "': " + e.what());
  }
  auto t1 = Clock::now();
  std::vector<float> feat = m.embedder->Embed(px.data());
  auto t2 = Clock::now();
  reduce::MatrixF x = Eigen::Map<reduce::MatrixF>(feat.data(), 1, Eigen::Index(feat.size()));
  reduce::MatrixF q = reduce::Project(*m.fit, x);
  const float nrm = q.norm();
  if (nrm > 0) q /= nrm;
  auto t3 = Clock::now();
  // Exact cosine search over the unit-length reduced vectors; ties go to the smaller id (rows are in id order).
  const int64_t n = m.reduced->rows(), d = m.reduced->cols();
  if (q.cols() != d)
    throw ArtifactError("query: projection gives " + std::to_string(q.cols()) + " dims, the index holds " +
                        std::to_string(d));
  const float* base = m.reduced->data<float>();
  const float* qv = q.data();
  Eigen::Map<const reduce::MatrixF> index(base, Eigen::Index(n), Eigen::Index(d));
  Eigen::VectorXf sims = index * Eigen::Map<const Eigen::VectorXf>(qv, Eigen::Index(d));  // one GEMV
  std::vector<std::pair<float, int64_t>> scored(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) scored[size_t(i)] = {sims(Eigen::Index(i)), i};
  const size_t top = size_t(std::min<int64_t>(k, n));
  auto better = [](const std::pair<float, int64_t>& a, const std::pair<float, int64_t>& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  std::partial_sort(scored.begin(), scored.begin() + long(top), scored.end(), better);
  for (size_t i = 0; i < top; ++i)
    r.answers.push_back({m.red_ids[size_t(scored[i].second)], scored[i].first, "visual", {}});
  m.Show(r);
  auto t4 = Clock::now();
  r.ms.preprocess = Ms(t0, t1);
  r.ms.model = Ms(t1, t2);
  r.ms.project = Ms(t2, t3);
  r.ms.search = Ms(t3, t4);
  r.ms.total = Ms(t0, t4);
  return r;
}

std::vector<uint8_t> QueryEngine::ItemPixels(const std::string& id) {
  Impl& m = *impl_;
  m.IndexPhotos();
  auto it = m.first_photo.find(id);
  if (it == m.first_photo.end() || it->second.second < 0) return {};
  auto& shard = m.shards[it->second.first];
  if (!shard) shard = std::make_unique<MappedNpy>(m.pre.File("pixels-" + it->second.first + ".npy"));
  const size_t bytes = size_t(crop()) * size_t(crop()) * 3;
  if (it->second.second >= shard->rows()) return {};
  const uint8_t* p = shard->data<uint8_t>() + size_t(it->second.second) * bytes;
  return std::vector<uint8_t>(p, p + bytes);
}

std::vector<uint8_t> QueryEngine::PhotoPixels(const fs::path& photo) {
  Impl& m = *impl_;
  const auto opts = preprocess::OptionsFromManifest(m.pre.manifest);
  return preprocess::PreprocessPhoto(ReadRegularFile(photo, opts.max_file_mb << 20, "--max-file-mb of preprocess"),
                                     opts);
}

std::string FormatTable(const QueryResult& r) {
  std::string s = r.kind + " " + EscapeControl(r.query) + ": " + std::to_string(r.answers.size()) + " answer(s)\n";
  s += "rank  item_id               score     reason\n";
  for (size_t i = 0; i < r.answers.size(); ++i) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "%4zu  %-20s  %8s  ", i + 1, r.answers[i].item_id.c_str(),
                  FormatFixed(r.answers[i].score, 4).c_str());
    s += buf + r.answers[i].reason;
    for (const auto& [column, value] : r.answers[i].shown) s += "  " + column + "=" + EscapeControl(value);
    s += "\n";
  }
  return s;
}

std::string FormatJson(const QueryResult& r) {
  json j{{"kind", r.kind}, {"query", r.query}};
  json a = json::array();
  for (size_t i = 0; i < r.answers.size(); ++i) {
    json x{{"rank", i + 1},
           {"item_id", r.answers[i].item_id},
           {"score", r.answers[i].score},
           {"reason", r.answers[i].reason}};
    for (const auto& [column, value] : r.answers[i].shown) x["show"][column] = value;
    a.push_back(x);
  }
  j["answers"] = a;
  j["ms"] = {{"total", r.ms.total},     {"preprocess", r.ms.preprocess}, {"model", r.ms.model},
             {"project", r.ms.project}, {"search", r.ms.search},         {"lookup", r.ms.lookup}};
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string RenderSheetPng(const std::vector<std::vector<Tile>>& rows, int crop, const SheetLayout& L) {
  int lines = 0, cols = 1;
  for (const auto& row : rows) {
    lines += std::max<int>(1, (int(row.size()) + L.per_row - 1) / L.per_row);
    cols = std::max(cols, std::min<int>(int(row.size()), L.per_row));
  }
  const int cell_h = L.tile + L.CaptionHeight() + L.pad;
  cv::Mat sheet(L.pad + std::max(lines, 1) * cell_h, L.pad + cols * (L.tile + L.pad), CV_8UC3,
                cv::Scalar(255, 255, 255));
  int line = 0;
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) {
      const Tile& t = row[i];
      const int x = L.pad + int(i % size_t(L.per_row)) * (L.tile + L.pad);
      const int y = L.pad + (line + int(i / size_t(L.per_row))) * cell_h;
      cv::Rect box(x, y, L.tile, L.tile);
      if (t.rgb.size() == size_t(crop) * size_t(crop) * 3 && crop > 0) {
        cv::Mat src(crop, crop, CV_8UC3, const_cast<uint8_t*>(t.rgb.data())), bgr, scaled;
        cv::cvtColor(src, bgr, cv::COLOR_RGB2BGR);
        cv::resize(bgr, scaled, {L.tile, L.tile}, 0, 0, crop > L.tile ? cv::INTER_AREA : cv::INTER_LINEAR);
        scaled.copyTo(sheet(box));
      } else {
        sheet(box).setTo(cv::Scalar(225, 225, 225));
        cv::putText(sheet, "no photo", {x + L.tile / 4, y + L.tile / 2}, cv::FONT_HERSHEY_SIMPLEX, 0.5,
                    cv::Scalar(90, 90, 90), 1, cv::LINE_AA);
      }
      cv::rectangle(sheet, box, t.highlight ? cv::Scalar(0, 120, 255) : cv::Scalar(180, 180, 180), t.highlight ? 3 : 1);
      for (size_t k = 0; k < t.lines.size() && int(k) < L.caption_lines; ++k)
        cv::putText(sheet, t.lines[k], {x, y + L.tile + L.caption_line * int(k + 1)}, cv::FONT_HERSHEY_SIMPLEX,
                    k == 0 ? 0.45 : 0.38, k == 0 ? cv::Scalar(0, 0, 0) : cv::Scalar(70, 70, 70), 1, cv::LINE_AA);
    }
    line += std::max<int>(1, (int(row.size()) + L.per_row - 1) / L.per_row);
  }
  std::vector<uchar> bytes;
  if (!cv::imencode(".png", sheet, bytes)) throw IoError("cannot encode a contact sheet as PNG");
  return std::string(bytes.begin(), bytes.end());
}

void WriteContactSheet(QueryEngine& engine, const QueryResult& r, const fs::path& png) {
  std::vector<Tile> row;
  Tile q;
  q.highlight = true;
  std::string label = r.query;
  if (r.kind == "image") {
    q.rgb = engine.PhotoPixels(r.query);
    label = fs::path(r.query).filename().string();
  } else if (r.kind == "item") {
    q.rgb = engine.ItemPixels(r.query);
  }
  q.lines = {"query " + r.kind, label.substr(0, 22)};
  row.push_back(q);
  for (size_t i = 0; i < r.answers.size(); ++i)
    row.push_back({engine.ItemPixels(r.answers[i].item_id),
                   {"#" + std::to_string(i + 1) + " " + r.answers[i].item_id.substr(0, 16),
                    "score " + FormatFixed(r.answers[i].score, 3)},
                   false});
  WriteFileAtomic(png, RenderSheetPng({row}, engine.crop()));
}

std::string BatchSummary::Format() const {
  auto pct = [](std::vector<double> v, double p) {
    if (v.empty()) return std::string("-");
    std::sort(v.begin(), v.end());
    return FormatFixed(v[std::min(v.size() - 1, size_t(p * double(v.size() - 1) + 0.5))], 2);
  };
  std::string s = std::to_string(answered) + " answered, " + std::to_string(failed) + " failed; per query p50 " +
                  pct(total_ms, 0.5) + " ms, p95 " + pct(total_ms, 0.95) + " ms";
  if (!model_ms.empty())
    s += "; photo queries: model p50 " + pct(model_ms, 0.5) + " ms, search p50 " + pct(search_ms, 0.5) + " ms";
  return s;
}

BatchSummary RunBatch(QueryEngine& engine, std::istream& in, const std::string& name, int k, bool as_json,
                      std::ostream& out) {
  BatchSummary sum;
  std::string line;
  for (int64_t no = 1; std::getline(in, line); ++no) {
    std::string kind, arg;
    if (!ParseBatchLine(line, &kind, &arg)) continue;
    QueryResult r;
    try {
      if (kind == "item" && !arg.empty())
        r = engine.Item(arg, k);
      else if (kind == "user" && !arg.empty())
        r = engine.User(arg, k);
      else if (kind == "image" && !arg.empty())
        r = engine.Image(arg, k);
      else
        throw InputError("expected 'item ID', 'user ID' or 'image PATH', got '" + ToValidUtf8(line.substr(0, 80)) +
                         "'");
    } catch (const InputError& e) {
      ++sum.failed;
      const std::string msg = name + ":" + std::to_string(no) + ": " + e.what();
      if (as_json)
        out << json{{"kind", kind}, {"query", arg}, {"error", msg}}.dump(-1, ' ', false, json::error_handler_t::replace)
            << "\n";
      else
        out << EscapeControl(kind) << " " << EscapeControl(arg) << ": ERROR " << EscapeControl(msg) << "\n\n";
      out.flush();
      continue;
    }
    out << (as_json ? FormatJson(r) + "\n" : FormatTable(r) + "\n");
    out.flush();
    ++sum.answered;
    sum.total_ms.push_back(r.ms.total);
    if (r.kind == "image") {
      sum.model_ms.push_back(r.ms.model);
      sum.search_ms.push_back(r.ms.search);
    }
  }
  return sum;
}

}  // namespace visrec::query
