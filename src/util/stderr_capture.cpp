#include "util/stderr_capture.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace lumos {
namespace {

std::mutex& capture_lock() {
  static std::mutex lock;
  return lock;
}

}  // namespace

StderrCapture::StderrCapture() {
  capture_lock().lock();
  // For debugging a crash inside a decoder: the sanitizer's report would be captured too.
  if (std::getenv("LUMOS_KEEP_STDERR")) return;
  std::fflush(stderr);
  captured_ = ::memfd_create("lumos-stderr", MFD_CLOEXEC);
  saved_ = captured_ >= 0 ? ::dup(STDERR_FILENO) : -1;
  if (saved_ < 0 || ::dup2(captured_, STDERR_FILENO) < 0) {
    if (saved_ >= 0) ::close(saved_);
    if (captured_ >= 0) ::close(captured_);
    saved_ = captured_ = -1;
  }
}

StderrCapture::~StderrCapture() {
  if (captured_ >= 0) {
    std::fflush(stderr);
    ::dup2(saved_, STDERR_FILENO);
    ::close(saved_);
    ::close(captured_);
  }
  capture_lock().unlock();
}

std::string StderrCapture::text() const {
  if (captured_ < 0) return "";
  std::fflush(stderr);
  std::string text;
  char buffer[4096];
  for (off_t at = 0;;) {
    const auto n = ::pread(captured_, buffer, sizeof buffer, at);
    if (n <= 0) break;
    text.append(buffer, static_cast<size_t>(n));
    at += n;
  }
  return text;
}

}  // namespace lumos
