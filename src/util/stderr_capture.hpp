// Catching what libraries print on stderr (libpng, libjpeg and libtiff warn there,
// not to their caller), so lumos can put it into its own one-line message.
#pragma once

#include <string>

namespace lumos {

// While alive, whatever the process writes to file descriptor 2 goes into an in-memory
// file instead of the terminal. Captures are serialized by a process-wide lock, since
// file descriptor 2 is shared by all threads; text written by other threads meanwhile is
// captured too. If redirection is not possible, or the environment variable
// LUMOS_KEEP_STDERR is set (to see a sanitizer's report of a crash inside a decoder),
// nothing is captured and stderr is left alone.
class StderrCapture {
 public:
  StderrCapture();
  ~StderrCapture();
  StderrCapture(const StderrCapture&) = delete;
  StderrCapture& operator=(const StderrCapture&) = delete;

  // Everything written so far (stderr stays redirected until destruction).
  std::string text() const;

 private:
  int saved_ = -1;    // the original fd 2
  int captured_ = -1;  // the in-memory file fd 2 points to
};

}  // namespace lumos
