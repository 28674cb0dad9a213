// The model stages the reference goldens record, and how Folio's values are compared with them
// (shared/reference/README.md): used by folio-cli dump/parity and the parity tests.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "model.h"

namespace folio {

// Runs one preprocessed page through the model and records the golden stages: global.sam, global.clip,
// tiles.sam / tiles.clip (first tile, with tiles), image_features, input_ids, prompt_logits, greedy_ids
// (`steps` greedy tokens with the KV cache, eos ignored, no n-gram guard) and greedy_top2_margin.
StageTensors runGoldenStages(OcrModel& model, const PreprocessedPage& page, const std::string& prompt, int steps);

// The decoder stages alone (prompt_logits, greedy_ids) for given prompt ids and image features, e.g. the
// golden features, to tell the decoder's share of an error from the vision encoder's.
StageTensors runGoldenDecoder(OcrModel& model, const torch::Tensor& ids, const torch::Tensor& image_features,
                              int steps);

struct StageError {
  std::string stage;
  double max_abs_error = 0;
  double golden_max_abs = 0;
  double relative() const { return golden_max_abs > 0 ? max_abs_error / golden_max_abs : max_abs_error; }
};
// Max abs error of ours against golden (both converted to float64 on the CPU); throws on a shape mismatch.
StageError compareStage(const std::string& stage, const torch::Tensor& ours, const torch::Tensor& golden);

double cosineSimilarity(const torch::Tensor& a, const torch::Tensor& b);

struct GreedyComparison {
  int comparable_steps = 0;  // steps before the first golden top-2 margin under the threshold
  int matching_steps = 0;    // identical ids from the start
  bool ok() const { return matching_steps >= comparable_steps; }
};
// Greedy ids agree up to the first step whose golden top-2 margin is below margin_threshold (a near-tie that
// float summation order may flip); the comparison stops there. Ids missing at the end (ours shorter) fail.
GreedyComparison compareGreedy(const torch::Tensor& ours, const torch::Tensor& golden_ids,
                               const torch::Tensor& golden_margins, double margin_threshold);

// The top-2 margin of the model's logits at each step of `ids` when it is fed them after the prompt (teacher
// forcing, eager decoder): [ids.size()] float32; step i is the choice of ids[i].
torch::Tensor teacherForcedMargins(const OcrModel& model, const torch::Tensor& prompt_embeds,
                                   const std::vector<std::int64_t>& ids);

// A model against a reference model (e.g. 8-bit against bf16) on one prompt, both given the same prompt ids and
// image features: the cosine of their prompt logits, and their `steps` greedy ids compared by the reference's
// own margins (compareGreedy with margin_threshold).
struct ModelAgreement {
  double prompt_logit_cosine = 0;
  GreedyComparison greedy;
};
ModelAgreement compareModels(OcrModel& model, OcrModel& reference, const torch::Tensor& ids,
                             const torch::Tensor& image_features, int steps, double margin_threshold);

}  // namespace folio
