// The safetensors reader and writer: round trips, zero-copy views, and malformed files that must be refused with
// a folio::Error naming the file and the problem.
#include <QtTest/QtTest>

#include <folio/engine.h>

#include <cstring>
#include <fstream>

#include "folio_test.h"
#include "safetensors.h"

namespace {

// A raw safetensors file: little-endian header length, header text, data bytes.
void writeRaw(const std::string& path, const std::string& header, std::size_t data_bytes,
              std::uint64_t header_length) {
  std::ofstream out(path, std::ios::binary);
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>(header_length >> (8 * i)));
  out << header << std::string(data_bytes, '\0');
}
void writeRaw(const std::string& path, const std::string& header, std::size_t data_bytes) {
  writeRaw(path, header, data_bytes, header.size());
}

}  // namespace

class TestSafetensors : public QObject {
  Q_OBJECT

  QTemporaryDir dir_;
  std::string path(const std::string& name) const { return dir_.filePath(QString::fromStdString(name)).toStdString(); }

  // Opening `file` must throw folio::Error whose message names the file and contains `problem`.
  void expectRefused(const std::string& file, const std::string& problem) {
    try {
      folio::SafetensorsFile::open(file);
    } catch (const folio::Error& e) {
      const std::string message = e.what();
      if (message.find(file) == std::string::npos || message.find(problem) == std::string::npos)
        QFAIL(qPrintable(QString::fromStdString("message '" + message + "' lacks the file or '" + problem + "'")));
      return;
    }
    QFAIL(qPrintable(QString::fromStdString(file + " was accepted")));
  }

 private slots:
  void roundTripKeepsValuesShapesDtypesAndMetadata() {
    const auto file = path("round.safetensors");
    auto f32 = torch::arange(12, torch::kFloat32).reshape({3, 4}) / 7.0f;
    auto bf16 = torch::linspace(-2, 2, 10).to(torch::kBFloat16).reshape({2, 5});
    auto i64 = torch::tensor(std::vector<std::int64_t>{5, -3, std::int64_t{1} << 40}, torch::kInt64);
    auto f16 = torch::full({2}, 1.5, torch::kHalf);
    auto i32 = torch::tensor({7, 8, 9}, torch::kInt32);
    auto u8 = torch::tensor({1, 255}, torch::kUInt8);
    auto flags = torch::tensor({true, false, true}, torch::kBool);
    auto scalar = torch::tensor(3.25, torch::kFloat64);
    folio::writeSafetensors(file,
                            {{"f32", f32}, {"bf16", bf16}, {"i64", i64}, {"f16", f16}, {"i32", i32}, {"u8", u8},
                             {"flags", flags}, {"scalar", scalar}},
                            {{"format", "pt"}, {"note", "test"}});
    auto st = folio::SafetensorsFile::open(file);
    QCOMPARE(st->tensors().size(), std::size_t{8});
    QCOMPARE(st->metadata().at("format"), std::string("pt"));
    QCOMPARE(st->metadata().at("note"), std::string("test"));
    QCOMPARE(st->find("bf16")->dtype, std::string("BF16"));
    QCOMPARE(st->find("i64")->shape, (std::vector<std::int64_t>{3}));
    QVERIFY(st->find("scalar")->shape.empty());
    QVERIFY(!st->contains("missing"));
    for (const auto& [name, want] : std::vector<std::pair<std::string, torch::Tensor>>{
             {"f32", f32}, {"bf16", bf16}, {"i64", i64}, {"f16", f16}, {"i32", i32}, {"u8", u8}, {"flags", flags},
             {"scalar", scalar}}) {
      auto got = st->tensor(name);
      QCOMPARE(got.scalar_type(), want.scalar_type());
      QCOMPARE(got.sizes().vec(), want.sizes().vec());
      QVERIFY2(torch::equal(got, want), name.c_str());
    }
    QVERIFY_THROWS_EXCEPTION(folio::Error, st->tensor("missing"));
  }

  void headerIsPaddedToEightBytes() {
    const auto file = path("padded.safetensors");
    folio::writeSafetensors(file, {{"x", torch::ones({3}, torch::kFloat32)}});
    std::ifstream in(file, std::ios::binary);
    std::uint64_t length = 0;
    in.read(reinterpret_cast<char*>(&length), 8);
    QCOMPARE(length % 8, std::uint64_t{0});
    QCOMPARE(std::filesystem::file_size(file), 8 + length + 12);
  }

  void tensorsAreZeroCopyViewsThatOutliveTheFile() {
    const auto file = path("zero_copy.safetensors");
    folio::writeSafetensors(file, {{"a", torch::arange(1000, torch::kFloat32)}, {"b", torch::ones({4, 4})}});
    auto st = folio::SafetensorsFile::open(file);
    const auto file_size = std::filesystem::file_size(file);
    auto a = st->tensor("a");
    auto b = st->tensor("b");
    // Both views lie inside one mapping of the file, at their offsets.
    const auto* pa = static_cast<const std::uint8_t*>(a.data_ptr());
    const auto* pb = static_cast<const std::uint8_t*>(b.data_ptr());
    const auto* data_start = pa - st->find("a")->begin;
    QCOMPARE(pb - data_start, std::ptrdiff_t(st->find("b")->begin));
    QVERIFY(std::uint64_t(pa - data_start) + 4000 <= file_size);
    QVERIFY(st->tensor("a").data_ptr() == a.data_ptr());
    st.reset();  // the tensor keeps the mapping alive
    QCOMPARE(a[999].item<float>(), 999.0f);
  }

  void streamingWriterCallsTheProducerInOrder() {
    const auto file = path("stream.safetensors");
    std::vector<folio::TensorSpec> specs{{"z", "BF16", {2, 3}}, {"a", "F32", {4}}};
    std::vector<std::string> produced;
    folio::writeSafetensorsStreaming(file, specs, [&](const folio::TensorSpec& spec) {
      produced.push_back(spec.name);
      return torch::full(spec.shape, 2.0, spec.dtype == "BF16" ? torch::kBFloat16 : torch::kFloat32);
    });
    QCOMPARE(produced, (std::vector<std::string>{"z", "a"}));
    auto st = folio::SafetensorsFile::open(file);
    QCOMPARE(st->tensors().front().name, std::string("z"));
    QCOMPARE(st->tensor("a").sum().item<float>(), 8.0f);
  }

  void streamingWriterRefusesAWrongTensorAndLeavesNoFile() {
    const auto file = path("wrong.safetensors");
    std::vector<folio::TensorSpec> specs{{"x", "F32", {2}}};
    QVERIFY_THROWS_EXCEPTION(folio::Error, folio::writeSafetensorsStreaming(file, specs, [](const auto&) {
                               return torch::zeros({3});
                             }));
    QVERIFY(!std::filesystem::exists(file));
    QCOMPARE(QDir(dir_.path()).entryList({".wrong*"}, QDir::Hidden | QDir::Files).size(), 0);
  }

  void malformedFilesAreRefusedWithTheProblem() {
    struct Case {
      std::string name;
      std::string header;
      std::size_t data_bytes;
      std::string problem;
    };
    const std::vector<Case> cases{
        {"bad_json", "{\"a\": {\"dtype\": \"F32\",", 0, "not valid JSON"},
        {"non_object_header", "[1, 2, 3]", 0, "not a JSON object"},
        {"non_object_entry", R"({"a": 5})", 0, "'a' is not an object"},
        {"missing_dtype", R"({"a": {"shape": [1], "data_offsets": [0, 4]}})", 4, "'a' has no dtype"},
        {"unknown_dtype", R"({"a": {"dtype": "F128", "shape": [1], "data_offsets": [0, 16]}})", 16,
         "unknown dtype 'F128'"},
        {"negative_dim", R"({"a": {"dtype": "F32", "shape": [-1, 2], "data_offsets": [0, 8]}})", 8,
         "negative or too large dimension"},
        {"shape_not_list", R"({"a": {"dtype": "F32", "shape": 3, "data_offsets": [0, 12]}})", 12, "not a list"},
        {"float_dim", R"({"a": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}})", 4, "non-integer"},
        {"shape_size_mismatch", R"({"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 12]}})", 12,
         "16 bytes but data_offsets span 12"},
        {"offsets_past_end", R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", 8,
         "past the end of the data"},
        {"begin_after_end", R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [8, 4]}})", 8, "begin 8 > end 4"},
        {"offsets_not_pair", R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0]}})", 4, "[begin, end]"},
        {"negative_offset", R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [-4, 0]}})", 4, "[begin, end]"},
        {"overlapping",
         R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
             "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
         12, "'a' and 'b' overlap"},
        {"duplicate_name",
         R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
             "a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
         8, "'a' twice"},
        {"shape_overflow",
         R"({"a": {"dtype": "F32", "shape": [4294967296, 4294967296, 16], "data_offsets": [0, 0]}})", 0,
         "overflows"},
        {"metadata_not_strings", R"({"__metadata__": {"format": 1}})", 0, "__metadata__ value of 'format'"},
        {"metadata_not_object", R"({"__metadata__": "pt"})", 0, "__metadata__ is not an object"},
    };
    for (const auto& c : cases) {
      const auto file = path(c.name + ".safetensors");
      writeRaw(file, c.header, c.data_bytes);
      expectRefused(file, c.problem);
    }
  }

  void badLengthsAreRefused() {
    const auto truncated = path("truncated.safetensors");
    std::ofstream(truncated, std::ios::binary) << "abc";
    expectRefused(truncated, "shorter than the 8-byte header length");

    const auto empty = path("empty.safetensors");
    std::ofstream(empty, std::ios::binary).flush();
    expectRefused(empty, "0 bytes");

    const auto zero = path("zero_header.safetensors");
    writeRaw(zero, "", 16, 0);
    expectRefused(zero, "header length is 0");

    const auto huge = path("huge_header.safetensors");
    writeRaw(huge, "{}", 0, 1ull << 62);
    expectRefused(huge, "header length 4611686018427387904");

    const auto past_file = path("header_past_file.safetensors");
    writeRaw(past_file, "{}", 0, 100);
    expectRefused(past_file, "larger than the file");

    const auto absent = path("absent.safetensors");
    expectRefused(absent, "cannot open");
  }

  void validateCheckpointNamesTheFirstProblem() {
    const auto file = path("checkpoint.safetensors");
    folio::writeSafetensors(file, {{"w1", torch::zeros({2, 3}, torch::kBFloat16)},
                                   {"w2", torch::zeros({4}, torch::kBFloat16)},
                                   {"f", torch::zeros({4}, torch::kFloat32)}});
    auto st = folio::SafetensorsFile::open(file);
    folio::validateCheckpoint(*st, {{"w1", {2, 3}}, {"w2", {4}}});
    auto messageOf = [&](const std::vector<std::pair<std::string, std::vector<std::int64_t>>>& expected) {
      try {
        folio::validateCheckpoint(*st, expected);
      } catch (const folio::Error& e) {
        return std::string(e.what());
      }
      return std::string("accepted");
    };
    QCOMPARE(messageOf({{"w1", {2, 3}}, {"gone1", {1}}, {"gone2", {1}}}), file + ": missing tensor gone1");
    QCOMPARE(messageOf({{"w2", {4}}, {"w1", {3, 2}}}), file + ": tensor w1 has shape [2, 3], expected [3, 2]");
    QCOMPARE(messageOf({{"f", {4}}}), file + ": tensor f has dtype F32, expected BF16");
  }

  void readsAnUpstreamGolden() {
    auto st = folio::SafetensorsFile::open(folio::test::goldensPath("base_800x1100.safetensors"));
    const auto* ids = st->find("input_ids");
    QVERIFY(ids);
    QCOMPARE(ids->dtype, std::string("I64"));
    QCOMPARE(ids->shape, (std::vector<std::int64_t>{283}));
    auto input_ids = st->tensor("input_ids");
    QCOMPARE(input_ids[0].item<std::int64_t>(), std::int64_t{0});  // bos
    QCOMPARE((input_ids == 128815).sum().item<std::int64_t>(), std::int64_t{273});  // one <image> per feature
    auto features = st->tensor("image_features");
    QCOMPARE(features.scalar_type(), torch::kFloat32);
    QCOMPARE(features.sizes().vec(), (std::vector<std::int64_t>{273, 1280}));
    QVERIFY(torch::isfinite(features).all().item<bool>());
  }
};

QTEST_GUILESS_MAIN(TestSafetensors)
#include "test_safetensors.moc"
