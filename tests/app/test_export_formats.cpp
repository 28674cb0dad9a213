// Every export format on a project of a 2-page text PDF (paper_page.txt's result on each page) and an image
// (multi_box_cjk.txt's): the searchable PDF read back with Poppler and pdftotext, HTML, text, DOCX / ODT.
#include <QtTest/QtTest>

#include "document.h"
#include "export_formats.h"
#include "project.h"
#include "test_documents.h"

#include <poppler-qt6.h>

#include <QElapsedTimer>
#include <QProcess>
#include <QTemporaryDir>

using namespace folio;

namespace {

constexpr double kPdfDpi = 144;  // the test's pages were "read" at this resolution

struct Word {
  QString text;
  QRectF box;  // points, y down
};

// Runs a tool and returns its standard output; fails the test when it cannot run.
QByteArray runTool(const QString& program, const QStringList& arguments) {
  QProcess process;
  process.start(program, arguments);
  if (!process.waitForFinished(60000) || process.exitCode() != 0)
    qWarning("%s failed: %s", qPrintable(program), process.readAllStandardError().constData());
  return process.readAllStandardOutput();
}

// pdftotext's text in content stream order (-raw: the source page's own text, then the text layer in the
// order it was written), one entry per page.
QStringList pdfPageTexts(const QString& pdf) {
  QStringList pages = QString::fromUtf8(runTool("pdftotext", {"-raw", "-enc", "UTF-8", pdf, "-"})).split('\f');
  if (!pages.isEmpty() && pages.last().trimmed().isEmpty()) pages.removeLast();
  return pages;
}

// pdftotext -bbox's words of one page (0-based).
QList<Word> pdfWords(const QString& pdf, int page) {
  QString xhtml = QString::fromUtf8(runTool("pdftotext", {"-bbox", "-f", QString::number(page + 1), "-l",
                                                          QString::number(page + 1), pdf, "-"}));
  static const QRegularExpression word(
      R"re(<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>)re");
  QList<Word> words;
  for (auto it = word.globalMatch(xhtml); it.hasNext();) {
    auto m = it.next();
    words << Word{m.captured(5), QRectF(QPointF(m.captured(1).toDouble(), m.captured(2).toDouble()),
                                        QPointF(m.captured(3).toDouble(), m.captured(4).toDouble()))};
  }
  return words;
}

QString unzipEntry(const QString& archive, const QString& entry) {
  return QString::fromUtf8(runTool("unzip", {"-p", archive, entry}));
}

QString readText(const QString& path) {
  QFile file(path);
  return file.open(QIODevice::ReadOnly) ? QString::fromUtf8(file.readAll()) : QString();
}

}  // namespace

class TestExportFormats : public QObject {
  Q_OBJECT
  QTemporaryDir dir_;
  QString pdf_, image_;
  app::Project project_;
  QList<QSizeF> page_points_;  // each project page's size in points, as the source has it

  QString exported(app::ExportFormat format, const QString& name, app::ExportOptions options = {}) {
    QString path = dir_.filePath(name);
    app::ExportReport report = app::exportProject(project_, format, path, options);
    if (!report.errors.isEmpty()) qWarning("%s", qPrintable(report.errors.join("\n")));
    return report.errors.isEmpty() && report.written.contains(path) ? path : QString();
  }

  // The region of page `index` whose text contains `needle`, its first box in points.
  QRectF regionBoxInPoints(int index, const QString& needle) const {
    const app::Page& page = project_.page(index);
    for (const app::PageRegion& region : page.regions) {
      if (!page.markdown.mid(region.begin, region.end - region.begin).contains(needle)) continue;
      QRectF box = region.boxes.first();
      double sx = page_points_[index].width() / page.image_size.width();
      double sy = page_points_[index].height() / page.image_size.height();
      return QRectF(box.left() * sx, box.top() * sy, box.width() * sx, box.height() * sy);
    }
    return {};
  }

  // Every word of `words` that pdftotext found on the page lies inside the region's box, give or take 2% of the
  // page.
  void verifyWordsInRegion(const QString& pdf, int index, const QString& needle, const QStringList& words) {
    QRectF box = regionBoxInPoints(index, needle);
    QVERIFY2(!box.isEmpty(), qPrintable(needle));
    double mx = page_points_[index].width() * 0.02, my = page_points_[index].height() * 0.02;
    QRectF allowed = box.adjusted(-mx, -my, mx, my);
    QList<Word> found = pdfWords(pdf, index);
    for (const QString& text : words) {
      auto word = std::find_if(found.begin(), found.end(), [&](const Word& w) { return w.text == text; });
      QVERIFY2(word != found.end(), qPrintable("no word " + text));
      QVERIFY2(allowed.contains(word->box),
               qPrintable(QStringLiteral("%1 at (%2,%3 %4x%5) outside its region (%6,%7 %8x%9)")
                              .arg(text).arg(word->box.x()).arg(word->box.y()).arg(word->box.width())
                              .arg(word->box.height()).arg(box.x()).arg(box.y()).arg(box.width()).arg(box.height())));
    }
  }

 private slots:
  void initTestCase() {
    QVERIFY(dir_.isValid());
    pdf_ = test::writePdf(dir_.filePath("two_pages.pdf"), 2);
    image_ = test::writeImage(dir_.filePath("scan.png"), QSize(1000, 1400));
    auto document = app::openDocument(pdf_).document;
    QVERIFY(document);
    std::unique_ptr<Poppler::Document> poppler = Poppler::Document::load(pdf_);
    for (int i = 0; i < 2; ++i) {
      app::Page page;
      page.source = pdf_;
      page.source_page = i;
      page.dpi = kPdfDpi;
      int index = project_.addPage(page);
      QSize pixels = document->renderPage(i, kPdfDpi).size();
      project_.setResult(index, test::sampleResult("paper_page.txt", pixels, "page" + std::to_string(i + 1)), pixels);
      page_points_ << poppler->page(i)->pageSizeF();
    }
    app::Page scan;
    scan.source = image_;
    int index = project_.addPage(scan);
    project_.setResult(index, test::sampleResult("multi_box_cjk.txt", QSize(1000, 1400), "page1"), QSize(1000, 1400));
    page_points_ << QSizeF(1000, 1400) * (72 / scan.dpi);
  }

  void formatNames() {
    for (auto format : {app::ExportFormat::Markdown, app::ExportFormat::Json, app::ExportFormat::Html,
                        app::ExportFormat::Pdf, app::ExportFormat::Text, app::ExportFormat::Docx, app::ExportFormat::Odt}) {
      QCOMPARE(app::exportFormatFromName(app::exportFormatName(format)), format);
      QCOMPARE(app::exportFormatSuffix(format), "." + app::exportFormatName(format));
    }
    QCOMPARE(app::exportFormatFromName("PDF"), app::ExportFormat::Pdf);
    QVERIFY(!app::exportFormatFromName("rtf"));
    app::ExportReport json = app::exportProject(project_, app::ExportFormat::Json, dir_.filePath("x.json"), {});
    QCOMPARE(json.errors, QStringList{"json is written by the caller"});
  }

  void pdfKeepsPageCountAndSizes() {
    QString pdf = exported(app::ExportFormat::Pdf, "all.pdf");
    QVERIFY(!pdf.isEmpty());
    std::unique_ptr<Poppler::Document> out = Poppler::Document::load(pdf);
    QVERIFY(out);
    QCOMPARE(out->numPages(), 3);
    for (int i = 0; i < 3; ++i) {
      QSizeF size = out->page(i)->pageSizeF();
      QVERIFY2(qAbs(size.width() - page_points_[i].width()) < 0.5 && qAbs(size.height() - page_points_[i].height()) < 0.5,
               qPrintable(QStringLiteral("page %1: %2x%3").arg(i + 1).arg(size.width()).arg(size.height())));
    }
  }

  void pdfTextInReadingOrder() {
    QStringList pages = pdfPageTexts(exported(app::ExportFormat::Pdf, "order.pdf"));
    QCOMPARE(pages.size(), 3);
    for (int i = 0; i < 2; ++i) {
      QString text = pages[i].simplified();
      qsizetype title = text.indexOf("Optical Compression of Long Contexts");
      qsizetype intro = text.indexOf("1 Introduction");
      qsizetype body = text.indexOf("Documents rendered as images");
      qsizetype table = text.indexOf("Mode Resolution Tokens");
      qsizetype list = text.indexOf("Tiny and Small suit slides");
      QVERIFY2(title >= 0 && title < intro && intro < body && body < table && table < list, qPrintable(text));
    }
  }

  void pdfWordsLieInTheirRegions() {
    QString pdf = exported(app::ExportFormat::Pdf, "boxes.pdf");
    verifyWordsInRegion(pdf, 0, "Optical Compression", {"Optical", "Compression", "Contexts"});
    verifyWordsInRegion(pdf, 1, "Documents rendered", {"Documents", "tenfold", "survives."});
    verifyWordsInRegion(pdf, 0, "<table>", {"Resolution", "Large", "400"});
    verifyWordsInRegion(pdf, 2, "实验结果", {"第三章"});
  }

  void pdfCjkPageCopiesBack() {
    QStringList pages = pdfPageTexts(exported(app::ExportFormat::Pdf, "cjk.pdf"));
    QCOMPARE(pages.size(), 3);
    QString text = pages[2].simplified().remove(' ');
    for (QString expected : {"机密·内部资料", "第三章", "实验结果", "两栏排版的段落被模型合并为一段，并给出两个框。",
                             "图3：左为原始页面，右为重建结果。", "¹数据截至2025年10月。"})
      QVERIFY2(text.contains(expected), qPrintable(expected + " not in " + text));
  }

  void pdfImportsThePdfPageItself() {
    QStringList pages = pdfPageTexts(exported(app::ExportFormat::Pdf, "import.pdf"));
    QCOMPARE(pages.size(), 3);
    // The source's own text (QPdfWriter's vector text) survives: a re-rendered page would have lost it.
    QVERIFY2(pages[0].contains("Page 1 of the test document"), qPrintable(pages[0]));
    QVERIFY2(pages[1].contains("Page 2 of the test document"), qPrintable(pages[1]));
    QString fonts = QString::fromUtf8(runTool("pdffonts", {dir_.filePath("import.pdf")}));
    QVERIFY2(fonts.contains("DejaVuSans") && fonts.contains("DroidSansFallback"), qPrintable(fonts));
  }

  void pdfHonoursPageSelection() {
    app::ExportOptions options;
    options.pages = {2, 0};
    QString pdf = exported(app::ExportFormat::Pdf, "selection.pdf", options);
    QStringList pages = pdfPageTexts(pdf);
    QCOMPARE(pages.size(), 2);
    QVERIFY(pages[0].contains("实验结果"));
    QVERIFY(pages[1].contains("Page 1 of the test document"));
    QVERIFY(!pages.join("").contains("Page 2 of the test document"));
    options.pages = {5};
    QVERIFY(!app::exportProject(project_, app::ExportFormat::Pdf, dir_.filePath("bad.pdf"), options).errors.isEmpty());
  }

  void markdownHonoursPageSelection() {
    app::ExportOptions options;
    options.pages = {1};
    QString md = readText(exported(app::ExportFormat::Markdown, "selection.md", options));
    QVERIFY(md.contains("<!-- page 2 -->"));
    QVERIFY(!md.contains("<!-- page 1 -->") && !md.contains("<!-- page 3 -->"));
  }

  void htmlIsSelfContained() {
    QString html = readText(exported(app::ExportFormat::Html, "doc.html"));
    for (QString expected : {"id=\"page-1\"", "id=\"page-2\"", "id=\"page-3\"", "<table>", "<td>Resolution</td>",
                             "<h1>Optical Compression of Long Contexts</h1>", "<li>Tiny and Small suit slides",
                             "<span class=\"math display\">\\[R = \\frac{N_{\\text{text}}}",
                             "src=\"data:image/jpeg;base64,", "第三章"})
      QVERIFY2(html.contains(expected), qPrintable(expected));
    QVERIFY(!html.contains("src=\"images/"));
  }

  void textHasNoMarkup() {
    QString text = readText(exported(app::ExportFormat::Text, "doc.txt"));
    QCOMPARE(text.count('\f'), 2);
    for (QString expected : {"Optical Compression of Long Contexts", "Mode Resolution Tokens", "Tiny 512 64",
                             "Tiny and Small suit slides", "R = \\frac{N_{\\text{text}}}", "第三章"})
      QVERIFY2(text.contains(expected), qPrintable(expected + " not in " + text));
    for (QString markup : {"<td>", "<table>", "# ", "- Tiny", "![", "\\[", "<|ref|>"})
      QVERIFY2(!text.contains(markup), qPrintable(markup));
  }

  void officeFormatsThroughPandoc() {
    if (QStandardPaths::findExecutable("pandoc").isEmpty()) {
      app::ExportReport report = app::exportProject(project_, app::ExportFormat::Docx, dir_.filePath("x.docx"), {});
      QCOMPARE(report.errors, QStringList{"DOCX needs pandoc: install it with apt-get install pandoc"});
      QSKIP("pandoc is not installed: the DOCX/ODT content is not checked");
    }
    QString docx = unzipEntry(exported(app::ExportFormat::Docx, "doc.docx"), "word/document.xml");
    QVERIFY2(docx.contains("Optical Compression of Long Contexts") && docx.contains("<w:tbl>") && docx.contains("第三章"),
             qPrintable(docx.left(2000)));
    QVERIFY(QString::fromUtf8(runTool("unzip", {"-l", dir_.filePath("doc.docx")})).contains("word/media/"));
    QString odt = unzipEntry(exported(app::ExportFormat::Odt, "doc.odt"), "content.xml");
    QVERIFY2(odt.contains("Optical Compression of Long Contexts") && odt.contains("<table:table") && odt.contains("第三章"),
             qPrintable(odt.left(2000)));
  }

  // Not a speed requirement: prints how long a 100-page searchable PDF takes here.
  void hundredPagePdfTime() {
    QString pdf = test::writePdf(dir_.filePath("hundred.pdf"), 100);
    auto document = app::openDocument(pdf).document;
    QSize pixels = document->renderPage(0, kPdfDpi).size();
    Result result = test::sampleResult("paper_page.txt", pixels, "page");
    app::Project project;
    QList<app::Page> pages;
    for (int i = 0; i < 100; ++i) {
      app::Page page;
      page.source = pdf;
      page.source_page = i;
      pages << page;
    }
    project.addPages(pages);
    for (int i = 0; i < 100; ++i) project.setResult(i, result, pixels);
    QElapsedTimer timer;
    timer.start();
    app::ExportReport report = app::exportProject(project, app::ExportFormat::Pdf, dir_.filePath("hundred_out.pdf"), {});
    qint64 ms = timer.elapsed();
    QVERIFY2(report.errors.isEmpty(), qPrintable(report.errors.join("\n")));
    qInfo("searchable PDF of 100 pages: %lld ms, %lld KiB", ms, QFileInfo(dir_.filePath("hundred_out.pdf")).size() / 1024);
    QCOMPARE(pdfPageTexts(dir_.filePath("hundred_out.pdf")).size(), 100);
    QVERIFY(ms < 60000);
  }
};

QTEST_MAIN(TestExportFormats)
#include "test_export_formats.moc"
