// `visrec recommend`: collaborative, visual and text item-item similarities, their blend, and
// top-K recommendations per user with reasons.
#pragma once
#include <filesystem>
#include <string>

#include "visrec/core/inputs.h"
#include "visrec/core/stage.h"

namespace visrec::recommend {

constexpr int kStageVersion = 1;

struct RecommendOptions {
  std::filesystem::path reduce;        // artifact dir; empty = WORKDIR/reduce/latest
  std::filesystem::path interactions;  // required: user_id,item_id[,weight][,timestamp]
  std::filesystem::path catalog;       // optional: item universe and text columns
  std::string text_columns = "title";  // comma-separated catalog columns for TF-IDF ("" = no text)
  int k = 10;                          // recommendations per user
  int similar_k = 10;                  // similar items written per item and source
  int neighbors = 100;                 // neighbours per item used for scoring
  // Blend: hybrid(i,j) = w_cf * cf(i,j) + w_visual * visual(i,j) + w_text * text(i,j).
  double w_cf = 1.0;
  double w_visual = 1.0;
  double w_text = 1.0;
  double shrink = 50.0;                // CF cosine shrinkage (dampens pairs with few co-users)
  int min_support = 1;                 // CF: least co-occurring users for a pair
  double half_life_days = 0;           // recency decay of history weights; 0 = off
  int64_t memory_budget_mb = 512;      // visual kNN score blocks
  BadRowPolicy bad_rows = BadRowPolicy::kSkip;
  void Validate() const;
};

StageResult Run(const RecommendOptions& options, const RunContext& context);

}  // namespace visrec::recommend
