// `visrec query` against a tiny finished pipeline: answers equal the batch artifacts.
#include "visrec/query/query.h"

#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <cmath>
#include <map>

#include "../test_util.h"
#include "visrec/artifact/csv.h"
#include "visrec/artifact/npy.h"
#include "visrec/pipeline/pipeline.h"
#include "visrec/util/errors.h"
#include "visrec/util/fs.h"

namespace visrec::query {
namespace {

class QueryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    testing::MakeTinyCatalog(*dir_ / "catalog", 20, 30, 64, 96, 5);
    pipeline::RunOptions o;
    o.catalog = *dir_ / "catalog" / "catalog.csv";
    o.interactions = *dir_ / "catalog" / "interactions.csv";
    o.preprocess.resize = 40;
    o.preprocess.crop = 32;
    o.preprocess.max_failed_fraction = 0.3;
    o.reduce.pca.dims = 6;
    RunContext ctx;
    ctx.workdir = *dir_ / "work";
    ctx.threads = 2;
    pipeline::Run(o, ctx);
  }
  static void TearDownTestSuite() { delete dir_; }
  static QueryOptions Options() {
    QueryOptions q;
    q.workdir = *dir_ / "work";
    q.device = Device::kCpu;
    q.threads = 2;
    return q;
  }
  static Artifact Latest(const std::string& stage) { return OpenLatest(*dir_ / "work", stage); }
  static testing::TempDir* dir_;
};
testing::TempDir* QueryTest::dir_ = nullptr;

TEST_F(QueryTest, ItemAnswersAreTheHybridRowsOfSimilarItems) {
  QueryEngine engine(Options());
  CsvTable sim = ReadCsv(Latest("recommend").File("similar_items.csv"));
  std::map<std::string, std::vector<std::pair<std::string, double>>> hybrid;
  for (const auto& r : sim.rows)
    if (r[4] == "hybrid") hybrid[r[0]].push_back({r[2], std::stod(r[3])});
  ASSERT_FALSE(hybrid.empty());
  for (const auto& [item, expected] : hybrid) {
    QueryResult got = engine.Item(item, 3);
    ASSERT_EQ(got.answers.size(), std::min<size_t>(3, expected.size())) << item;
    for (size_t i = 0; i < got.answers.size(); ++i) {
      EXPECT_EQ(got.answers[i].item_id, expected[i].first) << item << " rank " << i + 1;
      EXPECT_NEAR(got.answers[i].score, expected[i].second, 1e-6);
    }
  }
}

// --source: each source's own lists, equal to similar_items.csv's rows of that source; --show adds
// the catalog's columns to every answer.
TEST_F(QueryTest, ItemAnswersPerSourceAndCatalogColumns) {
  CsvTable sim = ReadCsv(Latest("recommend").File("similar_items.csv"));
  const Catalog cat = ReadCatalog(*dir_ / "catalog" / "catalog.csv");
  ASSERT_TRUE(Latest("recommend").manifest_json["counts"]["text_similarity"].get<bool>());
  for (const std::string source : {"collaborative", "visual", "text"}) {
    QueryOptions q = Options();
    q.source = source;
    q.show = {"category", "title"};
    QueryEngine engine(q);
    std::map<std::string, std::vector<std::pair<std::string, double>>> lists;
    for (const auto& r : sim.rows)
      if (r[4] == source) lists[r[0]].push_back({r[2], std::stod(r[3])});
    ASSERT_FALSE(lists.empty()) << source;
    for (const auto& item : cat.item_ids) {
      const auto& expected = lists[item];
      QueryResult got = engine.Item(item, 4);
      ASSERT_EQ(got.answers.size(), std::min<size_t>(4, expected.size())) << source << " " << item;
      for (size_t i = 0; i < got.answers.size(); ++i) {
        EXPECT_EQ(got.answers[i].item_id, expected[i].first) << source << " " << item << " rank " << i + 1;
        EXPECT_NEAR(got.answers[i].score, expected[i].second, 1e-6);
        EXPECT_EQ(got.answers[i].reason, source);
        ASSERT_EQ(got.answers[i].shown.size(), 2u);
        EXPECT_EQ(got.answers[i].shown[0].second, cat.metadata.at(expected[i].first).at("category"));
        EXPECT_EQ(got.answers[i].shown[1].second, cat.metadata.at(expected[i].first).at("title"));
      }
    }
    EXPECT_NE(FormatTable(engine.Item(cat.item_ids[0], 1)).find("category="), std::string::npos);
    EXPECT_NE(FormatJson(engine.Item(cat.item_ids[0], 1)).find("\"show\":{\"category\""), std::string::npos);
  }
  QueryOptions q = Options();
  q.show = {"title"};
  QueryEngine users(q);
  const std::string user = ReadLines(Latest("recommend").File("users.txt"))[0];
  for (const auto& a : users.User(user, 3).answers)
    EXPECT_EQ(a.shown.at(0).second, cat.metadata.at(a.item_id).at("title"));
  // item_id and image are columns too (image: the item's first photo).
  q.show = {"item_id", "image"};
  QueryEngine ids(q);
  for (const auto& a : ids.Item(cat.item_ids[0], 3).answers) {
    EXPECT_EQ(a.shown.at(0).second, a.item_id);
    EXPECT_FALSE(a.shown.at(1).second.empty());
  }
  q.show = {"title", "title"};
  EXPECT_THROW(QueryEngine e(q), UsageError);
  q.show = {"nosuch"};
  testing::ExpectThrowWith<UsageError>([&] { QueryEngine e(q); }, {"nosuch", "its columns"});
  q.show.clear();
  q.source = "colour";
  EXPECT_THROW(QueryEngine e(q), UsageError);
}

TEST_F(QueryTest, UserAnswersAreTheirRecommendationsWithReasons) {
  QueryEngine engine(Options());
  CsvTable rec = ReadCsv(Latest("recommend").File("recommendations.csv"));
  std::map<std::string, std::vector<std::vector<std::string>>> rows;
  for (const auto& r : rec.rows) rows[r[0]].push_back(r);
  ASSERT_GT(rows.size(), 5u);
  for (const auto& [user, expected] : rows) {
    QueryResult got = engine.User(user, 100);
    ASSERT_EQ(got.answers.size(), expected.size()) << user;
    for (size_t i = 0; i < expected.size(); ++i) {
      EXPECT_EQ(got.answers[i].item_id, expected[i][2]);
      EXPECT_EQ(got.answers[i].reason, expected[i][4]);
    }
  }
}

TEST_F(QueryTest, APhotoFromTheCatalogFindsItsItemThroughTheSamePathAsTheBatch) {
  QueryEngine engine(Options());
  // Items with exactly one photo: their item vector is that photo's feature, so the query must
  // reproduce the stored reduced vector (cosine 1) and rank the item first.
  CsvTable cat = ReadCsv(*dir_ / "catalog" / "catalog.csv");
  std::map<std::string, std::vector<std::string>> photos;
  for (const auto& r : cat.rows) photos[r[0]].push_back(r[1]);
  Artifact red = Latest("reduce");
  auto ids = ReadLines(red.File("ids.txt"));
  auto l2 = red.ReadArray<float>("reduced_l2.npy");
  int checked = 0;
  for (const auto& [item, list] : photos) {
    if (list.size() != 1) continue;
    QueryResult r = engine.Image(*dir_ / "catalog" / list[0], 5);
    ASSERT_EQ(r.answers.size(), 5u);
    EXPECT_EQ(r.answers[0].item_id, item);
    EXPECT_NEAR(r.answers[0].score, 1.0, 1e-4) << item;
    // Every score is the cosine to the stored vectors: check rank 2 by brute force.
    size_t self = size_t(std::find(ids.begin(), ids.end(), item) - ids.begin());
    size_t other = size_t(std::find(ids.begin(), ids.end(), r.answers[1].item_id) - ids.begin());
    double dot = 0;
    for (int64_t j = 0; j < l2.cols(); ++j)
      dot += double(l2.data[self * size_t(l2.cols()) + size_t(j)]) * l2.data[other * size_t(l2.cols()) + size_t(j)];
    EXPECT_NEAR(r.answers[1].score, dot, 1e-4);
    EXPECT_GE(r.answers[0].score, r.answers[1].score);
    EXPECT_GT(r.ms.model, 0);
    ++checked;
  }
  EXPECT_GT(checked, 0) << "the tiny catalog has no single-photo item";
}

TEST_F(QueryTest, BadQueriesNameWhatIsWrong) {
  QueryEngine engine(Options());
  try {
    engine.Item("NO-SUCH-ITEM", 5);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("'NO-SUCH-ITEM'"), std::string::npos);
  }
  EXPECT_THROW(engine.User("nobody", 5), InputError);
  testing::WriteText(*dir_ / "broken.jpg", "not a photo");
  try {
    engine.Image(*dir_ / "broken.jpg", 5);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("broken.jpg"), std::string::npos);
  }
  EXPECT_THROW(engine.Image(*dir_ / "missing.jpg", 5), InputError);
  // A workdir without the recommend stage.
  QueryOptions empty = Options();
  empty.workdir = *dir_ / "nowhere";
  try {
    QueryEngine none(empty);
    FAIL();
  } catch (const ArtifactError& e) {
    EXPECT_NE(std::string(e.what()).find("recommend"), std::string::npos) << e.what();
  }
}

TEST_F(QueryTest, ContactSheetIsAPngOfTheAnswerLayout) {
  QueryEngine engine(Options());
  QueryResult r = engine.Item(ReadLines(Latest("recommend").File("ids.txt"))[0], 4);
  ASSERT_EQ(r.answers.size(), 4u);
  fs::path png = *dir_ / "sheet.png";
  WriteContactSheet(engine, r, png);
  cv::Mat img = cv::imread(png.string(), cv::IMREAD_COLOR);
  ASSERT_FALSE(img.empty());
  EXPECT_EQ(img.cols, 8 + 5 * (160 + 8));  // the query and 4 answers in one row
  EXPECT_EQ(img.rows, 8 + 160 + 44 + 8);
  // Each answer tile shows that answer's photo: shrunk back to the crop size it is closest to
  // its own item's pixels among all answers.
  for (size_t a = 0; a < r.answers.size(); ++a) {
    cv::Mat tile = img(cv::Rect(8 + int(a + 1) * 168, 8, 160, 160)), small;
    cv::resize(tile, small, {32, 32}, 0, 0, cv::INTER_AREA);
    double best = 1e18;
    size_t best_at = 0;
    for (size_t b = 0; b < r.answers.size(); ++b) {
      std::vector<uint8_t> px = engine.ItemPixels(r.answers[b].item_id);
      ASSERT_EQ(px.size(), size_t(32 * 32 * 3));
      double diff = 0;
      for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 32; ++x)
          for (int c = 0; c < 3; ++c)
            diff += std::abs(double(small.at<cv::Vec3b>(y, x)[2 - c]) - px[size_t((y * 32 + x) * 3 + c)]);
      if (diff < best) {
        best = diff;
        best_at = b;
      }
    }
    EXPECT_EQ(best_at, a) << "tile " << a + 1;
    EXPECT_LT(best / (32 * 32 * 3), 20.0) << "tile " << a + 1;
  }
}

}  // namespace
}  // namespace visrec::query
