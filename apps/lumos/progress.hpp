// Terminal progress for long runs, and Ctrl-C as a clean stop.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace lumos::cli {

// A one-line bar on stderr, redrawn in place; silent when stderr is not a terminal.
class ProgressBar {
 public:
  ProgressBar(std::string label, int64_t total);
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;
  ~ProgressBar();

  // `done` of `total` finished; `detail` describes the step under way (may be empty).
  void update(int64_t done, const std::string& detail);
  // Clears the line.
  void finish();

 private:
  std::string label_;
  int64_t total_;
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_draw_{};
};

// From now on SIGINT (Ctrl-C) only raises a flag that long loops poll.
void catch_interrupts();
bool interrupted();
// Throws lumos::CancelledError when Ctrl-C was pressed.
void throw_if_interrupted();

}  // namespace lumos::cli
