// The .deb a user installs: CPack builds it from this build tree, it is unpacked into a scratch root (dpkg -x), and
// the programs must run from there alone, with the files and Debian dependencies the package promises.
#include <QtTest/QtTest>

#include <QProcess>
#include <QRegularExpression>
#include <QTemporaryDir>

namespace {

struct Run {
  int exit_code = -1;
  QString output;  // stdout and stderr
};

Run run(const QString& program, const QStringList& arguments, const QProcessEnvironment& environment =
                                                                    QProcessEnvironment::systemEnvironment()) {
  QProcess process;
  process.setProcessEnvironment(environment);
  process.setProcessChannelMode(QProcess::MergedChannels);
  process.start(program, arguments);
  Run result;
  if (!process.waitForStarted(10000)) {
    result.output = program + ": " + process.errorString();
    return result;
  }
  process.waitForFinished(600000);
  result.output = QString::fromUtf8(process.readAll());
  result.exit_code = process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1;
  return result;
}

// What an installed program sees: no library path of ours, no display.
QProcessEnvironment installedEnvironment() {
  QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
  environment.remove("LD_LIBRARY_PATH");
  environment.remove("DISPLAY");
  environment.insert("QT_QPA_PLATFORM", "offscreen");
  return environment;
}

}  // namespace

class DebPackageTest : public QObject {
  Q_OBJECT
 private slots:
  void initTestCase() {
    QVERIFY(work_.isValid());
    const Run cpack = run(CMAKE_CPACK_COMMAND, {"--config", FOLIO_BINARY_DIR "/CPackConfig.cmake", "-B",
                                                work_.filePath("out")});
    QVERIFY2(cpack.exit_code == 0, qPrintable(cpack.output));
    const QStringList debs = QDir(work_.filePath("out")).entryList({"folio_*.deb"});
    QVERIFY2(debs.size() == 1, qPrintable(cpack.output));
    deb_ = work_.filePath("out/" + debs.first());
    const Run contents = run("dpkg-deb", {"--contents", deb_});
    QCOMPARE(contents.exit_code, 0);
    for (const QString& line : contents.output.split('\n', Qt::SkipEmptyParts))
      files_ << line.section(QRegularExpression("\\s+"), 5).section(" -> ", 0, 0);
    const Run unpack = run("dpkg-deb", {"-x", deb_, root()});
    QVERIFY2(unpack.exit_code == 0, qPrintable(unpack.output));
  }

  void holdsTheProgramsTheirLibrariesAndDesktopFiles() {
    for (const char* path : {"./usr/bin/folio", "./usr/bin/folio-cli", "./usr/lib/folio/libtorch_cpu.so",
                             "./usr/lib/folio/libc10.so", "./usr/lib/folio/libgomp.so.1",
                             "./usr/share/applications/folio.desktop",
                             "./usr/share/metainfo/io.github.folio.Folio.metainfo.xml",
                             "./usr/share/icons/hicolor/scalable/apps/folio.svg",
                             "./usr/share/icons/hicolor/256x256/apps/folio.png",
                             "./usr/share/man/man1/folio.1.gz", "./usr/share/man/man1/folio-cli.1.gz"})
      QVERIFY2(files_.contains(path), path);
    for (const QString& file : files_) {
      QVERIFY2(file.startsWith("./usr/"), qPrintable(file));
      // Debian's libraries are dependencies, never copies.
      QVERIFY2(!QRegularExpression("/lib(Qt6|poppler|opencv|podofo|cmark|stdc\\+\\+|c\\.so)").match(file).hasMatch(),
               qPrintable(file));
    }
  }

  void declaresDebianDependencies() {
    const Run depends = run("dpkg-deb", {"--field", deb_, "Depends"});
    QCOMPARE(depends.exit_code, 0);
    for (const char* package : {"libqt6widgets6", "libpoppler-qt6-3", "libopencv-imgcodecs", "libc6",
                                "fonts-dejavu-core"})
      QVERIFY2(depends.output.contains(package), qPrintable(depends.output));
  }

  void programsRunFromTheScratchRootAlone() {
    const QString bin = root() + "/usr/bin/";
    for (const QString& program : {bin + "folio", bin + "folio-cli"}) {
      // Every library is found beside the program, none in the build tree or the torch cache.
      const Run ldd = run("ldd", {program}, installedEnvironment());
      QCOMPARE(ldd.exit_code, 0);
      QVERIFY2(!ldd.output.contains("not found"), qPrintable(ldd.output));
      QVERIFY2(!ldd.output.contains(".cache/folio"), qPrintable(ldd.output));
      int private_libraries = 0;
      for (const QString& line : ldd.output.split('\n')) {
        const auto match = QRegularExpression("^\\s*(lib(torch|c10|gomp|cudart|cupti)\\S*) => (\\S+)").match(line);
        if (!match.hasMatch()) continue;
        ++private_libraries;
        QCOMPARE(QFileInfo(match.captured(3)).canonicalFilePath(),
                 QFileInfo(root() + "/usr/lib/folio/" + match.captured(1)).canonicalFilePath());
      }
      QVERIFY2(private_libraries >= 3, qPrintable(ldd.output));  // libtorch_cpu, libc10, libgomp at least
      const Run version = run(program, {"--version"}, installedEnvironment());
      QVERIFY2(version.exit_code == 0, qPrintable(version.output));
      QVERIFY2(version.output.contains(FOLIO_VERSION_STRING), qPrintable(version.output));
      QVERIFY2(version.output.contains("libtorch 2."), qPrintable(version.output));
    }
    const Run help = run(bin + "folio", {"--help"}, installedEnvironment());
    QVERIFY2(help.exit_code == 0, qPrintable(help.output));
    QVERIFY2(help.output.contains("Usage"), qPrintable(help.output));
  }

  void metainfoAndDesktopFileValidate() {
    const Run metainfo = run("appstreamcli", {"validate", "--no-net", "--pedantic",
                                              root() + "/usr/share/metainfo/io.github.folio.Folio.metainfo.xml"});
    QVERIFY2(metainfo.exit_code == 0, qPrintable(metainfo.output));
    QFile installed(root() + "/usr/share/metainfo/io.github.folio.Folio.metainfo.xml");
    QVERIFY(installed.open(QIODevice::ReadOnly));
    QVERIFY(installed.readAll().contains("<release version=\"" FOLIO_VERSION_STRING "\""));
    const Run desktop = run("desktop-file-validate", {root() + "/usr/share/applications/folio.desktop"});
    QVERIFY2(desktop.exit_code == 0, qPrintable(desktop.output));
  }

  void manPagesSayWhatHelpSays() {
    const Run page = run("sh", {"-c", "zcat '" + root() + "/usr/share/man/man1/folio-cli.1.gz'"});
    QCOMPARE(page.exit_code, 0);
    QVERIFY2(page.output.contains(".TH FOLIO-CLI"), qPrintable(page.output.left(400)));
    for (const char* command : {"ocr", "parity", "model"}) QVERIFY2(page.output.contains(command), command);
  }

 private:
  QString root() const { return work_.filePath("root"); }

  QTemporaryDir work_;
  QString deb_;
  QStringList files_;  // "./usr/bin/folio", ...
};

QTEST_GUILESS_MAIN(DebPackageTest)
#include "test_deb_package.moc"
