// The command table both binaries are made of: each subcommand binds its flags into its own
// options struct and runs the library call; RunCommandLine builds the CLI from a table, parses,
// and maps exceptions to the documented exit codes. `visrec` (commands.cc) and the GPU-node
// `visrec-gpu` (gpu_main.cc) differ only in their tables; the commands they share live here.
#pragma once
#include <CLI/CLI.hpp>

#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "bindings.h"
#include "visrec/util/allocator.h"
#include "visrec/util/log.h"

namespace visrec::cli {

class Command {
 public:
  virtual ~Command() = default;
  // Adds the command's flags to its subcommand; values land in the command's own members.
  virtual void Bind(CLI::App* c) = 0;
  // Runs once the command line parsed, logging set up; returns the exit code (errors are thrown).
  virtual int Run() = 0;
};

struct CommandSpec {
  const char* name;
  const char* help;
  std::function<std::unique_ptr<Command>()> make;
};

// `visrec`'s table (commands.cc).
std::vector<CommandSpec> VisrecCommands();

template <class C>
CommandSpec Entry(const char* name, const char* help) {
  return {name, help, [] { return std::unique_ptr<Command>(new C()); }};
}

inline int RunCommandLine(const std::string& description, const std::vector<CommandSpec>& table, int argc,
                          char** argv) {
  TuneAllocatorForBatchWork();  // before any large allocation
  CLI::App app{description};
  app.require_subcommand(1);
  app.fallthrough();  // -v, -q, --log-json, --config also work after the subcommand
  // Config file (TOML/INI): a command's options under its [section], global ones at the top. Each
  // command has its own options, so one command's section never sets another's.
  app.set_config("--config", "", "TOML/INI file holding the same options, under a [section] per command (e.g. [run])");
  GlobalFlags global;
  BindGlobal(app, global);
  std::vector<std::pair<CLI::App*, std::unique_ptr<Command>>> commands;
  for (const CommandSpec& spec : table) {
    CLI::App* sub = app.add_subcommand(spec.name, spec.help);
    commands.emplace_back(sub, spec.make());
    commands.back().second->Bind(sub);
  }
  RequireFiniteFloats(app);
  try {
    CheckConfigFile(app, argc, argv);
  } catch (const Error& e) {
    std::cerr << "error: " << e.what() << "\n";  // logging is not set up yet (its flags are not parsed)
    return int(e.code());
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : int(ExitCode::kUsage);
  }
  return WithExitCodes([&]() -> int {
    SetupLogging({global.quiet ? -1 : global.verbose, global.log_json});
    for (auto& [sub, command] : commands)
      if (*sub) return command->Run();
    return 0;
  });
}

// ---- commands of both binaries ----

class ExtractCommand : public Command {
 public:
  void Bind(CLI::App* c) override {
    shard_ = BindExtractInputs(c, options_, shard_text_);
    BindExtract(c, options_);
    BindRunContext(c, ctx_);
    c->add_option("--merge-shards", merge_shards_, "N: combine the extract artifacts of shards 0..N-1 into one")
        ->excludes(shard_);
  }
  int Run() override {
    if (shard_->count() > 0) ctx_.shard = ShardSpec::Parse(shard_text_);  // --shard "" is an error, not "unsharded"
    auto r = merge_shards_ ? extract::MergeShards(merge_shards_, ctx_) : extract::Run(options_, ctx_);
    std::cout << r.artifact.dir.string() << "\n";
    return 0;
  }

 private:
  extract::ExtractOptions options_;
  RunContext ctx_;
  std::string shard_text_;
  CLI::Option* shard_ = nullptr;
  int merge_shards_ = 0;
};

class FinetuneCommand : public Command {
 public:
  void Bind(CLI::App* c) override {
    BindFinetuneInputs(c, options_);
    BindFinetune(c, options_, "");
    BindRunContext(c, ctx_);
  }
  int Run() override {
    std::cout << finetune::Run(options_, ctx_).artifact.File("weights.pt").string() << "\n";
    return 0;
  }

 private:
  finetune::FinetuneOptions options_;
  RunContext ctx_;
};

class VerifyCommand : public Command {
 public:
  void Bind(CLI::App* c) override {
    c->add_option("paths", paths_, "artifact paths (artifact, stage dir, or a whole workdir)")->required();
    c->add_flag("--all", all_, "with a workdir: every version of every stage, not only each latest");
  }
  int Run() override { return RunVerify(paths_, all_); }

 private:
  std::vector<std::string> paths_;
  bool all_ = false;
};

}  // namespace visrec::cli
