#include "lumos/runtime.hpp"

#if defined(__GLIBC__)
#include <malloc.h>

#include <climits>
#endif

namespace lumos {

void keep_freed_memory() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_MAX, 0);               // large blocks come from the heap, so they can be reused
  mallopt(M_TRIM_THRESHOLD, INT_MAX);   // and the heap's free top is not returned after each op
#endif
}

}  // namespace lumos
