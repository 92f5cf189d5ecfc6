// Logging setup: spdlog console on stderr, optional JSON-lines file for nightly jobs.
#pragma once
#include <string>

namespace visrec {

struct LogOptions {
  int verbosity = 0;      // -1 quiet (warnings and errors), 0 info, 1 debug, 2 trace
  std::string json_path;  // when set, every record is also appended here as one JSON object per line
};

void SetupLogging(const LogOptions& options);

}  // namespace visrec
