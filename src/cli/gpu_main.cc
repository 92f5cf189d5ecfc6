// `visrec-gpu`: the GPU-node build (-DVISREC_GPU_NODE=ON). A GPU node only turns preprocessed
// artifacts into features (and fine-tunes), so this binary holds extract, finetune, verify and
// version, with the same flags, defaults and exit codes as `visrec`; it needs LibTorch and
// header-only spdlog/fmt/nlohmann-json/CLI11, nothing else (see tools/gpu-check.sh).
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <iostream>

#include "bindings.h"
#include "visrec/core/artifact.h"
#include "visrec/core/errors.h"
#include "visrec/core/log.h"
#include "visrec/core/version.h"

using namespace visrec;

int main(int argc, char** argv) {
  CLI::App app{"visrec-gpu: the extract and finetune stages of visrec for GPU nodes. See README.md."};
  app.require_subcommand(1);
  app.fallthrough();
  int verbose = 0;
  bool quiet = false;
  std::string log_json;
  RunContext ctx;
  ctx.workdir = "visrec-work";
  app.add_flag("-v,--verbose", verbose, "more logging (-vv for trace)");
  app.add_flag("-q,--quiet", quiet, "warnings and errors only");
  app.add_option("--log-json", log_json, "also append JSON-lines logs to this file");
  auto add_ctx = [&](CLI::App* c) {
    c->add_option("--workdir,-w", ctx.workdir, "where artifacts live")->capture_default_str();
    c->add_flag("--force", ctx.force, "recompute even when up to date");
    c->add_option("--threads", ctx.threads, "worker threads (0 = all cores)")->capture_default_str();
  };
  extract::ExtractOptions eo;
  std::string shard_text;
  auto* c_ex = app.add_subcommand("extract", "CNN features per item (LibTorch)");
  c_ex->add_option("--preprocess", eo.preprocess, "preprocess artifact (default: latest in workdir)");
  c_ex->add_option("--max-failed-fraction", eo.max_failed_fraction, "fail above this share of items without a usable photo")
      ->capture_default_str();
  c_ex->add_option("--shard", shard_text, "i/N: the shard's own preprocess artifact in, a shard artifact out");
  cli::BindExtract(c_ex, eo);
  add_ctx(c_ex);
  finetune::FinetuneOptions fto;
  auto* c_ft = app.add_subcommand("finetune", "train the ResNet on the catalog's classes (weights for extract)");
  cli::BindFinetuneInputs(c_ft, fto);
  cli::BindFinetune(c_ft, fto, "");
  add_ctx(c_ft);
  std::vector<std::string> verify_paths;
  auto* c_verify = app.add_subcommand("verify", "recompute digests along an artifact's lineage");
  c_verify->add_option("paths", verify_paths, "artifact paths (stage dir or artifact dir)")->required();
  auto* c_version = app.add_subcommand("version", "versions, CUDA, CPU features");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : int(ExitCode::kUsage);
  }
  try {
    SetupLogging({quiet ? -1 : verbose, log_json});
    if (!shard_text.empty()) ctx.shard = ShardSpec::Parse(shard_text);
    if (*c_version) {
      std::cout << "visrec-gpu " << VisrecVersion() << " (git " << GitSha() << ")\n"
                << "libtorch " << model::TorchVersion() << "\n"
                << "cuda compiled in: " << (model::CudaCompiledIn() ? "yes" : "no") << "\n"
                << "cuda available now: " << (model::CudaAvailableNow() ? "yes" : "no") << "\n"
                << "cpu: " << CpuFeaturesText(DetectCpuFeatures()) << "\n";
      return 0;
    }
    if (*c_ex) {
      std::cout << extract::Run(eo, ctx).artifact.dir.string() << "\n";
      return 0;
    }
    if (*c_ft) {
      std::cout << finetune::Run(fto, ctx).artifact.File("weights.pt").string() << "\n";
      return 0;
    }
    if (*c_verify) {
      std::vector<std::string> checked;
      auto issues = VerifyLineage(std::vector<fs::path>(verify_paths.begin(), verify_paths.end()), &checked);
      for (auto& c : checked) std::cout << "checked " << c << "\n";
      for (auto& i : issues) std::cout << "PROBLEM " << i.artifact << ": " << i.problem << "\n";
      if (!issues.empty()) return int(ExitCode::kArtifact);
      std::cout << "verify: all digests match\n";
      return 0;
    }
  } catch (const Error& e) {
    spdlog::error("{}", e.what());
    return int(e.code());
  } catch (const std::exception& e) {
    spdlog::error("internal error (please report): {}", e.what());
    return int(ExitCode::kInternal);
  }
  return 0;
}
