// Image decoding on arbitrary bytes: format detection, the header checks (size limit,
// truncation, bombs) and OpenCV's decoders behind them. An ImageError is a clean
// refusal; a crash, a sanitizer report, another exception or a hang is a finding.
// A crash inside a decoder happens while stderr is captured: rerun the input with
// LUMOS_KEEP_STDERR=1 to see the sanitizer's report.
#include "lumos/error.hpp"
#include "lumos/image.hpp"

#include <opencv2/core/utils/logger.hpp>

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto image = lumos::Image::decode(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz");
    if (image.pixels().type() != CV_8UC3) __builtin_trap();
  } catch (const lumos::ImageError&) {
  } catch (const std::bad_alloc&) {
  }
  return 0;
}
