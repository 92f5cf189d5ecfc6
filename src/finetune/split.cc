// The stratified item split of `visrec finetune` (no LibTorch, so it is cheap to test).
#include <algorithm>
#include <cmath>

#include "visrec/finetune/finetune.h"
#include "visrec/util/errors.h"
#include "visrec/util/random.h"

namespace visrec::finetune {
namespace {

uint64_t NameHash(const std::string& s) {  // FNV-1a
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

}  // namespace

const char* PartName(Part p) { return p == Part::kTrain ? "train" : (p == Part::kDev ? "dev" : "test"); }

ItemSplit StratifiedSplit(const std::map<std::string, std::string>& label_of_item, double dev_fraction,
                          double test_fraction, uint64_t seed, const std::string& what) {
  std::map<std::string, std::vector<std::string>> items_of;  // class -> item ids, sorted (map order)
  for (const auto& [id, label] : label_of_item) items_of[label].push_back(id);
  if (items_of.size() < 2)
    throw InputError(what + ": " +
                     (items_of.empty() ? std::string("no item has a label")
                                       : "every labelled item has the label '" + items_of.begin()->first + "'") +
                     "; a classifier needs at least two classes: label more items or pick another --label-column");
  std::string singles;
  int single_count = 0;
  for (const auto& [label, ids] : items_of)
    if (ids.size() < 2) {
      if (single_count++ < 5) singles += (singles.empty() ? "" : ", ") + ("'" + label + "' (" + ids[0] + ")");
    }
  if (single_count > 0)
    throw InputError(what + ": " + std::to_string(single_count) + " class(es) have a single item: " + singles +
                     (single_count > 5 ? ", ..." : "") +
                     "; each class needs at least two items (one to train on, one to test): label more items of "
                     "that class, merge it into another, or clear those labels");

  ItemSplit s;
  for (const auto& [label, ids] : items_of) {
    const int cls = int(s.classes.size());
    s.classes.push_back(label);
    std::vector<std::string> order = ids;
    uint64_t state = seed ^ NameHash(label);
    for (size_t i = order.size() - 1; i > 0; --i) std::swap(order[i], order[size_t(SplitMix64(state) % (i + 1))]);
    const int n = int(order.size());
    int n_test = std::max(1, int(std::lround(n * test_fraction)));
    int n_dev = int(std::lround(n * dev_fraction));
    if (n >= 3) n_dev = std::max(1, n_dev);
    while (n - n_test - n_dev < 1) {  // keep a training item: shrink dev first, then test (never below 1)
      if (n_dev > 0)
        --n_dev;
      else
        --n_test;
    }
    for (int i = 0; i < n; ++i) {
      const std::string& id = order[size_t(i)];
      s.label_of[id] = cls;
      s.part_of[id] = i < n_test ? Part::kTest : (i < n_test + n_dev ? Part::kDev : Part::kTrain);
    }
  }
  return s;
}

}  // namespace visrec::finetune
