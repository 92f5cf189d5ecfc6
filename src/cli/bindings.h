// Flag bindings shared by the `visrec` binary and the GPU-node build's `visrec-gpu` (same flags,
// same defaults): the CLI only binds flags into each stage's Options struct.
#pragma once
#include <CLI/CLI.hpp>

#include <spdlog/spdlog.h>

#include <cmath>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "visrec/util/choice.h"
#include "visrec/util/config_check.h"
#include "visrec/util/fs.h"

#include "visrec/artifact/artifact.h"
#include "visrec/extract/extract.h"
#include "visrec/finetune/finetune.h"
#include "visrec/util/errors.h"

namespace visrec::cli {

// -v/-q/--log-json, valid before or after the subcommand (app.fallthrough()).
struct GlobalFlags {
  int verbose = 0;
  bool quiet = false;
  std::string log_json;
};
inline void BindGlobal(CLI::App& app, GlobalFlags& g) {
  app.add_flag("-v,--verbose", g.verbose, "more logging (-vv for trace)");
  app.add_flag("-q,--quiet", g.quiet, "warnings and errors only");
  app.add_option("--log-json", g.log_json, "also append JSON-lines logs to this file");
}

// A closed-choice option (util/choice.h): one of the names, else exit 2 listing them.
template <class E>
CLI::Option* AddChoice(CLI::App* c, const std::string& flags, E& target, const std::string& help) {
  return c
      ->add_option_function<std::string>(
          flags, [&target](const std::string& text) { target = *FindChoice<E>(text); }, help)
      ->check(CLI::IsMember(ChoiceList<E>()))
      ->default_str(ChoiceName(target));
}
// The same where one more name, `none`, means "not at all" (nullopt).
template <class E>
CLI::Option* AddChoice(CLI::App* c, const std::string& flags, std::optional<E>& target, const std::string& none,
                       const std::string& help) {
  std::vector<std::string> names = ChoiceList<E>();
  names.insert(names.begin(), none);
  return c
      ->add_option_function<std::string>(
          flags, [&target](const std::string& text) { target = FindChoice<E>(text); }, help)
      ->check(CLI::IsMember(names))
      ->default_str(target ? ChoiceName(*target) : none);
}

// Every floating-point option of every command, bound before this call, rejects NaN and inf with
// exit 2 naming the flag: one validator for all of them (ranges are each stage's Validate()).
inline void RequireFiniteFloats(CLI::App& app) {
  const CLI::Validator finite(
      [](std::string& v) -> std::string {
        // strtod reads what CLI11 will convert ("nan", "inf", "1e999"); text that is no number at
        // all is left to CLI11's own conversion error.
        char* end = nullptr;
        const double d = std::strtod(v.c_str(), &end);
        return end != v.c_str() && !std::isfinite(d) ? "must be a finite number, got '" + v + "'" : "";
      },
      "FINITE");
  std::function<void(CLI::App*)> walk = [&](CLI::App* a) {
    for (CLI::Option* opt : a->get_options())
      if (opt->get_type_name().find("FLOAT") != std::string::npos) opt->check(finite);
    for (CLI::App* sub : a->get_subcommands({})) walk(sub);
  };
  walk(&app);
}

// `--config FILE`: checked before the command line is parsed, so a syntax error names its line
// and an unknown key names the nearest valid one (the parser would ignore the key, or report an
// unrelated missing flag).
inline void CheckConfigFile(CLI::App& app, int argc, char** argv) {
  std::string file;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--config" && i + 1 < argc)
      file = argv[i + 1];
    else if (a.rfind("--config=", 0) == 0)
      file = a.substr(9);
  }
  if (file.empty()) return;
  std::string text;
  try {
    text = ReadRegularFile(file, 16 << 20);
  } catch (const Error& e) {
    throw UsageError(std::string("--config: ") + e.what());
  }
  const auto names_of = [](CLI::App* a) {
    std::vector<std::string> names;
    for (CLI::Option* opt : a->get_options())
      for (const auto& n : opt->get_lnames()) names.push_back(n);
    return names;
  };
  const std::vector<std::string> global = names_of(&app);
  for (const ConfigEntry& e : CheckConfigSyntax(text, file)) {
    std::string section = e.section, key = e.key;
    if (section.empty() && key.find('.') != std::string::npos) {
      section = key.substr(0, key.rfind('.'));
      key = key.substr(key.rfind('.') + 1);
    }
    std::vector<std::string> names = global;
    if (!section.empty()) {
      CLI::App* sub = nullptr;
      for (CLI::App* s : app.get_subcommands({}))
        if (s->get_name() == section) sub = s;
      if (!sub) {
        std::vector<std::string> commands;
        for (CLI::App* s : app.get_subcommands({})) commands.push_back(s->get_name());
        const std::string near = NearestName(section, commands);
        throw UsageError(file + ":" + std::to_string(e.line) + ": unknown section [" + section + "]" +
                         (near.empty() ? std::string() : "; did you mean [" + near + "]?"));
      }
      for (auto& n : names_of(sub)) names.push_back(n);
    }
    bool known = false;
    for (const auto& n : names) known |= n == key;
    if (!known) {
      const std::string near = NearestName(key, names);
      throw UsageError(file + ":" + std::to_string(e.line) + ": unknown key '" + key + "'" +
                       (section.empty() ? "" : " in [" + section + "]") +
                       (near.empty() ? "; see `" + std::filesystem::path(argv[0]).filename().string() + " " + section +
                                           " --help` for the valid names"
                                     : "; did you mean '" + near + "'?"));
    }
  }
}

// --workdir, --force, --threads of a stage subcommand.
inline void BindRunContext(CLI::App* c, RunContext& ctx) {
  c->add_option("--workdir,-w", ctx.workdir, "where artifacts live")->capture_default_str();
  c->add_flag("--force", ctx.force, "recompute even when up to date");
  c->add_option("--threads", ctx.threads, "worker threads (0 = all cores)")->capture_default_str();
  c->add_option("--tag", ctx.tag, "a label for this run, recorded in the manifests made (not in their keys)")
      ->check([](const std::string& tag) {
        try {
          ValidateTag(tag);
          return std::string();
        } catch (const std::exception& e) {
          return std::string(e.what());
        }
      });
}

// extract's inputs; returns --shard (for options that exclude it).
inline CLI::Option* BindExtractInputs(CLI::App* c, extract::ExtractOptions& o, std::string& shard_text) {
  c->add_option("--preprocess", o.preprocess, "preprocess artifact (default: latest in workdir)");
  c->add_option("--max-failed-fraction", o.max_failed_fraction, "fail above this share of items without a usable photo")
      ->capture_default_str();
  return c->add_option("--shard", shard_text, "i/N: the shard's own preprocess artifact in, a shard artifact out");
}

// `verify PATHS...`: prints what was checked and any problem; exit code 4 on a problem.
// A workdir (no manifest, no `latest`, stage folders inside) means each stage's latest, or every
// version with --all.
inline int RunVerify(const std::vector<std::string>& paths, bool all = false) {
  std::vector<std::string> checked;
  std::vector<fs::path> targets;
  for (const auto& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec) && !fs::exists(fs::path(p) / "manifest.json", ec) &&
        !fs::exists(fs::path(p) / "latest", ec)) {
      auto in_workdir = WorkdirArtifacts(p, all);
      if (in_workdir.empty())
        throw ArtifactError("verify: '" + p + "' is neither an artifact, a stage folder nor a workdir with artifacts");
      targets.insert(targets.end(), in_workdir.begin(), in_workdir.end());
    } else {
      targets.push_back(p);
    }
  }
  auto issues = VerifyLineage(targets, &checked);
  for (auto& c : checked) std::cout << "checked " << c << "\n";
  for (auto& i : issues) std::cout << "PROBLEM " << i.artifact << ": " << i.problem << "\n";
  if (!issues.empty()) {
    std::cerr << "verify: " << issues.size() << " problem(s) found\n";
    return int(ExitCode::kArtifact);
  }
  std::cout << "verify: all digests match\n";
  return 0;
}

// Runs a command body, mapping exceptions to the documented exit codes.
template <class F>
int WithExitCodes(F&& body) {
  try {
    return body();
  } catch (const Error& e) {
    spdlog::error("{}", e.what());
    return int(e.code());
  } catch (const std::filesystem::filesystem_error& e) {
    // Creating, renaming or removing a path failed (permissions, a file in the way, disk full):
    // the documented "writing failed", not a bug.
    spdlog::error("file system: {} (check the permissions and free space of that path)", e.what());
    return int(ExitCode::kIo);
  } catch (const nlohmann::json::exception& e) {
    // visrec's JSON is its manifests (sidecars and baselines are checked where read): a value of the
    // wrong type or a missing key means an edited or damaged artifact, the documented exit 4.
    spdlog::error(
        "an artifact's manifest.json holds a missing or wrongly typed value ({}); run `visrec verify` on "
        "the workdir and rerun the stage that made it",
        e.what());
    return int(ExitCode::kArtifact);
  } catch (const std::exception& e) {
    spdlog::error("internal error (please report): {}", e.what());
    return int(ExitCode::kInternal);
  }
}

inline void BindExtract(CLI::App* c, extract::ExtractOptions& o) {
  c->add_option("--model", o.model, "resnet18 | resnet34 | resnet50 | resnet101")->capture_default_str();
  c->add_option("--model-file", o.model_file, "TorchScript model (+ optional sidecar .json)");
  c->add_option("--weights", o.weights,
                "torchvision .pth file, or resnet18|34|50|101 after `visrec weights fetch NAME`");
  c->add_option("--init-seed", o.init_seed, "seed of the untrained initialisation")->capture_default_str();
  AddChoice(c, "--device", o.device, "auto | cpu | cuda");
  AddChoice(c, "--precision", o.precision, "fp32 | bf16 | fp16");
  c->add_option("--channels-last", o.channels_last, "NHWC activations (eager kernels)")->capture_default_str();
  AddChoice(c, "--cpu-kernels", o.cpu_kernels,
            "auto | onednn (batch norm folded, oneDNN layout; CPU fp32/bf16) | eager");
  c->add_option("--batch-size", o.batch_size, "images per forward pass (0: CPU 8, CUDA 64)")->capture_default_str();
}

// The finetune subcommand's own inputs and model (in `run` these are extract's).
inline void BindFinetuneInputs(CLI::App* c, finetune::FinetuneOptions& o) {
  c->add_option("--preprocess", o.preprocess, "preprocess artifact (default: latest in workdir)");
  c->add_option("--catalog", o.catalog, "catalog CSV with labels (default: the one preprocess read)");
  c->add_option("--label-column", o.label_column, "catalog column holding each item's class")->required();
  c->add_option("--model", o.model, "resnet18 | resnet34 | resnet50 | resnet101")->capture_default_str();
  c->add_option("--weights", o.weights,
                "starting weights: torchvision .pth file, or a name after `visrec weights fetch`");
  c->add_option("--init-seed", o.init_seed, "seed of the initialisation without --weights")->capture_default_str();
  AddChoice(c, "--device", o.device, "auto | cpu | cuda");
  AddChoice(c, "--precision", o.precision, "fp32 | bf16 | fp16 (autocast)");
}

// Training options of finetune; `run` prefixes them with "finetune-" (its --model, --weights,
// --device, --precision are extract's, shared with finetune).
inline void BindFinetune(CLI::App* c, finetune::FinetuneOptions& o, const std::string& pre) {
  c->add_option("--" + pre + "train", o.train, "what trains: head | last-block | all")->capture_default_str();
  c->add_option("--" + pre + "epochs", o.epochs, "most epochs (early stopping may end sooner)")->capture_default_str();
  c->add_option("--" + pre + "batch-size", o.batch_size, "photos per training step")->capture_default_str();
  c->add_option("--" + pre + "lr", o.lr, "Adam learning rate of the new head")->capture_default_str();
  c->add_option("--" + pre + "backbone-lr-scale", o.backbone_lr_scale, "trained backbone layers' rate = lr x this")
      ->capture_default_str();
  c->add_option("--" + pre + "weight-decay", o.weight_decay, "Adam weight decay")->capture_default_str();
  c->add_option("--" + pre + "seed", o.seed, "split, head init, order, augmentation")->capture_default_str();
  c->add_option("--" + pre + "dev-fraction", o.dev_fraction, "items per class for early stopping")
      ->capture_default_str();
  c->add_option("--" + pre + "test-fraction", o.test_fraction, "items per class held out for testing")
      ->capture_default_str();
  c->add_option("--" + pre + "patience", o.patience, "epochs without a better dev accuracy before stopping")
      ->capture_default_str();
  c->add_option("--" + pre + "augment", o.augment, "mirror (and crop/jitter with --train all)")->capture_default_str();
  c->add_option("--" + pre + "cache-limit-mb", o.cache_limit_mb, "most memory for cached frozen-layer output")
      ->capture_default_str();
}

}  // namespace visrec::cli
