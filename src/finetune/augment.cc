#include "visrec/finetune/finetune.h"

namespace visrec::finetune {
namespace {

uint64_t Next(uint64_t& state) {  // splitmix64, as the stage's batch order
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
double Unit(uint64_t& state) { return double(Next(state) >> 11) / 9007199254740992.0; }  // [0, 1)

}  // namespace

AugmentDraw DrawAugmentation(uint64_t& state) {
  AugmentDraw a;
  a.flip = (Next(state) & 1) != 0;
  a.crop_fraction = 0.85 + 0.15 * Unit(state);
  a.offset_y = Unit(state);
  a.offset_x = Unit(state);
  a.contrast = 0.9 + 0.2 * Unit(state);
  a.brightness = 0.2 * Unit(state) - 0.1;
  return a;
}

}  // namespace visrec::finetune
