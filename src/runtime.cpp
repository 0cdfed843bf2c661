#include "lumos/runtime.hpp"

#include <fstream>
#include <sstream>
#include <string>

#if defined(__GLIBC__)
#include <malloc.h>

#include <climits>
#endif

namespace lumos {

void keep_freed_memory() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_MAX, 0);              // large blocks come from the heap, so they can be reused
  mallopt(M_TRIM_THRESHOLD, INT_MAX);  // and the heap's free top is not returned after each op
#endif
}

bool cpu_has_native_bf16() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream flags(line.substr(line.find(':') + 1));
    for (std::string flag; flags >> flag;) {
      if (flag == "amx_bf16" || flag == "avx512_bf16") return true;
    }
    return false;  // every core lists the same flags
  }
  return false;
}

}  // namespace lumos
