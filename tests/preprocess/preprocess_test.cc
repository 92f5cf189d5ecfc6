// The preprocess stage on a hand-made catalog of good and bad files.
#include "visrec/preprocess/preprocess.h"

#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>

#include "../test_util.h"
#include "visrec/core/csv.h"
#include "visrec/core/errors.h"

namespace visrec::preprocess {
namespace {

struct BadCatalog {
  testing::TempDir dir;
  RunContext ctx;
  PreprocessOptions o;
  BadCatalog() {
    cv::Mat img(120, 160, CV_8UC3, cv::Scalar(240, 240, 240));
    img(cv::Rect(40, 30, 60, 50)).setTo(cv::Scalar(20, 40, 200));
    cv::imwrite((dir / "good.jpg").string(), img);
    cv::imwrite((dir / "good 2 é.png").string(), img);  // space and UTF-8 in the name
    testing::WriteText(dir / "empty.jpg", "");
    testing::WriteText(dir / "text.jpg", "not an image\n");
    std::string jpg = testing::ReadText(dir / "good.jpg");
    testing::WriteText(dir / "truncated.jpg", jpg.substr(0, 40));
    testing::WriteText(dir / "catalog.csv",
                       "item_id,image,title\n"
                       "A,good.jpg,ok\n"
                       "A,missing.jpg,gone\n"
                       "B,empty.jpg,empty\n"
                       "B,text.jpg,text\n"
                       "C,\"good 2 é.png\",spaces\n"
                       "D,truncated.jpg,cut\n");
    ctx.workdir = dir / "w";
    ctx.threads = 2;
    o.catalog = dir / "catalog.csv";
    o.resize = 40;
    o.crop = 32;
    o.max_failed_fraction = 0.9;
  }
};

TEST(PreprocessStage, BadFilesBecomeReasonsAndItemsWithoutPhotosAreListed) {
  BadCatalog t;
  StageResult r = preprocess::Run(t.o, t.ctx);
  const json& m = r.artifact.manifest;
  EXPECT_EQ(m["counts"]["images_ok"], 2);
  EXPECT_EQ(m["counts"]["images_failed"], 4);
  std::map<std::string, std::string> reason;
  std::set<std::string> items_without;
  for (auto& f : m["failures"]) {
    if (f["file"] == "") items_without.insert(f["id"].get<std::string>());
    else reason[f["file"].get<std::string>()] = f["reason"].get<std::string>();
  }
  EXPECT_NE(reason["missing.jpg"].find("not found"), std::string::npos);
  EXPECT_NE(reason["empty.jpg"].find("empty"), std::string::npos);
  EXPECT_NE(reason["text.jpg"].find("not a decodable image"), std::string::npos);
  EXPECT_FALSE(reason["truncated.jpg"].empty());
  EXPECT_EQ(items_without, (std::set<std::string>{"B", "D"}));
  EXPECT_EQ(m["counts"]["items_without_photo"], 2);
  auto px = r.artifact.ReadArray<uint8_t>("pixels-00000.npy");
  EXPECT_EQ(px.shape, (std::vector<int64_t>{2, 32, 32, 3}));
  CsvTable images = ReadCsv(r.artifact.File("images.csv"));
  ASSERT_EQ(images.rows.size(), 2u);
  EXPECT_EQ(images.rows[1][2], "good 2 é.png");
  // The product was trimmed and centred: the centre pixel is its colour (RGB 200, 40, 20).
  const uint8_t* c = &px.data[size_t((16 * 32 + 16) * 3)];
  EXPECT_GT(c[0], 150);
  EXPECT_LT(c[2], 80);
}

TEST(PreprocessStage, FailureThresholdAndParameterChangesAndReruns) {
  BadCatalog t;
  t.o.max_failed_fraction = 0.5;  // 4 of 6 failed
  EXPECT_THROW(preprocess::Run(t.o, t.ctx), TooManyFailuresError);
  t.o.max_failed_fraction = 0.9;
  StageResult a = preprocess::Run(t.o, t.ctx);
  EXPECT_TRUE(preprocess::Run(t.o, t.ctx).reused);
  t.o.trim = "off";
  StageResult b = preprocess::Run(t.o, t.ctx);
  EXPECT_NE(a.artifact.dir, b.artifact.dir);
  EXPECT_EQ(b.artifact.manifest["counts"]["images_reused"], 0) << "other parameters: nothing reusable";
  t.o.crop = 8;  // resize 40 >= crop: fine; bad values are usage errors
  t.o.resize = 4;
  EXPECT_THROW(preprocess::Run(t.o, t.ctx), UsageError);
}

}  // namespace
}  // namespace visrec::preprocess
