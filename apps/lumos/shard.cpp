#include "shard.hpp"

#include "cli.hpp"

namespace lumos::cli {
namespace {

// FNV-1a, 64-bit (http://www.isthe.com/chongo/tech/comp/fnv/), then MurmurHash3's fmix64: both
// fixed by their definitions, unlike std::hash, so every machine of a cluster computes the same
// share. The finaliser matters: FNV-1a's low bits depend only on the low bits of each byte, so
// alone it puts a.jpg, e.jpg, i.jpg … into one of 4 shards.
uint64_t path_hash(const std::string& bytes) {
  uint64_t hash = 14695981039346656037ull;
  for (const unsigned char c : bytes) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  hash ^= hash >> 33;
  hash *= 0xff51afd7ed558ccdull;
  hash ^= hash >> 33;
  hash *= 0xc4ceb9fe1a85ec53ull;
  hash ^= hash >> 33;
  return hash;
}

bool whole_number(const std::string& text, int64_t& value) {
  if (text.empty() || text.size() > 9 || text.find_first_not_of("0123456789") != std::string::npos) return false;
  value = std::stoll(text);
  return true;
}

}  // namespace

Shard Shard::parse(const std::string& text) {
  const size_t slash = text.find('/');
  Shard shard;
  if (slash == std::string::npos || !whole_number(text.substr(0, slash), shard.index) ||
      !whole_number(text.substr(slash + 1), shard.count) || shard.count < 1 || shard.index >= shard.count) {
    throw UsageError("--shard '" + text + "' — give K/N with 0 <= K < N, e.g. 0/4 for the first of four shares");
  }
  return shard;
}

bool Shard::holds(const std::string& path) const {
  return static_cast<int64_t>(path_hash(path) % static_cast<uint64_t>(count)) == index;
}

std::string Shard::record_name() const {
  return "run.shard-" + std::to_string(index) + "-of-" + std::to_string(count) + ".json";
}

}  // namespace lumos::cli
