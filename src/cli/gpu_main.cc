// `visrec-gpu`: the GPU-node build (-DVISREC_GPU_NODE=ON). A GPU node only turns preprocessed
// artifacts into features (and fine-tunes), so this binary holds extract, finetune, verify and
// version, with the same flags, defaults and exit codes as `visrec`; it needs LibTorch and
// header-only spdlog/fmt/nlohmann-json/CLI11, nothing else (see tools/gpu-check.sh).
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <iostream>

#include "bindings.h"
#include "visrec/core/allocator.h"
#include "visrec/core/artifact.h"
#include "visrec/core/errors.h"
#include "visrec/core/log.h"
#include "visrec/core/version.h"

using namespace visrec;

int main(int argc, char** argv) {
  visrec::TuneAllocatorForBatchWork();  // before any large allocation
  CLI::App app{"visrec-gpu: the extract and finetune stages of visrec for GPU nodes. See docs/operations.md, 'GPU nodes'."};
  app.require_subcommand(1);
  app.fallthrough();
  cli::GlobalFlags global;
  cli::BindGlobal(app, global);
  RunContext ctx;
  extract::ExtractOptions eo;
  std::string shard_text;
  auto* c_ex = app.add_subcommand("extract", "CNN features per item (LibTorch)");
  cli::BindExtractInputs(c_ex, eo, shard_text);
  cli::BindExtract(c_ex, eo);
  cli::BindRunContext(c_ex, ctx);
  finetune::FinetuneOptions fto;
  auto* c_ft = app.add_subcommand("finetune", "train the ResNet on the catalog's classes (weights for extract)");
  cli::BindFinetuneInputs(c_ft, fto);
  cli::BindFinetune(c_ft, fto, "");
  cli::BindRunContext(c_ft, ctx);
  std::vector<std::string> verify_paths;
  bool verify_all = false;
  auto* c_verify = app.add_subcommand("verify", "recompute digests along an artifact's lineage");
  c_verify->add_option("paths", verify_paths, "artifact paths (artifact, stage dir, or a whole workdir)")->required();
  c_verify->add_flag("--all", verify_all, "with a workdir: every version of every stage, not only each latest");
  auto* c_version = app.add_subcommand("version", "versions, CUDA, CPU features");
  cli::RequireFiniteFloats(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : int(ExitCode::kUsage);
  }
  return cli::WithExitCodes([&]() -> int {
    SetupLogging({global.quiet ? -1 : global.verbose, global.log_json});
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
    if (*c_verify) return cli::RunVerify(verify_paths, verify_all);
    return 0;
  });
}
