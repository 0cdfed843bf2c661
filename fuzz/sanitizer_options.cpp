// Sanitizer defaults for every harness (environment variables still override them).
//  - A single allocation above 1 GiB fails (returns null) instead of aborting, as
//    malloc does when memory runs out: LibTorch then throws, and lumos must turn that
//    into an error, not a crash. libFuzzer's -rss_limit_mb catches slow growth.
//  - LibTorch's and OpenCV's thread pools and caches live until exit; they are not
//    leaks of an input (fuzz/lsan.supp).
extern "C" const char* __asan_default_options() {
  return "allocator_may_return_null=1:max_allocation_size_mb=1024:detect_leaks=1";
}

extern "C" const char* __lsan_default_options() {
  return "suppressions=" LUMOS_FUZZ_DIR "/lsan.supp:print_suppressions=0";
}

extern "C" const char* __ubsan_default_options() { return "print_stacktrace=1:halt_on_error=1"; }
