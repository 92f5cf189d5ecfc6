// `visrec sample`: a deterministic synthetic catalog with known truth (images, titles, users).
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>

namespace visrec::sample {

struct SampleOptions {
  std::filesystem::path out_dir;  // required; receives catalog.csv, interactions.csv, truth.json, images/
  int items = 240;                // number of products
  int users = 200;                // number of synthetic users
  uint64_t seed = 7;
  int min_side = 600;  // photo resolution range, pixels (longer side drawn in [min, max])
  int max_side = 1600;
  double cold_fraction = 0.08;  // items that never get an interaction
  double new_fraction = 0.08;   // items that only appear in the last days (often cold in training)
  bool awkward = true;          // add grayscale / alpha PNG / EXIF-rotated / tiny / unreadable files
  int threads = 0;
  void Validate() const;
};

struct SampleSummary {
  int items = 0, photos = 0, users = 0, interactions = 0, cold_items = 0;
  std::filesystem::path catalog, interactions_csv, truth;
};

SampleSummary GenerateSample(const SampleOptions& options);

// The attribute vocabularies, for tests and for `evaluate --label-column`.
extern const char* const kCategories[6];
extern const char* const kColors[8];
extern const char* const kPatterns[4];

}  // namespace visrec::sample
