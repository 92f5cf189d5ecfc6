// Every format and pixel mode the preprocess stage promises, against Pillow's reading of the same
// files (tests/fixtures/formats, made by tools/fixtures/make-format-fixtures.py).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "visrec/preprocess/image_ops.h"

namespace visrec::preprocess {
namespace {

const std::string kDir = std::string(VISREC_FIXTURES_DIR) + "/formats/";

TEST(Formats, DecodeLikePillow) {
  std::ifstream f(kDir + "expected.json");
  nlohmann::json j = nlohmann::json::parse(f);
  ASSERT_GE(j["mean_rgb"].size(), 12u);
  for (auto& [name, mean] : j["mean_rgb"].items()) {
    std::ifstream in(kDir + name, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    cv::Mat rgb;
    try {
      rgb = DecodeToRgb(ss.str(), {});
    } catch (const ImageFailure& e) {
      ADD_FAILURE() << name << ": " << e.what();
      continue;
    }
    EXPECT_EQ(rgb.type(), CV_8UC3) << name;
    EXPECT_EQ(rgb.cols, 32) << name;
    EXPECT_EQ(rgb.rows, 24) << name;
    cv::Scalar m = cv::mean(rgb);
    for (int c = 0; c < 3; ++c) EXPECT_NEAR(m[c], mean[size_t(c)].get<double>(), 2.0) << name << " channel " << c;
  }
}

}  // namespace
}  // namespace visrec::preprocess
