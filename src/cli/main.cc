// The visrec command line: binds flags into each stage's Options struct and calls the stage.
// No logic of its own beyond mapping exceptions to the documented exit codes.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <fstream>
#include <iostream>

#include "bindings.h"
#include "visrec/core/allocator.h"
#include "visrec/core/errors.h"
#include "visrec/core/log.h"
#include "visrec/core/version.h"
#include "visrec/core/weights_cache.h"
#include "visrec/pipeline/compare.h"
#include "visrec/pipeline/pipeline.h"
#include "visrec/query/query.h"
#include "visrec/recommend/similarity.h"
#include "visrec/report/report.h"
#include "visrec/sample/sample.h"
#include "visrec/weights/fetch.h"

using namespace visrec;

namespace {

// own_model_flags: the preprocess command's own --model-file/--model (in `run`, extract's say it).
void BindPreprocess(CLI::App* c, preprocess::PreprocessOptions& o, std::string& bad_rows, bool own_model_flags) {
  // Values not given on the command line or in a --config file follow what the model declares.
  o.follow_model = {true, true, true, true};
  auto given = [](bool& follow) { return [&follow](const std::string&) { follow = false; }; };
  c->add_option("--resize", o.resize, "shorter side before the centre crop (default: the model's)")
      ->capture_default_str()->each(given(o.follow_model.resize));
  c->add_option("--crop", o.crop, "model input size C, output C x C x 3 (default: the model's)")
      ->capture_default_str()->each(given(o.follow_model.crop));
  if (own_model_flags) {
    c->add_option("--model-file", o.model_file, "TorchScript model whose sidecar .json declares resize/crop/mean/std");
    c->add_option("--model", o.model, "built-in model whose input (torchvision's) sets the defaults");
  }
  c->add_option("--mode", o.mode, "crop | letterbox")->capture_default_str();
  c->add_option("--trim", o.trim, "off | auto: crop near-uniform margins (see docs/stages.md)")->capture_default_str();
  c->add_option("--trim-tolerance", o.trim_tolerance, "0-255 border colour tolerance")->capture_default_str();
  c->add_option("--trim-padding", o.trim_padding, "fraction kept around the content box")->capture_default_str();
  // Three values each (`--mean 0.5 0.5 0.5`, or `mean = [0.5, 0.5, 0.5]` in a --config file).
  c->add_option("--background", o.background, "R G B for alpha and letterbox")->capture_default_str();
  c->add_option("--mean", o.mean, "per-channel mean, applied in extract (default: the model's)")
      ->capture_default_str()->each(given(o.follow_model.mean));
  c->add_option("--std", o.std, "per-channel std, applied in extract (default: the model's)")
      ->capture_default_str()->each(given(o.follow_model.std));
  c->add_option("--max-file-mb", o.max_file_mb, "larger photo files are per-photo failures (checked before reading)")
      ->capture_default_str();
  c->add_option("--max-pixels", o.max_pixels, "decompression-bomb guard")->capture_default_str();
  c->add_option("--reduced-decode", o.reduced_decode, "auto | off")->capture_default_str();
  c->add_option("--shard-size", o.shard_size, "images per pixel shard")->capture_default_str();
  c->add_option("--max-failed-fraction", o.max_failed_fraction, "fail above this share of bad photos")->capture_default_str();
  c->add_option("--bad-rows", bad_rows, "skip | fail on malformed CSV rows")->capture_default_str();
}


void BindReduce(CLI::App* c, reduce::ReduceOptions& o) {
  c->add_option("--dims", o.pca.dims, "PCA components K")->capture_default_str();
  c->add_option("--variance", o.pca.variance_target, "pick the smallest K reaching this explained variance");
  c->add_option("--method", o.pca.method, "auto | exact | randomized | lda (needs --label-column)")->capture_default_str();
  c->add_flag("--whiten", o.pca.whiten, "scale components to unit variance");
  c->add_option("--pca-seed", o.pca.seed, "randomized PCA seed")->capture_default_str();
  c->add_option("--power-iterations", o.pca.power_iterations, "randomized PCA power iterations")->capture_default_str();
  c->add_option("--apply", o.apply, "reuse the fit of this reduce artifact (no refit)");
}

void BindRecommend(CLI::App* c, recommend::RecommendOptions& o) {
  c->add_option("--k", o.k, "recommendations per user")->capture_default_str();
  c->add_option("--similar-k", o.similar_k, "similar items per item and source")->capture_default_str();
  c->add_option("--neighbors", o.neighbors, "neighbours per item used for scoring")->capture_default_str();
  const std::map<std::string, recommend::BlendMode> blend_modes{{"auto", recommend::BlendMode::kAuto},
                                                                 {"fixed", recommend::BlendMode::kFixed}};
  auto* blend = c->add_option("--blend", o.blend, "auto: tune the weights on held-out interactions | fixed: the --w-*")
                    ->transform(CLI::CheckedTransformer(blend_modes, CLI::ignore_case))
                    ->default_str(o.blend == recommend::BlendMode::kAuto ? "auto" : "fixed");
  std::vector<CLI::Option*> weights{
      c->add_option("--w-cf", o.w_cf, "blend weight of collaborative similarity (implies --blend fixed)")->capture_default_str(),
      c->add_option("--w-visual", o.w_visual, "blend weight of visual similarity (implies --blend fixed)")->capture_default_str(),
      c->add_option("--w-text", o.w_text, "blend weight of text similarity (implies --blend fixed)")->capture_default_str()};
  c->add_option("--blend-grid", o.blend_grid, "--blend auto: values tried for w_visual and w_text (w_cf is 1)")
      ->delimiter(',')
      ->check([](const std::string& v) { return v.empty() ? std::string("an empty value in the list") : std::string(); })
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
        throw CLI::ValidationError(w->get_name(), "is a fixed weight; --blend auto tunes the weights itself (drop one of them)");
      o.blend = recommend::BlendMode::kFixed;
    }
  });
  c->add_option("--text-columns", o.text_columns, "catalog columns for TF-IDF, comma-separated")->capture_default_str();
  c->add_option("--shrink", o.shrink, "CF cosine shrinkage")->capture_default_str();
  c->add_option("--min-support", o.min_support, "CF least co-occurring users")->capture_default_str();
  c->add_option("--half-life-days", o.half_life_days, "recency decay of history (0 = off)")->capture_default_str();
  c->add_option("--memory-budget-mb", o.memory_budget_mb, "visual kNN block memory")->capture_default_str();
  c->add_option("--visual-index", o.visual_index, "exact | hnsw (Faiss, approximate; recall is checked)")
      ->capture_default_str();
  c->add_option("--hnsw-m", o.hnsw_m, "HNSW graph degree")->capture_default_str();
  c->add_option("--hnsw-ef-construction", o.hnsw_ef_construction, "HNSW build candidates")->capture_default_str();
  c->add_option("--hnsw-ef-search", o.hnsw_ef_search, "HNSW search candidates")->capture_default_str();
  c->add_option("--recall-sample", o.recall_sample, "items checked against exact search (hnsw)")->capture_default_str();
  c->add_option("--min-recall", o.min_recall, "hnsw: exit 7 below this recall (0 = report only)")->capture_default_str();
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

}  // namespace

int main(int argc, char** argv) {
  visrec::TuneAllocatorForBatchWork();  // before any large allocation
  CLI::App app{"visrec: visual product recommendation, batch pipeline. See README.md."};
  app.require_subcommand(1);
  app.fallthrough();  // -v, -q, --log-json, --config also work after the subcommand
  // Config file (TOML/INI): options of `run` under a [run] section, global ones at the top.
  app.set_config("--config", "", "TOML/INI file holding the same options ([run] section for run)");
  cli::GlobalFlags global;
  cli::BindGlobal(app, global);
  RunContext ctx;
  auto add_ctx = [&](CLI::App* c) { cli::BindRunContext(c, ctx); };

  // sample
  sample::SampleOptions so;
  auto* c_sample = app.add_subcommand("sample", "write a synthetic catalog with known truth");
  c_sample->add_option("--out,-o", so.out_dir, "output folder")->required();
  c_sample->add_option("--items", so.items, "number of items")->capture_default_str();
  c_sample->add_option("--users", so.users, "number of users")->capture_default_str();
  c_sample->add_option("--seed", so.seed, "seed")->capture_default_str();
  c_sample->add_option("--min-side", so.min_side, "smallest photo longer side")->capture_default_str();
  c_sample->add_option("--max-side", so.max_side, "largest photo longer side")->capture_default_str();
  c_sample->add_option("--cold-fraction", so.cold_fraction, "items never interacted")->capture_default_str();
  c_sample->add_option("--new-fraction", so.new_fraction, "items only interacted lately")->capture_default_str();
  c_sample->add_option("--awkward", so.awkward, "add awkward files")->capture_default_str();
  c_sample->add_option("--threads", so.threads, "threads (0 = all cores)");

  // preprocess
  preprocess::PreprocessOptions po;
  std::string pre_bad_rows = "skip";
  auto* c_pre = app.add_subcommand("preprocess", "decode, orient, trim, resize/crop catalog photos");
  c_pre->add_option("--catalog", po.catalog, "catalog CSV (item_id,image,...)")->required();
  BindPreprocess(c_pre, po, pre_bad_rows, true);
  add_ctx(c_pre);
  std::string shard_text;
  int merge_shards = 0;
  auto* pre_shard = c_pre->add_option("--shard", shard_text, "i/N: only the items of shard i of N (stable by id hash); see docs/operations.md");

  // extract
  extract::ExtractOptions eo;
  auto* c_ex = app.add_subcommand("extract", "CNN features per item (LibTorch)");
  auto* ex_shard = cli::BindExtractInputs(c_ex, eo, shard_text);
  cli::BindExtract(c_ex, eo);
  add_ctx(c_ex);
  c_ex->add_option("--merge-shards", merge_shards, "N: combine the extract artifacts of shards 0..N-1 into one")
      ->excludes(ex_shard);

  // finetune
  finetune::FinetuneOptions fto;
  auto* c_ft = app.add_subcommand("finetune", "train the ResNet on the catalog's classes (weights for extract)");
  cli::BindFinetuneInputs(c_ft, fto);
  cli::BindFinetune(c_ft, fto, "");
  add_ctx(c_ft);

  // reduce
  reduce::ReduceOptions ro;
  auto* c_red = app.add_subcommand("reduce", "PCA of item features");
  c_red->add_option("--extract", ro.extract, "extract artifact (default: latest in workdir)");
  c_red->add_option("--catalog", ro.catalog, "catalog CSV with the labels (--method lda)");
  c_red->add_option("--label-column", ro.label_column, "catalog column of class labels (--method lda)");
  BindReduce(c_red, ro);
  add_ctx(c_red);

  // recommend
  recommend::RecommendOptions rco;
  std::string rec_bad_rows = "skip";
  auto* c_rec = app.add_subcommand("recommend", "similar items and top-K recommendations");
  c_rec->add_option("--reduce", rco.reduce, "reduce artifact (default: latest in workdir)");
  c_rec->add_option("--interactions", rco.interactions, "interactions CSV (leave out: similar items only)");
  c_rec->add_option("--catalog", rco.catalog, "catalog CSV (item universe, text)");
  c_rec->add_option("--bad-rows", rec_bad_rows, "skip | fail")->capture_default_str();
  BindRecommend(c_rec, rco);
  add_ctx(c_rec);
  auto* rec_shard = c_rec->add_option("--shard", shard_text,
                                      "i/N: only the neighbour lists of shard i of N's items (stable by id hash), "
                                      "for --merge-shards N; see docs/operations.md");
  c_rec->add_option("--merge-shards", rco.merge_shards,
                    "N: gather the lists of shards 0..N-1 and write the artifact one unsharded run writes")
      ->check(CLI::Range(1, 100000))
      ->excludes(rec_shard);
  std::string score_part_text;
  auto* rec_part = c_rec->add_option("--score-part", score_part_text,
                                     "j/M: score only user part j of M (users in id order) and write it for --merge-parts M; "
                                     "see docs/operations.md")
                       ->excludes(rec_shard);
  c_rec->add_option("--merge-parts", rco.merge_parts,
                    "M: gather the user parts 0..M-1 and write the artifact one unsharded run writes")
      ->check(CLI::Range(1, 100000))
      ->excludes(rec_shard)
      ->excludes(rec_part);

  // evaluate
  evaluate::EvaluateOptions evo;
  std::string split_method;
  evaluate::SplitOptions spo;
  auto* c_ev = app.add_subcommand("evaluate", "split interactions, or score recommendations offline");
  c_ev->add_option("--recommend", evo.recommend, "recommend artifact (default: latest in workdir)");
  c_ev->add_option("--recommendations", evo.recommendations,
                   "score this recommendations CSV from any source (user_id,rank,item_id,...) instead of a recommend artifact");
  c_ev->add_option("--test", evo.test, "held-out interactions CSV");
  c_ev->add_option("--train", evo.train, "training interactions CSV (default: the one recommend used)");
  c_ev->add_option("--catalog", evo.catalog, "catalog CSV, for --label-column");
  c_ev->add_option("--split", split_method, "instead of scoring: split --interactions (leave-last-out | random)");
  c_ev->add_option("--interactions", spo.interactions, "interactions CSV to split");
  c_ev->add_option("--test-fraction", spo.test_fraction, "random split share")->capture_default_str();
  c_ev->add_option("--split-seed", spo.seed, "random split seed")->capture_default_str();
  c_ev->add_option("--max-bad-rows-fraction", spo.max_bad_rows_fraction,
                   "exit 3 when more rows than this share are malformed")->capture_default_str();
  std::vector<int> eval_cutoffs;
  BindEvaluate(c_ev, evo, &eval_cutoffs);
  add_ctx(c_ev);

  // run
  pipeline::RunOptions rno;
  std::string run_bad_rows = "skip";
  auto* c_run = app.add_subcommand("run", "run every stage in order (up-to-date stages are skipped)");

  c_run->add_option("--catalog", rno.catalog, "catalog CSV")->required();
  c_run->add_option("--interactions", rno.interactions, "interactions CSV");
  c_run->add_option("--split", rno.split, "none | leave-last-out | random: hold out, train, evaluate")->capture_default_str();
  c_run->add_flag("--final", rno.final, "with --split: also recommend from all interactions (the lists to serve)");
  c_run->add_option("--test-fraction", rno.split_options.test_fraction, "random split share")->capture_default_str();
  c_run->add_option("--split-seed", rno.split_options.seed, "random split seed")->capture_default_str();
  c_run->add_option("--refit", rno.refit, "PCA on nightly runs: auto | always | never (see docs/stages.md)")->capture_default_str();
  c_run->add_option("--refit-drop", rno.refit_drop, "auto: refit when the basis explains this much less of the new data")
      ->capture_default_str();
  BindPreprocess(c_run, rno.preprocess, run_bad_rows, false);
  cli::BindExtract(c_run, rno.extract);
  c_run->add_option("--finetune-label", rno.finetune.label_column,
                    "fine-tune the model on this catalog column before extract (see `visrec finetune`)");
  cli::BindFinetune(c_run, rno.finetune, "finetune-");
  BindReduce(c_run, rno.reduce);
  BindRecommend(c_run, rno.recommend);
  BindEvaluate(c_run, rno.evaluate, nullptr);
  add_ctx(c_run);

  // query
  query::QueryOptions qo;
  std::string q_item, q_user, q_image, q_batch, q_png;
  int q_k = 10;
  bool q_json = false;
  auto* c_query = app.add_subcommand("query", "similar items for an item or a new photo, a user's recommendations");
  c_query->add_option("--workdir,-w", qo.workdir, "where artifacts live")->capture_default_str();
  c_query->add_option("--recommend", qo.recommend, "recommend artifact (default: latest in workdir)");
  auto* q_opt_item = c_query->add_option("--item", q_item, "an item id: its similar items");
  auto* q_opt_user = c_query->add_option("--user", q_user, "a user id: their recommendations with reasons");
  auto* q_opt_image = c_query->add_option("--image", q_image, "a photo: the nearest catalog items");
  auto* q_opt_batch = c_query->add_option("--batch", q_batch, "file of queries, one per line: item ID | user ID | image PATH; - = stdin, answered as lines arrive");
  q_opt_item->excludes(q_opt_user)->excludes(q_opt_image)->excludes(q_opt_batch);
  q_opt_user->excludes(q_opt_image)->excludes(q_opt_batch);
  q_opt_image->excludes(q_opt_batch);
  c_query->add_option("--k", q_k, "answers per query")->capture_default_str()->check(CLI::Range(1, 10000));
  c_query->add_flag("--json", q_json, "JSON output (one object per query and line)");
  c_query->add_option("--png", q_png, "also write a contact sheet of the answer (single queries)");
  c_query->add_option("--device", qo.device, "photo queries: auto | cpu | cuda")->capture_default_str();
  c_query->add_option("--source", qo.source, "item queries: hybrid | collaborative | visual | text")->capture_default_str();
  c_query->add_option("--show", qo.show, "catalog columns added to each answer, e.g. title,category")->delimiter(',');
  c_query->add_option("--threads", qo.threads, "threads for the model (0 = all cores)")->capture_default_str();

  // explain
  std::string x_user, x_item;
  fs::path x_recommend;
  fs::path x_workdir = kDefaultWorkdir;
  bool x_json = false;
  auto* c_explain = app.add_subcommand("explain", "why an item scores what it does for a user, source by source");
  c_explain->add_option("--user", x_user, "user id")->required();
  c_explain->add_option("--item", x_item, "item id")->required();
  c_explain->add_option("--workdir,-w", x_workdir, "where artifacts live")->capture_default_str();
  c_explain->add_option("--recommend", x_recommend, "recommend artifact (default: latest in workdir)");
  c_explain->add_flag("--json", x_json, "one JSON object");

  // report
  report::ReportOptions rpo;
  auto* c_report = app.add_subcommand("report", "PNG contact sheets, users' histories, a catalog map and index.html");
  c_report->add_option("--workdir,-w", rpo.workdir, "where artifacts live")->capture_default_str();
  c_report->add_option("--recommend", rpo.recommend, "recommend artifact (default: latest in workdir)");
  c_report->add_option("--out,-o", rpo.out, "output folder (default: WORKDIR/report)");
  c_report->add_option("--items", rpo.items, "sheets for the first N items")->capture_default_str();
  c_report->add_option("--item", rpo.item_ids, "sheets for these items instead");
  c_report->add_option("--users", rpo.users, "sheets for the first N users")->capture_default_str();
  c_report->add_option("--user", rpo.user_ids, "sheets for these users instead");
  c_report->add_option("--k", rpo.k, "neighbours / recommendations per row")->capture_default_str();
  c_report->add_option("--label-column", rpo.label_column, "catalog column colouring the map")->capture_default_str();
  c_report->add_option("--thumbnails", rpo.thumbnails, "item photos drawn on the map")->capture_default_str();
  c_report->add_option("--map-size", rpo.map_size, "catalog map size in pixels")->capture_default_str();
  c_report->add_option("--map", rpo.map, "catalog map: auto (tsne up to 100000 items) | tsne | pca")->capture_default_str();
  c_report->add_option("--perplexity", rpo.tsne.perplexity, "t-SNE perplexity")->capture_default_str();
  c_report->add_option("--map-iterations", rpo.tsne.iterations, "t-SNE gradient steps")->capture_default_str();

  std::string inspect_path;
  std::vector<std::string> verify_paths;
  bool verify_all = false;
  auto* c_inspect = app.add_subcommand("inspect", "describe an artifact (stage dir or artifact dir)");
  c_inspect->add_option("path", inspect_path, "artifact path")->required();
  pipeline::CompareOptions cmo;
  auto* c_compare = app.add_subcommand("compare", "evaluated runs side by side, with paired bootstrap intervals");
  c_compare->add_option("runs", cmo.runs, "evaluate artifacts, their report.json, or workdirs (their latest)")->required();
  c_compare->add_option("--baseline", cmo.baseline, "1-based: the run the others are compared against")->capture_default_str();
  c_compare->add_option("--resamples", cmo.resamples, "bootstrap resamples")->capture_default_str();
  c_compare->add_option("--seed", cmo.seed, "bootstrap seed")->check(CLI::NonNegativeNumber)->capture_default_str();
  c_compare->add_option("--confidence", cmo.confidence, "interval coverage")->capture_default_str();
  auto* compare_json = c_compare->add_flag("--json", "print JSON instead of the table");
  auto* compare_csv = c_compare->add_flag("--csv", "print CSV (one row per run and metric) instead of the table");
  compare_json->excludes(compare_csv);
  auto* c_verify = app.add_subcommand("verify", "recompute digests along an artifact's lineage");
  c_verify->add_option("paths", verify_paths, "artifact paths (artifact, stage dir, or a whole workdir)")->required();
  c_verify->add_flag("--all", verify_all, "with a workdir: every version of every stage, not only each latest");
  // weights
  auto* c_weights = app.add_subcommand("weights", "published ImageNet weights for the built-in ResNets");
  c_weights->require_subcommand(1);
  weights::FetchOptions fo;
  auto* c_fetch = c_weights->add_subcommand("fetch", "download torchvision's weights into the cache (needs internet)");
  c_fetch->add_option("name", fo.name, "resnet18 | resnet34 | resnet50 | resnet101")->required();
  c_fetch->add_option("--dir", fo.dir, "store here instead of ${XDG_CACHE_HOME:-~/.cache}/visrec/weights");
  c_fetch->add_option("--url", fo.url, "a mirror of the published file (same file name: it carries the hash)");
  auto* c_wlist = c_weights->add_subcommand("list", "known names, their URLs and whether each is in the cache");

  auto* c_version = app.add_subcommand("version", "versions, CUDA, CPU features");

  cli::RequireFiniteFloats(app);
  try {
    cli::CheckConfigFile(app, argc, argv);
  } catch (const Error& e) {
    std::cerr << "error: " << e.what() << "\n";  // logging is not set up yet (its flags are not parsed)
    return int(e.code());
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : int(ExitCode::kUsage);
  }

  return cli::WithExitCodes([&]() -> int {
    SetupLogging({global.quiet ? -1 : global.verbose, global.log_json});
    // A --shard given empty is an error, not "unsharded".
    if (pre_shard->count() + ex_shard->count() + rec_shard->count() > 0) ctx.shard = ShardSpec::Parse(shard_text);
    if (rec_part->count() > 0) rco.score_part = ShardSpec::Parse(score_part_text, "--score-part");
    if (*c_version) {
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
    if (*c_sample) {
      auto s = sample::GenerateSample(so);
      std::cout << "catalog:      " << s.catalog.string() << "\ninteractions: " << s.interactions_csv.string()
                << "\ntruth:        " << s.truth.string() << "\n";
      return 0;
    }
    if (*c_pre) {
      po.bad_rows = ParseBadRowPolicy(pre_bad_rows);
      auto r = preprocess::Run(po, ctx);
      std::cout << r.artifact.dir.string() << "\n";
      return 0;
    }
    if (*c_ex) {
      auto r = merge_shards ? extract::MergeShards(merge_shards, ctx) : extract::Run(eo, ctx);
      std::cout << r.artifact.dir.string() << "\n";
      return 0;
    }
    if (*c_ft) {
      auto r = finetune::Run(fto, ctx);
      std::cout << r.artifact.File("weights.pt").string() << "\n";
      return 0;
    }
    if (*c_red) { std::cout << reduce::Run(ro, ctx).artifact.dir.string() << "\n"; return 0; }
    if (*c_rec) {
      rco.bad_rows = ParseBadRowPolicy(rec_bad_rows);
      auto r = recommend::Run(rco, ctx);
      if (ctx.shard.active() || rco.score_part.active()) {  // a shard's or part's own artifact
        std::cout << r.artifact.dir.string() << "\n";
        return 0;
      }
      if (!rco.interactions.empty()) std::cout << r.artifact.File("recommendations.csv").string() << "\n";
      std::cout << r.artifact.File("similar_items.csv").string() << "\n";
      return 0;
    }
    if (*c_ev) {
      if (!split_method.empty()) {
        if (!evo.recommendations.empty() || !evo.recommend.empty() || !evo.test.empty())
          throw UsageError("evaluate --split only splits --interactions; score in a second call (--recommend, "
                           "--recommendations and --test do not apply to it)");
        spo.method = split_method;
        auto r = evaluate::RunSplit(spo, ctx);
        std::cout << r.artifact.File("train.csv").string() << "\n" << r.artifact.File("test.csv").string() << "\n";
        return 0;
      }
      if (!eval_cutoffs.empty()) {
        evo.k = eval_cutoffs[0];
        evo.more_k.assign(eval_cutoffs.begin() + 1, eval_cutoffs.end());
      }
      evaluate::RunEvaluate(evo, ctx);
      return 0;
    }
    if (*c_run) {
      rno.preprocess.bad_rows = ParseBadRowPolicy(run_bad_rows);
      rno.recommend.bad_rows = rno.preprocess.bad_rows;
      rno.split_options.bad_rows = rno.preprocess.bad_rows;
      rno.split_options.max_bad_rows_fraction = rno.recommend.max_bad_rows_fraction;
      auto rep = pipeline::Run(rno, ctx);
      std::cout << pipeline::FormatRunReport(rep);
      return 0;
    }
    if (*c_query) {
      if (qo.source != "hybrid" && (!q_user.empty() || !q_image.empty()))
        throw UsageError("query: --source picks an item query's similar items; --user answers with the recommendations "
                         "and --image with visual neighbours");
      if (q_item.empty() && q_user.empty() && q_image.empty() && q_batch.empty())
        throw UsageError("query: give --item, --user, --image or --batch");
      if (!q_png.empty() && !q_batch.empty()) throw UsageError("query: --png draws one query; drop it with --batch");
      if (!q_png.empty() && fs::path(q_png).extension() != ".png" && fs::path(q_png).extension() != ".PNG")
        throw UsageError("query: --png writes PNG bytes; give a file name ending in .png, not '" + q_png + "'");
      query::QueryEngine engine(qo);
      if (!q_batch.empty()) {
        query::BatchSummary sum;
        if (q_batch == "-") {
          sum = query::RunBatch(engine, std::cin, "stdin", q_k, q_json, std::cout);
        } else {
          std::ifstream in(q_batch);
          if (!in) throw InputError("query: cannot read --batch file '" + q_batch + "'");
          sum = query::RunBatch(engine, in, q_batch, q_k, q_json, std::cout);
        }
        std::cerr << "query: " << sum.Format() << "\n";
        return sum.failed ? int(ExitCode::kInput) : 0;
      }
      query::QueryResult r = !q_item.empty() ? engine.Item(q_item, q_k)
                             : !q_user.empty() ? engine.User(q_user, q_k)
                                               : engine.Image(q_image, q_k);
      std::cout << (q_json ? query::FormatJson(r) + "\n" : query::FormatTable(r));
      if (!q_png.empty()) {
        query::WriteContactSheet(engine, r, q_png);
        spdlog::info("query: contact sheet written to {}", q_png);
      }
      return 0;
    }
    if (*c_explain) {
      const fs::path rec = x_recommend.empty() ? OpenLatest(x_workdir, "recommend").dir : x_recommend;
      auto e = recommend::Explain(rec, x_user, x_item);
      std::cout << (x_json ? recommend::ExplanationJson(e) + "\n" : recommend::FormatExplanation(e));
      return 0;
    }
    if (*c_report) {
      auto r = report::WriteReport(rpo);
      std::cout << r.pictures.size() << " pictures; open " << r.index.string() << "\n";
      return 0;
    }
    if (*c_inspect) { std::cout << pipeline::Inspect(inspect_path); return 0; }
    if (*c_compare) {
      const auto c = pipeline::Compare(cmo);
      std::cout << (*compare_json ? c.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n"
                    : *compare_csv ? pipeline::CompareCsv(c)
                                   : pipeline::FormatCompare(c));
      return 0;
    }
    if (*c_verify) return cli::RunVerify(verify_paths, verify_all);
    if (*c_fetch) {
      weights::FetchResult r = weights::Fetch(fo);
      std::cout << (r.already_there ? "already in the cache: " : "stored: ") << r.path.string() << " (" << r.bytes
                << " bytes, sha256 " << r.sha256.substr(0, 16) << "...)\nuse it with: --model " << fo.name
                << " --weights " << (fo.dir.empty() ? fo.name : r.path.string()) << "\n";
      return 0;
    }
    if (*c_wlist) {
      for (const auto& w : KnownWeights()) {
        std::string cached;
        for (const auto& f : CachedWeights(w.name)) cached += (cached.empty() ? "cached: " : ", ") + f.string();
        std::cout << w.name << "  " << w.url << "  " << (cached.empty() ? std::string("not fetched") : cached) << "\n";
      }
      return 0;
    }
    return 0;
  });
}
