// `visrec report` on a tiny finished pipeline: valid PNGs of the documented size that picture the
// right ids, and an index linking them.
#include "visrec/report/report.h"

#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>

#include <map>
#include <set>

#include "../test_util.h"
#include "visrec/artifact/csv.h"
#include "visrec/artifact/npy.h"
#include "visrec/pipeline/pipeline.h"
#include "visrec/util/errors.h"
#include "visrec/util/fs.h"

namespace visrec::report {
namespace {

// Replaces an id field everywhere in a CSV file (at a line's start or between commas).
void RenameId(const fs::path& csv, const std::string& from, const std::string& to) {
  std::string s = "\n" + testing::ReadText(csv);
  for (const std::string lead : {"\n", ","})
    for (size_t at; (at = s.find(lead + from + ",")) != std::string::npos;)
      s.replace(at + lead.size(), from.size(), to);
  testing::WriteText(csv, s.substr(1));
}

struct TinyWorkdir {
  testing::TempDir dir;
  // `renames`: item ids replaced before the run (to try awkward ids).
  explicit TinyWorkdir(const std::vector<std::pair<std::string, std::string>>& renames = {}) {
    testing::MakeTinyCatalog(dir / "catalog", 18, 25, 64, 96, 3);
    for (const auto& [from, to] : renames) {
      RenameId(dir / "catalog" / "catalog.csv", from, to);
      RenameId(dir / "catalog" / "interactions.csv", from, to);
    }
    pipeline::RunOptions o;
    o.catalog = dir / "catalog" / "catalog.csv";
    o.interactions = dir / "catalog" / "interactions.csv";
    o.preprocess.resize = 40;
    o.preprocess.crop = 32;
    o.preprocess.max_failed_fraction = 0.3;
    o.reduce.pca.dims = 6;
    RunContext ctx;
    ctx.workdir = dir / "work";
    ctx.threads = 2;
    pipeline::Run(o, ctx);
  }
};

// Sheet geometry of the default layout (see query/sheet.h).
int SheetWidth(size_t tiles) { return 8 + int(std::min<size_t>(tiles, 6)) * (160 + 8); }
int SheetHeight(int tile_lines, int caption_lines) { return 8 + tile_lines * (160 + 17 * caption_lines + 10 + 8); }

TEST(Report, PicturesShowTheRightIdsAtTheDocumentedSizes) {
  TinyWorkdir t;
  ReportOptions o;
  o.workdir = t.dir / "work";
  o.items = 3;
  o.users = 2;
  o.k = 4;
  o.thumbnails = 5;
  ReportResult r = WriteReport(o);
  ASSERT_EQ(r.pictures.size(), 3u + 2u + 1u);

  const Artifact rec = OpenLatest(o.workdir, "recommend");
  CsvTable sim = ReadCsv(rec.File("similar_items.csv"));
  std::map<std::string, std::map<std::string, std::vector<std::string>>> expected;  // item -> source -> ids
  for (const auto& row : sim.rows)
    if (expected[row[0]][row[4]].size() < 4) expected[row[0]][row[4]].push_back(row[2]);
  CsvTable recs = ReadCsv(rec.File("recommendations.csv"));
  std::map<std::string, std::vector<std::string>> rec_of;
  for (const auto& row : recs.rows)
    if (rec_of[row[0]].size() < 4) rec_of[row[0]].push_back(row[2]);

  const std::string html = testing::ReadText(r.index);
  int items = 0, users = 0;
  for (const auto& [file, what] : r.pictured.items()) {
    EXPECT_NE(html.find("src=\"" + file + "\""), std::string::npos) << file << " is not linked from index.html";
    cv::Mat img = cv::imread((r.index.parent_path() / file).string(), cv::IMREAD_COLOR);
    ASSERT_FALSE(img.empty()) << file << " is not a readable PNG";
    if (what["kind"] == "item") {
      ++items;
      const std::string item = what["item"];
      size_t longest = 0;
      for (const auto& row : what["rows"]) {
        EXPECT_EQ(row["ids"].get<std::vector<std::string>>(), expected[item][row["source"].get<std::string>()])
            << file << " row " << row["source"];
        longest = std::max(longest, row["ids"].size() + 1);
      }
      EXPECT_EQ(what["rows"].size(), expected[item].size()) << "one row per source";
      EXPECT_EQ(img.cols, SheetWidth(longest)) << file;
      EXPECT_EQ(img.rows, SheetHeight(int(what["rows"].size()), 2)) << file;
    } else if (what["kind"] == "user") {
      ++users;
      EXPECT_EQ(what["recommended"].get<std::vector<std::string>>(), rec_of[what["user"].get<std::string>()]) << file;
      EXPECT_FALSE(what["history"].empty()) << file;
      EXPECT_EQ(img.rows, SheetHeight(2, 3)) << file;
    } else {
      EXPECT_EQ(what["kind"], "map");
      EXPECT_EQ(img.cols, 900);
      EXPECT_EQ(img.rows, 900);
      // Every item is a dot of its label's legend colour at its recorded position; later dots and
      // thumbnails may cover earlier ones, so most (not all) centres show their own colour.
      EXPECT_EQ(what["points"].size(), ReadLines(OpenLatest(o.workdir, "reduce").File("ids.txt")).size());
      const json& legend = what["legend_bgr"];
      EXPECT_GT(legend.size(), 1u) << "the sample has several categories";
      std::set<std::vector<int>> distinct;
      for (const auto& [label, bgr] : legend.items()) distinct.insert(bgr.get<std::vector<int>>());
      EXPECT_EQ(distinct.size(), legend.size()) << "two labels share a colour";
      size_t own = 0;
      for (const auto& p : what["points"]) {
        cv::Vec3b c = img.at<cv::Vec3b>(p["y"].get<int>(), p["x"].get<int>());
        if (std::vector<int>{c[0], c[1], c[2]} == legend[p["label"].get<std::string>()].get<std::vector<int>>()) ++own;
      }
      EXPECT_GE(own * 10, what["points"].size() * 6)
          << own << " of " << what["points"].size() << " dots show their colour";
      EXPECT_EQ(what["thumbnails"].size(), 5u);
      // A small catalog gets the t-SNE map by default; its coordinates are there to plot.
      EXPECT_EQ(what["map"]["method"], "tsne");
      const auto map2d = ReadNpy<float>(r.index.parent_path() / "map2d.npy");
      EXPECT_EQ(map2d.rows(), int64_t(what["points"].size()));
      EXPECT_EQ(map2d.cols(), 2);
      EXPECT_EQ(ReadLines(r.index.parent_path() / "map2d_ids.txt"),
                ReadLines(OpenLatest(o.workdir, "reduce").File("ids.txt")));
    }
  }
  EXPECT_EQ(items, 3);
  EXPECT_EQ(users, 2);
  // The PCA map states its components' shares of variance, on the axes and in report.json.
  o.map = "pca";
  const ReportResult p = WriteReport(o);
  const json& info = p.pictured["catalog-map.png"]["map"];
  EXPECT_EQ(info["method"], "pca");
  EXPECT_GT(info["explained_variance"][0].get<double>(), info["explained_variance"][1].get<double>());
  EXPECT_NE(testing::ReadText(p.index).find("% of their variance"), std::string::npos);
  // map2d.npy is replaced, never written through a link planted in its place.
  const fs::path planted = t.dir / "precious.txt";
  testing::WriteText(planted, "keep me");
  fs::remove(p.index.parent_path() / "map2d.npy");
  fs::create_symlink(planted, p.index.parent_path() / "map2d.npy");
  WriteReport(o);
  EXPECT_EQ(testing::ReadText(planted), "keep me");
  EXPECT_FALSE(fs::is_symlink(p.index.parent_path() / "map2d.npy"));
  // Artifacts are immutable: no report inside one.
  ReportOptions inside = o;
  inside.out = OpenLatest(o.workdir, "recommend").dir / "pictures";
  EXPECT_THROW(WriteReport(inside), UsageError);
  o.map = "umap";
  EXPECT_THROW(WriteReport(o), UsageError);
}

// Issue 18, item 15: ids that one file-name rule would merge ("x,1", "x 1", "x_1") get a picture
// each, and report.json lists every one.
TEST(Report, FileNamesStayDistinctForIdsThatLookAlike) {
  TinyWorkdir t({{"P0001", "\"x,1\""}, {"P0002", "x 1"}, {"P0003", "x_1"}});
  ReportOptions o;
  o.workdir = t.dir / "work";
  o.item_ids = {"x,1", "x 1", "x_1"};
  o.users = 0;
  ReportResult r = WriteReport(o);
  std::set<std::string> files, items;
  for (const auto& [file, what] : r.pictured.items())
    if (what["kind"] == "item") {
      files.insert(file);
      items.insert(what["item"].get<std::string>());
    }
  EXPECT_EQ(files.size(), 3u);
  EXPECT_EQ(items, (std::set<std::string>{"x,1", "x 1", "x_1"}));
}

TEST(Report, UnknownIdsAreClearErrors) {
  TinyWorkdir t;
  ReportOptions o;
  o.workdir = t.dir / "work";
  o.item_ids = {"NOPE"};
  try {
    WriteReport(o);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("'NOPE'"), std::string::npos);
  }
  o.item_ids.clear();
  o.workdir = t.dir / "empty";
  EXPECT_THROW(WriteReport(o), ArtifactError);
}

}  // namespace
}  // namespace visrec::report
