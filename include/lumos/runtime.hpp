// Process-wide settings and facts that bear on lumos's speed.
#pragma once

namespace lumos {

// Makes the C allocator keep freed memory for reuse instead of handing it back to the
// system. A CNN's activations are large buffers; glibc maps each one fresh and unmaps it
// when freed, so every forward pass page-faults through all of them again. On the
// benchmark machine that tripled mobilenet_v2's forward time at batch 32.
// The price: the process keeps its peak memory until it exits. Process-wide, so a
// program calls it once at start-up (the lumos CLI does); it does nothing off glibc.
void keep_freed_memory();

// Whether the CPU computes in bfloat16 natively (AMX-BF16 or AVX512-BF16, read from
// /proc/cpuinfo). Without it the opt-in bf16 modes convert in software and run slower
// than float32; the CLI warns then.
bool cpu_has_native_bf16();

}  // namespace lumos
