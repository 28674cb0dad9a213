#include "generate.h"

#include <folio/engine.h>

#include <algorithm>
#include <limits>

#ifdef FOLIO_HAVE_CUDA
#include "argmax_rows.h"
#include "kernel_support.h"
#endif

namespace folio {

namespace {

// Each row's arg-max [rows] of logits [rows, V].
torch::Tensor argmaxOfRows(const torch::Tensor& logits) {
#ifdef FOLIO_HAVE_CUDA
  if (cuda::kernelsFor(logits) && logits.scalar_type() == torch::kFloat32 && logits.is_contiguous())
    return cuda::argmaxRows(logits);
#endif
  return logits.argmax(1);
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

namespace {

struct ActiveRow {
  const std::vector<std::int64_t>* generated = nullptr;  // null: an idle slot
  const GenerateOptions* options = nullptr;
};

// Greedy picks for every row of the step after each active row's n-gram bans, with one copy to the host: the
// step's own arg-max when no row's pick is banned (then it is also the arg-max over the allowed tokens), else
// the logits with the bans masked (in a copy: the step's logits may be a prompt's, returned to the caller).
std::vector<std::int64_t> pickTokens(const StepLogits& step, const std::vector<ActiveRow>& rows) {
  std::vector<std::int64_t> banned_rows, banned_ids;
  bool argmax_holds = !step.argmax.empty();
  for (std::size_t b = 0; b < rows.size(); ++b) {
    if (!rows[b].generated) continue;
    const auto& options = *rows[b].options;
    for (auto id : noRepeatNgramBans(*rows[b].generated, options.ngram_size, options.ngram_window,
                                     options.ngram_whitelist)) {
      banned_rows.push_back(static_cast<std::int64_t>(b));
      banned_ids.push_back(id);
      if (argmax_holds && step.argmax[b] == id) argmax_holds = false;
    }
  }
  if (argmax_holds) return step.argmax;
  auto logits = step.logits;
  if (!banned_rows.empty()) {
    const auto on_device = torch::TensorOptions().dtype(torch::kInt64).device(logits.device());
    logits = logits.index_put({torch::tensor(banned_rows).to(on_device), torch::tensor(banned_ids).to(on_device)},
                              torch::tensor(-std::numeric_limits<float>::infinity(), logits.options()));
  }
  const auto picks = argmaxOfRows(logits).to(torch::kCPU);
  return {picks.data_ptr<std::int64_t>(), picks.data_ptr<std::int64_t>() + picks.numel()};
}

// pickTokens for one sequence; step.logits [vocab].
std::int64_t pickToken(const StepLogits& step, const std::vector<std::int64_t>& generated,
                       const GenerateOptions& options) {
  return pickTokens(StepLogits{step.logits.view({1, -1}), step.argmax}, {ActiveRow{&generated, &options}}).front();
}

// After `token` joins result.ids: whether the sequence goes on, recording why it stops.
bool continuesAfter(std::int64_t token, GenerateResult& result, const GenerateOptions& options,
                    const std::function<bool(std::int64_t)>& on_token, const CancelFlags& cancel,
                    bool cache_full) {
  result.ids.push_back(token);
  const bool go_on = !on_token || on_token(token);
  if (token == options.eos_id && !options.ignore_eos) return false;
  if (!go_on) return false;
  if (static_cast<int>(result.ids.size()) >= options.max_new_tokens || cache_full) {
    result.hit_token_limit = true;
    return false;
  }
  if (cancel.set()) {
    result.cancelled = true;
    return false;
  }
  return true;
}

// Positions the cache can still take within its capacity and the RoPE range.
int positionsLeft(const Decoder& decoder, const KvCache& cache) {
  return std::min(cache.capacity(), decoder.config().max_position_embeddings) - cache.length();
}

// Feeding a token back needs one more position.
bool cacheFull(const Decoder& decoder, const KvCache& cache) { return positionsLeft(decoder, cache) <= 0; }

// Drops what a TokenStepper still has queued when decoding leaves, by return or by exception (an on_token that
// throws must not leave steps in flight for the next page).
class DropQueuedOnExit {
 public:
  explicit DropQueuedOnExit(TokenStepper& stepper) : stepper_(stepper) {}
  DropQueuedOnExit(const DropQueuedOnExit&) = delete;
  DropQueuedOnExit& operator=(const DropQueuedOnExit&) = delete;
  ~DropQueuedOnExit() {
    try {
      stepper_.dropQueued();
    } catch (...) {  // a device error: the stepper is empty anyway, and the next call reports the error
    }
  }

 private:
  TokenStepper& stepper_;
};

// Greedy decoding through a TokenStepper from the prompt's logits. While a step is in flight whose pick must be
// its arg-max (the n-gram guard bans nothing after result.ids) and the sequence can take another token after
// it, the step after it is queued on that arg-max before the host has read it; if the sequence then ends, that
// step is dropped.
void decodeQueued(TokenStepper& stepper, const Decoder& decoder, const StepLogits& prompt_step, GenerateResult& result,
                  const GenerateOptions& options, const std::function<bool(std::int64_t)>& on_token,
                  const CancelFlags& cancel) {
  const DropQueuedOnExit drop_queued(stepper);
  std::int64_t token = pickToken(prompt_step, result.ids, options);
  if (!continuesAfter(token, result, options, on_token, cancel, cacheFull(decoder, stepper.cache()))) return;
  stepper.queue(token);
  while (true) {
    // The step in flight feeds result.ids.back() at the cache's next position; one after it needs one more.
    const bool room_after = static_cast<int>(result.ids.size()) + 1 < options.max_new_tokens &&
                            positionsLeft(decoder, stepper.cache()) >= 2;
    const bool ahead = options.queue_ahead && room_after &&
                       noRepeatNgramBans(result.ids, options.ngram_size, options.ngram_window, options.ngram_whitelist)
                           .empty();
    if (ahead) stepper.queueOnArgmax();
    token = pickToken(stepper.next(), result.ids, options);
    if (!continuesAfter(token, result, options, on_token, cancel, cacheFull(decoder, stepper.cache()))) return;
    if (!ahead) stepper.queue(token);
  }
}

}  // namespace

GenerateResult generate(const Decoder& decoder, KvCache& cache, const torch::Tensor& prompt_embeds,
                        const GenerateOptions& options, const std::function<bool(std::int64_t)>& on_token,
                        CancelFlags cancel) {
  c10::InferenceMode inference_mode;
  if (options.stepper != nullptr && &options.stepper->cache() != &cache)
    throw Error("generate: the stepper decodes into another cache than the one the prompt is prefilled into");
  GenerateResult result;
  if (cancel.set()) {
    result.cancelled = true;
    return result;
  }
  StepLogits step{decoder.forward(prompt_embeds, cache), {}};
  result.prompt_logits = step.logits;
  if (options.max_new_tokens <= 0) {
    result.hit_token_limit = true;
    return result;
  }
  if (options.stepper != nullptr) {
    decodeQueued(*options.stepper, decoder, step, result, options, on_token, cancel);
    return result;
  }
  while (true) {
    const std::int64_t token = pickToken(step, result.ids, options);
    if (!continuesAfter(token, result, options, on_token, cancel, cacheFull(decoder, cache))) break;
    step = StepLogits{
        decoder.forward(decoder.embed(torch::tensor({token}, torch::TensorOptions().dtype(torch::kInt64))), cache), {}};
  }
  return result;
}

// Prompt positions prefilled together at most: on a GPU the prefill runs every expert on every row (see
// moe.h), so this bounds its activations (~0.5 GB at the full model's sizes) while sharing each weight read.
constexpr std::int64_t kGroupPrefillTokens = 1024;

std::vector<GenerateResult> generateBatch(const Decoder& decoder, BatchStepper& stepper,
                                          std::vector<GenerateRequest>& requests) {
  c10::InferenceMode inference_mode;
  std::vector<GenerateResult> results(requests.size());
  const int slots = stepper.batch();
  std::vector<int> request_of(slots, -1);
  std::vector<std::int64_t> tokens(slots, 0);
  std::vector<bool> active(slots, false);
  std::size_t next = 0;
  const auto ended = [&](std::size_t r) {
    if (requests[r].on_finished) requests[r].on_finished(results[r]);
  };

  // Request r, prefilled into slot b with these prompt logits, picks its first token; false when it ended at once.
  const auto begin = [&](int b, std::size_t r, torch::Tensor prompt_logits) {
    auto& request = requests[r];
    auto& result = results[r];
    result.prompt_logits = std::move(prompt_logits);
    if (request.options.max_new_tokens <= 0) {
      result.hit_token_limit = true;
      return false;
    }
    const auto token = pickToken(StepLogits{result.prompt_logits, {}}, {}, request.options);
    if (!continuesAfter(token, result, request.options, request.on_token, request.cancel,
                        cacheFull(decoder, stepper.slot(b))))
      return false;
    tokens[b] = token;
    return true;
  };
  // How many of the requests next.. go together into the free slots b..: prompts of one length, none cancelled.
  const auto groupSize = [&](int b) {
    const auto length = requests[next].prompt_embeds.size(0);
    int n = 1;
    while (b + n < slots && !active[b + n] && next + n < requests.size() && !requests[next + n].cancel.set() &&
           requests[next + n].prompt_embeds.size(0) == length && (n + 1) * length <= kGroupPrefillTokens)
      ++n;
    return n;
  };
  // Prefills requests next..next+n-1 into slots b..b+n-1 in one forward and starts them.
  const auto prefill = [&](int b, int n) {
    std::vector<torch::Tensor> prompt_logits;
    if (n == 1) {
      auto& cache = stepper.slot(b);
      cache.reset();
      prompt_logits.push_back(decoder.forward(requests[next].prompt_embeds, cache));
    } else {
      std::vector<torch::Tensor> prompts;
      for (int j = 0; j < n; ++j) prompts.push_back(requests[next + j].prompt_embeds);
      auto group = stepper.slotRange(b, n);
      const auto logits = decoder.forward(torch::stack(prompts), group);
      for (int j = 0; j < n; ++j) {
        stepper.slot(b + j).reset();
        stepper.slot(b + j).advance(group.length());
        prompt_logits.push_back(logits[j]);
      }
    }
    for (int j = 0; j < n; ++j) {
      const auto r = next++;
      if (begin(b + j, r, prompt_logits[j])) {
        request_of[b + j] = static_cast<int>(r);
        active[b + j] = true;
      } else {
        stepper.slot(b + j).reset();
        ended(r);
      }
    }
  };
  while (true) {
    for (int b = 0; b < slots; ++b) {
      while (!active[b] && next < requests.size()) {
        if (requests[next].cancel.set()) {
          results[next].cancelled = true;
          ended(next++);
        } else {
          prefill(b, groupSize(b));
        }
      }
    }
    if (std::none_of(active.begin(), active.end(), [](bool a) { return a; })) break;
    auto step = stepper.step(tokens, active);
    std::vector<ActiveRow> rows(slots);
    for (int b = 0; b < slots; ++b)
      if (active[b]) rows[b] = {&results[request_of[b]].ids, &requests[request_of[b]].options};
    const auto picks = pickTokens(step, rows);
    for (int b = 0; b < slots; ++b) {
      if (!active[b]) continue;
      auto& request = requests[request_of[b]];
      if (continuesAfter(picks[b], results[request_of[b]], request.options, request.on_token, request.cancel,
                         cacheFull(decoder, stepper.slot(b)))) {
        tokens[b] = picks[b];
      } else {
        active[b] = false;
        ended(static_cast<std::size_t>(request_of[b]));
        request_of[b] = -1;
        stepper.slot(b).reset();
      }
    }
  }
  return results;
}

}  // namespace folio
