#include "page_view.h"

#include <QGraphicsPixmapItem>
#include <QGraphicsRectItem>
#include <QHash>
#include <QMouseEvent>
#include <QRubberBand>
#include <QScrollBar>
#include <QWheelEvent>

namespace folio::ui {
namespace {
constexpr double kMaxRenderScale = 6.0;  // never render a page bigger than this × its model size
constexpr int kRerenderDelayMs = 120;
}  // namespace

QColor labelColor(const QString& label) {
  static const QHash<QString, QColor> known = {
      {"title", QColor(0xd6, 0x27, 0x28)},         {"sub_title", QColor(0xff, 0x7f, 0x0e)},
      {"text", QColor(0x1f, 0x77, 0xb4)},          {"table", QColor(0x2c, 0xa0, 0x2c)},
      {"table_caption", QColor(0x98, 0xdf, 0x8a)}, {"image", QColor(0x94, 0x67, 0xbd)},
      {"image_caption", QColor(0xc5, 0xb0, 0xd5)}, {"equation", QColor(0x8c, 0x56, 0x4b)},
      {"page_number", QColor(0x7f, 0x7f, 0x7f)},   {"header", QColor(0xbc, 0xbd, 0x22)},
      {"footer", QColor(0x17, 0xbe, 0xcf)}};
  if (auto it = known.find(label); it != known.end()) return *it;
  return QColor::fromHsv(int(qHash(label) % 360), 160, 200);  // stable colour for labels we do not know
}

PageView::PageView(QWidget* parent) : QGraphicsView(parent) {
  setScene(new QGraphicsScene(this));
  setDragMode(QGraphicsView::ScrollHandDrag);
  setTransformationAnchor(QGraphicsView::AnchorUnderMouse);
  setBackgroundBrush(QColor(0x60, 0x60, 0x60));
  setMouseTracking(true);
  rerender_timer_.setSingleShot(true);
  rerender_timer_.setInterval(kRerenderDelayMs);
  connect(&rerender_timer_, &QTimer::timeout, this, &PageView::rerenderSharp);
  rubber_band_ = new QRubberBand(QRubberBand::Rectangle, viewport());
}

void PageView::setPage(const QImage& image, QSize page_size, Renderer renderer) {
  clearPage();
  page_size_ = page_size;
  renderer_ = std::move(renderer);
  pixmap_ = scene()->addPixmap(QPixmap::fromImage(image));
  pixmap_->setTransformationMode(Qt::SmoothTransformation);
  pixmap_->setZValue(-1);
  if (!image.isNull()) pixmap_->setScale(double(page_size.width()) / image.width());
  rendered_scale_ = image.isNull() ? 0 : double(image.width()) / page_size.width();
  scene()->setSceneRect(QRectF(QPointF(0, 0), page_size));
  applyFit();
}

void PageView::clearPage() {
  scene()->clear();
  pixmap_ = nullptr;
  page_size_ = {};
  boxes_.clear();
  box_region_.clear();
  highlighted_ = -1;
}

void PageView::setRegions(const QList<app::PageRegion>& regions) {
  for (QGraphicsRectItem* box : boxes_) delete box;
  boxes_.clear();
  box_region_.clear();
  highlighted_ = -1;
  for (int r = 0; r < regions.size(); ++r) {
    QColor color = labelColor(regions[r].label);
    QColor fill = color;
    fill.setAlpha(40);
    for (const QRectF& rect : regions[r].boxes) {
      QPen pen(color, 2);
      pen.setCosmetic(true);  // the same width at every zoom
      auto* box = scene()->addRect(rect, pen, fill);
      box->setToolTip(regions[r].label);
      box->setVisible(boxes_visible_);
      box->setAcceptHoverEvents(true);
      boxes_ << box;
      box_region_ << r;
    }
  }
}

QPoint PageView::boxViewportCenter(int region, int box) const {
  int seen = 0;
  for (int i = 0; i < boxes_.size(); ++i)
    if (box_region_[i] == region && seen++ == box) return mapFromScene(boxes_[i]->rect().center());
  return {};
}

double PageView::zoom() const { return transform().m11(); }

void PageView::highlightRegion(int region) {
  if (region == highlighted_) return;
  highlighted_ = region;
  for (int i = 0; i < boxes_.size(); ++i) {
    QColor color = boxes_[i]->pen().color();
    QColor fill = color;
    bool on = box_region_[i] == region;
    fill.setAlpha(on ? 110 : 40);
    boxes_[i]->setBrush(fill);
    QPen pen(color, on ? 4 : 2);
    pen.setCosmetic(true);
    boxes_[i]->setPen(pen);
    if (on) ensureVisible(boxes_[i], 20, 20);
  }
}

void PageView::setBoxesVisible(bool visible) {
  boxes_visible_ = visible;
  for (QGraphicsRectItem* box : boxes_) box->setVisible(visible);
}

void PageView::fitWidth() {
  fit_ = Fit::Width;
  applyFit();
}

void PageView::fitPage() {
  fit_ = Fit::Page;
  applyFit();
}

void PageView::zoomBy(double factor) {
  fit_ = Fit::None;
  double target = std::clamp(zoom() * factor, 0.05, 16.0);
  setTransform(QTransform::fromScale(target, target));
  rerender_timer_.start();
  emit zoomChanged(zoom());
}

void PageView::applyFit() {
  if (page_size_.isEmpty() || fit_ == Fit::None) return;
  QSizeF area = viewport()->size() - QSizeF(4, 4);
  double scale_w = area.width() / page_size_.width();
  double scale = fit_ == Fit::Width ? scale_w : std::min(scale_w, area.height() / page_size_.height());
  setTransform(QTransform::fromScale(scale, scale));
  rerender_timer_.start();
  emit zoomChanged(zoom());
}

void PageView::rerenderSharp() {
  if (!renderer_ || !pixmap_ || page_size_.isEmpty()) return;
  double wanted = std::min(zoom() * devicePixelRatioF(), kMaxRenderScale);
  if (std::abs(wanted - rendered_scale_) < 0.05 * rendered_scale_) return;
  QImage image = renderer_(wanted);
  if (image.isNull()) return;
  pixmap_->setPixmap(QPixmap::fromImage(image));
  pixmap_->setScale(double(page_size_.width()) / image.width());
  rendered_scale_ = wanted;
}

int PageView::regionAt(QPoint viewport_pos) const {
  for (QGraphicsItem* item : items(viewport_pos)) {
    int index = boxes_.indexOf(static_cast<QGraphicsRectItem*>(item));
    if (index >= 0 && item->isVisible()) return box_region_[index];
  }
  return -1;
}

void PageView::setSelectingRegion(bool selecting) {
  selecting_ = selecting;
  setDragMode(selecting ? QGraphicsView::NoDrag : QGraphicsView::ScrollHandDrag);
  viewport()->setCursor(selecting ? Qt::CrossCursor : Qt::OpenHandCursor);
}

void PageView::mousePressEvent(QMouseEvent* event) {
  if (selecting_ && event->button() == Qt::LeftButton) {
    selection_origin_ = event->position().toPoint();
    rubber_band_->setGeometry(QRect(selection_origin_, QSize()));
    rubber_band_->show();
    return;
  }
  if (event->button() == Qt::LeftButton) {
    int region = regionAt(event->position().toPoint());
    if (region >= 0) {
      highlightRegion(region);
      emit regionClicked(region);
    }
  }
  QGraphicsView::mousePressEvent(event);
}

void PageView::mouseMoveEvent(QMouseEvent* event) {
  if (selecting_ && rubber_band_->isVisible()) {
    rubber_band_->setGeometry(QRect(selection_origin_, event->position().toPoint()).normalized());
    return;
  }
  QGraphicsView::mouseMoveEvent(event);
}

void PageView::mouseReleaseEvent(QMouseEvent* event) {
  if (selecting_ && rubber_band_->isVisible()) {
    rubber_band_->hide();
    QRectF rect = mapToScene(rubber_band_->geometry()).boundingRect().intersected(scene()->sceneRect());
    setSelectingRegion(false);
    if (rect.width() > 4 && rect.height() > 4) emit regionSelected(rect);
    return;
  }
  QGraphicsView::mouseReleaseEvent(event);
}

void PageView::wheelEvent(QWheelEvent* event) {
  if (event->modifiers() & Qt::ControlModifier) {
    zoomBy(event->angleDelta().y() > 0 ? 1.15 : 1 / 1.15);
    return;
  }
  QGraphicsView::wheelEvent(event);
}

void PageView::resizeEvent(QResizeEvent* event) {
  QGraphicsView::resizeEvent(event);
  applyFit();
}

}  // namespace folio::ui
