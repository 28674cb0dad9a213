// config.json parsing: the published config's values, and clear errors for missing keys, bad JSON, wrong types.
#include <QtTest/QtTest>

#include <folio/engine.h>
#include <nlohmann/json.hpp>

#include <fstream>

#include "config.h"
#include "folio_test.h"

namespace {

nlohmann::json realConfigJson() {
  std::ifstream in(folio::test::sharedPath("model/config.json"));
  return nlohmann::json::parse(in);
}

// The message of the folio::Error that parsing `text` throws, or "accepted".
std::string parseError(const std::string& text) {
  try {
    folio::parseModelConfig(text, "my/config.json");
  } catch (const folio::Error& e) {
    return e.what();
  }
  return "accepted";
}

}  // namespace

class TestConfig : public QObject {
  Q_OBJECT
 private slots:
  void readsThePublishedConfig() {
    const auto c = folio::loadModelConfig(folio::test::sharedPath("model/config.json"));
    QCOMPARE(c.sam.width, 768);
    QCOMPARE(c.sam.layers, 12);
    QCOMPARE(c.sam.heads, 12);
    QCOMPARE(c.sam.global_attn_indexes, (std::vector<int>{2, 5, 8, 11}));
    QCOMPARE(c.sam.downsample_channels, (std::vector<int>{512, 1024}));
    QCOMPARE(c.sam.image_size, 1024);
    QCOMPARE(c.clip.width, 1024);
    QCOMPARE(c.clip.layers, 24);
    QCOMPARE(c.clip.heads, 16);
    QCOMPARE(c.clip.image_size, 224);
    QCOMPARE(c.clip.patch_size, 14);
    QCOMPARE(c.projector.input_dim, 2048);
    QCOMPARE(c.projector.n_embed, 1280);
    const auto& d = c.decoder;
    QCOMPARE(d.vocab_size, 129280);
    QCOMPARE(d.hidden_size, 1280);
    QCOMPARE(d.intermediate_size, 6848);
    QCOMPARE(d.moe_intermediate_size, 896);
    QCOMPARE(d.num_hidden_layers, 12);
    QCOMPARE(d.num_attention_heads, 10);
    QCOMPARE(d.num_key_value_heads, 10);
    QCOMPARE(d.n_routed_experts, 64);
    QCOMPARE(d.n_shared_experts, 2);
    QCOMPARE(d.num_experts_per_tok, 6);
    QCOMPARE(d.first_k_dense_replace, 1);
    QCOMPARE(d.max_position_embeddings, 8192);
    QCOMPARE(d.bos_token_id, 0);
    QCOMPARE(d.eos_token_id, 1);
    QCOMPARE(d.head_dim(), 128);
    // Keys the published config lacks keep the DeepSeek-V2 defaults.
    QCOMPARE(d.rms_norm_eps, 1e-6);
    QCOMPARE(d.rope_theta, 10000.0);
    QCOMPARE(d.routed_scaling_factor, 1.0);
    QCOMPARE(d.norm_topk_prob, false);
  }

  void readsTheDeepseekOcr2Config() {
    const auto c = folio::loadModelConfig(folio::test::sharedPath("model/ocr2_config.json"));
    QCOMPARE(c.family, folio::ModelFamily::DeepseekOcr2);
    QCOMPARE(c.encoder.hidden_size, 896);
    QCOMPARE(c.encoder.layers, 24);
    QCOMPARE(c.encoder.heads, 14);
    QCOMPARE(c.encoder.kv_heads, 2);
    QCOMPARE(c.encoder.intermediate_size, 4864);
    QCOMPARE(c.encoder.rope_theta, 1e6);
    // The published config says 1024 for net_3; the checkpoint's tensor (and the encoder's input) has 896.
    QCOMPARE(c.sam.downsample_channels, (std::vector<int>{512, 896}));
    QCOMPARE(c.projector.input_dim, 896);
    QCOMPARE(c.projector.n_embed, 1280);
    QCOMPARE(c.decoder.num_hidden_layers, 12);
    QCOMPARE(folio::loadModelConfig(folio::test::sharedPath("model/config.json")).family,
             folio::ModelFamily::DeepseekOcr);
  }

  void deepseekOcr2IsToldApartByAnyOfItsMarks() {
    auto j = realConfigJson();
    j["vision_config"]["model_name"] = "deepencoderv2";
    j["vision_config"]["width"]["qwen2-0-5b"] = {{"dim", 896}};
    j["projector_config"]["input_dim"] = 896;
    QCOMPARE(folio::parseModelConfig(j.dump(), "x.json").family, folio::ModelFamily::DeepseekOcr2);
    j["vision_config"]["model_name"] = "something";
    QCOMPARE(folio::parseModelConfig(j.dump(), "x.json").family, folio::ModelFamily::DeepseekOcr2);
    j["projector_config"]["input_dim"] = 2048;
    QVERIFY(parseError(j.dump()).find("projector_config.input_dim") != std::string::npos);
    j["projector_config"]["input_dim"] = 896;
    j["vision_config"]["width"]["qwen2-0-5b"]["kv_heads"] = 3;
    QVERIFY(parseError(j.dump()).find("kv_heads") != std::string::npos);
  }

  void optionalKeysOverrideDefaults() {
    auto j = realConfigJson();
    j["language_config"]["rms_norm_eps"] = 1e-5;
    j["language_config"]["rope_theta"] = 50000;
    j["language_config"]["norm_topk_prob"] = true;
    const auto c = folio::parseModelConfig(j.dump(), "x.json");
    QCOMPARE(c.decoder.rms_norm_eps, 1e-5);
    QCOMPARE(c.decoder.rope_theta, 50000.0);
    QCOMPARE(c.decoder.norm_topk_prob, true);
  }

  void readsTheMiniatureConfig() {
    const auto c = folio::loadModelConfig(std::string(FOLIO_SOURCE_DIR) + "/tests/data/mini_config.json");
    QCOMPARE(c.sam.width, 32);
    QCOMPARE(c.clip.width, 64);
    QCOMPARE(c.projector.input_dim, 128);
    QCOMPARE(c.decoder.hidden_size, 64);
    QCOMPARE(c.decoder.num_hidden_layers, 2);
    QCOMPARE(c.decoder.vocab_size, 129280);
  }

  void missingKeyIsNamed() {
    auto j = realConfigJson();
    j["language_config"].erase("moe_intermediate_size");
    QCOMPARE(parseError(j.dump()), std::string("my/config.json: missing key language_config.moe_intermediate_size"));
    j = realConfigJson();
    j["vision_config"]["width"].erase("clip-l-14-224");
    QCOMPARE(parseError(j.dump()), std::string("my/config.json: missing key vision_config.width.clip-l-14-224"));
    j = realConfigJson();
    j.erase("projector_config");
    QCOMPARE(parseError(j.dump()), std::string("my/config.json: missing key projector_config"));
  }

  void badJsonIsAnError() {
    QVERIFY(parseError("{\"language_config\": {").find("my/config.json: not valid JSON") == 0);
    QCOMPARE(parseError("[1, 2]"), std::string("my/config.json: not a JSON object"));
    QVERIFY_THROWS_EXCEPTION(folio::Error, folio::loadModelConfig("/nonexistent/config.json"));
  }

  void wrongTypesAreNamed() {
    auto j = realConfigJson();
    j["language_config"]["hidden_size"] = "1280";
    QCOMPARE(parseError(j.dump()),
             std::string("my/config.json: key language_config.hidden_size is not an integer: \"1280\""));
    j = realConfigJson();
    j["language_config"]["num_attention_heads"] = 2.5;
    QVERIFY(parseError(j.dump()).find("key language_config.num_attention_heads is not an integer") !=
            std::string::npos);
    j = realConfigJson();
    j["vision_config"]["width"]["sam_vit_b"]["global_attn_indexes"] = {2, "five"};
    QVERIFY(parseError(j.dump()).find("vision_config.width.sam_vit_b.global_attn_indexes") != std::string::npos);
    j = realConfigJson();
    j["vision_config"] = 3;
    QCOMPARE(parseError(j.dump()), std::string("my/config.json: key vision_config is not an object"));
    j = realConfigJson();
    j["language_config"]["rope_theta"] = "big";
    QVERIFY(parseError(j.dump()).find("language_config.rope_theta is not a number") != std::string::npos);
  }

  void inconsistentDimensionsAreRefused() {
    auto j = realConfigJson();
    j["language_config"]["num_hidden_layers"] = 0;
    QVERIFY(parseError(j.dump()).find("num_hidden_layers must be positive") != std::string::npos);
    j = realConfigJson();
    j["projector_config"]["input_dim"] = 2000;
    QVERIFY(parseError(j.dump()).find("projector_config.input_dim") != std::string::npos);
    j = realConfigJson();
    j["language_config"]["num_attention_heads"] = 7;
    QVERIFY(parseError(j.dump()).find("does not divide hidden_size") != std::string::npos);
  }
};

QTEST_GUILESS_MAIN(TestConfig)
#include "test_config.moc"
