// Errors are exceptions carrying a message a user can act on and the exit code `main` returns.
#pragma once
#include <stdexcept>
#include <string>

namespace visrec {

// Documented in README ("Exit codes"). Keep the numbers stable: scripts depend on them.
enum class ExitCode : int {
  kOk = 0,
  kInternal = 1,         // a bug: unexpected exception
  kUsage = 2,            // bad flags, bad option values, bad config file
  kInput = 3,            // bad input data: unreadable/malformed CSV, missing file
  kArtifact = 4,         // missing, corrupt or incompatible artifact; `verify` mismatch
  kNotImplemented = 5,   // a feature this build does not have yet
  kDevice = 6,           // requested device (e.g. CUDA) not available
  kTooManyFailures = 7,  // per-item failures above --max-failed-fraction
  kRegression = 8,       // `evaluate --baseline` found a metric below tolerance
  kIo = 9,               // writing failed (disk full, permissions)
  kTraining = 10,        // `finetune` diverged (NaN/Inf loss); no weights were kept
  kNetwork = 11,         // a download failed (network, HTTP status, size or hash); nothing was stored
};

class Error : public std::runtime_error {
 public:
  Error(ExitCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ExitCode code() const { return code_; }

 private:
  ExitCode code_;
};

struct UsageError : Error {
  explicit UsageError(const std::string& m) : Error(ExitCode::kUsage, m) {}
};
struct InputError : Error {
  explicit InputError(const std::string& m) : Error(ExitCode::kInput, m) {}
};
struct ArtifactError : Error {
  explicit ArtifactError(const std::string& m) : Error(ExitCode::kArtifact, m) {}
};
struct NotImplementedError : Error {
  explicit NotImplementedError(const std::string& m) : Error(ExitCode::kNotImplemented, m) {}
};
struct DeviceError : Error {
  explicit DeviceError(const std::string& m) : Error(ExitCode::kDevice, m) {}
};
struct TooManyFailuresError : Error {
  explicit TooManyFailuresError(const std::string& m) : Error(ExitCode::kTooManyFailures, m) {}
};
struct RegressionError : Error {
  explicit RegressionError(const std::string& m) : Error(ExitCode::kRegression, m) {}
};
struct IoError : Error {
  explicit IoError(const std::string& m) : Error(ExitCode::kIo, m) {}
};

struct TrainingError : Error {
  explicit TrainingError(const std::string& m) : Error(ExitCode::kTraining, m) {}
};
struct NetworkError : Error {
  explicit NetworkError(const std::string& m) : Error(ExitCode::kNetwork, m) {}
};

// "errno text" for the last failed system call, for messages.
std::string ErrnoText();

}  // namespace visrec
