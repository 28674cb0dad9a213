#include "generate.h"

#include <algorithm>
#include <limits>

namespace folio {

namespace {

bool isCancelled(const std::atomic<bool>* cancel) { return cancel && cancel->load(); }

// Greedy choice after the n-gram guard's bans.
std::int64_t pickToken(const torch::Tensor& logits, const std::vector<std::int64_t>& generated,
                       const GenerateOptions& options) {
  const auto banned =
      noRepeatNgramBans(generated, options.ngram_size, options.ngram_window, options.ngram_whitelist);
  if (banned.empty()) return logits.argmax().item<std::int64_t>();
  const auto banned_ids = torch::tensor(banned, torch::TensorOptions().dtype(torch::kInt64)).to(logits.device());
  return logits.index_fill(0, banned_ids, -std::numeric_limits<float>::infinity()).argmax().item<std::int64_t>();
}

}  // namespace

std::vector<std::int64_t> noRepeatNgramBans(const std::vector<std::int64_t>& generated, int ngram_size, int window,
                                            const std::vector<std::int64_t>& whitelist) {
  const auto length = static_cast<std::int64_t>(generated.size());
  if (ngram_size <= 0 || length < ngram_size) return {};
  const std::int64_t prefix_size = ngram_size - 1;
  const auto prefix_begin = generated.end() - prefix_size;
  // n-grams starting at i in [search_begin, length - ngram_size], i.e. wholly inside the window and complete.
  const std::int64_t search_begin = window > 0 ? std::max<std::int64_t>(0, length - window) : 0;
  std::vector<std::int64_t> banned;
  for (std::int64_t i = search_begin; i + ngram_size <= length; ++i) {
    const auto ngram = generated.begin() + i;
    if (std::equal(ngram, ngram + prefix_size, prefix_begin)) banned.push_back(ngram[prefix_size]);
  }
  std::sort(banned.begin(), banned.end());
  banned.erase(std::unique(banned.begin(), banned.end()), banned.end());
  std::erase_if(banned, [&](std::int64_t id) {
    return std::find(whitelist.begin(), whitelist.end(), id) != whitelist.end();
  });
  return banned;
}

GenerateResult generate(const Decoder& decoder, KvCache& cache, const torch::Tensor& prompt_embeds,
                        const GenerateOptions& options, const std::function<bool(std::int64_t)>& on_token,
                        const std::atomic<bool>* cancel) {
  c10::InferenceMode inference_mode;
  GenerateResult result;
  if (isCancelled(cancel)) {
    result.cancelled = true;
    return result;
  }
  auto logits = decoder.forward(prompt_embeds, cache);
  result.prompt_logits = logits;
  // Feeding a token back needs one more position in the cache and in the RoPE range.
  const int position_limit = std::min(cache.capacity(), decoder.config().max_position_embeddings);
  if (options.max_new_tokens <= 0) {
    result.hit_token_limit = true;
    return result;
  }
  while (true) {
    const std::int64_t token = pickToken(logits, result.ids, options);
    result.ids.push_back(token);
    const bool go_on = !on_token || on_token(token);
    if (token == options.eos_id && !options.ignore_eos) break;
    if (!go_on) break;
    if (static_cast<int>(result.ids.size()) >= options.max_new_tokens || cache.length() >= position_limit) {
      result.hit_token_limit = true;
      break;
    }
    if (isCancelled(cancel)) {
      result.cancelled = true;
      break;
    }
    logits = options.decode_step
                 ? options.decode_step(token)
                 : decoder.forward(decoder.embed(torch::tensor({token}, torch::TensorOptions().dtype(torch::kInt64))),
                                   cache);
  }
  return result;
}

}  // namespace folio
