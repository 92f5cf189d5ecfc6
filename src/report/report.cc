#include "visrec/report/report.h"
#include "visrec/report/tsne.h"

#include <algorithm>
#include <chrono>
#include <map>

#include <unistd.h>
#include <set>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <spdlog/spdlog.h>

#include "visrec/artifact/csv.h"
#include "visrec/artifact/inputs.h"
#include "visrec/query/query.h"
#include "visrec/query/sheet.h"
#include "visrec/util/errors.h"
#include "visrec/util/fs.h"
#include "visrec/util/numfmt.h"
#include "visrec/util/sha256.h"

namespace visrec::report {
namespace {

// A file-name-safe form of an id (ids may hold any printable character).
// A file-name-safe form of an id that stays distinct for distinct ids: a readable prefix plus a
// short digest of the whole id ("x,1", "x 1" and "x_1" would otherwise share "x_1").
std::string Slug(const std::string& id) {
  std::string s;
  for (unsigned char c : id) s += (c < 0x80 && (std::isalnum(c) || c == '-' || c == '_')) ? char(c) : '_';
  return s.substr(0, 40) + "-" + Sha256Hex(id).substr(0, 10);
}

std::string HtmlEscape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '&': o += "&amp;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

// "because of P1+P2 (collaborative 41% visual 33% text 26%)" -> two short caption lines.
std::vector<std::string> ReasonLines(const std::string& reason) {
  std::string a = reason, b;
  size_t paren = reason.find(" (");
  if (paren != std::string::npos) {
    a = reason.substr(0, paren);
    b = reason.substr(paren + 1);
    for (auto [from, to] : std::vector<std::pair<std::string, std::string>>{
             {"collaborative", "cf"}, {"visual", "vis"}, {"text", "txt"}}) {
      size_t p = b.find(from);
      if (p != std::string::npos) b.replace(p, from.size(), to);
    }
  }
  return {a.substr(0, 30), b.substr(0, 30)};
}

// Well-separated colours (BGR) for label classes; the 13th and later share the last one.
const cv::Scalar kPalette[] = {{180, 119, 31}, {14, 127, 255},  {44, 160, 44},   {40, 39, 214},  {189, 103, 148},
                               {75, 86, 140},  {194, 119, 227}, {127, 127, 127}, {34, 189, 188}, {207, 190, 23},
                               {0, 0, 0},      {120, 200, 120}, {160, 160, 255}};

}  // namespace

void ReportOptions::Validate() const {
  if (items < 0 || users < 0) throw UsageError("report: --items and --users must be >= 0");
  if (k < 1 || k > 50) throw UsageError("report: --k must be in [1, 50]");
  if (thumbnails < 0) throw UsageError("report: --thumbnails must be >= 0");
  if (map_size < 200 || map_size > 8000) throw UsageError("report: --map-size must be in [200, 8000]");
  if (map != "auto" && map != "tsne" && map != "pca") throw UsageError("report: --map must be auto, tsne or pca");
  tsne.Validate();
}

namespace {

// --out must be a folder visrec may write: never inside an artifact, created when missing.
fs::path PrepareOutputFolder(const ReportOptions& o) {
  const fs::path out = o.out.empty() ? o.workdir / "report" : o.out;
  std::error_code ec;
  for (fs::path p = fs::absolute(out).lexically_normal(); !p.empty(); p = p.parent_path()) {
    if (fs::exists(p / "manifest.json", ec))
      throw UsageError("report: --out '" + out.string() + "' is inside the artifact " + p.string() +
                       " (artifacts are immutable); choose a folder outside it");
    if (p == p.parent_path()) break;
  }
  fs::create_directories(out, ec);
  if (ec || !fs::is_directory(out, ec))
    throw IoError("report: cannot create the output folder '" + out.string() + "': " +
                  (ec ? ec.message() : std::string("a file of that name is in the way")) + "; choose another --out");
  return out;
}

// Labels of the catalog the run was made from, for colouring the map; empty when it is gone or
// lacks the column (a warning says which).
std::map<std::string, std::string> MapLabels(const Artifact& pre, const std::string& column) {
  std::map<std::string, std::string> label;
  for (const auto& in : pre.manifest.InputsWithRole("catalog")) {
    std::error_code ec;
    if (!fs::exists(in.path, ec))
      spdlog::warn("report: the catalog '{}' the run used is gone; the map cannot colour by '{}'", in.path, column);
    if (fs::exists(in.path, ec)) {
      Catalog cat = ReadCatalog(in.path);
      if (std::find(cat.columns.begin(), cat.columns.end(), column) != cat.columns.end())
        for (const auto& [id, md] : cat.metadata) label[id] = md.at(column);
      else
        spdlog::warn("report: the catalog has no column '{}'; the map uses one colour", column);
    }
  }
  return label;
}

// The coordinates for users' own plots, rows in the reduce artifact's ids.txt order: into a fresh
// file renamed over the old one, never through a link, never half-written.
void WriteCoordinates(const fs::path& out, const std::vector<float>& coords, const std::vector<std::string>& ids) {
  const fs::path tmp = out / (".map2d.npy.tmp-" + std::to_string(::getpid()));
  std::error_code ec;
  fs::remove(tmp, ec);
  WriteNpy(tmp, DType::kF32, {int64_t(ids.size()), 2}, coords.data());
  fs::rename(tmp, out / "map2d.npy", ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw IoError("report: cannot write " + (out / "map2d.npy").string() + ": " + ec.message());
  }
  WriteLines(out / "map2d_ids.txt", ids);
}

// Map coordinates -> pixels: one scale for both axes, so distances mean the same in every direction.
class MapFrame {
 public:
  MapFrame(const std::vector<float>& coords, int64_t n, int size, int margin)
      : coords_(coords), size_(size), margin_(margin) {
    for (int a = 0; a < 2; ++a) {
      lo_[a] = hi_[a] = n ? coords[size_t(a)] : 0.f;
      for (int64_t i = 0; i < n; ++i) {
        lo_[a] = std::min(lo_[a], coords[size_t(i * 2 + a)]);
        hi_[a] = std::max(hi_[a], coords[size_t(i * 2 + a)]);
      }
      if (hi_[a] <= lo_[a]) hi_[a] = lo_[a] + 1;
    }
    const float span = std::max(hi_[0] - lo_[0], hi_[1] - lo_[1]);
    for (int a = 0; a < 2; ++a) {
      const float mid = (lo_[a] + hi_[a]) / 2;
      lo_[a] = mid - span / 2;
      hi_[a] = mid + span / 2;
    }
  }
  int Pos(int64_t i, int a) const {
    const float v = coords_[size_t(i * 2 + a)];
    const double t = (v - lo_[a]) / (hi_[a] - lo_[a]);
    return margin_ + int(t * (size_ - 2 * margin_) + 0.5);
  }
  int X(int64_t i) const { return Pos(i, 0); }
  int Y(int64_t i) const { return size_ - Pos(i, 1); }  // second component grows upwards

 private:
  const std::vector<float>& coords_;
  int size_, margin_;
  float lo_[2] = {0, 0}, hi_[2] = {1, 1};
};

// One report being written: its pictures, report.json's entries and index.html's body.
class ReportWriter {
 public:
  ReportWriter(const ReportOptions& o, const fs::path& out, query::QueryEngine& engine, const Artifact& rec)
      : o_(o), out_(out), engine_(engine), crop_(engine.crop()) {
    res_.pictured = json::object();
    html_ =
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>visrec report</title>\n"
        "<style>body{font-family:sans-serif;margin:2em} img{max-width:100%;border:1px solid #ccc}"
        " h2{margin-top:2em}</style></head><body>\n<h1>visrec report</h1>\n<p>Workdir <code>" +
        HtmlEscape(fs::absolute(o.workdir).string()) + "</code>, recommend artifact <code>" +
        HtmlEscape(rec.dir.filename().string()) + "</code>.</p>\n";
  }
  void ItemSheets(const Artifact& rec);
  void UserSheets(const Artifact& rec);
  void CatalogMap(const Artifact& red, const Artifact& pre);
  ReportResult Finish() {
    WriteFileAtomic(out_ / "report.json", res_.pictured.dump(1, ' ', false, json::error_handler_t::replace) + "\n");
    html_ += "</body></html>\n";
    res_.index = out_ / "index.html";
    WriteFileAtomic(res_.index, html_);
    return res_;
  }

 private:
  void Emit(const std::string& file, const std::string& png, const json& what) {
    WriteFileAtomic(out_ / file, png);
    res_.pictures.push_back(out_ / file);
    res_.pictured[file] = what;
  }
  json DrawDots(cv::Mat& map, const MapFrame& frame, const std::vector<std::string>& ids,
                const std::map<std::string, std::string>& label) const;
  json DrawLegend(cv::Mat& map, const std::vector<std::string>& ids,
                  const std::map<std::string, std::string>& label) const;
  json DrawThumbnails(cv::Mat& map, const MapFrame& frame, const std::vector<std::string>& ids);

  const ReportOptions& o_;
  fs::path out_;
  query::QueryEngine& engine_;
  int crop_;
  ReportResult res_;
  std::string html_;
};

// Items: one row per source, the item first, then its neighbours of that source.
void ReportWriter::ItemSheets(const Artifact& rec) {
  CsvTable sim = ReadCsv(rec.File("similar_items.csv"));
  std::map<std::string, std::map<std::string, std::vector<std::pair<std::string, std::string>>>>
      nb;  // item -> source -> (id, score)
  for (const auto& r : sim.rows)
    if (r.size() >= 5) nb[r[0]][r[4]].push_back({r[2], r[3]});
  std::vector<std::string> items = o_.item_ids;
  if (items.empty())
    for (const auto& id : ReadLines(rec.File("ids.txt"))) {
      if (int(items.size()) >= o_.items) break;
      items.push_back(id);
    }
  html_ += "<h2>Items and their neighbours</h2>\n";
  for (const auto& item : items) {
    engine_.Item(item, 1);  // InputError naming the id when unknown
    std::vector<std::vector<query::Tile>> rows;
    json what = {{"kind", "item"}, {"item", item}, {"rows", json::array()}};
    for (const char* source : {"hybrid", "collaborative", "visual", "text"}) {
      auto it = nb[item].find(source);
      if (it == nb[item].end()) continue;
      std::vector<query::Tile> row{{engine_.ItemPixels(item), {item.substr(0, 18), source}, true}};
      json ids = json::array();
      for (size_t r = 0; r < it->second.size() && int(r) < o_.k; ++r) {
        const auto& [id, score] = it->second[r];
        row.push_back({engine_.ItemPixels(id),
                       {"#" + std::to_string(r + 1) + " " + id.substr(0, 16), "score " + score.substr(0, 6)},
                       false});
        ids.push_back(id);
      }
      rows.push_back(std::move(row));
      what["rows"].push_back({{"source", source}, {"ids", ids}});
    }
    const std::string file = "item-" + Slug(item) + ".png";
    Emit(file, query::RenderSheetPng(rows, crop_), what);
    html_ += "<h3>" + HtmlEscape(item) + "</h3>\n<img src=\"" + file + "\" alt=\"" + HtmlEscape(item) + "\">\n";
  }
}

// Users: their history (most recent first) above their recommendations with reasons.
void ReportWriter::UserSheets(const Artifact& rec) {
  std::map<std::string, std::vector<Interaction>> history;
  for (const auto& in : rec.manifest.InputsWithRole("interactions")) {
    std::error_code ec;
    const fs::path ip = ResolveRecordedPath(rec, in.path, "file");
    if (fs::exists(ip, ec))
      for (auto& r : ReadInteractions(ip).rows) history[r.user_id].push_back(r);
  }
  std::vector<std::string> users = o_.user_ids;
  if (users.empty())
    for (const auto& u : ReadLines(rec.File("users.txt"))) {
      if (int(users.size()) >= o_.users) break;
      if (history.count(u)) users.push_back(u);
    }
  html_ += "<h2>Users: history and recommendations</h2>\n";
  query::SheetLayout three_lines;
  three_lines.caption_lines = 3;
  for (const auto& user : users) {
    query::QueryResult recs = engine_.User(user, o_.k);
    auto& h = history[user];
    std::stable_sort(h.begin(), h.end(),
                     [](const Interaction& a, const Interaction& b) { return a.timestamp > b.timestamp; });
    std::vector<query::Tile> hist_row, rec_row;
    json hist_ids = json::array(), rec_ids = json::array();
    std::set<std::string> shown;
    for (const auto& r : h) {
      if (int(hist_row.size()) >= o_.k) break;
      if (!shown.insert(r.item_id).second) continue;
      hist_row.push_back({engine_.ItemPixels(r.item_id),
                          {"seen " + r.item_id.substr(0, 20), "weight " + FormatShortest(r.weight)},
                          true});
      hist_ids.push_back(r.item_id);
    }
    for (size_t i = 0; i < recs.answers.size(); ++i) {
      auto lines = ReasonLines(recs.answers[i].reason);
      rec_row.push_back(
          {engine_.ItemPixels(recs.answers[i].item_id),
           {"#" + std::to_string(i + 1) + " " + recs.answers[i].item_id.substr(0, 16), lines[0], lines[1]},
           false});
      rec_ids.push_back(recs.answers[i].item_id);
    }
    const std::string file = "user-" + Slug(user) + ".png";
    Emit(file, query::RenderSheetPng({hist_row, rec_row}, crop_, three_lines),
         {{"kind", "user"}, {"user", user}, {"history", hist_ids}, {"recommended", rec_ids}});
    html_ += "<h3>" + HtmlEscape(user) +
             "</h3>\n<p>Top row: history (most recent first). Bottom row: "
             "recommendations, with the history items behind each and the share of each source.</p>\n<img src=\"" +
             file + "\" alt=\"" + HtmlEscape(user) + "\">\n";
  }
}

// Label -> colour index: labels in sorted order, "(none)" for items without one.
std::map<std::string, int> LabelClasses(const std::vector<std::string>& ids,
                                        const std::map<std::string, std::string>& label) {
  std::map<std::string, int> cls;
  for (const auto& id : ids) cls.emplace(label.count(id) ? label.at(id) : "(none)", 0);
  int c = 0;
  for (auto& [name, idx] : cls) idx = c++;
  return cls;
}

// Dots coloured by label; returns the points.
json ReportWriter::DrawDots(cv::Mat& map, const MapFrame& frame, const std::vector<std::string>& ids,
                            const std::map<std::string, std::string>& label) const {
  std::map<std::string, int> cls = LabelClasses(ids, label);
  json points = json::array();
  for (int64_t i = 0; i < int64_t(ids.size()); ++i) {
    const std::string l = label.count(ids[size_t(i)]) ? label.at(ids[size_t(i)]) : "(none)";
    const int k = std::min(cls[l], int(std::size(kPalette)) - 1);
    const int x = frame.X(i), y = frame.Y(i);
    cv::circle(map, {x, y}, 4, kPalette[k], cv::FILLED, cv::LINE_AA);
    points.push_back({{"id", ids[size_t(i)]}, {"x", x}, {"y", y}, {"label", l}});
  }
  return points;
}

// The legend in the top right corner, drawn over the thumbnails; returns label -> BGR colour.
json ReportWriter::DrawLegend(cv::Mat& map, const std::vector<std::string>& ids,
                              const std::map<std::string, std::string>& label) const {
  const int S = o_.map_size;
  int ly = 20;
  json legend = json::object();
  for (const auto& [name, idx] : LabelClasses(ids, label)) {
    const int k = std::min(idx, int(std::size(kPalette)) - 1);
    legend[name] = {int(kPalette[k][0]), int(kPalette[k][1]), int(kPalette[k][2])};  // BGR
    cv::circle(map, {S - 150, ly - 4}, 5, kPalette[k], cv::FILLED, cv::LINE_AA);
    cv::putText(map, name.substr(0, 18), {S - 140, ly}, cv::FONT_HERSHEY_SIMPLEX, 0.45, cv::Scalar(0, 0, 0), 1,
                cv::LINE_AA);
    ly += 18;
  }
  return legend;
}

// --thumbnails item photos spread over the map (every n/thumbnails-th item); returns their ids.
json ReportWriter::DrawThumbnails(cv::Mat& map, const MapFrame& frame, const std::vector<std::string>& ids) {
  json thumbs = json::array();
  const int64_t n = int64_t(ids.size());
  if (o_.thumbnails <= 0 || n == 0) return thumbs;
  const int th = 36, S = o_.map_size;
  const int64_t step = std::max<int64_t>(1, n / o_.thumbnails);
  for (int64_t i = 0; i < n && int(thumbs.size()) < o_.thumbnails; i += step) {
    auto px = engine_.ItemPixels(ids[size_t(i)]);
    if (px.empty()) continue;
    cv::Mat src(crop_, crop_, CV_8UC3, px.data()), bgr, small;
    cv::cvtColor(src, bgr, cv::COLOR_RGB2BGR);
    cv::resize(bgr, small, {th, th}, 0, 0, cv::INTER_AREA);
    const int x = std::clamp(frame.X(i) - th / 2, 0, S - th), y = std::clamp(frame.Y(i) - th / 2, 0, S - th);
    small.copyTo(map(cv::Rect(x, y, th, th)));
    thumbs.push_back(ids[size_t(i)]);
  }
  return thumbs;
}

// Catalog map: t-SNE or the PCA plane of the unit-length reduced vectors, coloured by label.
void ReportWriter::CatalogMap(const Artifact& red, const Artifact& pre) {
  auto reduced = red.ReadArray<float>("reduced_l2.npy");
  auto ids = ReadLines(red.File("ids.txt"));
  const std::map<std::string, std::string> label = MapLabels(pre, o_.label_column);
  const int S = o_.map_size, margin = 40;
  cv::Mat map(S, S, CV_8UC3, cv::Scalar(255, 255, 255));
  const int64_t n = reduced.rows(), d = reduced.cols();
  if (int64_t(ids.size()) != n)
    throw ArtifactError("report: ids.txt and reduced_l2.npy disagree in " + red.dir.string());
  const std::string method = o_.map != "auto" ? o_.map : (n >= 4 && n <= kTsneAutoMaxItems ? "tsne" : "pca");
  if (method == "tsne" && n < 4) throw InputError("report: --map tsne needs at least 4 items; use --map pca");
  json map_info{{"method", method}};
  double explained[2] = {0, 0};
  const auto t_map = std::chrono::steady_clock::now();
  const std::vector<float> coords =
      method == "tsne" ? Tsne(reduced.data.data(), n, d, o_.tsne) : PcaPlane(reduced.data.data(), n, d, explained);
  const double map_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_map).count();
  if (method == "tsne") {
    map_info["perplexity"] = EffectivePerplexity(o_.tsne.perplexity, n);
    map_info["iterations"] = o_.tsne.iterations;
    map_info["theta"] = o_.tsne.theta;
    spdlog::info("report: t-SNE map of {} items in {:.2f} s", n, map_seconds);
  } else {
    map_info["explained_variance"] = {explained[0], explained[1]};
  }
  map_info["seconds"] = map_seconds;
  WriteCoordinates(out_, coords, ids);
  const MapFrame frame(coords, n, S, margin);
  const json points = DrawDots(map, frame, ids, label);
  const json thumbs = DrawThumbnails(map, frame, ids);
  const json legend = DrawLegend(map, ids, label);
  const std::string x_axis =
      method == "tsne" ? "t-SNE 1 ->" : "PC1 (" + FormatFixed(100 * explained[0], 1) + "% of variance) ->";
  const std::string y_axis = method == "tsne" ? "t-SNE 2 ^" : "PC2 (" + FormatFixed(100 * explained[1], 1) + "%) ^";
  cv::putText(map, x_axis, {margin, S - 10}, cv::FONT_HERSHEY_SIMPLEX, 0.45, cv::Scalar(80, 80, 80), 1, cv::LINE_AA);
  cv::putText(map, y_axis, {6, margin - 10}, cv::FONT_HERSHEY_SIMPLEX, 0.45, cv::Scalar(80, 80, 80), 1, cv::LINE_AA);
  std::vector<uchar> bytes;
  if (!cv::imencode(".png", map, bytes)) throw IoError("report: cannot encode the catalog map");
  Emit("catalog-map.png", std::string(bytes.begin(), bytes.end()),
       {{"kind", "map"},
        {"label_column", o_.label_column},
        {"size", S},
        {"legend_bgr", legend},
        {"points", points},
        {"thumbnails", thumbs},
        {"map", map_info}});
  html_ += "<h2>Catalog map</h2>\n<p>Each dot is an item, coloured by <code>" + HtmlEscape(o_.label_column) +
           "</code>, " +
           (method == "tsne"
                ? std::string("placed by t-SNE (perplexity ") + FormatFixed(o_.tsne.perplexity, 0) +
                      "): near dots are items with similar visual vectors; distances between far groups mean little."
                : "on the top two principal components of the reduced vectors (" + FormatFixed(100 * explained[0], 1) +
                      "% and " + FormatFixed(100 * explained[1], 1) + "% of their variance).") +
           " Coordinates: <code>map2d.npy</code> (rows as <code>map2d_ids.txt</code>).</p>\n"
           "<img src=\"catalog-map.png\" alt=\"catalog map\">\n";
}

}  // namespace

ReportResult WriteReport(const ReportOptions& o) {
  o.Validate();
  query::QueryOptions qo;
  qo.workdir = o.workdir;
  qo.recommend = o.recommend;
  qo.device = Device::kCpu;
  const Artifact rec = OpenGivenOrLatest("report", o.recommend, o.workdir, "recommend");
  RequireWholeArtifact(rec, "report");  // before the engine, whose refusal would name `query`
  query::QueryEngine engine(qo);
  const Artifact red = OpenParent(rec, "reduce", "reduce");
  const Artifact ex = OpenParent(red, "extract", "extract");
  const Artifact pre = OpenParent(ex, "preprocess", "preprocess");
  ReportWriter writer(o, PrepareOutputFolder(o), engine, rec);
  writer.ItemSheets(rec);
  writer.UserSheets(rec);
  writer.CatalogMap(red, pre);
  return writer.Finish();
}

}  // namespace visrec::report
