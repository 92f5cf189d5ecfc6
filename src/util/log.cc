#include "visrec/util/log.h"

#include <chrono>
#include <ctime>
#include <mutex>

#include <nlohmann/json.hpp>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "visrec/util/errors.h"

namespace visrec {
namespace {

// One JSON object per line: {"time","level","msg"}; the message is escaped by nlohmann::json.
class JsonLinesSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit JsonLinesSink(const std::string& path) {
    f_ = std::fopen(path.c_str(), "a");
    if (!f_) throw UsageError("--log-json: cannot open '" + path + "' for appending: " + ErrnoText());
  }
  ~JsonLinesSink() override {
    if (f_) std::fclose(f_);
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    auto t = std::chrono::system_clock::to_time_t(msg.time);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    nlohmann::json j{{"time", buf},
                     {"level", std::string(spdlog::level::to_string_view(msg.level).data(),
                                           spdlog::level::to_string_view(msg.level).size())},
                     {"msg", std::string(msg.payload.data(), msg.payload.size())}};
    std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    std::fwrite(line.data(), 1, line.size(), f_);
  }
  void flush_() override { std::fflush(f_); }

 private:
  std::FILE* f_ = nullptr;
};

}  // namespace

void SetupLogging(const LogOptions& o) {
  std::vector<spdlog::sink_ptr> sinks;
  auto console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  console->set_pattern("%^[%H:%M:%S %l]%$ %v");
  sinks.push_back(console);
  if (!o.json_path.empty()) sinks.push_back(std::make_shared<JsonLinesSink>(o.json_path));
  auto logger = std::make_shared<spdlog::logger>("visrec", sinks.begin(), sinks.end());
  spdlog::level::level_enum level = spdlog::level::info;
  if (o.verbosity < 0) level = spdlog::level::warn;
  if (o.verbosity == 1) level = spdlog::level::debug;
  if (o.verbosity >= 2) level = spdlog::level::trace;
  logger->set_level(level);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

}  // namespace visrec
