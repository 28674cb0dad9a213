#include "main_window.h"

namespace folio::ui {

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
  setWindowTitle(tr("Folio"));
  resize(1280, 800);
}

}  // namespace folio::ui
