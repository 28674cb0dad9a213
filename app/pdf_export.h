// The searchable PDF: every page is the original — a PDF source's page itself, copied with its content streams
// (not re-rendered), an image source's image at its size — with the page's markdown (the user's edits included)
// set over it as invisible text (render mode 3), each region's words inside the box the model read them from,
// in reading order, so viewers select, search and copy the text where it stands on the page.
#pragma once

#include "exporter.h"

namespace folio::app {

// pages: indices into the project, in output order. The file is written atomically.
ExportReport exportSearchablePdf(const Project& project, const QList<int>& pages, const QString& path,
                                 const QString& password);

}  // namespace folio::app
