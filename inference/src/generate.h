// Greedy generation with the decoder (MODEL.md "Generation"): prefill the prompt, then pick the most likely
// token step by step, with upstream's optional no-repeat n-gram guard.
#pragma once

#include <torch/torch.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "decoder.h"
#include "kv_cache.h"

namespace folio {

// What a decoding step gives: logits [rows, vocab] float32 (one row: [vocab]) and, when the step took it on
// the device, each row's arg-max (the greedy pick before any n-gram bans; empty when not taken).
struct StepLogits {
  torch::Tensor logits;
  std::vector<std::int64_t> argmax;
};

// A single-sequence decoder that queues its steps on a device (the CUDA graph decoder), so the next step can be
// queued before the host has seen the last one's result and the device never waits for the host between
// tokens. Positions enter the cache as steps are taken (next()), so a queued step that is dropped leaves none.
class TokenStepper {
 public:
  virtual ~TokenStepper() = default;
  // Queues the step of `token` at the cache's next free position; nothing may be queued.
  virtual void queue(std::int64_t token) = 0;
  // Queues the step after the one queued last, whose token is that step's arg-max as the device found it.
  virtual void queueOnArgmax() = 0;
  // Waits for the oldest queued step and takes it: its logits [vocab] (valid while no later step is queued) and
  // its arg-max. The cache then holds its position.
  virtual StepLogits next() = 0;
  // Waits for the queued steps and drops them (none queued: nothing to do). Nothing is queued after it returns
  // or throws.
  virtual void dropQueued() = 0;
  virtual const KvCache& cache() const = 0;
};

struct GenerateOptions {
  int max_new_tokens = 8192;
  int eos_id = 1;
  bool ignore_eos = false;  // benchmarks: generate exactly max_new_tokens
  int ngram_size = 0;       // no-repeat n-gram guard; 0 disables it
  int ngram_window = 0;     // how many of the latest generated tokens the guard searches; 0: all of them
  std::vector<std::int64_t> ngram_whitelist;  // never banned (upstream: <td> </td> = 128821, 128822)
  // A faster single-token decoder (the CUDA graph decoder) with its own cache, in place of
  // decoder.forward(decoder.embed(token)) on generate()'s.
  TokenStepper* stepper = nullptr;
  // With a stepper: queue the next step on the device's own pick whenever it must be the token taken (no n-gram
  // ban applies and the sequence has room), so the host's turn between tokens overlaps the device's work.
  // False: every step waits for the host's pick (kept for measuring what queuing ahead gains).
  bool queue_ahead = true;
};

// What stops a sequence between two decoding steps: its own flag or its batch's, whichever is set first.
struct CancelFlags {
  CancelFlags(const std::atomic<bool>* own = nullptr, const std::atomic<bool>* batch = nullptr)
      : own(own), batch(batch) {}
  bool set() const { return (own && own->load()) || (batch && batch->load()); }
  const std::atomic<bool>* own;
  const std::atomic<bool>* batch;
};

struct GenerateResult {
  std::vector<std::int64_t> ids;  // generated tokens, the final eos included when generation stopped at it
  torch::Tensor prompt_logits;    // float32 [vocab] at the last prompt position
  bool cancelled = false;
  bool hit_token_limit = false;   // stopped by max_new_tokens or a full KV cache, not by eos or on_token
};

// The tokens the no-repeat n-gram guard bans as the next one after `generated` (the output so far; upstream's
// vLLM logits processor sees the generated tokens only, not the prompt): the last token of every n-gram that
// lies within the last `window` tokens (0: anywhere) and starts with the current last ngram_size-1 tokens,
// minus the whitelist. Sorted, without duplicates.
std::vector<std::int64_t> noRepeatNgramBans(const std::vector<std::int64_t>& generated, int ngram_size, int window,
                                            const std::vector<std::int64_t>& whitelist);

// Prefills prompt_embeds [L, hidden] (appended to the cache from cache.length() on), then greedy-decodes (through
// options.stepper when given, whose cache must be `cache`). on_token(id) is called after each token (return false
// to stop). `cancel` is checked before the prefill and after each token, so a cancellation lands within one token
// step.
GenerateResult generate(const Decoder& decoder, KvCache& cache, const torch::Tensor& prompt_embeds,
                        const GenerateOptions& options, const std::function<bool(std::int64_t)>& on_token = {},
                        CancelFlags cancel = {});

// A decoder that advances several sequences ("slots") per step, each at its own position: the CUDA graph
// decoder. Prompts are prefilled into a slot's cache by the eager decoder.
class BatchStepper {
 public:
  virtual ~BatchStepper() = default;
  virtual int batch() const = 0;
  virtual KvCache& slot(int b) = 0;
  // Slots first .. first+count-1 as one cache (starting empty), for prefilling several prompts in one forward.
  virtual KvCache slotRange(int first, int count) = 0;
  // Logits [batch, vocab] float32 of tokens[b] for every slot; active slots advance by one, idle ones stay empty.
  virtual StepLogits step(const std::vector<std::int64_t>& tokens, const std::vector<bool>& active) = 0;
};

struct GenerateRequest {
  torch::Tensor prompt_embeds;  // [L, hidden]
  GenerateOptions options;
  std::function<bool(std::int64_t)> on_token;  // as in generate()
  CancelFlags cancel;
  // Called once with the request's result as soon as its sequence has ended (eos, limit, on_token false, cancel),
  // while the other requests may still be decoding.
  std::function<void(const GenerateResult&)> on_finished;
};

// Continuous batching: requests take the stepper's slots in order; a slot whose sequence ends (eos, limit,
// on_token false, cancel) is refilled with the next request's prefill before the next step, so up to batch()
// pages decode together. Requests with prompts of one length going into neighbouring free slots are prefilled
// together in one forward. Each result equals what generate() gives for the request, up to float summation order.
std::vector<GenerateResult> generateBatch(const Decoder& decoder, BatchStepper& stepper,
                                          std::vector<GenerateRequest>& requests);

}  // namespace folio
