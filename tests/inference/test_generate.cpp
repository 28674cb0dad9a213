// Greedy generation and the decoder's building blocks on a tiny random-weight decoder: KV-cache consistency,
// MoE routing, the no-repeat n-gram guard and every way generation stops.
#include <QtTest/QtTest>

#include <folio/engine.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <optional>
#include <stdexcept>

#include "decoder.h"
#include "generate.h"
#include "kv_cache.h"
#include "model.h"
#include "model_tensors.h"
#include "moe.h"

namespace {

using Ids = std::vector<std::int64_t>;

folio::DecoderConfig tinyConfig() {
  folio::DecoderConfig c;
  c.vocab_size = 64;
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.moe_intermediate_size = 16;
  c.num_hidden_layers = 3;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 4;
  c.n_routed_experts = 8;
  c.n_shared_experts = 2;
  c.num_experts_per_tok = 3;
  c.first_k_dense_replace = 1;
  c.max_position_embeddings = 64;
  return c;
}

folio::Weights randomWeights(const folio::DecoderConfig& config, std::uint64_t seed) {
  torch::manual_seed(seed);
  folio::Weights weights;
  folio::ModelConfig model_config;
  model_config.decoder = config;
  for (const auto& [name, shape] : folio::expectedTensors(model_config))
    if (folio::isDecoderTensor(name))
      weights.set(name, shape.size() == 1 ? 1.0 + 0.1 * torch::randn(shape) : 0.3 * torch::randn(shape));
  return weights;
}

// A decoder whose logits are all zero (final norm weight 0): greedy then picks the lowest id not banned,
// which makes the n-gram guard's effect exactly predictable.
folio::Weights flatLogitWeights(const folio::DecoderConfig& config) {
  auto weights = randomWeights(config, 7);
  weights.set("model.norm.weight", torch::zeros({config.hidden_size}));
  return weights;
}

torch::Tensor randomPrompt(const folio::DecoderConfig& config, int length) {
  return torch::randn({length, config.hidden_size});
}

// Requests with eos disabled: prompt i of prompt_lengths[i] random positions, at most max_tokens[i] new tokens.
std::vector<folio::GenerateRequest> requestsWithoutEos(const folio::DecoderConfig& config,
                                                       const std::vector<int>& prompt_lengths,
                                                       const std::vector<int>& max_tokens) {
  std::vector<folio::GenerateRequest> requests(prompt_lengths.size());
  for (std::size_t i = 0; i < requests.size(); ++i) {
    requests[i].prompt_embeds = randomPrompt(config, prompt_lengths[i]);
    requests[i].options.eos_id = -1;
    requests[i].options.max_new_tokens = max_tokens[i];
  }
  return requests;
}

// The batch scheduler's contract on the CPU: a stepper that advances each active slot with the eager decoder,
// so batched results must equal one-by-one generate() exactly.
class EagerStepper : public folio::BatchStepper {
 public:
  EagerStepper(const folio::Decoder& decoder, int batch, int capacity)
      : decoder_(decoder), cache_(decoder.config(), capacity, torch::kCPU, torch::kFloat32, batch) {
    for (int b = 0; b < batch; ++b) slots_.push_back(cache_.slot(b));
  }
  int batch() const override { return static_cast<int>(slots_.size()); }
  folio::KvCache& slot(int b) override { return slots_.at(b); }
  folio::KvCache slotRange(int first, int count) override {
    ++grouped_prefills;
    return cache_.rows(first, count);
  }
  folio::StepLogits step(const std::vector<std::int64_t>& tokens, const std::vector<bool>& active) override {
    std::vector<torch::Tensor> rows;
    int busy = 0;
    for (int b = 0; b < batch(); ++b) {
      if (!active[b]) {
        slots_[b].reset();
        rows.push_back(torch::zeros({decoder_.config().vocab_size}));
        continue;
      }
      ++busy;
      rows.push_back(decoder_.forward(decoder_.embed(torch::tensor({tokens[b]}, torch::kInt64)), slots_[b]));
    }
    most_busy = std::max(most_busy, busy);
    ++steps;
    folio::StepLogits out{torch::stack(rows), {}};
    if (gives_argmax) {
      const auto picks = out.logits.argmax(1);
      out.argmax.assign(picks.data_ptr<std::int64_t>(), picks.data_ptr<std::int64_t>() + picks.numel());
      if (claimed_argmax) std::fill(out.argmax.begin(), out.argmax.end(), *claimed_argmax);
    }
    return out;
  }
  // Like the CUDA graph decoder, the step takes each row's arg-max itself (or claims this token for every row).
  bool gives_argmax = false;
  std::optional<std::int64_t> claimed_argmax;
  int most_busy = 0;
  int steps = 0;
  int grouped_prefills = 0;

 private:
  const folio::Decoder& decoder_;
  folio::KvCache cache_;
  std::vector<folio::KvCache> slots_;
};

// A TokenStepper on the CPU, like the CUDA graph decoder's batch-1 side: a step runs when it is taken (next()),
// one queued on the arg-max feeds the arg-max of the step before it. It throws when generate() breaks the
// queueing protocol, and counts the steps queued ahead and dropped.
class QueuedEagerStepper : public folio::TokenStepper {
 public:
  QueuedEagerStepper(const folio::Decoder& decoder, folio::KvCache& cache) : decoder_(decoder), cache_(cache) {}
  void queue(std::int64_t token) override {
    if (!queued_.empty()) throw std::logic_error("queue() with a step in flight");
    queued_.push_back(token);
  }
  void queueOnArgmax() override {
    if (queued_.size() != 1) throw std::logic_error("queueOnArgmax() without exactly one step in flight");
    queued_.push_back(std::nullopt);
    ++ahead;
  }
  folio::StepLogits next() override {
    if (queued_.empty()) throw std::logic_error("next() with no step queued");
    const auto token = queued_.front().value_or(last_argmax_);
    queued_.pop_front();
    auto logits = decoder_.forward(decoder_.embed(torch::tensor({token}, torch::kInt64)), cache_);
    last_argmax_ = logits.argmax().item<std::int64_t>();
    return {logits, {last_argmax_}};
  }
  void dropQueued() override {
    dropped += static_cast<int>(queued_.size());
    queued_.clear();
  }
  const folio::KvCache& cache() const override { return cache_; }
  int queued() const { return static_cast<int>(queued_.size()); }
  int ahead = 0;
  int dropped = 0;

 private:
  const folio::Decoder& decoder_;
  folio::KvCache& cache_;
  std::deque<std::optional<std::int64_t>> queued_;
  std::int64_t last_argmax_ = -1;
};

double maxRelativeError(const torch::Tensor& got, const torch::Tensor& want) {
  return ((got - want).abs().max() / want.abs().max()).item<double>();
}

}  // namespace

class TestGenerate : public QObject {
  Q_OBJECT
 private slots:
  void cachedForwardMatchesFullForward() {
    c10::InferenceMode guard;
    const auto config = tinyConfig();
    const folio::Decoder decoder(config, randomWeights(config, 1));
    const auto x = randomPrompt(config, 10);

    folio::KvCache full_cache(config, 16, torch::kCPU, torch::kFloat32);
    const auto full9 = decoder.forward(x.narrow(0, 0, 9), full_cache);
    full_cache.reset();
    const auto full10 = decoder.forward(x, full_cache);
    QCOMPARE(full_cache.length(), 10);

    // Prefill in chunks: 6 rows, then 3 (a causal mask over a non-empty cache), then 1 (a decoding step).
    folio::KvCache cache(config, 16, torch::kCPU, torch::kFloat32);
    decoder.forward(x.narrow(0, 0, 6), cache);
    const auto chunk9 = decoder.forward(x.narrow(0, 6, 3), cache);
    const auto step10 = decoder.forward(x.narrow(0, 9, 1), cache);
    QCOMPARE(cache.length(), 10);
    QCOMPARE(full10.sizes(), (at::IntArrayRef{config.vocab_size}));
    QCOMPARE(full10.scalar_type(), torch::kFloat32);
    QVERIFY(maxRelativeError(chunk9, full9) < 1e-5);
    QVERIFY(maxRelativeError(step10, full10) < 1e-5);
    QVERIFY(maxRelativeError(full10, full9) > 1e-3);  // the positions do matter
  }

  void moeMatchesPerTokenComputation() {
    c10::InferenceMode guard;
    auto config = tinyConfig();
    config.routed_scaling_factor = 1.5;
    const auto weights = randomWeights(config, 2);
    const std::string prefix = "model.layers.1.mlp.";
    const auto x = torch::randn({5, config.hidden_size});
    for (const bool norm_topk_prob : {false, true}) {
      config.norm_topk_prob = norm_topk_prob;
      const folio::Moe moe(config, weights, prefix);
      // Every token separately: softmax over all experts, the top-k of them weighted, plus the shared experts.
      const auto shared = folio::Mlp::load(weights, prefix + "shared_experts.", config.hidden_size,
                                           config.moe_intermediate_size * config.n_shared_experts);
      std::vector<torch::Tensor> rows;
      for (int t = 0; t < x.size(0); ++t) {
        const auto token = x.narrow(0, t, 1);
        const auto probs = torch::matmul(token, weights.at(prefix + "gate.weight").t()).softmax(-1).squeeze(0);
        auto [top, experts] = probs.topk(config.num_experts_per_tok);
        if (norm_topk_prob) top = top / top.sum();
        auto row = shared.forward(token);
        for (int j = 0; j < config.num_experts_per_tok; ++j) {
          const auto expert = folio::Mlp::load(weights, prefix + "experts." + std::to_string(experts[j].item<int>()) + ".",
                                               config.hidden_size, config.moe_intermediate_size);
          row = row + config.routed_scaling_factor * top[j].item<double>() * expert.forward(token);
        }
        rows.push_back(row);
      }
      QVERIFY(maxRelativeError(moe.forward(x), torch::cat(rows)) < 1e-5);
    }
  }

  void denseRoutedExpertsEqualPerExpertSum() {
    c10::InferenceMode guard;
    const auto config = tinyConfig();
    const auto weights = randomWeights(config, 9);
    const std::string prefix = "model.layers.1.mlp.experts.";
    std::vector<folio::Mlp> experts;
    std::vector<torch::Tensor> gate_up, down;
    for (int e = 0; e < config.n_routed_experts; ++e) {
      experts.push_back(folio::Mlp::load(weights, prefix + std::to_string(e) + ".", config.hidden_size,
                                         config.moe_intermediate_size));
      gate_up.push_back(torch::cat({experts.back().gate_proj.weight, experts.back().up_proj.weight}));
      down.push_back(experts.back().down_proj.weight);
    }
    const auto x = torch::randn({4, config.hidden_size});
    const auto ids = torch::stack({torch::randperm(config.n_routed_experts, torch::kInt64).narrow(0, 0, 3),
                                   torch::randperm(config.n_routed_experts, torch::kInt64).narrow(0, 0, 3),
                                   torch::randperm(config.n_routed_experts, torch::kInt64).narrow(0, 0, 3),
                                   torch::randperm(config.n_routed_experts, torch::kInt64).narrow(0, 0, 3)});
    const auto route_weights = torch::rand({4, 3});
    const auto dense = folio::routedExpertsDense(x, ids, route_weights, {torch::stack(gate_up)}, {torch::stack(down, 1)});
    for (int t = 0; t < 4; ++t) {
      auto want = torch::zeros({1, config.hidden_size});
      for (int j = 0; j < 3; ++j)
        want += route_weights[t][j].item<double>() * experts[ids[t][j].item<int>()].forward(x.narrow(0, t, 1));
      QVERIFY(maxRelativeError(dense.narrow(0, t, 1), want) < 1e-5);
    }
  }

  void ngramBansFollowUpstreamWindow() {
    const Ids seq{5, 6, 7, 5, 6};
    QCOMPARE(folio::noRepeatNgramBans(seq, 3, 0, {}), (Ids{7}));
    QCOMPARE(folio::noRepeatNgramBans(seq, 3, 5, {}), (Ids{7}));
    QCOMPARE(folio::noRepeatNgramBans(seq, 3, 4, {}), Ids{});  // (5,6,7) starts outside the last 4 tokens
    QCOMPARE(folio::noRepeatNgramBans(seq, 3, 0, {7}), Ids{});  // whitelisted
    QCOMPARE(folio::noRepeatNgramBans(Ids{1, 2, 9, 1, 2, 8, 1, 2}, 3, 0, {}), (Ids{8, 9}));
    QCOMPARE(folio::noRepeatNgramBans(Ids{1, 2}, 3, 0, {}), Ids{});  // shorter than one n-gram
    QCOMPARE(folio::noRepeatNgramBans(seq, 0, 0, {}), Ids{});        // guard off
  }

  void ngramGuardShapesGreedyOutput() {
    const auto config = tinyConfig();
    const folio::Decoder decoder(config, flatLogitWeights(config));
    const auto prompt = randomPrompt(config, 4);
    const auto run = [&](int window, Ids whitelist) {
      folio::KvCache cache(config, 32, torch::kCPU, torch::kFloat32);
      folio::GenerateOptions options;
      options.max_new_tokens = 8;
      options.eos_id = -1;
      options.ngram_size = 2;
      options.ngram_window = window;
      options.ngram_whitelist = std::move(whitelist);
      return folio::generate(decoder, cache, prompt, options).ids;
    };
    // All logits are equal, so greedy takes the lowest id the guard leaves.
    QCOMPARE(run(0, {}), (Ids{0, 0, 1, 0, 2, 0, 3, 0}));
    QCOMPARE(run(3, {}), (Ids{0, 0, 1, 0, 0, 1, 0, 0}));
    QCOMPARE(run(0, {0}), (Ids{0, 0, 0, 0, 0, 0, 0, 0}));
  }

  void eosStopsGeneration() {
    const auto config = tinyConfig();
    const folio::Decoder decoder(config, flatLogitWeights(config));
    folio::KvCache cache(config, 32, torch::kCPU, torch::kFloat32);
    folio::GenerateOptions options;
    options.eos_id = 2;
    options.ngram_size = 2;  // flat logits + guard: 0 0 1 0 2 ...
    const auto result = folio::generate(decoder, cache, randomPrompt(config, 4), options);
    QCOMPARE(result.ids, (Ids{0, 0, 1, 0, 2}));
    QVERIFY(!result.hit_token_limit);
    QVERIFY(!result.cancelled);
    QCOMPARE(result.prompt_logits.sizes(), (at::IntArrayRef{config.vocab_size}));
  }

  void ignoreEosRunsToTheLimit() {
    const auto config = tinyConfig();
    const folio::Decoder decoder(config, flatLogitWeights(config));
    folio::KvCache cache(config, 32, torch::kCPU, torch::kFloat32);
    folio::GenerateOptions options;
    options.eos_id = 0;
    options.ignore_eos = true;
    options.max_new_tokens = 6;
    const auto result = folio::generate(decoder, cache, randomPrompt(config, 4), options);
    QCOMPARE(result.ids, Ids(6, 0));
    QVERIFY(result.hit_token_limit);
  }

  void maxNewTokensLimitsOutput() {
    const auto config = tinyConfig();
    const folio::Decoder decoder(config, randomWeights(config, 3));
    folio::KvCache cache(config, 32, torch::kCPU, torch::kFloat32);
    folio::GenerateOptions options;
    options.eos_id = -1;
    options.max_new_tokens = 5;
    const auto result = folio::generate(decoder, cache, randomPrompt(config, 4), options);
    QCOMPARE(result.ids.size(), std::size_t{5});
    QVERIFY(result.hit_token_limit);
    QCOMPARE(cache.length(), 4 + 4);  // the last token is not fed back

    cache.reset();
    options.max_new_tokens = 0;
    const auto none = folio::generate(decoder, cache, randomPrompt(config, 4), options);
    QVERIFY(none.ids.empty());
    QVERIFY(none.hit_token_limit);
  }

  void fullCacheStopsGeneration() {
    const auto config = tinyConfig();
    const folio::Decoder decoder(config, randomWeights(config, 3));
    folio::KvCache cache(config, 7, torch::kCPU, torch::kFloat32);
    folio::GenerateOptions options;
    options.eos_id = -1;
    const auto result = folio::generate(decoder, cache, randomPrompt(config, 4), options);
    QCOMPARE(result.ids.size(), std::size_t{4});  // 3 fed back fill the cache, the 4th needs no room
    QVERIFY(result.hit_token_limit);
    QCOMPARE(cache.length(), 7);
  }

  void cancelStopsWithinOneStep() {
    const auto config = tinyConfig();
    const folio::Decoder decoder(config, randomWeights(config, 4));
    folio::KvCache cache(config, 32, torch::kCPU, torch::kFloat32);
    folio::GenerateOptions options;
    options.eos_id = -1;
    options.max_new_tokens = 20;
    std::atomic<bool> cancel{false};
    int seen = 0;
    const auto result = folio::generate(
        decoder, cache, randomPrompt(config, 4), options,
        [&](std::int64_t) {
          if (++seen == 3) cancel = true;
          return true;
        },
        &cancel);
    QCOMPARE(result.ids.size(), std::size_t{3});
    QVERIFY(result.cancelled);
    QVERIFY(!result.hit_token_limit);
    QCOMPARE(cache.length(), 4 + 2);  // no decoding step ran after the flag was set

    cache.reset();
    const auto before = folio::generate(decoder, cache, randomPrompt(config, 4), options, {}, &cancel);
    QVERIFY(before.cancelled);
    QVERIFY(before.ids.empty());
    QCOMPARE(cache.length(), 0);
  }

  void onTokenFalseStops() {
    const auto config = tinyConfig();
    const folio::Decoder decoder(config, randomWeights(config, 5));
    folio::KvCache cache(config, 32, torch::kCPU, torch::kFloat32);
    folio::GenerateOptions options;
    options.eos_id = -1;
    Ids streamed;
    const auto result = folio::generate(decoder, cache, randomPrompt(config, 4), options, [&](std::int64_t id) {
      streamed.push_back(id);
      return streamed.size() < 2;
    });
    QCOMPARE(result.ids.size(), std::size_t{2});
    QCOMPARE(result.ids, streamed);
    QVERIFY(!result.cancelled);
    QVERIFY(!result.hit_token_limit);
  }

  // Steps queued on the device's own pick must give exactly what host-paced decoding gives, however the
  // sequence ends, and leave the cache as long.
  void queuedStepsEqualHostPacedDecoding() {
    c10::InferenceMode guard;
    const auto config = tinyConfig();
    const folio::Decoder random(config, randomWeights(config, 3));
    const folio::Decoder flat(config, flatLogitWeights(config));
    struct Case {
      const char* name;
      const folio::Decoder* decoder;
      int capacity;
      folio::GenerateOptions options;
      int stop_at;          // on_token returns false at this token (0: never)
      int cancel_at;        // the cancel flag is set at this token (0: never)
      int expected_drops;   // steps queued ahead, then dropped
    };
    folio::GenerateOptions limit;
    limit.eos_id = -1;
    limit.max_new_tokens = 9;
    auto eos = limit;  // flat logits + guard: 0 0 1 0 2 with eos 2
    eos.eos_id = 2;
    eos.ngram_size = 2;
    auto guarded = limit;
    guarded.ngram_size = 1;  // no token twice: bites within the run
    guarded.max_new_tokens = 20;
    auto unlimited = limit;
    unlimited.max_new_tokens = 100;
    auto host_paced = limit;
    host_paced.queue_ahead = false;
    const std::vector<Case> cases = {
        {"token limit", &random, 32, limit, 0, 0, 0},   // the last step is known not to be needed
        {"eos under the guard", &flat, 32, eos, 0, 0, -1},
        {"guard bans", &random, 32, guarded, 0, 0, -1},
        {"full cache", &random, 7, unlimited, 0, 0, 0},
        {"cancelled", &random, 32, unlimited, 0, 3, 1},
        {"on_token false", &random, 32, unlimited, 2, 0, 1},
        {"not queued ahead", &random, 32, host_paced, 0, 0, 0},
    };
    for (const auto& c : cases) {
      const auto prompt = randomPrompt(config, 4);
      const auto run = [&](folio::KvCache& cache, QueuedEagerStepper* stepper) {
        auto options = c.options;
        options.stepper = stepper;
        std::atomic<bool> cancel{false};
        int seen = 0;
        const auto on_token = [&](std::int64_t) {
          ++seen;
          if (seen == c.cancel_at) cancel = true;
          return seen != c.stop_at;
        };
        return folio::generate(*c.decoder, cache, prompt, options, on_token, &cancel);
      };
      folio::KvCache paced_cache(config, c.capacity, torch::kCPU, torch::kFloat32);
      folio::KvCache queued_cache(config, c.capacity, torch::kCPU, torch::kFloat32);
      QueuedEagerStepper stepper(*c.decoder, queued_cache);
      const auto paced = run(paced_cache, nullptr);
      const auto queued = run(queued_cache, &stepper);
      QVERIFY2(queued.ids == paced.ids, c.name);
      QVERIFY2(queued.hit_token_limit == paced.hit_token_limit && queued.cancelled == paced.cancelled, c.name);
      QVERIFY2(queued_cache.length() == paced_cache.length(), c.name);
      QVERIFY2(paced.ids.size() >= 2, c.name);
      if (c.expected_drops >= 0) QVERIFY2(stepper.dropped == c.expected_drops, c.name);
      // Without a guard every step but the last can be queued ahead; never when told not to.
      if (c.options.ngram_size == 0) QVERIFY2(c.options.queue_ahead == (stepper.ahead > 0), c.name);
      if (!c.options.queue_ahead) QVERIFY2(stepper.ahead == 0, c.name);
      if (c.options.ngram_size > 0 && c.decoder == &random) {  // the guard must have replaced an arg-max
        auto unguarded = c.options;
        unguarded.ngram_size = 0;
        folio::KvCache cache(config, c.capacity, torch::kCPU, torch::kFloat32);
        QVERIFY2(folio::generate(*c.decoder, cache, prompt, unguarded).ids != paced.ids, c.name);
      }
    }
  }

  // An on_token that throws while the next step is queued must not leave it queued for the next sequence.
  void queuedStepIsDroppedWhenOnTokenThrows() {
    c10::InferenceMode guard;
    const auto config = tinyConfig();
    const folio::Decoder decoder(config, randomWeights(config, 3));
    folio::KvCache cache(config, 32, torch::kCPU, torch::kFloat32);
    QueuedEagerStepper stepper(decoder, cache);
    folio::GenerateOptions options;
    options.eos_id = -1;
    options.max_new_tokens = 20;
    options.stepper = &stepper;
    int seen = 0;
    const auto throwAtThree = [&](std::int64_t) {
      if (++seen == 3) throw std::runtime_error("the consumer failed");
      return true;
    };
    QVERIFY_THROWS_EXCEPTION(std::runtime_error,
                             folio::generate(decoder, cache, randomPrompt(config, 4), options, throwAtThree));
    QCOMPARE(stepper.queued(), 0);
    QCOMPARE(stepper.dropped, 1);
    cache.reset();
    QCOMPARE(folio::generate(decoder, cache, randomPrompt(config, 4), options).ids.size(), std::size_t{20});
  }

  void batchedGenerationEqualsOneByOne() {
    c10::InferenceMode guard;
    const auto config = tinyConfig();
    const folio::Decoder decoder(config, randomWeights(config, 8));
    constexpr int kCapacity = 24;
    // The last one fills its cache.
    auto requests = requestsWithoutEos(config, {3, 4, 5, 6, 7, 8}, {3, 7, 1, 9, 0, 30});
    requests[1].options.ngram_size = 2;  // bans, applied per row
    requests[3].on_token = [n = 0](std::int64_t) mutable { return ++n < 4; };
    std::atomic<bool> cancel_batched{false}, cancel_single{false};
    const auto cancelAfterTwo = [](std::atomic<bool>& flag) {
      return [&flag, n = 0](std::int64_t) mutable {
        if (++n == 2) flag = true;
        return true;
      };
    };
    requests[2].options.max_new_tokens = 10;
    requests[2].on_token = cancelAfterTwo(cancel_batched);
    requests[2].cancel = &cancel_batched;

    // Each request reports its result once, when its own sequence ends: request 0 (3 tokens) while request 1
    // (7 tokens, in the other slot) is still decoding.
    std::vector<std::size_t> finish_order;
    std::vector<std::vector<std::int64_t>> reported(requests.size());
    for (std::size_t i = 0; i < requests.size(); ++i)
      requests[i].on_finished = [&, i](const folio::GenerateResult& r) {
        finish_order.push_back(i);
        reported[i] = r.ids;
      };
    EagerStepper stepper(decoder, 2, kCapacity);
    const auto batched = folio::generateBatch(decoder, stepper, requests);
    QCOMPARE(batched.size(), requests.size());
    QCOMPARE(stepper.most_busy, 2);
    QCOMPARE(finish_order.size(), requests.size());
    QCOMPARE(finish_order.front(), std::size_t{0});
    QVERIFY(std::find(finish_order.begin(), finish_order.end(), 0) < std::find(finish_order.begin(), finish_order.end(), 1));
    for (std::size_t i = 0; i < requests.size(); ++i) {
      QCOMPARE(std::count(finish_order.begin(), finish_order.end(), i), 1);
      QCOMPARE(reported[i], batched[i].ids);
      requests[i].on_finished = {};
    }

    requests[2].on_token = cancelAfterTwo(cancel_single);
    requests[2].cancel = &cancel_single;
    requests[3].on_token = [n = 0](std::int64_t) mutable { return ++n < 4; };
    for (std::size_t i = 0; i < requests.size(); ++i) {
      folio::KvCache cache(config, kCapacity, torch::kCPU, torch::kFloat32);
      const auto single = folio::generate(decoder, cache, requests[i].prompt_embeds, requests[i].options,
                                          requests[i].on_token, requests[i].cancel);
      QCOMPARE(batched[i].ids, single.ids);
      QCOMPARE(batched[i].hit_token_limit, single.hit_token_limit);
      QCOMPARE(batched[i].cancelled, single.cancelled);
      QVERIFY(torch::equal(batched[i].prompt_logits, single.prompt_logits));
    }
    QCOMPARE(batched[0].ids.size(), std::size_t{3});
    QCOMPARE(batched[2].ids.size(), std::size_t{2});
    QVERIFY(batched[2].cancelled);
    QCOMPARE(batched[3].ids.size(), std::size_t{4});
    QVERIFY(batched[4].ids.empty());
    QCOMPARE(static_cast<int>(batched[5].ids.size()), kCapacity - 8 + 1);
    QVERIFY(batched[5].hit_token_limit);
  }

  // Prompts of one length going into neighbouring free slots are prefilled in one forward; the results match
  // one-by-one generation (prompt logits up to float summation order).
  void stepArgmaxIsTakenUnlessBanned() {
    c10::InferenceMode guard;
    const auto config = tinyConfig();
    const folio::Decoder decoder(config, randomWeights(config, 9));
    constexpr int kCapacity = 24;
    auto requests = requestsWithoutEos(config, {5, 6}, {14, 14});
    for (auto& r : requests) r.options.ngram_size = 2;
    EagerStepper stepper(decoder, 2, kCapacity);
    stepper.gives_argmax = true;
    const auto batched = folio::generateBatch(decoder, stepper, requests);
    bool guard_changed_something = false;
    for (std::size_t i = 0; i < requests.size(); ++i) {
      folio::KvCache cache(config, kCapacity, torch::kCPU, torch::kFloat32);
      const auto single = folio::generate(decoder, cache, requests[i].prompt_embeds, requests[i].options);
      QCOMPARE(batched[i].ids, single.ids);  // banned picks were replaced by the best allowed token
      auto unguarded = requests[i].options;
      unguarded.ngram_size = 0;
      cache.reset();
      guard_changed_something |= folio::generate(decoder, cache, requests[i].prompt_embeds, unguarded).ids != single.ids;
    }
    QVERIFY(guard_changed_something);

    // Without bans the step's own pick is taken as it is.
    auto unbanned = requestsWithoutEos(config, {5}, {4});
    EagerStepper claiming(decoder, 1, kCapacity);
    claiming.gives_argmax = true;
    claiming.claimed_argmax = 5;
    const auto claimed = folio::generateBatch(decoder, claiming, unbanned);
    QCOMPARE(claimed[0].ids.size(), std::size_t{4});
    QVERIFY(std::all_of(claimed[0].ids.begin() + 1, claimed[0].ids.end(), [](std::int64_t id) { return id == 5; }));
  }

  void groupedPrefillEqualsOneByOne() {
    c10::InferenceMode guard;
    const auto config = tinyConfig();
    const folio::Decoder decoder(config, randomWeights(config, 9));
    constexpr int kCapacity = 20;
    const std::vector<int> max_tokens = {4, 0, 6, 2, 5};  // the second ends at once: its slot takes the next prompt
    auto requests = requestsWithoutEos(config, {6, 6, 6, 6, 6}, max_tokens);
    EagerStepper stepper(decoder, 3, kCapacity);
    const auto batched = folio::generateBatch(decoder, stepper, requests);
    QVERIFY(stepper.grouped_prefills >= 1);
    for (std::size_t i = 0; i < requests.size(); ++i) {
      folio::KvCache cache(config, kCapacity, torch::kCPU, torch::kFloat32);
      const auto single = folio::generate(decoder, cache, requests[i].prompt_embeds, requests[i].options);
      QCOMPARE(batched[i].ids, single.ids);
      QCOMPARE(static_cast<int>(batched[i].ids.size()), max_tokens[i]);
      QVERIFY(torch::allclose(batched[i].prompt_logits, single.prompt_logits, 1e-5, 1e-5));
    }
  }

  void batchedForwardEqualsOneSequenceAtATime() {
    c10::InferenceMode guard;
    const auto config = tinyConfig();
    const folio::Decoder decoder(config, randomWeights(config, 10));
    const auto prompts = torch::stack({randomPrompt(config, 5), randomPrompt(config, 5)});
    folio::KvCache both(config, 8, torch::kCPU, torch::kFloat32, 2);
    auto rows = both.rows(0, 2);
    const auto logits = decoder.forward(prompts, rows);
    QCOMPARE(logits.sizes(), (at::IntArrayRef{2, config.vocab_size}));
    QCOMPARE(rows.length(), 5);
    for (int b = 0; b < 2; ++b) {
      folio::KvCache one(config, 8, torch::kCPU, torch::kFloat32);
      QVERIFY(torch::allclose(logits[b], decoder.forward(prompts[b], one), 1e-5, 1e-5));
      QVERIFY(torch::allclose(both.keys(2)[b].narrow(1, 0, 5), one.keys(2)[0].narrow(1, 0, 5), 1e-5, 1e-5));
    }
    folio::KvCache wrong_rows(config, 8, torch::kCPU, torch::kFloat32, 3);
    QVERIFY_THROWS_EXCEPTION(folio::Error, decoder.forward(prompts, wrong_rows));
  }

  void batchSizeKeepsAReserveOfGpuMemory() {
    constexpr std::int64_t gib = 1LL << 30;
    // The full model (12 layers, 10 KV heads of 128) at its whole context in bf16: 480 MiB a page.
    const std::int64_t per_page = folio::KvCache::bytesPerSequence(folio::DecoderConfig{}, 8192, torch::kBFloat16);
    QCOMPARE(per_page, 503316480LL);
    QCOMPARE(folio::OcrModel::sequencesThatFit(folio::OcrModel::kBatchReserveBytes + 3 * per_page, per_page), 3);
    QCOMPARE(folio::OcrModel::sequencesThatFit(folio::OcrModel::kBatchReserveBytes + 3 * per_page - 1, per_page), 2);
    QCOMPARE(folio::OcrModel::sequencesThatFit(gib / 2, per_page), 0);  // less than the reserve
  }

  void badInputsThrow() {
    const auto config = tinyConfig();
    auto weights = randomWeights(config, 6);
    const folio::Decoder decoder(config, weights);
    folio::KvCache cache(config, 8, torch::kCPU, torch::kFloat32);
    QVERIFY_THROWS_EXCEPTION(folio::Error, decoder.embed(torch::tensor({3, 64}, torch::kInt64)));
    QVERIFY_THROWS_EXCEPTION(folio::Error, decoder.embed(torch::tensor({-1}, torch::kInt64)));
    QVERIFY_THROWS_EXCEPTION(folio::Error, decoder.forward(torch::randn({2, config.hidden_size + 1}), cache));
    QVERIFY_THROWS_EXCEPTION(folio::Error, decoder.forward(torch::randn({9, config.hidden_size}), cache));
    QCOMPARE(cache.length(), 0);
    folio::KvCache other(config, 8, torch::kCPU, torch::kFloat32);
    QueuedEagerStepper elsewhere(decoder, other);
    folio::GenerateOptions options;
    options.stepper = &elsewhere;
    QVERIFY_THROWS_EXCEPTION(folio::Error, folio::generate(decoder, cache, torch::randn({2, config.hidden_size}), options));
    QCOMPARE(cache.length(), 0);

    weights.set("model.layers.2.mlp.experts.5.up_proj.weight", torch::zeros({config.moe_intermediate_size, 3}));
    QVERIFY_THROWS_EXCEPTION(folio::Error, folio::Decoder(config, weights));
    folio::Weights incomplete;
    incomplete.set("model.embed_tokens.weight", torch::zeros({config.vocab_size, config.hidden_size}));
    QVERIFY_THROWS_EXCEPTION(folio::Error, folio::Decoder(config, incomplete));
  }
};

QTEST_GUILESS_MAIN(TestGenerate)
#include "test_generate.moc"
