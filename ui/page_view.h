// The page: a QGraphicsView in page-pixel coordinates (the pixels of the image the model saw), with the
// grounding boxes on top, coloured by label. Zoom re-renders vector pages so text stays sharp at any zoom.
#pragma once

#include "project.h"

#include <QGraphicsView>
#include <QTimer>
#include <functional>

class QGraphicsPixmapItem;
class QRubberBand;

namespace folio::ui {

QColor labelColor(const QString& label);

class PageView : public QGraphicsView {
  Q_OBJECT
 public:
  // Renders the page at `scale` × its page-pixel size (null image: keep the current one).
  using Renderer = std::function<QImage(double scale)>;

  explicit PageView(QWidget* parent = nullptr);

  void setPage(const QImage& image, QSize page_size, Renderer renderer);
  void clearPage();
  void setRegions(const QList<app::PageRegion>& regions);
  int boxCount() const { return boxes_.size(); }
  QSize pageSize() const { return page_size_; }  // empty while no page is shown
  // The centre of box `box` of region `region` in viewport coordinates (for tests and tooltips).
  QPoint boxViewportCenter(int region, int box = 0) const;
  int highlightedRegion() const { return highlighted_; }
  double zoom() const;

 public slots:
  void highlightRegion(int region);
  void setBoxesVisible(bool visible);
  void fitWidth();
  void fitPage();
  void zoomBy(double factor);
  void setSelectingRegion(bool selecting);  // the next drag selects a rectangle to OCR

 signals:
  void regionClicked(int region);
  void regionSelected(const QRectF& page_rect);
  void zoomChanged(double zoom);

 protected:
  void mousePressEvent(QMouseEvent* event) override;
  void mouseMoveEvent(QMouseEvent* event) override;
  void mouseReleaseEvent(QMouseEvent* event) override;
  void wheelEvent(QWheelEvent* event) override;
  void resizeEvent(QResizeEvent* event) override;

 private:
  enum class Fit { None, Width, Page };
  void applyFit();
  void rerenderSharp();
  int regionAt(QPoint viewport_pos) const;

  QGraphicsPixmapItem* pixmap_ = nullptr;
  QSize page_size_;
  Renderer renderer_;
  QList<QGraphicsRectItem*> boxes_;
  QList<int> box_region_;  // region index of each box
  int highlighted_ = -1;
  bool boxes_visible_ = true;
  Fit fit_ = Fit::Width;
  double rendered_scale_ = 0;
  QTimer rerender_timer_;
  bool selecting_ = false;
  QPoint selection_origin_;
  QRubberBand* rubber_band_ = nullptr;
};

}  // namespace folio::ui
