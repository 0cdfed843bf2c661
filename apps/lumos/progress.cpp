#include "progress.hpp"

#include "lumos/error.hpp"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>

namespace lumos::cli {
namespace {

std::atomic<bool> interrupt_flag{false};

void on_interrupt(int) { interrupt_flag = true; }

}  // namespace

ProgressBar::ProgressBar(std::string label, int64_t total)
    : label_(std::move(label)), total_(total), enabled_(isatty(fileno(stderr)) != 0) {}

ProgressBar::~ProgressBar() { finish(); }

void ProgressBar::update(int64_t done, const std::string& detail) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  // Redrawing more often than 10 times a second only costs time.
  if (drawn_ && done < total_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  constexpr int kWidth = 30;
  const int filled = total_ > 0 ? static_cast<int>(kWidth * done / total_) : kWidth;
  std::string bar(filled, '#');
  bar.resize(kWidth, '.');
  std::fprintf(stderr, "\r\033[K%s [%s] %lld/%lld %s", label_.c_str(), bar.c_str(), static_cast<long long>(done),
               static_cast<long long>(total_), detail.c_str());
  std::fflush(stderr);
  drawn_ = true;
}

void ProgressBar::finish() {
  if (!drawn_) return;
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
  drawn_ = false;
}

void catch_interrupts() { std::signal(SIGINT, on_interrupt); }

bool interrupted() { return interrupt_flag; }

void throw_if_interrupted() {
  if (interrupt_flag) throw CancelledError("interrupted (Ctrl-C); finished images are kept, nothing half-written was left");
}

}  // namespace lumos::cli
