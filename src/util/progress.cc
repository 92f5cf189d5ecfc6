#include "visrec/util/progress.h"

#include <unistd.h>

#include <cstdio>

#include <spdlog/spdlog.h>

#include "visrec/util/numfmt.h"

namespace visrec {
namespace {

std::string Eta(double seconds) {
  if (seconds < 0 || seconds > 1e7) return "?";
  int s = int(seconds + 0.5);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60);
  return buf;
}

}  // namespace

Progress::Progress(std::string label, int64_t total, std::string unit)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total) {
  start_ = last_ = std::chrono::steady_clock::now();
  // A live line only on an interactive terminal that is not silenced.
  tty_ = ::isatty(STDERR_FILENO) && spdlog::default_logger()->level() <= spdlog::level::info;
}

Progress::~Progress() { Done(); }

double Progress::Rate() const {
  double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  return el > 0 ? double(done_.load()) / el : 0.0;
}

void Progress::Add(int64_t n) {
  done_ += n;
  auto now = std::chrono::steady_clock::now();
  double since = std::chrono::duration<double>(now - last_).count();
  if (since < (tty_ ? 0.25 : 10.0)) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (std::chrono::duration<double>(now - last_).count() < (tty_ ? 0.25 : 10.0)) return;
  last_ = now;
  Report(false);
}

void Progress::Done() {
  std::lock_guard<std::mutex> lock(mu_);
  if (finished_) return;
  finished_ = true;
  if (tty_) std::fprintf(stderr, "\r\033[K");
}

void Progress::Report(bool) {
  int64_t d = done_.load();
  double rate = Rate();
  double eta = rate > 0 ? double(total_ - d) / rate : -1;
  std::string line = label_ + ": " + std::to_string(d) + "/" + std::to_string(total_) + " " + unit_ + ", " +
                     FormatFixed(rate, 1) + " " + unit_ + "/s, ETA " + Eta(eta);
  if (tty_) {
    std::fprintf(stderr, "\r\033[K%s", line.c_str());
    std::fflush(stderr);
  } else {
    spdlog::info("{}", line);
  }
}

}  // namespace visrec
