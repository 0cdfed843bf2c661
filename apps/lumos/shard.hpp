// `lumos explain --shard K/N`: the deterministic share of a run's images that one of N jobs
// takes (a Slurm array task, a Kubernetes indexed job's pod).
#pragma once

#include <cstdint>
#include <string>

namespace lumos::cli {

struct Shard {
  int64_t index = 0;  // K, 0-based: Slurm's SLURM_ARRAY_TASK_ID of --array=0-(N-1), Kubernetes' JOB_COMPLETION_INDEX
  int64_t count = 1;  // N

  // "K/N" with 0 <= K < N; throws UsageError naming --shard otherwise.
  static Shard parse(const std::string& text);

  // Whether this shard explains the image at `path` (as lumos lists it: a file as given to -i, or
  // folder/name for a folder's files). The share depends on the path alone — a 64-bit hash of its
  // bytes (FNV-1a, finalised by fmix64), modulo N — so it does not change with the order or the number of the other images.
  bool holds(const std::string& path) const;
  // The shard's run record, beside the others' when shards share an output folder:
  // run.shard-K-of-N.json.
  std::string record_name() const;
};

}  // namespace lumos::cli
