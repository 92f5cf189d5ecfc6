// Synthetic catalog: product-like renderings whose attributes (shape, colour, pattern) are known, and
// users whose hidden tastes over those attributes drive their interactions. Everything derives from
// the seed through SplitMix64 streams, one per item and per user, so output is identical for any
// thread count.
#include "visrec/sample/sample.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <spdlog/spdlog.h>

#include "visrec/artifact/csv.h"
#include "visrec/artifact/inputs.h"
#include "visrec/artifact/stage.h"
#include "visrec/util/errors.h"
#include "visrec/util/fs.h"
#include "visrec/util/numfmt.h"
#include "visrec/util/options.h"
#include "visrec/util/parallel.h"

namespace visrec::sample {

const char* const kCategories[6] = {"tshirt", "mug", "bottle", "ball", "lamp", "bag"};
const char* const kColors[8] = {"red", "orange", "yellow", "green", "blue", "purple", "black", "pink"};
const char* const kPatterns[4] = {"solid", "striped", "dotted", "checked"};

namespace {

// BGR
const cv::Scalar kColorBgr[8] = {{40, 40, 210}, {30, 140, 250}, {40, 220, 240}, {60, 170, 50},
                                 {200, 90, 30}, {150, 50, 130}, {35, 35, 35},   {190, 140, 250}};
const char* const kAdjectives[6] = {"Classic", "Premium", "Everyday", "Modern", "Vintage", "Essential"};

class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t Next() {
    uint64_t z = (s_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  double U() { return double(Next() >> 11) * 0x1.0p-53; }
  double U(double a, double b) { return a + (b - a) * U(); }
  int I(int n) { return int(Next() % uint64_t(n)); }  // [0, n)
  double Gumbel() { return -std::log(-std::log(std::max(U(), 1e-300))); }

 private:
  uint64_t s_;
};

uint64_t Mix(uint64_t seed, uint64_t stream, uint64_t index) {
  Rng r(seed * 0x100000001b3ULL ^ (stream << 40) ^ index);
  r.Next();
  return r.Next();
}

struct Item {
  std::string id;
  int category, color, pattern;
  bool cold = false, fresh = false;
  int photos = 1;
  std::string title;
};

// Shape mask in product-local unit coordinates mapped through `T` (2x3 affine).
void DrawShape(cv::Mat& mask, int category, const cv::Matx23d& T, double size) {
  auto P = [&](double x, double y) {
    cv::Vec3d v(x, y, 1.0);
    cv::Vec2d r = T * v;
    return cv::Point(int(std::lround(r[0] * 16)), int(std::lround(r[1] * 16)));  // 4 fractional bits
  };
  auto poly = [&](std::initializer_list<std::pair<double, double>> pts) {
    std::vector<cv::Point> v;
    for (auto [x, y] : pts) v.push_back(P(x, y));
    cv::fillPoly(mask, std::vector<std::vector<cv::Point>>{v}, cv::Scalar(255), cv::LINE_AA, 4);
  };
  auto rect = [&](double x0, double y0, double x1, double y1) { poly({{x0, y0}, {x1, y0}, {x1, y1}, {x0, y1}}); };
  auto ring = [&](double cx, double cy, double rx, double ry, double a0, double a1, double thick) {
    std::vector<std::pair<double, double>> outer, inner;
    std::vector<cv::Point> v;
    for (int k = 0; k <= 24; ++k) {
      double a = (a0 + (a1 - a0) * k / 24.0) * CV_PI / 180.0;
      v.push_back(P(cx + rx * std::cos(a), cy + ry * std::sin(a)));
    }
    for (int k = 24; k >= 0; --k) {
      double a = (a0 + (a1 - a0) * k / 24.0) * CV_PI / 180.0;
      v.push_back(P(cx + (rx - thick) * std::cos(a), cy + (ry - thick) * std::sin(a)));
    }
    cv::fillPoly(mask, std::vector<std::vector<cv::Point>>{v}, cv::Scalar(255), cv::LINE_AA, 4);
  };
  switch (category) {
    case 0:  // tshirt
      poly({{0.3, 0.05},
            {0.42, 0.1},
            {0.58, 0.1},
            {0.7, 0.05},
            {1.0, 0.25},
            {0.86, 0.45},
            {0.76, 0.38},
            {0.76, 0.95},
            {0.24, 0.95},
            {0.24, 0.38},
            {0.14, 0.45},
            {0.0, 0.25}});
      break;
    case 1:  // mug
      rect(0.12, 0.2, 0.68, 0.9);
      ring(0.68, 0.55, 0.2, 0.2, -90, 90, 0.07);
      break;
    case 2:  // bottle
      rect(0.3, 0.4, 0.7, 0.97);
      poly({{0.3, 0.4}, {0.43, 0.25}, {0.57, 0.25}, {0.7, 0.4}});
      rect(0.43, 0.04, 0.57, 0.26);
      break;
    case 3: {  // ball
      std::vector<cv::Point> v;
      for (int k = 0; k < 64; ++k) {
        double a = k * 2 * CV_PI / 64;
        v.push_back(P(0.5 + 0.46 * std::cos(a), 0.5 + 0.46 * std::sin(a)));
      }
      cv::fillPoly(mask, std::vector<std::vector<cv::Point>>{v}, cv::Scalar(255), cv::LINE_AA, 4);
      break;
    }
    case 4:  // lamp
      poly({{0.28, 0.05}, {0.72, 0.05}, {0.92, 0.45}, {0.08, 0.45}});
      rect(0.46, 0.45, 0.54, 0.88);
      rect(0.25, 0.88, 0.75, 0.96);
      break;
    default:  // bag
      rect(0.08, 0.38, 0.92, 0.96);
      ring(0.5, 0.38, 0.27, 0.3, 180, 360, 0.06);
      break;
  }
  (void)size;
}

cv::Mat Texture(int h, int w, const Item& it, double period, Rng& rng) {
  cv::Scalar base = kColorBgr[it.color];
  bool dark = it.color == 6 || it.color == 5 || it.color == 4;
  cv::Scalar second = dark ? cv::Scalar(235, 235, 235) : cv::Scalar(45, 45, 45);
  cv::Mat tex(h, w, CV_8UC3, base);
  int p = std::max(4, int(period));
  switch (it.pattern) {
    case 1:  // stripes
      for (int y = int(rng.U(0, p)); y < h; y += p) cv::rectangle(tex, {0, y}, {w, y + p / 3}, second, cv::FILLED);
      break;
    case 2:  // dots
      for (int y = p / 2; y < h; y += p)
        for (int x = (y / p % 2) * p / 2; x < w; x += p)
          cv::circle(tex, {x, y}, std::max(2, p / 4), second, cv::FILLED, cv::LINE_AA);
      break;
    case 3:  // checks
      for (int y = 0; y < h; y += p)
        for (int x = ((y / p) % 2) * p; x < w; x += 2 * p)
          cv::rectangle(tex, {x, y}, {x + p - 1, y + p - 1}, second, cv::FILLED);
      break;
    default: break;
  }
  return tex;
}

// One photo of an item: BGR, with background, margins, lighting and noise. alpha_out receives the
// product mask when asked (for the alpha PNG).
cv::Mat Render(const Item& it, Rng& rng, int min_side, int max_side, cv::Mat* alpha_out) {
  int longer = int(rng.U(min_side, max_side + 1));
  double aspect = rng.U(0.75, 1.34);
  int w = aspect >= 1 ? longer : std::max(16, int(longer * aspect));
  int h = aspect >= 1 ? std::max(16, int(longer / aspect)) : longer;
  double side = std::min(w, h) * rng.U(0.38, 0.62);
  double cx = w / 2.0 + rng.U(-0.12, 0.12) * (w - side), cy = h / 2.0 + rng.U(-0.12, 0.12) * (h - side);
  double angle = rng.U(-12, 12) * CV_PI / 180.0;
  double c = std::cos(angle) * side, s = std::sin(angle) * side;
  // unit (u, v) -> canvas: centre at (cx, cy)
  cv::Matx23d T(c, -s, cx - (c * 0.5 - s * 0.5), s, c, cy - (s * 0.5 + c * 0.5));
  cv::Mat mask(h, w, CV_8UC1, cv::Scalar(0));
  DrawShape(mask, it.category, T, side);
  cv::Mat tex = Texture(h, w, it, side / rng.U(6, 9), rng);
  int tint = int(rng.U(-8, 8));
  int lum = int(rng.U(225, 252));
  cv::Mat bg(h, w, CV_8UC3, cv::Scalar(std::clamp(lum + tint, 0, 255), lum, std::clamp(lum - tint, 0, 255)));
  cv::Mat out(h, w, CV_8UC3);
  double gain = rng.U(0.85, 1.12);
  for (int y = 0; y < h; ++y) {
    const uint8_t* m = mask.ptr<uint8_t>(y);
    const cv::Vec3b* t = tex.ptr<cv::Vec3b>(y);
    const cv::Vec3b* b = bg.ptr<cv::Vec3b>(y);
    cv::Vec3b* o = out.ptr<cv::Vec3b>(y);
    for (int x = 0; x < w; ++x) {
      float a = m[x] / 255.0f;
      for (int k = 0; k < 3; ++k) {
        float prod = std::min(255.0f, float(t[x][k]) * float(gain));
        o[x][k] = cv::saturate_cast<uint8_t>(prod * a + float(b[x][k]) * (1 - a));
      }
    }
  }
  cv::Mat noise(h, w, CV_16SC3);
  cv::RNG cvrng(rng.Next());
  cvrng.fill(noise, cv::RNG::NORMAL, 0, 1.5);
  cv::Mat out16;
  out.convertTo(out16, CV_16SC3);
  out16 += noise;
  out16.convertTo(out, CV_8UC3);
  if (alpha_out) *alpha_out = mask;
  return out;
}

// Inserts an EXIF APP1 segment with only the Orientation tag right after the JPEG SOI marker.
std::vector<uchar> WithExifOrientation(const std::vector<uchar>& jpeg, uint16_t orientation) {
  const uchar app1[] = {0xFF,
                        0xE1,
                        0x00,
                        0x22,
                        'E',
                        'x',
                        'i',
                        'f',
                        0,
                        0,
                        'M',
                        'M',
                        0x00,
                        0x2A,
                        0x00,
                        0x00,
                        0x00,
                        0x08,  // TIFF header, IFD at 8
                        0x00,
                        0x01,  // one entry
                        0x01,
                        0x12,
                        0x00,
                        0x03,
                        0x00,
                        0x00,
                        0x00,
                        0x01,  // Orientation, SHORT, 1
                        uchar(orientation >> 8),
                        uchar(orientation & 0xff),
                        0x00,
                        0x00,
                        0x00,
                        0x00,
                        0x00,
                        0x00};  // no next IFD
  std::vector<uchar> out(jpeg.begin(), jpeg.begin() + 2);
  out.insert(out.end(), std::begin(app1), std::end(app1));
  out.insert(out.end(), jpeg.begin() + 2, jpeg.end());
  return out;
}

void WriteBytes(const fs::path& p, const std::vector<uchar>& bytes) {
  std::ofstream f(p, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  if (!f) throw IoError("cannot write '" + p.string() + "': " + ErrnoText());
}

void Encode(const fs::path& p, const cv::Mat& img, bool png, Rng& rng) {
  std::vector<uchar> buf;
  bool ok = png ? cv::imencode(".png", img, buf, {cv::IMWRITE_PNG_COMPRESSION, 1})
                : cv::imencode(".jpg", img, buf, {cv::IMWRITE_JPEG_QUALITY, int(rng.U(82, 95))});
  if (!ok) throw IoError("cannot encode '" + p.string() + "'");
  WriteBytes(p, buf);
}

}  // namespace

void SampleOptions::Validate() const {
  if (out_dir.empty()) throw UsageError("sample: --out is required");
  if (items < 8) throw UsageError("sample: --items must be at least 8 (got " + std::to_string(items) + ")");
  if (items > 5000000) throw UsageError("sample: --items above 5,000,000 is not supported");
  if (users < 1) throw UsageError("sample: --users must be at least 1");
  if (min_side < 32 || max_side < min_side || max_side > 8000)
    throw UsageError("sample: need 32 <= --min-side <= --max-side <= 8000");
  CheckRange("sample: --cold-fraction", cold_fraction, 0, 0.5);
  CheckRange("sample: --new-fraction", new_fraction, 0, 0.5);
  if (cold_fraction + new_fraction > 0.5)
    throw UsageError("sample: --cold-fraction and --new-fraction must be >= 0 and sum to <= 0.5");
}

namespace {

struct PhotoRow {
  std::string item, image;
};

std::vector<Item> MakeItems(const SampleOptions& o) {
  std::vector<Item> items(size_t(o.items));
  int width = std::max(4, int(std::to_string(o.items).size()));
  for (int i = 0; i < o.items; ++i) {
    Rng r(Mix(o.seed, 1, uint64_t(i)));
    Item& it = items[size_t(i)];
    char buf[32];
    std::snprintf(buf, sizeof buf, "P%0*d", width, i + 1);
    it.id = buf;
    it.category = r.I(6);
    it.color = r.I(8);
    it.pattern = r.I(4);
    it.photos = 1 + r.I(4);
    double u = r.U();
    it.cold = u < o.cold_fraction;
    it.fresh = !it.cold && u < o.cold_fraction + o.new_fraction;
    static const char* const kPatternWords[4] = {"plain", "striped", "polka-dot", "checked"};
    it.title = std::string(kAdjectives[r.I(6)]) + " " + kColors[it.color] + " " + kPatternWords[it.pattern] + " " +
               kCategories[it.category];
  }
  return items;
}

// Deliberately awkward files, each as an extra photo of one of the first six items (i: its index).
void AddAwkwardPhoto(size_t i, const Item& it, Rng& r, const SampleOptions& o, const fs::path& images,
                     std::vector<PhotoRow>& rows) {
  std::string name;
  if (i == 0) {
    cv::Mat img = Render(it, r, o.min_side, o.max_side, nullptr), gray;
    cv::cvtColor(img, gray, cv::COLOR_BGR2GRAY);
    name = it.id + "_gray.jpg";
    Encode(images / name, gray, false, r);
  } else if (i == 1) {
    cv::Mat alpha, bgra;
    cv::Mat img = Render(it, r, o.min_side, o.max_side, &alpha);
    cv::cvtColor(img, bgra, cv::COLOR_BGR2BGRA);
    cv::Mat ch[4];
    cv::split(bgra, ch);
    ch[3] = alpha;
    cv::merge(ch, 4, bgra);
    name = it.id + "_alpha.png";
    Encode(images / name, bgra, true, r);
  } else if (i == 2) {
    // Stored sideways with EXIF Orientation=6 ("rotate 90 clockwise to display").
    cv::Mat img = Render(it, r, o.min_side, o.max_side, nullptr), stored;
    cv::rotate(img, stored, cv::ROTATE_90_COUNTERCLOCKWISE);
    std::vector<uchar> buf;
    cv::imencode(".jpg", stored, buf, {cv::IMWRITE_JPEG_QUALITY, 90});
    name = it.id + "_exif6.jpg";
    WriteBytes(images / name, WithExifOrientation(buf, 6));
  } else if (i == 3) {
    cv::Mat img = Render(it, r, 48, 48, nullptr), tiny;
    cv::resize(img, tiny, {16, 12}, 0, 0, cv::INTER_AREA);
    name = it.id + "_tiny.png";
    Encode(images / name, tiny, true, r);
  } else if (i == 4) {
    name = it.id + "_broken.jpg";
    std::ofstream(images / name) << "this is not a JPEG file\n";
  } else if (i == 5) {
    cv::Mat img = Render(it, r, o.min_side, o.max_side, nullptr), img16;
    img.convertTo(img16, CV_16UC3, 257.0);
    name = it.id + "_16bit.png";
    Encode(images / name, img16, true, r);
  } else {
    return;
  }
  rows.push_back({it.id, "images/" + name});
}

// Photos in parallel, each item with its own RNG stream; returns each item's catalog rows.
std::vector<std::vector<PhotoRow>> WritePhotos(const std::vector<Item>& items, const SampleOptions& o,
                                               const fs::path& out) {
  std::vector<std::vector<PhotoRow>> rows(items.size());
  ParallelFor(int64_t(items.size()), ResolveThreads(o.threads), [&](int64_t i) {
    const Item& it = items[size_t(i)];
    Rng r(Mix(o.seed, 2, uint64_t(i)));
    for (int k = 0; k < it.photos; ++k) {
      bool png = r.U() < 0.25;
      std::string name = it.id + "_" + std::to_string(k + 1) + (png ? ".png" : ".jpg");
      cv::Mat img = Render(it, r, o.min_side, o.max_side, nullptr);
      Encode(out / "images" / name, img, png, r);
      rows[size_t(i)].push_back({it.id, "images/" + name});
    }
    if (o.awkward) AddAwkwardPhoto(size_t(i), it, r, o, out / "images", rows[size_t(i)]);
  });
  return rows;
}

// Popularity: a Zipf-like weight over a seeded permutation of items.
std::vector<double> LogPopularity(size_t n, uint64_t seed) {
  std::vector<double> log_pop(n);
  std::vector<int> perm(n);
  for (size_t i = 0; i < perm.size(); ++i) perm[i] = int(i);
  Rng r(Mix(seed, 3, 0));
  for (size_t i = perm.size(); i > 1; --i) std::swap(perm[i - 1], perm[size_t(r.I(int(i)))]);
  for (size_t rank = 0; rank < perm.size(); ++rank) log_pop[size_t(perm[rank])] = -0.7 * std::log(1.0 + rank);
  return log_pop;
}

// One user: a taste (categories, colours, a pattern) recorded in `truth_users`, and the items that
// taste, popularity and noise pick, appended to `inter`.
void MakeUser(int u, const SampleOptions& o, const std::vector<Item>& items, const std::vector<double>& log_pop,
              nlohmann::json& truth_users, std::vector<Interaction>& inter) {
  const double day = 86400.0, t0 = 1767225600.0;  // 2026-01-01T00:00:00Z
  const int uwidth = std::max(4, int(std::to_string(o.users).size()));
  Rng r(Mix(o.seed, 4, uint64_t(u)));
  char buf[32];
  std::snprintf(buf, sizeof buf, "U%0*d", uwidth, u + 1);
  std::string uid = buf;
  std::set<int> cats{r.I(6)}, cols{r.I(8)};
  if (r.U() < 0.4) cats.insert(r.I(6));
  if (r.U() < 0.5) cols.insert(r.I(8));
  int pat = r.I(4);
  truth_users[uid] = {
      {"categories", std::vector<std::string>()}, {"colors", std::vector<std::string>()}, {"pattern", kPatterns[pat]}};
  for (int c : cats) truth_users[uid]["categories"].push_back(kCategories[c]);
  for (int c : cols) truth_users[uid]["colors"].push_back(kColors[c]);
  // Activity: heavy-tailed, 3..40 interactions.
  int n = std::min(40, 3 + int(std::floor(-std::log(std::max(r.U(), 1e-9)) * 7)));
  n = std::min<int>(n, int(items.size()) / 2);
  std::vector<std::pair<double, int>> scored;
  // Large catalogs: each user browses a random window of at most kBrowse items, so generation
  // stays O(users x kBrowse) instead of O(users x items).
  constexpr size_t kBrowse = 4000;
  const size_t window = std::min(items.size(), kBrowse);
  const size_t offset = items.size() > kBrowse ? size_t(r.Next() % items.size()) : 0;
  for (size_t w = 0; w < window; ++w) {
    const size_t i = (offset + w * (items.size() > kBrowse ? 7919 : 1)) % items.size();
    const Item& it = items[i];
    if (it.cold) continue;
    double s =
        2.2 * cats.count(it.category) + 1.6 * cols.count(it.color) + 0.6 * (it.pattern == pat) + 0.8 * log_pop[i];
    bool noise = r.U() < 0.12;  // taste-free clicks
    scored.push_back({(noise ? 0.0 : s) / 0.6 + r.Gumbel(), int(i)});
  }
  std::partial_sort(scored.begin(), scored.begin() + std::min<size_t>(size_t(n), scored.size()), scored.end(),
                    [](auto& a, auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
  scored.resize(std::min<size_t>(size_t(n), scored.size()));
  // About a third of users meet a new arrival at the end of the period.
  bool had_fresh = r.U() >= 0.35;
  for (auto& [s, i] : scored) {
    const Item& it = items[size_t(i)];
    // At most one new arrival per user, as their latest interaction: held out by leave-last-out,
    // so new items stay cold in training and test the visual/text path.
    if (it.fresh && had_fresh) continue;
    had_fresh = had_fresh || it.fresh;
    Interaction x;
    x.user_id = uid;
    x.item_id = it.id;
    double u01 = r.U();
    x.weight = u01 < 0.1 ? 3 : (u01 < 0.3 ? 2 : 1);
    // New arrivals are seen only after everything else, so leave-last-out holds them out:
    // they are the cold-start items of an evaluation.
    double d = it.fresh ? r.U(90, 91) : r.U(0, 90);
    x.timestamp = std::floor(t0 + d * day);
    inter.push_back(x);
  }
}

void WriteInteractions(std::vector<Interaction>& inter, const fs::path& path) {
  std::sort(inter.begin(), inter.end(), [](const Interaction& a, const Interaction& b) {
    return a.timestamp != b.timestamp ? a.timestamp < b.timestamp
                                      : (a.user_id != b.user_id ? a.user_id < b.user_id : a.item_id < b.item_id);
  });
  std::string csv = "user_id,item_id,weight,timestamp\n";
  for (const auto& x : inter) {
    std::time_t t = std::time_t(x.timestamp);
    char ts[32];
    std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    csv += CsvLine({x.user_id, x.item_id, FormatShortest(x.weight), ts});
  }
  WriteFileAtomic(path, csv);
}

}  // namespace

SampleSummary GenerateSample(const SampleOptions& o) {
  o.Validate();
  fs::path out = o.out_dir;
  std::error_code ec;
  fs::create_directories(out / "images", ec);
  if (ec) throw IoError("cannot create '" + (out / "images").string() + "': " + ec.message());
  const std::vector<Item> items = MakeItems(o);
  const std::vector<std::vector<PhotoRow>> rows = WritePhotos(items, o, out);

  SampleSummary sum;
  std::string cat = "item_id,image,title,category,color,pattern\n";
  for (size_t i = 0; i < items.size(); ++i)
    for (const auto& pr : rows[i]) {
      cat += CsvLine({pr.item, pr.image, items[i].title, kCategories[items[i].category], kColors[items[i].color],
                      kPatterns[items[i].pattern]});
      ++sum.photos;
    }
  sum.catalog = out / "catalog.csv";
  WriteFileAtomic(sum.catalog, cat);

  const std::vector<double> log_pop = LogPopularity(items.size(), o.seed);
  nlohmann::json truth_users = nlohmann::json::object();
  std::vector<Interaction> inter;
  for (int u = 0; u < o.users; ++u) MakeUser(u, o, items, log_pop, truth_users, inter);
  sum.interactions_csv = out / "interactions.csv";
  WriteInteractions(inter, sum.interactions_csv);

  nlohmann::json truth;
  truth["seed"] = o.seed;
  truth["note"] = "Synthetic ground truth written by `visrec sample`; users' tastes drove the interactions.";
  truth["items"] = nlohmann::json::object();
  for (const auto& it : items) {
    truth["items"][it.id] = {{"category", kCategories[it.category]},
                             {"color", kColors[it.color]},
                             {"pattern", kPatterns[it.pattern]},
                             {"cold", it.cold},
                             {"new", it.fresh},
                             {"photos", rows[size_t(&it - items.data())].size()}};
    sum.cold_items += it.cold;
  }
  truth["users"] = truth_users;
  sum.truth = out / "truth.json";
  WriteFileAtomic(sum.truth, truth.dump(1) + "\n");
  sum.items = o.items;
  sum.users = o.users;
  sum.interactions = int(inter.size());
  spdlog::info("sample: {} items, {} photos, {} users, {} interactions ({} items never interacted) in {}", sum.items,
               sum.photos, sum.users, sum.interactions, sum.cold_items, out.string());
  return sum;
}

}  // namespace visrec::sample
