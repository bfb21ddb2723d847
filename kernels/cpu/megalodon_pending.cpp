// Temporary: the megalodon block is built on the `megalodon` branch; this file is deleted when it is merged.
#include <stdexcept>

#include "kernels/cpu/cpu_layer.h"

namespace tickrt::cpu {
std::unique_ptr<Layer> make_megalodon_layer(const ModelConfig&, const Weights&, int, int) {
  throw std::runtime_error("megalodon layer not built yet");
}
}  // namespace tickrt::cpu
