// Random initialisation helpers beyond init_model() (declared in engine/model.h).
#pragma once
#include <cstdint>

#include "engine/model.h"

namespace tickrt {

// Adds N(0, stddev) noise to every weight (deterministic for a seed) and recomputes the hash. A fresh init
// has exact zeros and ones (norm offsets, biases, mega.beta, imaginary CEMA gammas) that hide bugs such as a
// forgotten bias; equivalence tests between backends perturb first so that every weight matters.
void perturb_weights(Model& model, uint64_t seed, float stddev);

}  // namespace tickrt
