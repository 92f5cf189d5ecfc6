#include <algorithm>
#include <set>

#include <spdlog/spdlog.h>

#include "visrec/artifact/csv.h"
#include "visrec/util/errors.h"
#include "visrec/util/fs.h"
#include "phases.h"

namespace visrec::recommend::internal {
namespace {
std::vector<std::string> SplitComma(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == ',') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else if (c != ' ')
      cur.push_back(c);
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}
}  // namespace

// Items with visual vectors, plus catalog items.
Universe LoadUniverse(const RecommendOptions& o, const Artifact& red) {
  Universe u;
  u.vectors = red.ReadArray<float>("reduced_l2.npy");
  u.vector_ids = ReadLines(red.File("ids.txt"));
  if (int64_t(u.vector_ids.size()) != u.vectors.rows())
    throw ArtifactError("recommend: ids.txt and reduced_l2.npy disagree in " + red.dir.string());
  if (!o.catalog.empty()) u.catalog = ReadCatalog(o.catalog, o.bad_rows);
  // Text columns named on purpose must exist; the default "title" quietly drops out without one.
  if (u.catalog) {
    const auto& columns = u.catalog->columns;
    for (const auto& c : SplitComma(o.text_columns)) {
      if (std::find(columns.begin(), columns.end(), c) != columns.end()) {
        u.text_columns.push_back(c);
      } else if (o.text_columns != RecommendOptions{}.text_columns) {
        std::string known;
        for (const auto& k : columns) known += (known.empty() ? "" : ", ") + k;
        throw UsageError("recommend: --text-columns names '" + c + "', which " + o.catalog.string() +
                         " does not have (its columns: " + known + ")");
      } else {
        spdlog::info("recommend: the catalog has no '{}' column; no text similarity", c);
      }
    }
  }
  std::set<std::string> all(u.vector_ids.begin(), u.vector_ids.end());
  if (u.catalog) all.insert(u.catalog->item_ids.begin(), u.catalog->item_ids.end());
  u.ids.assign(all.begin(), all.end());
  for (int32_t i = 0; i < u.size(); ++i) u.index[u.ids[size_t(i)]] = i;
  return u;
}

std::vector<std::string> ItemTexts(const Universe& u, bool* has_text) {
  *has_text = false;
  std::vector<std::string> texts(u.ids.size());
  if (!u.catalog) return texts;
  for (size_t i = 0; i < u.ids.size(); ++i) {
    auto m = u.catalog->metadata.find(u.ids[i]);
    if (m == u.catalog->metadata.end()) continue;
    for (auto& c : u.text_columns) {
      auto f = m->second.find(c);
      if (f != m->second.end() && !f->second.empty()) {
        texts[i] += f->second + " ";
        *has_text = true;
      }
    }
  }
  return texts;
}

}  // namespace visrec::recommend::internal
