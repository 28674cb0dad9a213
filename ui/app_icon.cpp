#include "app_icon.h"

// Outside any namespace, as Q_INIT_RESOURCE requires. folio_ui is a static library: without this reference the
// linker would leave its compiled resources out of the executable.
static void registerFolioResources() { Q_INIT_RESOURCE(folio); }

namespace folio::ui {

QIcon appIcon() {
  registerFolioResources();
  QIcon icon;
  for (int size : {16, 32, 48, 64, 128, 256})
    icon.addFile(QStringLiteral(":/icons/hicolor/%1x%1/apps/folio.png").arg(size), QSize(size, size));
  return icon;
}

}  // namespace folio::ui
