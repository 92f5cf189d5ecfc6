// Progress for long loops: a live line on a terminal, periodic log lines otherwise.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace visrec {

class Progress {
 public:
  Progress(std::string label, int64_t total, std::string unit = "items");
  ~Progress();
  void Add(int64_t n = 1);  // thread-safe
  void Done();
  double Rate() const;  // units per second so far

 private:
  void Report(bool final);
  std::string label_, unit_;
  int64_t total_;
  std::atomic<int64_t> done_{0};
  std::chrono::steady_clock::time_point start_, last_;
  std::mutex mu_;
  bool tty_ = false;
  bool finished_ = false;
};

}  // namespace visrec
