// Image operations of the preprocess stage, exposed for tests. All images are 8-bit RGB cv::Mat.
#pragma once
#include <cstdint>
#include <string>

#include <opencv2/core.hpp>

namespace visrec::preprocess {

// A per-image failure: the reason goes to the manifest, the run goes on.
struct ImageFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Width/height from the file header without decoding (JPEG, PNG, BMP, GIF, WebP). False if unknown.
bool ProbeDimensions(const std::string& bytes, int* width, int* height);
// EXIF Orientation (1-8) of a JPEG, 1 when absent or unreadable.
int JpegExifOrientation(const std::string& bytes);
cv::Mat ApplyOrientation(const cv::Mat& img, int orientation);
// True when a JPEG's main image ends with its end-of-image marker (false: cut short).
bool JpegHasEndOfImage(const std::string& bytes);

struct DecodeOptions {
  int64_t max_pixels = 100000000;       // decompression-bomb guard, checked from the header
  cv::Vec3b background{255, 255, 255};  // RGB, alpha is composited on it
  int reduce_factor = 1;                // 1, 2, 4 or 8: JPEG DCT-domain downscale while decoding
};
// Decodes to RGB 8-bit: EXIF orientation applied (JPEG), alpha composited, 16-bit scaled, gray expanded.
cv::Mat DecodeToRgb(const std::string& bytes, const DecodeOptions& options);

// The content box: everything that differs from the border colour by more than `tolerance`,
// grown by `padding` (fraction of the box's longer side), then squared. `keep_fraction` is the share
// of each side a later centre crop keeps (crop / resize for Resize+CenterCrop, 1 for letterbox): the
// square is enlarged so the padded content box survives that crop whole.
// Returns the image unchanged when no clear border exists.
cv::Mat TrimMargins(const cv::Mat& rgb, int tolerance, double padding, double keep_fraction = 1.0);

// Pillow-compatible bilinear resize with antialiasing (Pillow's fixed-point separable resampler),
// so results match torchvision's Resize on PIL images.
cv::Mat ResizeBilinearAA(const cv::Mat& rgb, int out_width, int out_height);

// torchvision Resize(shorter) + CenterCrop(crop), including its size and rounding rules.
cv::Mat ResizeShorterCenterCrop(const cv::Mat& rgb, int shorter, int crop);
// Whole image kept: longer side to `size`, padded to size x size with `background` (RGB).
cv::Mat Letterbox(const cv::Mat& rgb, int size, cv::Vec3b background);

}  // namespace visrec::preprocess
