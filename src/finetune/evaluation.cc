#include "phases.h"
#include "visrec/artifact/csv.h"

namespace visrec::finetune {

double ItemAccuracy(const LabelledPhotos& data, const std::map<int, int64_t>& predicted) {
  if (predicted.empty()) return -1.0;
  int64_t ok = 0;
  for (const auto& [item, cls] : predicted) ok += data.split.label_of.at(data.item_ids[size_t(item)]) == cls;
  return double(ok) / double(predicted.size());
}

TestReport EvaluateTest(const LabelledPhotos& data, const std::map<int, int64_t>& predicted) {
  const auto& classes = data.split.classes;
  const size_t n = classes.size();
  std::vector<std::vector<int64_t>> confusion(n, std::vector<int64_t>(n, 0));
  for (const auto& [item, cls] : predicted)
    ++confusion[size_t(data.split.label_of.at(data.item_ids[size_t(item)]))][size_t(cls)];
  TestReport out;
  out.accuracy = ItemAccuracy(data, predicted);
  out.per_class = json::array();
  out.confusion_csv = "label,predicted,items\n";
  for (size_t c = 0; c < n; ++c) {
    int64_t total = 0, worst = -1, worst_count = 0;
    for (size_t p = 0; p < n; ++p) {
      const int64_t v = confusion[c][p];
      total += v;
      if (v > 0) out.confusion_csv += CsvLine({classes[c], classes[p], std::to_string(v)});
      if (p != c && v > worst_count) {
        worst = int64_t(p);
        worst_count = v;
      }
    }
    const int64_t ok = confusion[c][c];
    out.per_class.push_back({{"class", classes[c]},
                             {"test_items", total},
                             {"correct", ok},
                             {"accuracy", total ? double(ok) / double(total) : 0.0},
                             {"most_confused_with", worst >= 0 ? json(classes[size_t(worst)]) : json(nullptr)},
                             {"most_confused_items", worst_count}});
  }
  return out;
}

}  // namespace visrec::finetune
