#include "visrec/finetune/finetune.h"
#include "visrec/util/random.h"

namespace visrec::finetune {

AugmentDraw DrawAugmentation(uint64_t& state) {
  AugmentDraw a;
  a.flip = (SplitMix64(state) & 1) != 0;
  a.crop_fraction = 0.85 + 0.15 * SplitMix64Unit(state);
  a.offset_y = SplitMix64Unit(state);
  a.offset_x = SplitMix64Unit(state);
  a.contrast = 0.9 + 0.2 * SplitMix64Unit(state);
  a.brightness = 0.2 * SplitMix64Unit(state) - 0.1;
  return a;
}

}  // namespace visrec::finetune
