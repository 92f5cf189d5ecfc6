#include <algorithm>

#include "phases.h"
#include "visrec/artifact/csv.h"
#include "visrec/util/errors.h"

namespace visrec::finetune {
namespace {

struct CatalogLabels {
  std::map<std::string, std::string> label_of;  // item id -> label
  std::set<std::string> unlabelled;             // items with only empty label cells
};

// One label per item; an item whose rows disagree is an error naming both lines.
CatalogLabels ReadLabels(const fs::path& catalog, const std::string& label_column) {
  CsvTable cat = ReadCsv(catalog);
  const int c_id = cat.Column("item_id"), c_label = cat.Column(label_column);
  if (c_id < 0) throw InputError(catalog.string() + ": no 'item_id' column");
  if (c_label < 0) {
    std::string cols;
    for (const auto& c : cat.header) cols += (cols.empty() ? "" : ", ") + c;
    throw InputError(catalog.string() + ": no column '" + label_column + "' for --label-column (columns: " + cols +
                     ")");
  }
  CatalogLabels out;
  std::map<std::string, size_t> first_row;
  for (size_t r = 0; r < cat.rows.size(); ++r) {
    const auto& row = cat.rows[r];
    if (row.size() <= size_t(std::max(c_id, c_label))) continue;  // malformed rows: preprocess reports them
    const std::string& id = row[size_t(c_id)];
    const std::string& label = row[size_t(c_label)];
    if (label.empty()) {
      if (!out.label_of.count(id)) out.unlabelled.insert(id);
      continue;
    }
    auto it = out.label_of.find(id);
    if (it == out.label_of.end()) {
      out.label_of[id] = label;
      first_row[id] = r;
      out.unlabelled.erase(id);
    } else if (it->second != label) {
      throw InputError(catalog.string() + " line " + std::to_string(cat.lines[r]) + ": item '" + id + "' has " +
                       label_column + " '" + label + "' but line " + std::to_string(cat.lines[first_row[id]]) +
                       " says '" + it->second + "'; give each item one label");
    }
  }
  return out;
}

}  // namespace

LabelledPhotos GatherLabelledPhotos(const Artifact& pre, const fs::path& catalog, const FinetuneOptions& o) {
  const CatalogLabels labels = ReadLabels(catalog, o.label_column);

  // Usable photos of labelled items (preprocess failures have no row in images.csv).
  CsvTable images = ReadCsv(pre.File("images.csv"));
  const int c_item = images.Column("item_id"), c_shard = images.Column("shard"), c_row = images.Column("shard_row");
  if (c_item < 0 || c_shard < 0 || c_row < 0)
    throw ArtifactError("finetune: " + pre.File("images.csv").string() + " lacks item_id/shard/shard_row");
  std::map<std::string, std::string> label_with_photo;
  for (const auto& r : images.rows) {
    auto it = labels.label_of.find(r[size_t(c_item)]);
    if (it != labels.label_of.end()) label_with_photo[it->first] = it->second;
  }
  LabelledPhotos out;
  out.unlabelled_items = int64_t(labels.unlabelled.size());
  out.split = StratifiedSplit(label_with_photo, o.dev_fraction, o.test_fraction, o.seed,
                              "finetune (" + catalog.string() + ", column '" + o.label_column + "')");

  std::map<std::string, int> item_index;
  for (const auto& [id, cls] : out.split.label_of) {  // sorted (map order)
    item_index[id] = int(out.item_ids.size());
    out.item_ids.push_back(id);
  }
  std::map<std::string, int> shard_index;
  for (const auto& r : images.rows) {
    auto it = item_index.find(r[size_t(c_item)]);
    if (it == item_index.end()) continue;
    const std::string& s = r[size_t(c_shard)];
    if (!shard_index.count(s)) {
      shard_index[s] = int(out.shard_names.size());
      out.shard_names.push_back(s);
    }
    Photo p;
    p.shard = shard_index[s];
    p.row = std::stoll(r[size_t(c_row)]);
    p.item = it->second;
    p.label = out.split.label_of.at(it->first);
    p.part = out.split.part_of.at(it->first);
    out.photos.push_back(p);
  }
  return out;
}

std::vector<int64_t> LabelledPhotos::PhotosOf(Part part) const {
  std::vector<int64_t> out;
  for (size_t i = 0; i < photos.size(); ++i)
    if (photos[i].part == part) out.push_back(int64_t(i));
  return out;
}

int64_t LabelledPhotos::ItemsIn(Part part) const {
  int64_t n = 0;
  for (const auto& [id, p] : split.part_of) n += p == part;
  return n;
}

}  // namespace visrec::finetune
