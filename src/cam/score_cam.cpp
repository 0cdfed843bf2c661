// Score-CAM (Wang et al. 2020): each channel, upsampled and min-max scaled to [0, 1], masks
// the image; channel weight = softmax over channels of the target's score on the masked
// image. Masks are made a batch at a time, so memory stays at one batch of inputs.
// Channels whose masks are identical (dead ReLU channels are all zero, a constant map and
// duplicate channels give one mask) are scored once and the score shared: the same numbers
// as scoring each, without the forward passes.
#include "cam/cam_method.hpp"

#include "model/bf16_autocast.hpp"

#include <ATen/ATen.h>

#include <string_view>
#include <unordered_map>

namespace lumos::cam {
namespace {

// Channel k of one image's activations [1, C, h, w] as a mask [H, W]: bilinear upsampling
// with aligned corners (torch.nn.UpsamplingBilinear2d), then min-max scaled. Made alone, not
// among other channels: ATen's vectorised loops may round a channel differently by where it
// lies in the tensor, and a mask must be the same bits wherever it is made.
at::Tensor channel_mask(const at::Tensor& activations, int64_t k, int64_t height, int64_t width) {
  const auto up = at::upsample_bilinear2d(activations.slice(1, k, k + 1), {height, width}, /*align_corners=*/true)[0][0];
  return ((up - up.min()) / (up.max() - up.min() + 1e-8)).contiguous();
}

// Which channels of one image [1, C, h, w] have a mask of their own: `distinct` lists the
// first channel of each group of identical masks, `group` [C] says for every channel which
// entry of `distinct` its mask equals. Masks are hashed by their bytes; a match is confirmed
// by comparing the masks.
struct MaskGroups {
  std::vector<int64_t> distinct;
  at::Tensor group;
};

MaskGroups group_identical_masks(const at::Tensor& activations, int64_t height, int64_t width) {
  const int64_t channels = activations.size(1);
  MaskGroups groups;
  std::vector<int64_t> group(channels);
  std::unordered_multimap<size_t, int64_t> by_hash;  // hash of a mask -> its index in `distinct`
  for (int64_t k = 0; k < channels; ++k) {
    const auto mask = channel_mask(activations, k, height, width);
    const std::string_view bytes(static_cast<const char*>(mask.data_ptr()), mask.nbytes());
    const size_t hash = std::hash<std::string_view>{}(bytes);
    int64_t found = -1;
    for (auto [it, last] = by_hash.equal_range(hash); it != last && found < 0; ++it) {
      if (at::equal(channel_mask(activations, groups.distinct[it->second], height, width), mask)) found = it->second;
    }
    if (found < 0) {
      found = static_cast<int64_t>(groups.distinct.size());
      groups.distinct.push_back(k);
      by_hash.emplace(hash, found);
    }
    group[k] = found;
  }
  groups.group = at::tensor(group, at::kLong);
  return groups;
}

}  // namespace

CamFormula score_cam() {
  return {[](const LayerContext& c) {
    const bool nhwc = c.model.input().layout == Layout::NHWC;
    const int64_t height = c.batch.size(nhwc ? 1 : 2);
    const int64_t width = c.batch.size(nhwc ? 2 : 3);
    const int64_t n = c.activations.size(0);
    std::vector<at::Tensor> scores;
    for (int64_t i = 0; i < n; ++i) {
      const auto image = image_of(c, i);
      const auto activations = c.activations.slice(0, i, i + 1);
      const auto groups = group_identical_masks(activations, height, width);
      const auto count = static_cast<int64_t>(groups.distinct.size());
      const auto distinct_scores = score_perturbations(c, i, count, [&](int64_t begin, int64_t end) {
        std::vector<at::Tensor> masks;
        for (int64_t d = begin; d < end; ++d) {
          masks.push_back(channel_mask(activations, groups.distinct[d], height, width));
        }
        const auto stacked = at::stack(masks);
        const auto masked = image * (nhwc ? stacked.unsqueeze(3) : stacked.unsqueeze(1));
        Bf16Autocast autocast(c.options.bf16);
        return c.model.scores(masked).to(at::kFloat);
      });
      scores.push_back(distinct_scores.index_select(0, groups.group));
    }
    return channel_weighted(at::softmax(at::stack(scores), 1), c.activations);
  }, /*always_project=*/false, /*derivatives=*/0};
}

}  // namespace lumos::cam
