// The stratified item split of finetune: proportions, determinism, errors.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "visrec/finetune/finetune.h"
#include "visrec/util/errors.h"

namespace visrec::finetune {
namespace {

std::map<std::string, std::string> Labels(const std::map<std::string, int>& per_class) {
  std::map<std::string, std::string> m;
  for (const auto& [label, n] : per_class)
    for (int i = 0; i < n; ++i) m[label + "-item" + std::to_string(i)] = label;
  return m;
}

TEST(StratifiedSplit, EveryClassInEveryPartInProportion) {
  auto labels = Labels({{"bag", 20}, {"lamp", 7}, {"mug", 3}, {"vase", 2}});
  ItemSplit s = StratifiedSplit(labels, 0.15, 0.15, 5, "test");
  ASSERT_EQ(s.classes, (std::vector<std::string>{"bag", "lamp", "mug", "vase"}));
  std::map<std::string, std::map<Part, int>> count;
  for (const auto& [id, part] : s.part_of) ++count[s.classes[size_t(s.label_of.at(id))]][part];
  EXPECT_EQ(count["bag"][Part::kTest], 3);  // round(20 * 0.15)
  EXPECT_EQ(count["bag"][Part::kDev], 3);
  EXPECT_EQ(count["bag"][Part::kTrain], 14);
  EXPECT_EQ(count["lamp"][Part::kTest], 1);
  EXPECT_EQ(count["lamp"][Part::kDev], 1);
  EXPECT_EQ(count["lamp"][Part::kTrain], 5);
  EXPECT_EQ(count["mug"][Part::kTest], 1);  // three items: one of each
  EXPECT_EQ(count["mug"][Part::kDev], 1);
  EXPECT_EQ(count["mug"][Part::kTrain], 1);
  EXPECT_EQ(count["vase"][Part::kTest], 1);  // two items: train and test, no dev
  EXPECT_EQ(count["vase"][Part::kTrain], 1);
  EXPECT_EQ(s.part_of.size(), labels.size());
  for (const auto& [id, label] : labels) EXPECT_EQ(s.classes[size_t(s.label_of.at(id))], label);
}

TEST(StratifiedSplit, SameSeedSameSplitOtherSeedOtherSplit) {
  auto labels = Labels({{"a", 30}, {"b", 30}});
  ItemSplit x = StratifiedSplit(labels, 0.2, 0.2, 1, "t"), y = StratifiedSplit(labels, 0.2, 0.2, 1, "t");
  ItemSplit z = StratifiedSplit(labels, 0.2, 0.2, 2, "t");
  EXPECT_EQ(x.part_of, y.part_of);
  EXPECT_NE(x.part_of, z.part_of);
}

TEST(StratifiedSplit, OneClassOrASingleItemClassIsAnErrorNamingIt) {
  try {
    StratifiedSplit(Labels({{"only", 9}}), 0.15, 0.15, 0, "catalog.csv");
    FAIL() << "one class accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("'only'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("two classes"), std::string::npos) << e.what();
  }
  try {
    StratifiedSplit(Labels({{"many", 9}, {"lonely", 1}}), 0.15, 0.15, 0, "catalog.csv");
    FAIL() << "single-item class accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("'lonely' (lonely-item0)"), std::string::npos) << e.what();
  }
  EXPECT_THROW(StratifiedSplit({}, 0.15, 0.15, 0, "x"), InputError);
}

}  // namespace
}  // namespace visrec::finetune

namespace visrec::finetune {
namespace {

double Correlation(const std::vector<double>& a, const std::vector<double>& b) {
  const double n = double(a.size());
  double ma = 0, mb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ma += a[i] / n;
    mb += b[i] / n;
  }
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  return sab / std::sqrt(saa * sbb);
}

// Issue 21's bug: one draw set both the crop size and the brightness shift (correlation 1). Every
// quantity is now its own draw: within its range, and no pair correlated beyond sampling noise.
TEST(Augmentation, EveryQuantityIsItsOwnDraw) {
  uint64_t state = 42;
  std::vector<std::vector<double>> q(6);
  for (int i = 0; i < 20000; ++i) {
    const AugmentDraw a = DrawAugmentation(state);
    ASSERT_GE(a.crop_fraction, 0.85);
    ASSERT_LE(a.crop_fraction, 1.0);
    ASSERT_GE(a.offset_y, 0.0);
    ASSERT_LT(a.offset_x, 1.0);
    ASSERT_GE(a.contrast, 0.9);
    ASSERT_LE(a.contrast, 1.1);
    ASSERT_GE(a.brightness, -0.1);
    ASSERT_LE(a.brightness, 0.1);
    const double values[6] = {a.flip ? 1.0 : 0.0, a.crop_fraction, a.offset_y, a.offset_x, a.contrast, a.brightness};
    for (int k = 0; k < 6; ++k) q[size_t(k)].push_back(values[k]);
  }
  // 20000 independent draws: |r| above 0.04 has a chance far below one in a million.
  for (size_t x = 0; x < q.size(); ++x)
    for (size_t y = x + 1; y < q.size(); ++y) EXPECT_LT(std::abs(Correlation(q[x], q[y])), 0.04) << x << " vs " << y;
  // Seeded: the same state gives the same draws.
  uint64_t s1 = 7, s2 = 7;
  EXPECT_EQ(DrawAugmentation(s1).brightness, DrawAugmentation(s2).brightness);
}

}  // namespace
}  // namespace visrec::finetune
