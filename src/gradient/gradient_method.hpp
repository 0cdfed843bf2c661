// What the gradient base hands each method, and what a method gives back. The base
// (gradient_base.cpp) resolves targets, runs the noise tunnel and makes the maps; each
// method's file holds its formula.
#pragma once

#include "lumos/gradient.hpp"
#include "model/relu_rule.hpp"

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <functional>
#include <string>
#include <vector>

namespace lumos::gradient {

// Inputs sent through the model so far for the running method (for progress reports).
struct PassCounter {
  int64_t done = 0;
  int64_t total = 0;
};

struct GradientContext {
  Model& model;
  const GradientOptions& options;
  const std::string& method;  // its name, for progress and messages
  int64_t image;              // the image a noise tunnel works on; -1 when the whole batch runs
  PassCounter& passes;
};

// A method's attributions of `inputs` [M, ...] (laid out as the model takes them).
struct Attributed {
  at::Tensor values;             // [M, ...] like the inputs
  at::Tensor deltas;             // [M] float64 convergence deltas, or undefined
  std::vector<int64_t> classes;  // the class explained for each input
  at::Tensor scores;             // [M] its score on the input
};

struct GradientFormula {
  // inputs [M, ...], baselines [M, ...], targets: one per input or one for all (resolved on
  // each input's own scores).
  std::function<Attributed(const GradientContext&, const at::Tensor& inputs, const at::Tensor& baselines,
                           const std::vector<Target>& targets)>
      attribute;
  int64_t passes_per_input = 1;  // forward + backward passes per input (Integrated Gradients: its steps)
  // False when the inputs' own scores cannot pick the class (Integrated Gradients' scaled inputs):
  // the base then resolves the targets on the images first.
  bool resolves_targets = true;
};

// The formulas, one per file.
GradientFormula saliency();
GradientFormula gradient_x_input();
GradientFormula integrated_gradients(const GradientOptions& options);
GradientFormula guided_backprop();
GradientFormula deconvolution();
GradientFormula guided_grad_cam();

// captum's NoiseTunnel around `formula` for one image [1, ...] with its baseline [1, ...]:
// the formula on options.samples copies plus N(0, stdev²) noise drawn from `generator`, then the
// mean, mean of squares or variance. Deltas: the sample's delta largest in magnitude.
Attributed noise_tunnel(const GradientContext& c, NoiseTunnel tunnel, const GradientFormula& formula,
                        const at::Tensor& image, const at::Tensor& baseline, int64_t target, double stdev,
                        at::Generator& generator);

// ---- Shared helpers (gradient_base.cpp) ----

// Sends `count` inputs through a forward and a backward pass, options.batch_size at a time,
// under `rule`: make(begin, end) builds inputs begin..end-1, targets_of(begin, end) their
// targets, and consume(begin, end, batch) receives the gradient of each input's target score
// with respect to the input. Asks options.cancel before and reports progress after each batch.
struct GradientBatch {
  at::Tensor gradients;          // [end - begin, ...]
  at::Tensor scores;             // [end - begin] the targets' scores
  std::vector<int64_t> classes;  // the targets resolved on these inputs
};
void for_each_gradient_batch(const GradientContext& c, int64_t count,
                             const std::function<at::Tensor(int64_t begin, int64_t end)>& make,
                             const std::function<std::vector<Target>(int64_t begin, int64_t end)>& targets_of,
                             ReluRule rule, const std::function<void(int64_t begin, int64_t end, const GradientBatch&)>& consume);

// Throws CancelledError when options.cancel says so; call before each batch.
void check_cancelled(const GradientContext& c);
// Counts `inputs` more passes and reports progress.
void count_passes(const GradientContext& c, int64_t inputs);

// The gradients of `inputs` [M, ...] for their targets, with the resolved classes and scores.
Attributed input_gradients(const GradientContext& c, const at::Tensor& inputs, const std::vector<Target>& targets,
                           ReluRule rule = ReluRule::standard);

// The targets of inputs begin..end-1 out of a list with one target per input or one for all.
std::vector<Target> targets_between(const std::vector<Target>& targets, int64_t begin, int64_t end);

// Scores [M] of each input's class, without autograd, options.batch_size inputs per forward.
at::Tensor class_scores(const GradientContext& c, const at::Tensor& inputs, const std::vector<int64_t>& classes);

}  // namespace lumos::gradient
