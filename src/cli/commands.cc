// The commands of `visrec`, in the order `visrec --help` lists them (VisrecCommands at the end):
// each binds its flags into its stage's Options struct and calls the stage.
#include <fstream>

#include "command.h"
#include "visrec/artifact/weights_cache.h"
#include "visrec/evaluate/evaluate.h"
#include "visrec/pipeline/compare.h"
#include "visrec/pipeline/pipeline.h"
#include "visrec/preprocess/preprocess.h"
#include "visrec/query/query.h"
#include "visrec/recommend/recommend.h"
#include "visrec/recommend/similarity.h"
#include "visrec/reduce/reduce.h"
#include "visrec/report/report.h"
#include "visrec/sample/sample.h"
#include "visrec/util/version.h"
#include "visrec/weights/fetch.h"

namespace visrec::cli {
namespace {

// ---- flags shared by a stage's own command and `run` ----

// own_model_flags: the preprocess command's own --model-file/--model (in `run`, extract's say it).
void BindPreprocess(CLI::App* c, preprocess::PreprocessOptions& o, std::string& bad_rows, bool own_model_flags) {
  // Values not given on the command line or in a --config file follow what the model declares.
  o.follow_model = {true, true, true, true};
  auto given = [](bool& follow) { return [&follow](const std::string&) { follow = false; }; };
  c->add_option("--resize", o.resize, "shorter side before the centre crop (default: the model's)")
      ->capture_default_str()
      ->each(given(o.follow_model.resize));
  c->add_option("--crop", o.crop, "model input size C, output C x C x 3 (default: the model's)")
      ->capture_default_str()
      ->each(given(o.follow_model.crop));
  if (own_model_flags) {
    c->add_option("--model-file", o.model_file, "TorchScript model whose sidecar .json declares resize/crop/mean/std");
    c->add_option("--model", o.model, "built-in model whose input (torchvision's) sets the defaults");
  }
  AddChoice(c, "--mode", o.mode, "crop (resize + centre crop) | letterbox (the whole product, padded)");
  AddChoice(c, "--trim", o.trim, "off | auto: crop near-uniform margins (see docs/stages.md)");
  c->add_option("--trim-tolerance", o.trim_tolerance, "0-255 border colour tolerance")->capture_default_str();
  c->add_option("--trim-padding", o.trim_padding, "fraction kept around the content box")->capture_default_str();
  // Three values each (`--mean 0.5 0.5 0.5`, or `mean = [0.5, 0.5, 0.5]` in a --config file).
  c->add_option("--background", o.background, "R G B for alpha and letterbox")->capture_default_str();
  c->add_option("--mean", o.mean, "per-channel mean, applied in extract (default: the model's)")
      ->capture_default_str()
      ->each(given(o.follow_model.mean));
  c->add_option("--std", o.std, "per-channel std, applied in extract (default: the model's)")
      ->capture_default_str()
      ->each(given(o.follow_model.std));
  c->add_option("--max-file-mb", o.max_file_mb, "larger photo files are per-photo failures (checked before reading)")
      ->capture_default_str();
  c->add_option("--max-pixels", o.max_pixels, "decompression-bomb guard")->capture_default_str();
  c->add_option("--reduced-decode", o.reduced_decode, "auto | off")->capture_default_str();
  c->add_option("--shard-size", o.shard_size, "images per pixel shard")->capture_default_str();
  c->add_option("--max-failed-fraction", o.max_failed_fraction, "fail above this share of bad photos")
      ->capture_default_str();
  c->add_option("--bad-rows", bad_rows, "skip | fail on malformed CSV rows")->capture_default_str();
}

void BindReduce(CLI::App* c, reduce::ReduceOptions& o) {
  c->add_option("--dims", o.pca.dims, "PCA components K")->capture_default_str();
  c->add_option("--variance", o.pca.variance_target, "pick the smallest K reaching this explained variance");
  AddChoice(c, "--method", o.pca.method, "auto | exact | randomized | lda (needs --label-column)");
  c->add_flag("--whiten", o.pca.whiten, "scale components to unit variance");
  c->add_option("--pca-seed", o.pca.seed, "randomized PCA seed")->capture_default_str();
  c->add_option("--power-iterations", o.pca.power_iterations, "randomized PCA power iterations")->capture_default_str();
  c->add_option("--apply", o.apply, "reuse the fit of this reduce artifact (no refit)");
}

void BindRecommend(CLI::App* c, recommend::RecommendOptions& o) {
  c->add_option("--k", o.k, "recommendations per user")->capture_default_str();
  c->add_option("--similar-k", o.similar_k, "similar items per item and source")->capture_default_str();
  c->add_option("--neighbors", o.neighbors, "neighbours per item used for scoring")->capture_default_str();
  auto* blend = AddChoice(c, "--blend", o.blend, "auto: tune the weights on held-out interactions | fixed: the --w-*");
  std::vector<CLI::Option*> weights{
      c->add_option("--w-cf", o.w_cf, "blend weight of collaborative similarity (implies --blend fixed)")
          ->capture_default_str(),
      c->add_option("--w-visual", o.w_visual, "blend weight of visual similarity (implies --blend fixed)")
          ->capture_default_str(),
      c->add_option("--w-text", o.w_text, "blend weight of text similarity (implies --blend fixed)")
          ->capture_default_str()};
  c->add_option("--blend-grid", o.blend_grid, "--blend auto: values tried for w_visual and w_text (w_cf is 1)")
      ->delimiter(',')
      ->check(
          [](const std::string& v) { return v.empty() ? std::string("an empty value in the list") : std::string(); })
      ->default_str("0,0.1,0.3,1,3");
  c->add_option("--blend-seed", o.blend_seed, "--blend auto: seed of held-out picks and user sample")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  c->add_option("--blend-users", o.blend_users, "--blend auto: validation users sampled (0 = all eligible)")
      ->capture_default_str();
  // A weight given by hand means a fixed blend; asking for both is a contradiction, not a guess.
  c->final_callback([&o, blend, weights] {
    for (auto* w : weights) {
      if (w->count() == 0) continue;
      if (blend->count() > 0 && o.blend == recommend::BlendMode::kAuto)
        throw CLI::ValidationError(w->get_name(),
                                   "is a fixed weight; --blend auto tunes the weights itself (drop one of them)");
      o.blend = recommend::BlendMode::kFixed;
    }
  });
  c->add_option("--text-columns", o.text_columns, "catalog columns for TF-IDF, comma-separated")->capture_default_str();
  c->add_option("--shrink", o.shrink, "CF cosine shrinkage")->capture_default_str();
  c->add_option("--min-support", o.min_support, "CF least co-occurring users")->capture_default_str();
  c->add_option("--half-life-days", o.half_life_days, "recency decay of history (0 = off)")->capture_default_str();
  c->add_option("--memory-budget-mb", o.memory_budget_mb, "visual kNN block memory")->capture_default_str();
  AddChoice(c, "--visual-index", o.visual_index, "exact | hnsw (Faiss, approximate; recall is checked)");
  c->add_option("--hnsw-m", o.hnsw_m, "HNSW graph degree")->capture_default_str();
  c->add_option("--hnsw-ef-construction", o.hnsw_ef_construction, "HNSW build candidates")->capture_default_str();
  c->add_option("--hnsw-ef-search", o.hnsw_ef_search, "HNSW search candidates")->capture_default_str();
  c->add_option("--recall-sample", o.recall_sample, "items checked against exact search (hnsw)")->capture_default_str();
  c->add_option("--min-recall", o.min_recall, "hnsw: exit 7 below this recall (0 = report only)")
      ->capture_default_str();
  c->add_option("--store-scoring", o.store_scoring, "keep the scoring neighbour lists (for `visrec explain`)")
      ->capture_default_str();
  c->add_option("--max-bad-rows-fraction", o.max_bad_rows_fraction,
                "exit 3 when more interaction rows than this share are malformed or name unknown items")
      ->capture_default_str();
}

void BindEvaluate(CLI::App* c, evaluate::EvaluateOptions& o, std::vector<int>* cutoffs) {
  if (cutoffs)
    c->add_option("--k", *cutoffs, "cut-off K, or several: 5,10,20 (the first is the headline and the --baseline gate)")
        ->delimiter(',')
        ->default_str("10");
  c->add_option("--label-column", o.label_column, "catalog column for same-label precision of similar items");
  c->add_option("--baseline", o.baseline, "earlier report.json; exit 8 on a drop beyond --tolerance");
  c->add_option("--tolerance", o.tolerance, "allowed absolute drop per metric")->capture_default_str();
  c->add_option("--eval-seed", o.seed, "seed of the random baseline")->capture_default_str();
  if (cutoffs)
    c->add_option("--label-items", o.label_items, "same-label precision over these items only (ids, one per line)");
}

// ---- the commands ----

class SampleCommand : public Command {
 public:
  void Bind(CLI::App* c) override {
    c->add_option("--out,-o", o_.out_dir, "output folder")->required();
    c->add_option("--items", o_.items, "number of items")->capture_default_str();
    c->add_option("--users", o_.users, "number of users")->capture_default_str();
    c->add_option("--seed", o_.seed, "seed")->capture_default_str();
    c->add_option("--min-side", o_.min_side, "smallest photo longer side")->capture_default_str();
    c->add_option("--max-side", o_.max_side, "largest photo longer side")->capture_default_str();
    c->add_option("--cold-fraction", o_.cold_fraction, "items never interacted")->capture_default_str();
    c->add_option("--new-fraction", o_.new_fraction, "items only interacted lately")->capture_default_str();
    c->add_option("--awkward", o_.awkward, "add awkward files")->capture_default_str();
    c->add_option("--threads", o_.threads, "threads (0 = all cores)");
  }
  int Run() override {
    auto s = sample::GenerateSample(o_);
    std::cout << "catalog:      " << s.catalog.string() << "\ninteractions: " << s.interactions_csv.string()
              << "\ntruth:        " << s.truth.string() << "\n";
    return 0;
  }

 private:
  sample::SampleOptions o_;
};

class PreprocessCommand : public Command {
 public:
  void Bind(CLI::App* c) override {
    c->add_option("--catalog", o_.catalog, "catalog CSV (item_id,image,...)")->required();
    BindPreprocess(c, o_, bad_rows_, true);
    BindRunContext(c, ctx_);
    shard_ = c->add_option("--shard", shard_text_,
                           "i/N: only the items of shard i of N (stable by id hash); see docs/operations.md");
  }
  int Run() override {
    if (shard_->count() > 0) ctx_.shard = ShardSpec::Parse(shard_text_);
    o_.bad_rows = ParseBadRowPolicy(bad_rows_);
    std::cout << preprocess::Run(o_, ctx_).artifact.dir.string() << "\n";
    return 0;
  }

 private:
  preprocess::PreprocessOptions o_;
  RunContext ctx_;
  std::string bad_rows_ = "skip", shard_text_;
  CLI::Option* shard_ = nullptr;
};

class ReduceCommand : public Command {
 public:
  void Bind(CLI::App* c) override {
    c->add_option("--extract", o_.extract, "extract artifact (default: latest in workdir)");
    c->add_option("--catalog", o_.catalog, "catalog CSV with the labels (--method lda)");
    c->add_option("--label-column", o_.label_column, "catalog column of class labels (--method lda)");
    BindReduce(c, o_);
    BindRunContext(c, ctx_);
  }
  int Run() override {
    std::cout << reduce::Run(o_, ctx_).artifact.dir.string() << "\n";
    return 0;
  }

 private:
  reduce::ReduceOptions o_;
  RunContext ctx_;
};

class RecommendCommand : public Command {
 public:
  void Bind(CLI::App* c) override {
    c->add_option("--reduce", o_.reduce, "reduce artifact (default: latest in workdir)");
    c->add_option("--interactions", o_.interactions, "interactions CSV (leave out: similar items only)");
    c->add_option("--catalog", o_.catalog, "catalog CSV (item universe, text)");
    c->add_option("--bad-rows", bad_rows_, "skip | fail")->capture_default_str();
    BindRecommend(c, o_);
    BindRunContext(c, ctx_);
    shard_ = c->add_option("--shard", shard_text_,
                           "i/N: only the neighbour lists of shard i of N's items (stable by id hash), "
                           "for --merge-shards N; see docs/operations.md");
    c->add_option("--merge-shards", o_.merge_shards,
                  "N: gather the lists of shards 0..N-1 and write the artifact one unsharded run writes")
        ->check(CLI::Range(1, 100000))
        ->excludes(shard_);
    part_ = c->add_option("--score-part", part_text_,
                          "j/M: score only user part j of M (users in id order) and write it for --merge-parts M; "
                          "see docs/operations.md")
                ->excludes(shard_);
    c->add_option("--merge-parts", o_.merge_parts,
                  "M: gather the user parts 0..M-1 and write the artifact one unsharded run writes")
        ->check(CLI::Range(1, 100000))
        ->excludes(shard_)
        ->excludes(part_);
  }
  int Run() override {
    if (shard_->count() > 0) ctx_.shard = ShardSpec::Parse(shard_text_);
    if (part_->count() > 0) o_.score_part = ShardSpec::Parse(part_text_, "--score-part");
    o_.bad_rows = ParseBadRowPolicy(bad_rows_);
    auto r = recommend::Run(o_, ctx_);
    if (ctx_.shard.active() || o_.score_part.active()) {  // a shard's or part's own artifact
      std::cout << r.artifact.dir.string() << "\n";
      return 0;
    }
    if (!o_.interactions.empty()) std::cout << r.artifact.File("recommendations.csv").string() << "\n";
    std::cout << r.artifact.File("similar_items.csv").string() << "\n";
    return 0;
  }

 private:
  recommend::RecommendOptions o_;
  RunContext ctx_;
  std::string bad_rows_ = "skip", shard_text_, part_text_;
  CLI::Option *shard_ = nullptr, *part_ = nullptr;
};

void BindSplit(CLI::App* c, evaluate::SplitOptions& o) {
  c->add_option("--interactions", o.interactions, "interactions CSV to split");
  c->add_option("--test-fraction", o.test_fraction, "random split share")->capture_default_str();
  c->add_option("--split-seed", o.seed, "random split seed")->capture_default_str();
  c->add_option("--max-bad-rows-fraction", o.max_bad_rows_fraction,
                "exit 3 when more rows than this share are malformed")
      ->capture_default_str();
}

int SplitAndPrint(const evaluate::SplitOptions& o, const RunContext& ctx) {
  auto r = evaluate::RunSplit(o, ctx);
  std::cout << r.artifact.File("train.csv").string() << "\n" << r.artifact.File("test.csv").string() << "\n";
  return 0;
}

// `visrec split`: the held-out split as a command of its own (`evaluate --split` does the same).
class SplitCommand : public Command {
 public:
  void Bind(CLI::App* c) override {
    // --split too: the name `run` and `evaluate` give it, which the split's own messages use.
    AddChoice(c, "--method,--split", o_.method, "leave-last-out | random");
    BindSplit(c, o_);
    c->get_option("--interactions")->required();
    c->add_option("--bad-rows", bad_rows_, "skip | fail on malformed CSV rows")->capture_default_str();
    BindRunContext(c, ctx_);
  }
  int Run() override {
    o_.bad_rows = ParseBadRowPolicy(bad_rows_);
    return SplitAndPrint(o_, ctx_);
  }

 private:
  evaluate::SplitOptions o_;
  RunContext ctx_;
  std::string bad_rows_ = "skip";
};

class EvaluateCommand : public Command {
 public:
  void Bind(CLI::App* c) override {
    c->add_option("--recommend", o_.recommend, "recommend artifact (default: latest in workdir)");
    c->add_option(
        "--recommendations", o_.recommendations,
        "score this recommendations CSV from any source (user_id,rank,item_id,...) instead of a recommend artifact");
    c->add_option("--test", o_.test, "held-out interactions CSV");
    c->add_option("--train", o_.train, "training interactions CSV (default: the one recommend used)");
    c->add_option("--catalog", o_.catalog, "catalog CSV, for --label-column");
    split_flag_ = AddChoice(c, "--split", split_.method,
                            "instead of scoring: split --interactions (leave-last-out | "
                            "random); the same as `visrec split`")
                      ->default_str("");  // evaluate scores unless told to split
    BindSplit(c, split_);
    BindEvaluate(c, o_, &cutoffs_);
    BindRunContext(c, ctx_);
  }
  int Run() override {
    if (split_flag_->count() > 0) {
      if (!o_.recommendations.empty() || !o_.recommend.empty() || !o_.test.empty())
        throw UsageError(
            "evaluate --split only splits --interactions; score in a second call (--recommend, "
            "--recommendations and --test do not apply to it)");
      return SplitAndPrint(split_, ctx_);
    }
    if (!cutoffs_.empty()) {
      o_.k = cutoffs_[0];
      o_.more_k.assign(cutoffs_.begin() + 1, cutoffs_.end());
    }
    evaluate::RunEvaluate(o_, ctx_);
    return 0;
  }

 private:
  evaluate::EvaluateOptions o_;
  evaluate::SplitOptions split_;
  CLI::Option* split_flag_ = nullptr;
  std::vector<int> cutoffs_;
  RunContext ctx_;
};

class RunCommand : public Command {
 public:
  void Bind(CLI::App* c) override {
    c->add_option("--catalog", o_.catalog, "catalog CSV")->required();
    c->add_option("--interactions", o_.interactions, "interactions CSV");
    AddChoice(c, "--split", o_.split, "none", "none | leave-last-out | random: hold out, train, evaluate");
    c->add_flag("--final", o_.final, "with --split: also recommend from all interactions (the lists to serve)");
    c->add_option("--test-fraction", o_.split_options.test_fraction, "random split share")->capture_default_str();
    c->add_option("--split-seed", o_.split_options.seed, "random split seed")->capture_default_str();
    AddChoice(c, "--refit", o_.refit, "PCA on nightly runs: auto | always | never (see docs/stages.md)");
    c->add_option("--refit-drop", o_.refit_drop, "auto: refit when the basis explains this much less of the new data")
        ->capture_default_str();
    BindPreprocess(c, o_.preprocess, bad_rows_, false);
    BindExtract(c, o_.extract);
    c->add_option("--finetune-label", o_.finetune.label_column,
                  "fine-tune the model on this catalog column before extract (see `visrec finetune`)");
    BindFinetune(c, o_.finetune, "finetune-");
    BindReduce(c, o_.reduce);
    BindRecommend(c, o_.recommend);
    BindEvaluate(c, o_.evaluate, nullptr);
    BindRunContext(c, ctx_);
  }
  int Run() override {
    o_.preprocess.bad_rows = ParseBadRowPolicy(bad_rows_);
    o_.recommend.bad_rows = o_.preprocess.bad_rows;
    o_.split_options.bad_rows = o_.preprocess.bad_rows;
    o_.split_options.max_bad_rows_fraction = o_.recommend.max_bad_rows_fraction;
    std::cout << pipeline::FormatRunReport(pipeline::Run(o_, ctx_));
    return 0;
  }

 private:
  pipeline::RunOptions o_;
  RunContext ctx_;
  std::string bad_rows_ = "skip";
};

class QueryCommand : public Command {
 public:
  void Bind(CLI::App* c) override {
    c->add_option("--workdir,-w", o_.workdir, "where artifacts live")->capture_default_str();
    c->add_option("--recommend", o_.recommend, "recommend artifact (default: latest in workdir)");
    auto* item = c->add_option("--item", item_, "an item id: its similar items");
    auto* user = c->add_option("--user", user_, "a user id: their recommendations with reasons");
    auto* image = c->add_option("--image", image_, "a photo: the nearest catalog items");
    auto* batch = c->add_option(
        "--batch", batch_,
        "file of queries, one per line: item ID | user ID | image PATH; - = stdin, answered as lines arrive");
    item->excludes(user)->excludes(image)->excludes(batch);
    user->excludes(image)->excludes(batch);
    image->excludes(batch);
    c->add_option("--k", k_, "answers per query")->capture_default_str()->check(CLI::Range(1, 10000));
    c->add_flag("--json", json_, "JSON output (one object per query and line)");
    c->add_option("--png", png_, "also write a contact sheet of the answer (single queries)");
    AddChoice(c, "--device", o_.device, "photo queries: auto | cpu | cuda");
    c->add_option("--source", o_.source, "item queries: hybrid | collaborative | visual | text")->capture_default_str();
    c->add_option("--show", o_.show, "catalog columns added to each answer, e.g. title,category")->delimiter(',');
    c->add_option("--threads", o_.threads, "threads for the model (0 = all cores)")->capture_default_str();
  }
  int Run() override {
    CheckFlags();
    query::QueryEngine engine(o_);
    if (!batch_.empty()) return RunBatch(engine);
    query::QueryResult r = !item_.empty()   ? engine.Item(item_, k_)
                           : !user_.empty() ? engine.User(user_, k_)
                                            : engine.Image(image_, k_);
    std::cout << (json_ ? query::FormatJson(r) + "\n" : query::FormatTable(r));
    if (!png_.empty()) {
      query::WriteContactSheet(engine, r, png_);
      spdlog::info("query: contact sheet written to {}", png_);
    }
    return 0;
  }

 private:
  void CheckFlags() const {
    if (o_.source != "hybrid" && (!user_.empty() || !image_.empty()))
      throw UsageError(
          "query: --source picks an item query's similar items; --user answers with the recommendations "
          "and --image with visual neighbours");
    if (item_.empty() && user_.empty() && image_.empty() && batch_.empty())
      throw UsageError("query: give --item, --user, --image or --batch");
    if (!png_.empty() && !batch_.empty()) throw UsageError("query: --png draws one query; drop it with --batch");
    if (!png_.empty() && fs::path(png_).extension() != ".png" && fs::path(png_).extension() != ".PNG")
      throw UsageError("query: --png writes PNG bytes; give a file name ending in .png, not '" + png_ + "'");
  }
  int RunBatch(query::QueryEngine& engine) {
    query::BatchSummary sum;
    if (batch_ == "-") {
      sum = query::RunBatch(engine, std::cin, "stdin", k_, json_, std::cout);
    } else {
      std::ifstream in(batch_);
      if (!in) throw InputError("query: cannot read --batch file '" + batch_ + "'");
      sum = query::RunBatch(engine, in, batch_, k_, json_, std::cout);
    }
    std::cerr << "query: " << sum.Format() << "\n";
    return sum.failed ? int(ExitCode::kInput) : 0;
  }

  query::QueryOptions o_;
  std::string item_, user_, image_, batch_, png_;
  int k_ = 10;
  bool json_ = false;
};

class ExplainCommand : public Command {
 public:
  void Bind(CLI::App* c) override {
    c->add_option("--user", o_.user, "user id")->required();
    c->add_option("--item", o_.item, "item id")->required();
    c->add_option("--workdir,-w", o_.workdir, "where artifacts live")->capture_default_str();
    c->add_option("--recommend", o_.recommend, "recommend artifact (default: latest in workdir)");
    c->add_flag("--json", json_, "one JSON object");
  }
  int Run() override {
    auto e = recommend::Explain(o_);
    std::cout << (json_ ? recommend::ExplanationJson(e) + "\n" : recommend::FormatExplanation(e));
    return 0;
  }

 private:
  recommend::ExplainOptions o_;
  bool json_ = false;
};

class ReportCommand : public Command {
 public:
  void Bind(CLI::App* c) override {
    c->add_option("--workdir,-w", o_.workdir, "where artifacts live")->capture_default_str();
    c->add_option("--recommend", o_.recommend, "recommend artifact (default: latest in workdir)");
    c->add_option("--out,-o", o_.out, "output folder (default: WORKDIR/report)");
    c->add_option("--items", o_.items, "sheets for the first N items")->capture_default_str();
    c->add_option("--item", o_.item_ids, "sheets for these items instead");
    c->add_option("--users", o_.users, "sheets for the first N users")->capture_default_str();
    c->add_option("--user", o_.user_ids, "sheets for these users instead");
    c->add_option("--k", o_.k, "neighbours / recommendations per row")->capture_default_str();
    c->add_option("--label-column", o_.label_column, "catalog column colouring the map")->capture_default_str();
    c->add_option("--thumbnails", o_.thumbnails, "item photos drawn on the map")->capture_default_str();
    c->add_option("--map-size", o_.map_size, "catalog map size in pixels")->capture_default_str();
    c->add_option("--map", o_.map, "catalog map: auto (tsne up to 100000 items) | tsne | pca")->capture_default_str();
    c->add_option("--perplexity", o_.tsne.perplexity, "t-SNE perplexity")->capture_default_str();
    c->add_option("--map-iterations", o_.tsne.iterations, "t-SNE gradient steps")->capture_default_str();
  }
  int Run() override {
    auto r = report::WriteReport(o_);
    std::cout << r.pictures.size() << " pictures; open " << r.index.string() << "\n";
    return 0;
  }

 private:
  report::ReportOptions o_;
};

class InspectCommand : public Command {
 public:
  void Bind(CLI::App* c) override { c->add_option("path", path_, "artifact path")->required(); }
  int Run() override {
    std::cout << pipeline::Inspect(path_);
    return 0;
  }

 private:
  std::string path_;
};

class CompareCommand : public Command {
 public:
  void Bind(CLI::App* c) override {
    c->add_option("runs", o_.runs, "evaluate artifacts, their report.json, or workdirs (their latest)")->required();
    c->add_option("--baseline", o_.baseline, "1-based: the run the others are compared against")->capture_default_str();
    c->add_option("--resamples", o_.resamples, "bootstrap resamples")->capture_default_str();
    c->add_option("--seed", o_.seed, "bootstrap seed")->check(CLI::NonNegativeNumber)->capture_default_str();
    c->add_option("--confidence", o_.confidence, "interval coverage")->capture_default_str();
    json_ = c->add_flag("--json", "print JSON instead of the table");
    csv_ = c->add_flag("--csv", "print CSV (one row per run and metric) instead of the table");
    json_->excludes(csv_);
  }
  int Run() override {
    const auto c = pipeline::Compare(o_);
    std::cout << (*json_  ? c.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n"
                  : *csv_ ? pipeline::CompareCsv(c)
                          : pipeline::FormatCompare(c));
    return 0;
  }

 private:
  pipeline::CompareOptions o_;
  CLI::Option *json_ = nullptr, *csv_ = nullptr;
};

class WeightsCommand : public Command {
 public:
  void Bind(CLI::App* c) override {
    c->require_subcommand(1);
    fetch_ = c->add_subcommand("fetch", "download torchvision's weights into the cache (needs internet)");
    fetch_->add_option("name", o_.name, "resnet18 | resnet34 | resnet50 | resnet101")->required();
    fetch_->add_option("--dir", o_.dir, "store here instead of ${XDG_CACHE_HOME:-~/.cache}/visrec/weights");
    fetch_->add_option("--url", o_.url, "a mirror of the published file (same file name: it carries the hash)");
    c->add_subcommand("list", "known names, their URLs and whether each is in the cache");
  }
  int Run() override {
    if (*fetch_) {
      weights::FetchResult r = weights::Fetch(o_);
      std::cout << (r.already_there ? "already in the cache: " : "stored: ") << r.path.string() << " (" << r.bytes
                << " bytes, sha256 " << r.sha256.substr(0, 16) << "...)\nuse it with: --model " << o_.name
                << " --weights " << (o_.dir.empty() ? o_.name : r.path.string()) << "\n";
      return 0;
    }
    for (const auto& w : KnownWeights()) {
      std::string cached;
      for (const auto& f : CachedWeights(w.name)) cached += (cached.empty() ? "cached: " : ", ") + f.string();
      std::cout << w.name << "  " << w.url << "  " << (cached.empty() ? std::string("not fetched") : cached) << "\n";
    }
    return 0;
  }

 private:
  weights::FetchOptions o_;
  CLI::App* fetch_ = nullptr;
};

class VersionCommand : public Command {
 public:
  void Bind(CLI::App*) override {}
  int Run() override {
    std::cout << "visrec " << VisrecVersion() << " (git " << GitSha() << ")\n"
              << "libtorch " << extract::TorchVersion() << "\n"
              << "opencv " << preprocess::OpenCvVersion() << "\n"
              << "eigen " << reduce::EigenVersion() << "\n"
              << "cuda compiled in: " << (extract::CudaCompiledIn() ? "yes" : "no") << "\n"
              << "cuda available now: " << (extract::CudaAvailableNow() ? "yes" : "no") << "\n"
              << "build: -march=" << BuildIsa() << "\n"
              << "cpu: " << CpuFeaturesText(DetectCpuFeatures()) << "\n";
    if (CpuFeaturesText(EffectiveCpuFeatures()) != CpuFeaturesText(DetectCpuFeatures()))
      std::cout << "cpu as kernels see it (VISREC_CPU_LEVEL): " << CpuFeaturesText(EffectiveCpuFeatures()) << "\n";
    std::cout << "visual kNN kernel: " << recommend::DenseKernelInUse() << "\n";
    return 0;
  }
};

}  // namespace

std::vector<CommandSpec> VisrecCommands() {
  return {
      Entry<SampleCommand>("sample", "write a synthetic catalog with known truth"),
      Entry<PreprocessCommand>("preprocess", "decode, orient, trim, resize/crop catalog photos"),
      Entry<ExtractCommand>("extract", "CNN features per item (LibTorch)"),
      Entry<FinetuneCommand>("finetune", "train the ResNet on the catalog's classes (weights for extract)"),
      Entry<ReduceCommand>("reduce", "PCA of item features"),
      Entry<RecommendCommand>("recommend", "similar items and top-K recommendations"),
      Entry<SplitCommand>("split", "hold out interactions for evaluation (train.csv, test.csv)"),
      Entry<EvaluateCommand>("evaluate", "score recommendations offline (or split interactions)"),
      Entry<RunCommand>("run", "run every stage in order (up-to-date stages are skipped)"),
      Entry<QueryCommand>("query", "similar items for an item or a new photo, a user's recommendations"),
      Entry<ExplainCommand>("explain", "why an item scores what it does for a user, source by source"),
      Entry<ReportCommand>("report", "PNG contact sheets, users' histories, a catalog map and index.html"),
      Entry<InspectCommand>("inspect", "describe an artifact (stage dir or artifact dir)"),
      Entry<CompareCommand>("compare", "evaluated runs side by side, with paired bootstrap intervals"),
      Entry<VerifyCommand>("verify", "recompute digests along an artifact's lineage"),
      Entry<WeightsCommand>("weights", "published ImageNet weights for the built-in ResNets"),
      Entry<VersionCommand>("version", "versions, CUDA, CPU features"),
  };
}

}  // namespace visrec::cli
