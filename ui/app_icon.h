// Folio's icon, from the resources compiled into folio_ui (resources/folio.qrc).
#pragma once

#include <QIcon>

namespace folio::ui {

// The PNG renderings of resources/icons/folio.svg at 16 to 256 px: no SVG image plugin is needed at run time.
QIcon appIcon();

}  // namespace folio::ui
