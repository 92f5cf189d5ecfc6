// The stratified item split of finetune: proportions, determinism, errors.
#include <gtest/gtest.h>

#include "visrec/core/errors.h"
#include "visrec/finetune/finetune.h"

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
