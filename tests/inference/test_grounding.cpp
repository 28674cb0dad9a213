// The grounding parser and markdown post-processing on the sample outputs, hand-made edge cases, streaming in
// random chunks, and random input. Expected markdown of the samples is what upstream's export
// (run_dpsk_ocr_pdf.py, page 0) writes for them.
#include <QtTest/QtTest>

#include <folio/engine.h>

#include <fstream>
#include <random>
#include <sstream>

#include "folio_test.h"
#include "grounding.h"

namespace {

std::string sample(const std::string& name) {
  std::ifstream file(folio::test::sharedPath("model/sample_outputs/" + name), std::ios::binary);
  if (!file) throw std::runtime_error("cannot read sample " + name);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

QString q(std::string_view s) { return QString::fromUtf8(s.data(), static_cast<qsizetype>(s.size())); }

std::string spanText(const folio::GroundedText& g, const folio::Region& r) {
  return g.markdown.substr(r.markdown_begin, r.markdown_end - r.markdown_begin);
}

std::vector<std::string> labels(const folio::GroundedText& g) {
  std::vector<std::string> out;
  for (const auto& r : g.regions) out.push_back(r.label);
  return out;
}

void compareBox(const folio::Box& got, double x1, double y1, double x2, double y2) {
  QCOMPARE(got.x1, x1);
  QCOMPARE(got.y1, y1);
  QCOMPARE(got.x2, x2);
  QCOMPARE(got.y2, y2);
}

// Exact equality of two results; the first difference is the failure message.
std::string difference(const folio::GroundedText& a, const folio::GroundedText& b) {
  if (a.markdown != b.markdown) return "markdown differs: [" + a.markdown + "] vs [" + b.markdown + "]";
  if (a.complete != b.complete) return "complete differs";
  if (a.regions.size() != b.regions.size()) return "region count differs";
  for (std::size_t i = 0; i < a.regions.size(); ++i) {
    const auto& ra = a.regions[i];
    const auto& rb = b.regions[i];
    if (ra.label != rb.label || ra.figure_link != rb.figure_link || ra.markdown_begin != rb.markdown_begin ||
        ra.markdown_end != rb.markdown_end || ra.boxes.size() != rb.boxes.size())
      return "region " + std::to_string(i) + " differs";
    for (std::size_t k = 0; k < ra.boxes.size(); ++k)
      if (ra.boxes[k].x1 != rb.boxes[k].x1 || ra.boxes[k].y1 != rb.boxes[k].y1 ||
          ra.boxes[k].x2 != rb.boxes[k].x2 || ra.boxes[k].y2 != rb.boxes[k].y2)
        return "region " + std::to_string(i) + " box " + std::to_string(k) + " differs";
  }
  return {};
}

// Invariants every result must keep, whatever the input. (Tags can only be checked for on well-formed text:
// in random text, dropping a stray marker may join "<" and "|ref|>" into a new one.)
std::string brokenInvariant(const folio::GroundedText& g, bool well_formed_text = false) {
  if (well_formed_text)
    for (std::string_view tag : {"<|ref|>", "<|/ref|>", "<|det|>", "<|/det|>"})
      if (g.markdown.find(tag) != std::string::npos) return "tag left in markdown";
  if (g.markdown.find("\n\n\n") != std::string::npos) return "three newlines in a row";
  std::size_t previous_end = 0;
  for (const auto& r : g.regions) {
    if (r.boxes.empty()) return "region without box";
    if (r.markdown_begin > r.markdown_end || r.markdown_end > g.markdown.size()) return "span out of range";
    if (r.markdown_begin < previous_end) return "spans overlap";
    previous_end = r.markdown_end;
    for (const auto& b : r.boxes)
      if (!(b.x1 >= 0 && b.x1 <= b.x2 && b.y1 >= 0 && b.y1 <= b.y2)) return "box not ordered or negative";
  }
  return {};
}

// Feeds text to a stream in chunks of 1..max_chunk bytes; every intermediate result must equal a fresh parse
// of the text so far.
std::string streamDifference(const std::string& text, std::mt19937& rng, std::size_t max_chunk,
                             int width = 1000, int height = 1400) {
  folio::GroundingStream stream(width, height, "p");
  std::uniform_int_distribution<std::size_t> chunk(1, max_chunk);
  for (std::size_t pos = 0; pos < text.size();) {
    const std::size_t n = std::min(chunk(rng), text.size() - pos);
    stream.append(std::string_view(text).substr(pos, n));
    pos += n;
    const auto want = folio::parseGrounding(std::string_view(text).substr(0, pos), width, height, "p");
    if (auto d = difference(stream.current(), want); !d.empty()) return "after " + std::to_string(pos) + " bytes: " + d;
  }
  return {};
}

const std::vector<std::string> kSamples = {"paper_page.txt", "truncated.txt", "multi_box_cjk.txt", "locate.txt",
                                           "free_ocr.txt"};

}  // namespace

class TestGrounding : public QObject {
  Q_OBJECT
 private slots:
  void paperPageRegionsAndBoxes() {
    const auto g = folio::parseGrounding(sample("paper_page.txt"), 1998, 2997, "0");
    QVERIFY(g.complete);
    const std::vector<std::string> want = {"title",         "text",          "sub_title", "text",
                                           "equation",      "image",         "image_caption",
                                           "table_caption", "table",         "text",      "page_number"};
    QCOMPARE(labels(g), want);
    for (const auto& r : g.regions) QCOMPARE(r.boxes.size(), std::size_t{1});
    // [[118, 64, 880, 101]] and [[488, 950, 512, 965]] on a page of 2·999 × 3·999 pixels.
    compareBox(g.regions.front().boxes[0], 236, 192, 1760, 303);
    compareBox(g.regions.back().boxes[0], 976, 2850, 1024, 2895);
  }

  void boxesScaleToAnyPageSize() {
    const auto g = folio::parseGrounding(sample("paper_page.txt"), 1240, 1754);
    const auto& b = g.regions.front().boxes[0];  // 118/999·1240, 64/999·1754, 880/999·1240, 101/999·1754
    QVERIFY(std::abs(b.x1 - 146.4665) < 1e-3 && std::abs(b.y1 - 112.3684) < 1e-3);
    QVERIFY(std::abs(b.x2 - 1092.2923) < 1e-3 && std::abs(b.y2 - 177.3313) < 1e-3);
  }

  void paperPageMarkdownMatchesUpstreamExport() {
    const auto g = folio::parseGrounding(sample("paper_page.txt"), 1000, 1400, "0");
    const std::string want =
        "\n# Optical Compression of Long Contexts \n\nA. Author, B. Author and C. Author \n\n## 1 Introduction "
        "\n\nDocuments rendered as images can carry many more words per token than text itself. We measure how "
        "far this holds: at a tenfold compression the decoded text is nearly lossless, and at twentyfold about "
        "sixty percent of it survives. \n\n\\[\nR = \\frac{N_{\\text{text}}}{N_{\\text{vision}}} := "
        "\\frac{1000}{100}\n\\] \n\n![](images/0_0.jpg)\n\n \n\nFigure 1: Decoding precision against compression "
        "ratio. \n\nTable 1: Vision tokens per page by mode. \n\n<table><tr><td>Mode</td><td>Resolution</td>"
        "<td>Tokens</td></tr><tr><td>Tiny</td><td>512</td><td>64</td></tr><tr><td>Small</td><td>640</td><td>100"
        "</td></tr><tr><td>Base</td><td>1024</td><td>256</td></tr><tr><td>Large</td><td>1280</td><td>400</td>"
        "</tr></table> \n\n- Tiny and Small suit slides and receipts.\n- Base and Large suit dense pages.\n- "
        "Gundam adds 640-pixel tiles for newspapers. \n\n3 \n\n";
    QCOMPARE(q(g.markdown), q(want));
    QCOMPARE(q(brokenInvariant(g, true)), QString());
    QVERIFY(g.markdown.find("coloneqq") == std::string::npos);
    QVERIFY(g.markdown.find("end▁of▁sentence") == std::string::npos);
  }

  void paperPageSpansPointAtRegionText() {
    const auto g = folio::parseGrounding(sample("paper_page.txt"), 1000, 1400, "page3");
    const std::vector<std::string> want = {
        "# Optical Compression of Long Contexts",
        "A. Author, B. Author and C. Author",
        "## 1 Introduction",
        "Documents rendered as images can carry many more words per token than text itself. We measure how far "
        "this holds: at a tenfold compression the decoded text is nearly lossless, and at twentyfold about sixty "
        "percent of it survives.",
        "\\[\nR = \\frac{N_{\\text{text}}}{N_{\\text{vision}}} := \\frac{1000}{100}\n\\]",
        "![](images/page3_0.jpg)",
        "Figure 1: Decoding precision against compression ratio.",
        "Table 1: Vision tokens per page by mode.",
        "<table><tr><td>Mode</td><td>Resolution</td><td>Tokens</td></tr><tr><td>Tiny</td><td>512</td><td>64</td>"
        "</tr><tr><td>Small</td><td>640</td><td>100</td></tr><tr><td>Base</td><td>1024</td><td>256</td></tr><tr>"
        "<td>Large</td><td>1280</td><td>400</td></tr></table>",
        "- Tiny and Small suit slides and receipts.\n- Base and Large suit dense pages.\n- Gundam adds 640-pixel "
        "tiles for newspapers.",
        "3"};
    QCOMPARE(g.regions.size(), want.size());
    for (std::size_t i = 0; i < want.size(); ++i) QCOMPARE(q(spanText(g, g.regions[i])), q(want[i]));
    for (const auto& r : g.regions)
      QCOMPARE(q(r.figure_link), r.label == "image" ? QString("images/page3_0.jpg") : QString());
  }

  void truncatedKeepsCompleteRegions() {
    const auto g = folio::parseGrounding(sample("truncated.txt"), 1000, 1000);
    QVERIFY(!g.complete);
    QCOMPARE(labels(g), (std::vector<std::string>{"title", "text"}));
    QCOMPARE(q(g.markdown), q("\n# Quarterly Report \n\nRevenue grew in every region. \n\n"));
    QCOMPARE(q(spanText(g, g.regions[1])), q("Revenue grew in every region."));
    compareBox(g.regions[1].boxes[0], 100000.0 / 999, 100000.0 / 999, 900000.0 / 999, 300000.0 / 999);
  }

  void multiBoxCjkMatchesUpstreamExport() {
    const auto g = folio::parseGrounding(sample("multi_box_cjk.txt"), 999, 1998, "0");
    QVERIFY(g.complete);
    QCOMPARE(labels(g), (std::vector<std::string>{"header", "title", "text", "image", "image", "image_caption",
                                                  "footnote"}));
    const auto& two_columns = g.regions[2];
    QCOMPARE(two_columns.boxes.size(), std::size_t{2});
    compareBox(two_columns.boxes[0], 100, 240, 480, 800);
    compareBox(two_columns.boxes[1], 520, 240, 900, 800);
    compareBox(g.regions.back().boxes[0], 100, 1880, 700, 1920);
    QCOMPARE(q(g.regions[3].figure_link), q("images/0_0.jpg"));
    QCOMPARE(q(g.regions[4].figure_link), q("images/0_1.jpg"));
    const std::string want =
        "\n机密 · 内部资料 \n\n# 第三章\u3000实验结果 \n\n两栏排版的段落被模型合并为一段，并给出两个框。实验在三个"
        "数据集上进行，压缩比为十倍时精度约为百分之九十七。 \n\n![](images/0_0.jpg)\n\n \n\n![](images/0_1.jpg)\n\n"
        " \n\n图 3：左为原始页面，右为重建结果。 \n\n¹ 数据截至 2025 年 10 月。 \n\n";
    QCOMPARE(q(g.markdown), q(want));
    QCOMPARE(q(spanText(g, g.regions[0])), q("机密 · 内部资料"));
    QCOMPARE(q(spanText(g, g.regions[1])), q("# 第三章\u3000实验结果"));
    QCOMPARE(q(spanText(g, g.regions[4])), q("![](images/0_1.jpg)"));
    QCOMPARE(q(spanText(g, g.regions[6])), q("¹ 数据截至 2025 年 10 月。"));
  }

  void locateAnswerGivesRegion() {
    const auto g = folio::parseGrounding(sample("locate.txt"), 999, 999);
    QVERIFY(g.complete);
    QCOMPARE(labels(g), std::vector<std::string>{"the title"});
    compareBox(g.regions[0].boxes[0], 118, 64, 880, 101);
    QCOMPARE(q(g.markdown), QString());
    QCOMPARE(g.regions[0].markdown_begin, g.regions[0].markdown_end);
  }

  void freeOcrIsMarkdownOnly() {
    const auto g = folio::parseGrounding(sample("free_ocr.txt"), 1000, 1000);
    QVERIFY(g.complete);
    QVERIFY(g.regions.empty());
    QCOMPARE(q(g.markdown), q("Optical Compression of Long Contexts\nA. Author, B. Author and C. Author\n"
                              "1 Introduction\nDocuments rendered as images can carry many more words per token "
                              "than text itself."));
  }

  void malformedBoxesAreSkipped() {
    const auto boxes = [](std::string_view det) { return folio::parseBoxes(det, 999, 999); };
    QCOMPARE(boxes("[[1, 2, 3, 4]]").size(), std::size_t{1});
    QCOMPARE(boxes("[[1, 2, 3, 4], [5, 6, 7, 8], [9,10,11,12]]").size(), std::size_t{3});
    QCOMPARE(boxes("[[1, 2, 3]]").size(), std::size_t{0});
    QCOMPARE(boxes("[[1, 2, 3, 4, 5]]").size(), std::size_t{0});
    QCOMPARE(boxes("[[a, b, c, d]]").size(), std::size_t{0});
    QCOMPARE(boxes("[[1, 2, , 4]]").size(), std::size_t{0});
    QCOMPARE(boxes("[[1, 2, 3, 4x]]").size(), std::size_t{0});
    QCOMPARE(boxes("[[nan, 2, 3, 4]]").size(), std::size_t{0});
    QCOMPARE(boxes("1, 2, 3, 4").size(), std::size_t{0});
    QCOMPARE(boxes("[[1, 2, 3, 4").size(), std::size_t{0});
    QCOMPARE(boxes("").size(), std::size_t{0});
    // A missing outer bracket loses nothing; a broken box does not take the good ones with it.
    QCOMPARE(boxes("[[1, 2, 3, 4]").size(), std::size_t{1});
    const auto mixed = boxes("[[1, 2, 3], [10, 20, 30, 40], [x, 1, 2, 3]]");
    QCOMPARE(mixed.size(), std::size_t{1});
    compareBox(mixed[0], 10, 20, 30, 40);
    // Out-of-range coordinates are clamped to the page, swapped corners ordered.
    compareBox(boxes("[[1200, -5, 30.5, 40]]")[0], 30.5, 0, 999, 40);
  }

  void regionWithoutBoxIsDroppedButItsTextStays() {
    const auto g = folio::parseGrounding(
        "<|ref|>text<|/ref|><|det|>[[1, 2, 3]]<|/det|>\nkept \n\n<|ref|>title<|/ref|><|det|>[[0, 0, 999, 999]]"
        "<|/det|>\n# T \n\n<|ref|>image<|/ref|><|det|>oops<|/det|>\n \n\n<|ref|>image<|/ref|><|det|>[[1,1,2,2]]"
        "<|/det|>\n \n\n",
        999, 999);
    QCOMPARE(labels(g), (std::vector<std::string>{"title", "image"}));
    QCOMPARE(q(g.markdown), q("\nkept \n\n# T \n\n \n\n![](images/page_0.jpg)\n\n \n\n"));
    QCOMPARE(q(spanText(g, g.regions[0])), q("# T"));
    QCOMPARE(q(g.regions[1].figure_link), q("images/page_0.jpg"));
  }

  void tagEdgeCases() {
    // Text before the first tag is untagged; unknown labels are kept; identical image groups get their own links.
    const std::string image = "<|ref|>image<|/ref|><|det|>[[1, 1, 500, 500]]<|/det|>\n";
    const auto g = folio::parseGrounding(
        "Intro text\n<|ref|>marginalia<|/ref|><|det|>[[1, 2, 3, 4]]<|/det|>\nside note\n" + image + image, 999, 999);
    QCOMPARE(labels(g), (std::vector<std::string>{"marginalia", "image", "image"}));
    QVERIFY(g.markdown.starts_with("Intro text\n"));
    QCOMPARE(q(spanText(g, g.regions[0])), q("side note"));
    QCOMPARE(q(spanText(g, g.regions[1])), q("![](images/page_0.jpg)"));
    QCOMPARE(q(spanText(g, g.regions[2])), q("![](images/page_1.jpg)"));

    // Markers outside a complete group are dropped; a <|ref|> without <|det|> leaves its words.
    const auto stray = folio::parseGrounding("a<|/det|>b<|det|>c<|/ref|>d <|ref|>the title<|/ref|> here", 999, 999);
    QVERIFY(stray.regions.empty());
    QVERIFY(stray.complete);
    QCOMPARE(q(stray.markdown), q("abcd the title here"));

    // A group whose <|det|> is never closed before the next group is dropped, the next one kept.
    const auto unclosed = folio::parseGrounding(
        "<|ref|>text<|/ref|><|det|>[[1, 2, 3, 4]]\nlost <|ref|>title<|/ref|><|det|>[[5, 6, 7, 8]]<|/det|>\nT", 999,
        999);
    QCOMPARE(labels(unclosed), std::vector<std::string>{"title"});
    QCOMPARE(q(unclosed.markdown), q("\nT"));
    QVERIFY(unclosed.complete);
  }

  void replacementsAndNewlines() {
    const auto g = folio::parseGrounding(
        "<|ref|>equation<|/ref|><|det|>[[1, 2, 3, 4]]<|/det|>\n\\[a \\coloneqq b, c \\eqqcolon d\\]\n\n\n\n\n\n\n"
        "x\n\n\ny\\colon z\\",
        999, 999);
    QCOMPARE(q(g.markdown), q("\n\\[a := b, c =: d\\]\n\nx\n\ny\\colon z\\"));
    QCOMPARE(q(spanText(g, g.regions[0])), q("\\[a := b, c =: d\\]\n\nx\n\ny\\colon z\\"));
    // Free OCR gets the same clean-up; the eos text goes wherever it is.
    const auto free = folio::parseGrounding("x \\coloneqq y\n\n\n\nz<｜end▁of▁sentence｜>", 10, 10);
    QCOMPARE(q(free.markdown), q("x := y\n\nz"));
  }

  void cutTextIsIncomplete() {
    for (std::string_view cut : {"a <|ref|>tit", "a <|ref|>title<|/ref|>", "a <|ref|>title<|/ref|><|de",
                                 "a <|ref|>title<|/ref|><|det|>[[1, 2", "a <|re", "a <｜end▁of"}) {
      const auto g = folio::parseGrounding(cut, 999, 999);
      QVERIFY2(!g.complete, cut.data());
      QCOMPARE(q(g.markdown), q("a "));
      QVERIFY(g.regions.empty());
    }
    const auto lone = folio::parseGrounding("a <", 999, 999);  // a '<' alone is text
    QVERIFY(lone.complete);
    QCOMPARE(q(lone.markdown), q("a <"));
    const auto backslash = folio::parseGrounding("a \\colon", 999, 999);
    QVERIFY(backslash.complete);
    QCOMPARE(q(backslash.markdown), q("a \\colon"));
  }

  void badPageSizeThrows() {
    QVERIFY_THROWS_EXCEPTION(folio::Error, folio::parseGrounding("x", 0, 100));
    QVERIFY_THROWS_EXCEPTION(folio::Error, folio::GroundingStream(100, -1));
  }

  void streamingInChunksEqualsWholeParse() {
    std::mt19937 rng(1234);
    for (const auto& name : kSamples) {
      const std::string text = sample(name);
      for (std::size_t max_chunk : {1, 2, 5, 17, 64, 4096}) {
        const std::string d = streamDifference(text, rng, max_chunk);
        QVERIFY2(d.empty(), qPrintable(q(name + ", chunks <= " + std::to_string(max_chunk) + ": " + d)));
      }
    }
  }

  void streamShowsRegionsBeforeTheEnd() {
    const std::string text = sample("paper_page.txt");
    folio::GroundingStream stream(1000, 1400);
    const std::size_t half = text.find("<|ref|>equation");
    stream.append(std::string_view(text).substr(0, half));
    QCOMPARE(stream.current().regions.size(), std::size_t{4});
    stream.append(std::string_view(text).substr(half, 40));  // inside the equation's group: cut
    QVERIFY(!stream.current().complete);
    QCOMPARE(stream.current().regions.size(), std::size_t{4});
    stream.append(std::string_view(text).substr(half + 40));
    QVERIFY(stream.current().complete);
    QCOMPARE(stream.current().regions.size(), std::size_t{11});
  }

  void randomCutsOfSamplesAreSafe() {
    std::mt19937 rng(99);
    for (const auto& name : kSamples) {
      const std::string text = sample(name);
      for (std::size_t cut = 0; cut <= text.size(); ++cut) {
        const auto g = folio::parseGrounding(std::string_view(text).substr(0, cut), 1000, 1400);
        QVERIFY2(brokenInvariant(g, true).empty(), qPrintable(q(name + " cut at " + std::to_string(cut))));
      }
      // Random bytes overwritten or deleted: still parses, still streams to the same result.
      for (int trial = 0; trial < 200; ++trial) {
        std::string mutated = text;
        for (int k = 0; k < 5; ++k) {
          std::uniform_int_distribution<std::size_t> at(0, mutated.size() - 1);
          if (rng() % 2) mutated[at(rng)] = static_cast<char>(rng() % 256);
          else mutated.erase(at(rng), 1 + rng() % 8);
        }
        QVERIFY2(brokenInvariant(folio::parseGrounding(mutated, 1000, 1400)).empty(), "mutated sample");
        QVERIFY2(streamDifference(mutated, rng, 9).empty(), "mutated sample streams differently");
      }
    }
  }

  void randomTextIsSafe() {
    // Random sequences of grounding pieces and bytes, so markers meet in every order.
    const std::vector<std::string> pieces = {"<|ref|>", "<|/ref|>", "<|det|>", "<|/det|>", "[[", "]]", "[", "]",
                                             ", ", "12", "999", "image", "title", "\n", "\n\n", " ", "<", "<|",
                                             "|>", "\\coloneqq", "\\colon", "\\eqq", "<｜end▁of▁sentence｜>",
                                             "文字", "x"};
    std::mt19937 rng(7);
    for (int trial = 0; trial < 2000; ++trial) {
      std::string text;
      const int length = static_cast<int>(rng() % 60);
      for (int i = 0; i < length; ++i) {
        if (rng() % 5 == 0) text.push_back(static_cast<char>(rng() % 256));
        else text += pieces[rng() % pieces.size()];
      }
      const auto g = folio::parseGrounding(text, 1 + static_cast<int>(rng() % 3000), 1 + static_cast<int>(rng() % 3000));
      QVERIFY2(brokenInvariant(g).empty(), qPrintable(q(brokenInvariant(g) + " for: " + text)));
      const std::string d = streamDifference(text, rng, 1 + rng() % 12);
      QVERIFY2(d.empty(), qPrintable(q(d + " for: " + text)));
    }
  }
};

QTEST_GUILESS_MAIN(TestGrounding)
#include "test_grounding.moc"
