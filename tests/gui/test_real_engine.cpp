// The main window on the real engine with a miniature synthetic model (folio-cli synth-weights).
#include <QtTest/QtTest>

#include "../app/scripted_backend.h"
#include "local_engine_backend.h"
#include "main_window.h"

#include <QPainter>
#include <QProcess>
#include <QTemporaryDir>

using namespace folio;

class RealEngineTest : public QObject {
  Q_OBJECT
 private slots:
  void runsAPageWithTheMiniatureModel() {
    QTemporaryDir dir;
    QString model = dir.filePath("model");
    QProcess synth;
    synth.start(FOLIO_CLI_PATH, {"synth-weights", "--config", FOLIO_SOURCE_DIR "/tests/data/mini_config.json",
                                 "--tokenizer", FOLIO_SHARED_DIR "/model/tokenizer.json", "-o", model});
    QVERIFY(synth.waitForFinished(600000));
    QVERIFY2(synth.exitCode() == 0, synth.readAllStandardError().constData());

    QImage image(640, 800, QImage::Format_RGB888);
    image.fill(Qt::white);
    QPainter(&image).drawText(100, 100, "Folio");
    QVERIFY(image.save(dir.filePath("page.png")));
    ui::MainWindow window(
        [model](const app::AppSettings&) { return app::localEngineFactory(model, Device::Cpu); },
        dir.filePath("project"));
    QVERIFY(window.openFile(dir.filePath("page.png")));
    window.setRunOptions(Mode::Tiny, Task::Markdown, 24);
    QSignalSpy finished(&window, &ui::MainWindow::queueFinished);
    window.runAll();
    QVERIFY(finished.wait(300000));
    QVERIFY2(window.bannerText().isEmpty(), qPrintable(window.bannerText()));
    QCOMPARE(window.project().page(0).status, app::PageStatus::Done);
    int boxes = 0;
    for (const app::PageRegion& region : window.project().page(0).regions) boxes += region.boxes.size();
    QCOMPARE(window.pageView()->boxCount(), boxes);
  }
};

QTEST_MAIN(RealEngineTest)
#include "test_real_engine.moc"
