// splitmix64: visrec's one fixed generator wherever a seed must mean the same draws on every
// platform and library version (splits, batch order, augmentation).
#pragma once
#include <cstdint>

namespace visrec {

inline uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// A double in [0, 1) from the top 53 bits of one draw.
inline double SplitMix64Unit(uint64_t& state) { return double(SplitMix64(state) >> 11) / 9007199254740992.0; }

}  // namespace visrec
