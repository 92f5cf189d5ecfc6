// The preprocess stage on a hand-made catalog of good and bad files.
#include "visrec/preprocess/preprocess.h"

#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "../test_util.h"
#include "visrec/artifact/csv.h"
#include "visrec/util/errors.h"

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
  const json& m = r.artifact.manifest_json;
  EXPECT_EQ(m["counts"]["images_ok"], 2);
  EXPECT_EQ(m["counts"]["images_failed"], 4);
  std::map<std::string, std::string> reason;
  std::set<std::string> items_without;
  for (auto& f : m["failures"]) {
    if (f["file"] == "")
      items_without.insert(f["id"].get<std::string>());
    else
      reason[f["file"].get<std::string>()] = f["reason"].get<std::string>();
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
  t.o.trim = t.o.trim == preprocess::Trim::kOff ? preprocess::Trim::kAuto : preprocess::Trim::kOff;
  StageResult b = preprocess::Run(t.o, t.ctx);
  EXPECT_NE(a.artifact.dir, b.artifact.dir);
  EXPECT_EQ(b.artifact.manifest_json["counts"]["images_reused"], 0) << "other parameters: nothing reusable";
  t.o.crop = 8;  // resize 40 >= crop: fine; bad values are usage errors
  t.o.resize = 4;
  EXPECT_THROW(preprocess::Run(t.o, t.ctx), UsageError);
}

// A product drawn anywhere on a plain background, at any size and aspect, must come out of
// `--trim auto` whole: nothing of it may touch the edge of the final crop (the square content box
// used to be resized and centre-cropped, which cut off 1/8 of each side).
TEST(PreprocessStage, TrimmedProductSurvivesTheCentreCrop) {
  cv::RNG rng(7);
  for (const char* mode : {"crop", "letterbox"}) {
    for (int trial = 0; trial < 60; ++trial) {
      const int W = rng.uniform(200, 900), H = rng.uniform(200, 900);
      cv::Mat img(H, W, CV_8UC3, cv::Scalar(255, 255, 255));
      const int bw = rng.uniform(W / 8, W * 9 / 10), bh = rng.uniform(H / 8, H * 9 / 10);
      const int x = rng.uniform(0, W - bw), y = rng.uniform(0, H - bh);
      cv::rectangle(img, cv::Rect(x, y, bw, bh), cv::Scalar(30, 60, 200), cv::FILLED);
      std::vector<uint8_t> png;
      cv::imencode(".png", img, png);
      PreprocessOptions o;
      o.mode = *FindChoice<FitMode>(mode);
      o.trim = preprocess::Trim::kAuto;
      const double paddings[] = {0.0, 0.02, 0.04, 0.1};
      o.trim_padding = paddings[trial % 4];
      auto px = PreprocessPhoto(std::string(png.begin(), png.end()), o);
      const int C = o.crop;
      auto content = [&](int r, int c) {
        const uint8_t* p = &px[(size_t(r) * C + c) * 3];
        return p[0] < 200 || p[1] < 200 || p[2] < 200;
      };
      int inside = 0, on_edge = 0, r0 = C, r1 = -1, c0 = C, c1 = -1;
      for (int r = 0; r < C; ++r)
        for (int c = 0; c < C; ++c) {
          if (!content(r, c)) continue;
          ++inside;
          if (r == 0 || c == 0 || r == C - 1 || c == C - 1) ++on_edge;
          r0 = std::min(r0, r), r1 = std::max(r1, r), c0 = std::min(c0, c), c1 = std::max(c1, c);
        }
      ASSERT_GT(inside, 0) << mode << " trial " << trial;
      // A box filling the frame in one direction (no margin there) is the one case a centre crop
      // may still cut: there is nothing to trim, as with torchvision's own Resize+CenterCrop.
      const bool margin_everywhere =
          x > 2 && y > 2 && x + bw < W - 2 && y + bh < H - 2 && bw * int64_t(bh) <= int64_t(W) * H * 90 / 100;
      if (!margin_everywhere) continue;
      // Without padding the box may touch the crop's edge but must keep its shape (a clipped box
      // loses its longer side); with padding it must not touch the edge at all.
      // Shape kept: the shorter output side follows from the longer one, within resampling blur.
      const int out_w = c1 - c0 + 1, out_h = r1 - r0 + 1;
      if (bw >= bh)
        EXPECT_NEAR(out_h, double(out_w) * bh / bw, 2.5)
            << mode << " trial " << trial << ": out " << out_w << "x" << out_h;
      else
        EXPECT_NEAR(out_w, double(out_h) * bw / bh, 2.5)
            << mode << " trial " << trial << ": out " << out_w << "x" << out_h;
      if (o.trim_padding > 0) {
        EXPECT_EQ(on_edge, 0) << mode << " trial " << trial << ": box " << x << "," << y << " " << bw << "x" << bh
                              << " in " << W << "x" << H << " lost pixels at the crop edge";
      }
    }
  }
}

}  // namespace
}  // namespace visrec::preprocess
