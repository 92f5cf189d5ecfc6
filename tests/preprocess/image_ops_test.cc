#include "visrec/preprocess/image_ops.h"

#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace visrec::preprocess {
namespace {

std::string Encode(const cv::Mat& m, const char* ext) {
  std::vector<uchar> b;
  EXPECT_TRUE(cv::imencode(ext, m, b));
  return std::string(b.begin(), b.end());
}

// A BGR test image whose four quadrants differ, so orientation errors show.
cv::Mat Quadrants(int w, int h) {
  cv::Mat m(h, w, CV_8UC3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) m.at<cv::Vec3b>(y, x) = cv::Vec3b(x < w / 2 ? 0 : 255, y < h / 2 ? 0 : 255, 128);
  return m;
}

std::string WithOrientation(const std::string& jpeg, int o) {
  const unsigned char app1[] = {0xFF,
                                0xE1,
                                0x00,
                                0x22,
                                'E',
                                'x',
                                'i',
                                'f',
                                0,
                                0,
                                'I',
                                'I',
                                0x2A,
                                0x00,
                                0x08,
                                0x00,
                                0x00,
                                0x00,
                                0x01,
                                0x00,
                                0x12,
                                0x01,
                                0x03,
                                0x00,
                                0x01,
                                0x00,
                                0x00,
                                0x00,
                                (unsigned char)o,
                                0x00,
                                0x00,
                                0x00,
                                0x00,
                                0x00,
                                0x00,
                                0x00};
  return jpeg.substr(0, 2) + std::string(reinterpret_cast<const char*>(app1), sizeof app1) + jpeg.substr(2);
}

TEST(ImageOps, ProbeDimensions) {
  cv::Mat m = Quadrants(37, 21);
  int w = 0, h = 0;
  for (const char* ext : {".jpg", ".png", ".bmp"}) {
    ASSERT_TRUE(ProbeDimensions(Encode(m, ext), &w, &h)) << ext;
    EXPECT_EQ(w, 37) << ext;
    EXPECT_EQ(h, 21) << ext;
  }
  EXPECT_FALSE(ProbeDimensions("not an image at all", &w, &h));
}

TEST(ImageOps, AllEightExifOrientationsComeOutUpright) {
  cv::Mat upright = Quadrants(64, 48);
  // For each orientation, store the image so that applying the tag restores `upright`.
  for (int o = 1; o <= 8; ++o) {
    cv::Mat stored;
    switch (o) {  // inverse of the display transform
      case 1: stored = upright; break;
      case 2: cv::flip(upright, stored, 1); break;
      case 3: cv::rotate(upright, stored, cv::ROTATE_180); break;
      case 4: cv::flip(upright, stored, 0); break;
      case 5: cv::transpose(upright, stored); break;
      case 6: cv::rotate(upright, stored, cv::ROTATE_90_COUNTERCLOCKWISE); break;
      case 7: {
        cv::Mat t;
        cv::rotate(upright, t, cv::ROTATE_180);
        cv::transpose(t, stored);
        break;
      }
      case 8: cv::rotate(upright, stored, cv::ROTATE_90_CLOCKWISE); break;
    }
    std::string bytes = WithOrientation(Encode(stored, ".jpg"), o);
    EXPECT_EQ(JpegExifOrientation(bytes), o);
    cv::Mat rgb = DecodeToRgb(bytes, {});
    ASSERT_EQ(rgb.cols, 64) << "orientation " << o;
    ASSERT_EQ(rgb.rows, 48) << "orientation " << o;
    // Top-left quadrant: B=0,G=0 -> RGB (128, 0, 0); bottom-right: B=255, G=255 -> (128, 255, 255)
    cv::Vec3b tl = rgb.at<cv::Vec3b>(5, 5), br = rgb.at<cv::Vec3b>(42, 58);
    EXPECT_LT(tl[1], 40) << o;
    EXPECT_LT(tl[2], 40) << o;
    EXPECT_GT(br[1], 215) << o;
    EXPECT_GT(br[2], 215) << o;
  }
}

TEST(ImageOps, AlphaCompositedOnBackground) {
  cv::Mat bgra(10, 10, CV_8UC4, cv::Scalar(0, 0, 255, 0));        // fully transparent red
  bgra(cv::Rect(0, 0, 5, 10)).setTo(cv::Scalar(255, 0, 0, 255));  // opaque blue half
  DecodeOptions o;
  o.background = {10, 20, 30};
  cv::Mat rgb = DecodeToRgb(Encode(bgra, ".png"), o);
  EXPECT_EQ(rgb.at<cv::Vec3b>(5, 8), cv::Vec3b(10, 20, 30));
  EXPECT_EQ(rgb.at<cv::Vec3b>(5, 1), cv::Vec3b(0, 0, 255));
}

TEST(ImageOps, GrayAnd16BitBecomeRgb8) {
  cv::Mat g(8, 8, CV_8UC1, cv::Scalar(77));
  cv::Mat a = DecodeToRgb(Encode(g, ".png"), {});
  EXPECT_EQ(a.type(), CV_8UC3);
  EXPECT_EQ(a.at<cv::Vec3b>(3, 3), cv::Vec3b(77, 77, 77));
  cv::Mat w16(8, 8, CV_16UC3, cv::Scalar(257 * 10, 257 * 20, 257 * 30));
  cv::Mat b = DecodeToRgb(Encode(w16, ".png"), {});
  EXPECT_EQ(b.at<cv::Vec3b>(3, 3), cv::Vec3b(30, 20, 10));
}

TEST(ImageOps, FailuresAreReasonsNotCrashes) {
  EXPECT_THROW(DecodeToRgb("", {}), ImageFailure);
  EXPECT_THROW(DecodeToRgb("hello, I am text", {}), ImageFailure);
  std::string jpg = Encode(Quadrants(200, 200), ".jpg");
  // Truncated JPEG: libjpeg alone would return an image with a grey tail; it is refused instead.
  for (size_t keep : {jpg.size() / 3, jpg.size() - 2}) {
    try {
      DecodeToRgb(jpg.substr(0, keep), {});
      FAIL() << "a JPEG cut to " << keep << " bytes was accepted";
    } catch (const ImageFailure& e) {
      EXPECT_NE(std::string(e.what()).find("truncated JPEG"), std::string::npos) << e.what();
    }
  }
  // The end marker of an EXIF thumbnail does not count; trailing bytes after the real one are fine.
  EXPECT_TRUE(JpegHasEndOfImage(jpg));
  EXPECT_TRUE(JpegHasEndOfImage(jpg + "trailing junk"));
  std::string thumb_app1 = "\xFF\xE1" + std::string("\x00\x0A", 2) + "Exif" + std::string("\xFF\xD9\x00\x00", 4);
  EXPECT_FALSE(JpegHasEndOfImage(jpg.substr(0, 2) + thumb_app1 + jpg.substr(2, jpg.size() / 2)));
  // Only the SOI marker left: no frame header.
  EXPECT_THROW(DecodeToRgb(jpg.substr(0, 20), {}), ImageFailure);
  DecodeOptions small;
  small.max_pixels = 100 * 100;
  try {
    DecodeToRgb(jpg, small);
    FAIL();
  } catch (const ImageFailure& e) {
    EXPECT_NE(std::string(e.what()).find("max-pixels"), std::string::npos);
  }
}

TEST(ImageOps, BombRejectedFromHeaderAlone) {
  // A PNG header claiming 30000 x 30000 pixels with no image data behind it.
  std::string png("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR", 16);
  const unsigned char dims[] = {0x00, 0x00, 0x75, 0x30, 0x00, 0x00, 0x75, 0x30, 8, 2, 0, 0, 0};
  png += std::string(reinterpret_cast<const char*>(dims), sizeof dims) + std::string(4, '\0');
  int w, h;
  ASSERT_TRUE(ProbeDimensions(png, &w, &h));
  EXPECT_EQ(w, 30000);
  EXPECT_THROW(DecodeToRgb(png, {}), ImageFailure);
}

TEST(ImageOps, TrimFindsContentAndSquaresIt) {
  cv::Mat img(400, 600, CV_8UC3, cv::Scalar(250, 250, 250));
  cv::rectangle(img, cv::Rect(300, 100, 100, 50), cv::Scalar(0, 0, 200), cv::FILLED);
  cv::Mat t = TrimMargins(img, 20, 0.0);
  EXPECT_EQ(t.cols, t.rows);
  EXPECT_NEAR(t.cols, 100, 2);
  // Content centred, border colour fills the squared-up area.
  EXPECT_EQ(t.at<cv::Vec3b>(t.rows / 2, t.cols / 2), cv::Vec3b(0, 0, 200));
  EXPECT_EQ(t.at<cv::Vec3b>(2, 2), cv::Vec3b(250, 250, 250));
  // No margin: unchanged.
  cv::Mat full(50, 50, CV_8UC3, cv::Scalar(1, 2, 3));
  cv::randu(full, 0, 255);
  EXPECT_EQ(TrimMargins(full, 20, 0.05).size(), full.size());
  // Uniform image: unchanged.
  cv::Mat flat(50, 60, CV_8UC3, cv::Scalar(9, 9, 9));
  EXPECT_EQ(TrimMargins(flat, 20, 0.05).size(), flat.size());
}

TEST(ImageOps, ResizeShorterCenterCropSizesAndRounding) {
  cv::Mat img(300, 500, CV_8UC3, cv::Scalar(10, 20, 30));
  cv::Mat out = ResizeShorterCenterCrop(img, 256, 224);
  EXPECT_EQ(out.cols, 224);
  EXPECT_EQ(out.rows, 224);
  EXPECT_EQ(out.at<cv::Vec3b>(100, 100), cv::Vec3b(10, 20, 30));  // constant stays constant
  cv::Mat lb = Letterbox(img, 224, {255, 255, 255});
  EXPECT_EQ(lb.size(), cv::Size(224, 224));
  EXPECT_EQ(lb.at<cv::Vec3b>(2, 112), cv::Vec3b(255, 255, 255));  // padding band
  EXPECT_EQ(lb.at<cv::Vec3b>(112, 112), cv::Vec3b(10, 20, 30));
}

TEST(ImageOps, AntialiasedDownscaleAveragesFineDetail) {
  // 1-pixel black/white stripes averaged by an 8x downscale: mid grey, not aliasing.
  cv::Mat img(64, 64, CV_8UC3);
  for (int x = 0; x < 64; ++x) img.col(x).setTo(cv::Scalar::all(x % 2 ? 255 : 0));
  cv::Mat out = ResizeBilinearAA(img, 8, 8);
  for (int x = 1; x < 7; ++x) EXPECT_NEAR(out.at<cv::Vec3b>(4, x)[0], 128, 3) << x;
}

}  // namespace
}  // namespace visrec::preprocess
