#include "visrec/preprocess/image_ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace visrec::preprocess {
namespace {

uint16_t Be16(const unsigned char* p) { return uint16_t(p[0] << 8 | p[1]); }
uint32_t Be32(const unsigned char* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}
uint16_t Le16(const unsigned char* p) { return uint16_t(p[1] << 8 | p[0]); }
uint32_t Le32(const unsigned char* p) {
  return uint32_t(p[3]) << 24 | uint32_t(p[2]) << 16 | uint32_t(p[1]) << 8 | p[0];
}

bool IsJpeg(const std::string& b) { return b.size() > 3 && (unsigned char)b[0] == 0xFF && (unsigned char)b[1] == 0xD8; }

}  // namespace

bool ProbeDimensions(const std::string& bytes, int* w, int* h) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  if (IsJpeg(bytes)) {
    size_t i = 2;
    while (i + 4 <= n) {
      if (p[i] != 0xFF) return false;
      unsigned char m = p[i + 1];
      if (m == 0xFF) {
        ++i;
        continue;
      }
      if (m == 0xD8 || (m >= 0xD0 && m <= 0xD7) || m == 0x01) {
        i += 2;
        continue;
      }
      uint16_t len = Be16(p + i + 2);
      if (len < 2) return false;
      bool sof = m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
      if (sof) {
        if (i + 9 > n) return false;
        *h = Be16(p + i + 5);
        *w = Be16(p + i + 7);
        return *w > 0 && *h > 0;
      }
      if (m == 0xDA || m == 0xD9) return false;
      i += 2 + len;
    }
    return false;
  }
  if (n >= 24 && std::memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0 && std::memcmp(p + 12, "IHDR", 4) == 0) {
    uint32_t ww = Be32(p + 16), hh = Be32(p + 20);
    if (ww == 0 || hh == 0 || ww > 0x7fffffff || hh > 0x7fffffff) return false;
    *w = int(ww);
    *h = int(hh);
    return true;
  }
  if (n >= 26 && p[0] == 'B' && p[1] == 'M') {
    int32_t ww = int32_t(Le32(p + 18)), hh = int32_t(Le32(p + 22));
    *w = std::abs(ww);
    *h = std::abs(hh);
    return *w > 0 && *h > 0;
  }
  if (n >= 10 && std::memcmp(p, "GIF8", 4) == 0) {
    *w = Le16(p + 6);
    *h = Le16(p + 8);
    return *w > 0 && *h > 0;
  }
  if (n >= 30 && std::memcmp(p, "RIFF", 4) == 0 && std::memcmp(p + 8, "WEBP", 4) == 0) {
    if (std::memcmp(p + 12, "VP8X", 4) == 0) {
      *w = 1 + int(p[24] | p[25] << 8 | p[26] << 16);
      *h = 1 + int(p[27] | p[28] << 8 | p[29] << 16);
      return true;
    }
    if (std::memcmp(p + 12, "VP8 ", 4) == 0) {
      *w = Le16(p + 26) & 0x3fff;
      *h = Le16(p + 28) & 0x3fff;
      return *w > 0 && *h > 0;
    }
    if (std::memcmp(p + 12, "VP8L", 4) == 0 && n >= 25) {
      uint32_t b = Le32(p + 21);
      *w = 1 + int(b & 0x3fff);
      *h = 1 + int((b >> 14) & 0x3fff);
      return true;
    }
  }
  return false;
}

int JpegExifOrientation(const std::string& bytes) {
  if (!IsJpeg(bytes)) return 1;
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  size_t i = 2;
  while (i + 4 <= n && p[i] == 0xFF) {
    unsigned char m = p[i + 1];
    if (m == 0xDA || m == 0xD9) break;
    size_t len = Be16(p + i + 2);
    if (len < 2 || i + 2 + len > n) break;
    if (m == 0xE1 && len >= 16 && std::memcmp(p + i + 4, "Exif\0\0", 6) == 0) {
      const unsigned char* t = p + i + 10;
      size_t tn = len - 8;
      bool le = t[0] == 'I' && t[1] == 'I';
      if (!le && !(t[0] == 'M' && t[1] == 'M')) return 1;
      auto r16 = [&](size_t o) { return le ? Le16(t + o) : Be16(t + o); };
      auto r32 = [&](size_t o) { return le ? Le32(t + o) : Be32(t + o); };
      size_t ifd = r32(4);
      if (ifd + 2 > tn) return 1;
      size_t count = r16(ifd);
      for (size_t e = 0; e < count; ++e) {
        size_t off = ifd + 2 + e * 12;
        if (off + 12 > tn) return 1;
        if (r16(off) == 0x0112) {
          int v = r16(off + 8);
          return (v >= 1 && v <= 8) ? v : 1;
        }
      }
      return 1;
    }
    i += 2 + len;
  }
  return 1;
}

bool JpegHasEndOfImage(const std::string& bytes) {
  if (!IsJpeg(bytes)) return false;
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  // Walk the header segments (an EXIF thumbnail's own end marker sits inside APP1 and is skipped)
  // to the first scan, then look for the end-of-image marker: inside entropy-coded data a 0xFF is
  // always followed by 0x00, a restart marker or another segment marker, never by 0xD9.
  size_t i = 2;
  while (i + 4 <= n) {
    if (p[i] != 0xFF) return false;
    unsigned char m = p[i + 1];
    if (m == 0xFF) {
      ++i;
      continue;
    }
    if (m == 0xD9) return true;
    if ((m >= 0xD0 && m <= 0xD7) || m == 0x01) {
      i += 2;
      continue;
    }
    size_t len = Be16(p + i + 2);
    if (len < 2) return false;
    if (m == 0xDA) {
      i += 2 + len;
      break;
    }
    i += 2 + len;
  }
  for (; i + 1 < n; ++i)
    if (p[i] == 0xFF && p[i + 1] == 0xD9) return true;
  return false;
}

cv::Mat ApplyOrientation(const cv::Mat& img, int o) {
  cv::Mat out, tmp;
  switch (o) {
    case 2: cv::flip(img, out, 1); return out;
    case 3: cv::rotate(img, out, cv::ROTATE_180); return out;
    case 4: cv::flip(img, out, 0); return out;
    case 5: cv::transpose(img, out); return out;
    case 6: cv::rotate(img, out, cv::ROTATE_90_CLOCKWISE); return out;
    case 7:
      cv::transpose(img, tmp);
      cv::rotate(tmp, out, cv::ROTATE_180);
      return out;
    case 8: cv::rotate(img, out, cv::ROTATE_90_COUNTERCLOCKWISE); return out;
    default: return img;
  }
}

cv::Mat DecodeToRgb(const std::string& bytes, const DecodeOptions& o) {
  if (bytes.empty()) throw ImageFailure("empty file (0 bytes)");
  int w = 0, h = 0;
  bool known = ProbeDimensions(bytes, &w, &h);
  if (IsJpeg(bytes) && !known) throw ImageFailure("JPEG header is damaged (no frame size found)");
  // libjpeg fills a cut-off scan with grey and reports success; Pillow refuses such files too.
  if (IsJpeg(bytes) && !JpegHasEndOfImage(bytes))
    throw ImageFailure("truncated JPEG (no end-of-image marker): the file was cut short, re-export or re-download it");
  if (known && int64_t(w) * int64_t(h) > o.max_pixels)
    throw ImageFailure("image is " + std::to_string(w) + "x" + std::to_string(h) + " = " +
                       std::to_string(int64_t(w) * h) + " pixels, above --max-pixels " + std::to_string(o.max_pixels) +
                       " (decompression-bomb guard)");
  cv::Mat buf(1, int(bytes.size()), CV_8UC1, const_cast<char*>(bytes.data()));
  cv::Mat img;
  try {
    if (IsJpeg(bytes)) {
      int flags = cv::IMREAD_COLOR | cv::IMREAD_IGNORE_ORIENTATION;
      if (o.reduce_factor == 2) flags = cv::IMREAD_REDUCED_COLOR_2 | cv::IMREAD_IGNORE_ORIENTATION;
      if (o.reduce_factor == 4) flags = cv::IMREAD_REDUCED_COLOR_4 | cv::IMREAD_IGNORE_ORIENTATION;
      if (o.reduce_factor == 8) flags = cv::IMREAD_REDUCED_COLOR_8 | cv::IMREAD_IGNORE_ORIENTATION;
      img = cv::imdecode(buf, flags);
      if (!img.empty()) img = ApplyOrientation(img, JpegExifOrientation(bytes));
    } else {
      img = cv::imdecode(buf, cv::IMREAD_UNCHANGED);
    }
  } catch (const cv::Exception& e) {
    throw ImageFailure(std::string("decoder error: ") + e.what());
  }
  if (img.empty()) throw ImageFailure("not a decodable image (unknown format, truncated or corrupt)");
  if (img.depth() == CV_16U)
    img.convertTo(img, CV_8U, 1.0 / 257.0);
  else if (img.depth() == CV_32F)
    img.convertTo(img, CV_8U, 255.0);
  else if (img.depth() != CV_8U)
    img.convertTo(img, CV_8U);
  cv::Mat rgb;
  const cv::Vec3b bg = o.background;
  switch (img.channels()) {
    case 1: cv::cvtColor(img, rgb, cv::COLOR_GRAY2RGB); break;
    case 3: cv::cvtColor(img, rgb, cv::COLOR_BGR2RGB); break;
    case 2:
    case 4: {
      rgb.create(img.rows, img.cols, CV_8UC3);
      const int c = img.channels();
      for (int y = 0; y < img.rows; ++y) {
        const uint8_t* s = img.ptr<uint8_t>(y);
        cv::Vec3b* d = rgb.ptr<cv::Vec3b>(y);
        for (int x = 0; x < img.cols; ++x, s += c) {
          int a = s[c - 1];
          uint8_t r = c == 4 ? s[2] : s[0], g = c == 4 ? s[1] : s[0], b = s[0];
          d[x][0] = uint8_t((r * a + bg[0] * (255 - a) + 127) / 255);
          d[x][1] = uint8_t((g * a + bg[1] * (255 - a) + 127) / 255);
          d[x][2] = uint8_t((b * a + bg[2] * (255 - a) + 127) / 255);
        }
      }
      break;
    }
    default: throw ImageFailure("unsupported channel count " + std::to_string(img.channels()));
  }
  return rgb;
}

cv::Mat TrimMargins(const cv::Mat& rgb, int tol, double padding, double keep_fraction) {
  const int H = rgb.rows, W = rgb.cols;
  if (H < 8 || W < 8) return rgb;
  // Border colour: per-channel median of the outermost frame.
  std::vector<uint8_t> ch[3];
  auto take = [&](int y, int x) {
    auto v = rgb.at<cv::Vec3b>(y, x);
    for (int k = 0; k < 3; ++k) ch[k].push_back(v[k]);
  };
  for (int x = 0; x < W; ++x) {
    take(0, x);
    take(H - 1, x);
  }
  for (int y = 1; y < H - 1; ++y) {
    take(y, 0);
    take(y, W - 1);
  }
  cv::Vec3b border;
  for (int k = 0; k < 3; ++k) {
    auto mid = ch[k].begin() + long(ch[k].size() / 2);
    std::nth_element(ch[k].begin(), mid, ch[k].end());
    border[k] = *mid;
  }
  std::vector<int> row_hits(size_t(H), 0), col_hits(size_t(W), 0);
  for (int y = 0; y < H; ++y) {
    const cv::Vec3b* p = rgb.ptr<cv::Vec3b>(y);
    for (int x = 0; x < W; ++x) {
      int d = std::max({std::abs(p[x][0] - border[0]), std::abs(p[x][1] - border[1]), std::abs(p[x][2] - border[2])});
      if (d > tol) {
        ++row_hits[size_t(y)];
        ++col_hits[size_t(x)];
      }
    }
  }
  // A row/column holds content when more than a few pixels differ (noise-robust).
  const int row_min = std::max(2, W / 500), col_min = std::max(2, H / 500);
  int y0 = 0, y1 = H - 1, x0 = 0, x1 = W - 1;
  while (y0 < H && row_hits[size_t(y0)] <= row_min) ++y0;
  while (y1 > y0 && row_hits[size_t(y1)] <= row_min) --y1;
  while (x0 < W && col_hits[size_t(x0)] <= col_min) ++x0;
  while (x1 > x0 && col_hits[size_t(x1)] <= col_min) --x1;
  if (y0 >= H || x0 >= W) return rgb;  // nothing but border
  int bw = x1 - x0 + 1, bh = y1 - y0 + 1;
  if (bw * int64_t(bh) > int64_t(W) * H * 96 / 100) return rgb;  // no real margin
  int pad = int(std::lround(padding * std::max(bw, bh)));
  int side = std::max(bw, bh) + 2 * pad;
  // Grow the square so that, once a later centre crop keeps only `keep_fraction` of it, the padded
  // content box is still whole: a few pixels of slack cover the off-by-one centring and the
  // resampling filter's reach.
  if (keep_fraction > 0 && keep_fraction < 1) side = int(std::ceil((side + 4) / keep_fraction));
  // Square box centred on the content; parts outside the image are filled with the border colour.
  int cx = x0 + bw / 2, cy = y0 + bh / 2;
  int sx = cx - side / 2, sy = cy - side / 2;
  cv::Rect want(sx, sy, side, side), inside = want & cv::Rect(0, 0, W, H);
  cv::Mat out(side, side, CV_8UC3, cv::Scalar(border[0], border[1], border[2]));
  rgb(inside).copyTo(out(cv::Rect(inside.x - sx, inside.y - sy, inside.width, inside.height)));
  return out;
}

namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;

// Pillow's precompute_coeffs + normalize_coeffs_8bpc for the bilinear (triangle) filter.
struct Coeffs {
  int ksize = 0;
  std::vector<int> bounds;  // xmin, xsize per output
  std::vector<int32_t> k;   // ksize per output, fixed point
};

Coeffs Precompute(int in_size, int out_size) {
  const double scale = double(in_size) / out_size;
  const double filterscale = std::max(scale, 1.0);
  const double support = 1.0 * filterscale;
  Coeffs c;
  c.ksize = int(std::ceil(support)) * 2 + 1;
  c.bounds.resize(size_t(out_size) * 2);
  c.k.assign(size_t(out_size) * size_t(c.ksize), 0);
  std::vector<double> kd(size_t(c.ksize));
  for (int xx = 0; xx < out_size; ++xx) {
    double center = (xx + 0.5) * scale;
    double ss = 1.0 / filterscale;
    int xmin = int(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = int(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0;
    for (int x = 0; x < xmax; ++x) {
      double t = std::abs((x + xmin - center + 0.5) * ss);
      double w = t < 1.0 ? 1.0 - t : 0.0;
      kd[size_t(x)] = w;
      ww += w;
    }
    for (int x = 0; x < xmax; ++x) {
      double v = ww != 0.0 ? kd[size_t(x)] / ww : kd[size_t(x)];
      c.k[size_t(xx) * size_t(c.ksize) + size_t(x)] =
          int32_t(v < 0 ? (-0.5 + v * (1 << kPrecisionBits)) : (0.5 + v * (1 << kPrecisionBits)));
    }
    c.bounds[size_t(xx) * 2] = xmin;
    c.bounds[size_t(xx) * 2 + 1] = xmax;
  }
  return c;
}

inline uint8_t Clip8(int32_t v) {
  v >>= kPrecisionBits;
  return uint8_t(v < 0 ? 0 : (v > 255 ? 255 : v));
}

cv::Mat Horizontal(const cv::Mat& in, int out_w) {
  Coeffs c = Precompute(in.cols, out_w);
  cv::Mat out(in.rows, out_w, CV_8UC3);
  for (int y = 0; y < in.rows; ++y) {
    const uint8_t* s = in.ptr<uint8_t>(y);
    uint8_t* d = out.ptr<uint8_t>(y);
    for (int xx = 0; xx < out_w; ++xx) {
      int xmin = c.bounds[size_t(xx) * 2], xmax = c.bounds[size_t(xx) * 2 + 1];
      const int32_t* k = &c.k[size_t(xx) * size_t(c.ksize)];
      int32_t s0 = 1 << (kPrecisionBits - 1), s1 = s0, s2 = s0;
      for (int x = 0; x < xmax; ++x) {
        const uint8_t* px = s + (x + xmin) * 3;
        s0 += px[0] * k[x];
        s1 += px[1] * k[x];
        s2 += px[2] * k[x];
      }
      d[xx * 3] = Clip8(s0);
      d[xx * 3 + 1] = Clip8(s1);
      d[xx * 3 + 2] = Clip8(s2);
    }
  }
  return out;
}

cv::Mat Vertical(const cv::Mat& in, int out_h) {
  Coeffs c = Precompute(in.rows, out_h);
  cv::Mat out(out_h, in.cols, CV_8UC3);
  const int row_len = in.cols * 3;
  std::vector<int32_t> acc(static_cast<size_t>(row_len));
  for (int yy = 0; yy < out_h; ++yy) {
    int ymin = c.bounds[size_t(yy) * 2], ymax = c.bounds[size_t(yy) * 2 + 1];
    const int32_t* k = &c.k[size_t(yy) * size_t(c.ksize)];
    std::fill(acc.begin(), acc.end(), 1 << (kPrecisionBits - 1));
    for (int y = 0; y < ymax; ++y) {
      const uint8_t* s = in.ptr<uint8_t>(y + ymin);
      const int32_t w = k[y];
      for (int i = 0; i < row_len; ++i) acc[size_t(i)] += s[i] * w;
    }
    uint8_t* d = out.ptr<uint8_t>(yy);
    for (int i = 0; i < row_len; ++i) d[i] = Clip8(acc[size_t(i)]);
  }
  return out;
}

// Python's round(): halves go to the even neighbour.
int RoundHalfEven(double v) {
  double r = std::nearbyint(v);  // default rounding mode is to-nearest-even
  return int(r);
}

}  // namespace

cv::Mat ResizeBilinearAA(const cv::Mat& rgb, int out_w, int out_h) {
  CV_Assert(rgb.type() == CV_8UC3);
  cv::Mat tmp = rgb;
  if (out_w != rgb.cols) tmp = Horizontal(rgb, out_w);
  if (out_h != rgb.rows) tmp = Vertical(tmp, out_h);
  return tmp.data == rgb.data ? rgb.clone() : tmp;
}

cv::Mat ResizeShorterCenterCrop(const cv::Mat& rgb, int shorter, int crop) {
  const int w = rgb.cols, h = rgb.rows;
  int nw, nh;
  if (w <= h) {
    nw = shorter;
    nh = int(double(shorter) * h / w);
  } else {
    nh = shorter;
    nw = int(double(shorter) * w / h);
  }
  cv::Mat r = (nw == w && nh == h) ? rgb : ResizeBilinearAA(rgb, nw, nh);
  if (nw < crop || nh < crop) {  // torchvision pads; only reachable when resize < crop
    cv::Mat padded(std::max(nh, crop), std::max(nw, crop), CV_8UC3, cv::Scalar(0, 0, 0));
    r.copyTo(padded(cv::Rect((padded.cols - nw) / 2, (padded.rows - nh) / 2, nw, nh)));
    r = padded;
  }
  int top = RoundHalfEven((r.rows - crop) / 2.0), left = RoundHalfEven((r.cols - crop) / 2.0);
  return r(cv::Rect(left, top, crop, crop)).clone();
}

cv::Mat Letterbox(const cv::Mat& rgb, int size, cv::Vec3b bg) {
  const int w = rgb.cols, h = rgb.rows;
  int nw = w >= h ? size : std::max(1, int(std::lround(double(size) * w / h)));
  int nh = h >= w ? size : std::max(1, int(std::lround(double(size) * h / w)));
  cv::Mat r = ResizeBilinearAA(rgb, nw, nh);
  cv::Mat out(size, size, CV_8UC3, cv::Scalar(bg[0], bg[1], bg[2]));
  r.copyTo(out(cv::Rect((size - nw) / 2, (size - nh) / 2, nw, nh)));
  return out;
}

}  // namespace visrec::preprocess
