#include "parity.h"

#include <folio/engine.h>

#include "kv_cache.h"

namespace folio {

namespace {

void moveToCpuFloat32(StageTensors& stages) {
  for (auto& [name, t] : stages) {
    t = t.detach().to(torch::kCPU).contiguous();
    if (t.is_floating_point()) t = t.to(torch::kFloat32);
  }
}

}  // namespace

StageTensors runGoldenDecoder(OcrModel& model, const torch::Tensor& ids, const torch::Tensor& image_features,
                              int steps) {
  torch::InferenceMode guard;
  GenerateOptions options;
  options.max_new_tokens = steps;
  options.ignore_eos = true;
  auto generation = model.generate(model.promptEmbeddings(ids, image_features), options);
  StageTensors stages{{"prompt_logits", generation.prompt_logits},
                      {"greedy_ids", torch::tensor(generation.ids, torch::kInt64)}};
  moveToCpuFloat32(stages);
  return stages;
}

StageTensors runGoldenStages(OcrModel& model, const PreprocessedPage& page, const std::string& prompt,
                             int steps) {
  torch::InferenceMode guard;
  StageTensors stages;
  auto features = model.encodeImage(page, &stages);
  auto ids = model.promptIds(prompt, page.n_image_tokens);
  stages.merge(runGoldenDecoder(model, ids, features, steps));
  stages["image_features"] = features;
  stages["input_ids"] = ids;
  moveToCpuFloat32(stages);
  return stages;
}

StageError compareStage(const std::string& stage, const torch::Tensor& ours, const torch::Tensor& golden) {
  if (ours.sizes() != golden.sizes()) {
    std::ostringstream msg;
    msg << stage << ": shape " << ours.sizes() << " differs from the golden " << golden.sizes();
    throw Error(msg.str());
  }
  auto a = ours.to(torch::kCPU, torch::kFloat64);
  auto b = golden.to(torch::kCPU, torch::kFloat64);
  StageError error;
  error.stage = stage;
  error.max_abs_error = (a - b).abs().max().item<double>();
  error.golden_max_abs = b.abs().max().item<double>();
  return error;
}

double cosineSimilarity(const torch::Tensor& a, const torch::Tensor& b) {
  auto x = a.to(torch::kCPU, torch::kFloat64).flatten();
  auto y = b.to(torch::kCPU, torch::kFloat64).flatten();
  return (x.dot(y) / (x.norm() * y.norm())).item<double>();
}

GreedyComparison compareGreedy(const torch::Tensor& ours, const torch::Tensor& golden_ids,
                               const torch::Tensor& golden_margins, double margin_threshold) {
  GreedyComparison result;
  // Comparable steps run over the golden's length: an output that stops early fails instead of being cut to fit.
  const auto golden_steps = std::min(golden_ids.numel(), golden_margins.numel());
  auto margins = golden_margins.to(torch::kFloat64);
  while (result.comparable_steps < golden_steps &&
         margins[result.comparable_steps].item<double>() >= margin_threshold)
    ++result.comparable_steps;
  const auto n = std::min(ours.numel(), golden_ids.numel());
  while (result.matching_steps < n &&
         ours[result.matching_steps].item<std::int64_t>() == golden_ids[result.matching_steps].item<std::int64_t>())
    ++result.matching_steps;
  return result;
}

torch::Tensor teacherForcedMargins(const OcrModel& model, const torch::Tensor& prompt_embeds,
                                   const std::vector<std::int64_t>& ids) {
  torch::InferenceMode guard;
  const auto& decoder = model.decoder();
  KvCache cache(decoder.config(), static_cast<int>(prompt_embeds.size(0) + ids.size()), model.device(), model.dtype());
  auto logits = decoder.forward(prompt_embeds, cache);
  std::vector<float> margins;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const auto top2 = std::get<0>(logits.topk(2)).to(torch::kCPU);
    margins.push_back((top2[0] - top2[1]).item<float>());
    if (i + 1 == ids.size()) break;
    const auto next = torch::tensor({ids[i]}, torch::kInt64);
    logits = decoder.forward(decoder.embed(next).to(torch::kFloat32), cache);
  }
  return torch::tensor(margins);
}

ModelAgreement compareModels(OcrModel& model, OcrModel& reference, const torch::Tensor& ids,
                             const torch::Tensor& image_features, int steps, double margin_threshold) {
  const auto ours = runGoldenDecoder(model, ids, image_features, steps);
  const auto theirs = runGoldenDecoder(reference, ids, image_features, steps);
  const auto& reference_ids = theirs.at("greedy_ids");
  const std::vector<std::int64_t> id_list(reference_ids.data_ptr<std::int64_t>(),
                                          reference_ids.data_ptr<std::int64_t>() + reference_ids.numel());
  torch::InferenceMode guard;
  const auto margins = teacherForcedMargins(reference, reference.promptEmbeddings(ids, image_features), id_list);
  return {cosineSimilarity(ours.at("prompt_logits"), theirs.at("prompt_logits")),
          compareGreedy(ours.at("greedy_ids"), reference_ids, margins, margin_threshold)};
}

}  // namespace folio
