// The window with pages read by OCR servers (a fake OpenAI-compatible server on a loopback port): the run, the
// boxes and the text as with the local engine, and Settings' "Test connection" answering per server while the
// window stays responsive.
#include <QtTest/QtTest>

#include "../app/scripted_backend.h"
#include "fake_openai_server.h"
#include "main_window.h"
#include "remote_settings.h"
#include "screenshot.h"

#include <QLabel>
#include <QListWidget>
#include <QPushButton>
#include <QTcpServer>
#include <QTemporaryDir>

using namespace folio;
using namespace std::chrono_literals;

class RemoteServersTest : public QObject {
  Q_OBJECT
 private slots:
  void initTestCase() { QStandardPaths::setTestModeEnabled(true); }

  void windowReadsPagesThroughOcrServers() {
    test::FakeOpenAiServer server(test::readSample("paper_page.txt").toStdString());
    server.setChunkDelay(1ms);
    QTemporaryDir dir;
    app::AppSettings settings;
    settings.remote = true;
    settings.remote_endpoints = server.url();
    QSettings stored;  // the window starts with what Settings saved (this test program's own settings file)
    settings.save(stored);
    stored.sync();
    ui::MainWindow window([](const app::AppSettings& s) { return app::backendFactory(s); }, dir.filePath("project"));
    window.show();
    const QString second = dir.filePath("second_page.png");
    QImage blank(800, 1000, QImage::Format_RGB888);
    blank.fill(Qt::white);
    QVERIFY(blank.save(second));
    QVERIFY(window.openFile(test::sampleScan("paper_page")));
    QVERIFY(window.openFile(second));
    QCOMPARE(window.pageStrip()->count(), 2);
    QSignalSpy finished(&window, &ui::MainWindow::queueFinished);
    window.showPage(0);
    window.runAll();
    QVERIFY(finished.wait(30000));
    for (int page = 0; page < 2; ++page) {
      QCOMPARE(window.project().page(page).status, app::PageStatus::Done);
      QVERIFY2(window.project().page(page).model.contains("remote"), qPrintable(window.project().page(page).model));
    }
    QCOMPARE(window.pageView()->boxCount(), test::sampleBoxCount("paper_page.txt"));
    QVERIFY(window.editor()->toPlainText().contains("Optical Compression"));
    QCOMPARE(server.chatRequests(), 2);
    test::saveScreenshot(&window, "screenshot_remote.png");
  }

  // One server answers, one refuses connections, one accepts and says nothing (the test waits out its 5 s).
  void testConnectionAnswersPerServer() {
    test::FakeOpenAiServer server("unused");
    const QString dead = test::closedPortUrl();
    QTcpServer silent;
    QVERIFY(silent.listen(QHostAddress::LocalHost));
    const QString silent_url = QStringLiteral("http://127.0.0.1:%1").arg(silent.serverPort());
    app::AppSettings settings;
    settings.remote_endpoints = server.url() + "\n" + dead + ", " + silent_url;
    ui::RemoteSettingsGroup group(settings);
    group.show();
    QSignalSpy tested(&group, &ui::RemoteSettingsGroup::tested);
    int ticks = 0;
    QTimer ticker;
    connect(&ticker, &QTimer::timeout, this, [&] { ++ticks; });
    ticker.start(5);
    QTest::mouseClick(group.testButton(), Qt::LeftButton);
    QVERIFY(!group.testButton()->isEnabled());  // one test at a time
    QVERIFY(tested.wait(15000));
    const QString result = group.testResult();
    QVERIFY2(result.contains("✓ " + server.url() + ": serves deepseek-ai/DeepSeek-OCR"), qPrintable(result));
    QVERIFY2(result.contains("✗ " + dead + ": cannot connect"), qPrintable(result));
    QVERIFY2(result.contains("✗ " + silent_url + ": no data"), qPrintable(result));
    QVERIFY2(ticks > 100, qPrintable(QString("%1 ticks: the window froze while the servers were asked").arg(ticks)));
    QVERIFY(group.testButton()->isEnabled());
    app::AppSettings stored;
    group.store(stored);
    QCOMPARE(stored.remote_endpoints, settings.remote_endpoints);
  }
};

QTEST_MAIN(RemoteServersTest)
#include "test_remote_servers.moc"
