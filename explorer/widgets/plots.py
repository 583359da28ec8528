"""pyqtgraph plots for curves over training: a legend under the plot, outside the data area (a legend inside
covered the curves it names), and an epoch axis that reads in epochs (pyqtgraph's automatic SI prefix turned the
first 0.4 epochs into "epoch (x0.001)" with ticks 0–400)."""

from __future__ import annotations

import pyqtgraph as pg

LEGEND_ROW = 4  # PlotItem's grid: title 0, top axis 1, view box 2, bottom axis 3; the legend goes below


class LegendBelow(pg.LegendItem):
    """A LegendItem that a layout places under a PlotItem's x axis, with as many entries to a row as fit the
    plot's width (a fixed count overflowed a narrow plot and pushed its right edge out of sight). Its size comes
    from its own grid of entries (the layout asks), instead of pyqtgraph's setGeometry(0, 0, …), which would move
    it over the plot's top-left corner."""

    SPACING = 12

    def __init__(self, plot_item: pg.PlotItem, columns: int = 2):
        self.plot_item = None
        super().__init__(colCount=columns, frame=False, labelTextSize="8pt", horSpacing=self.SPACING)
        self.most_columns = columns
        self.plot_item = plot_item
        plot_item.geometryChanged.connect(self.fit)

    def updateSize(self) -> None:  # noqa: N802 (pyqtgraph's name): after every entry added or removed
        self.fit()
        self.updateGeometry()

    def fit(self) -> None:
        """As many entries to a row as the plot's width takes (at least one, at most `most_columns`)."""
        if self.plot_item is None or not self.items:
            return
        left = self.plot_item.getAxis("left")
        room = self.plot_item.width() - (left.width() if left.isVisible() else 0) - 8
        widest = max(sample.boundingRect().width() + label.minimumWidth() for sample, label in self.items)
        fits = int(room // (widest + 2 * self.SPACING)) if room > 0 else 1
        columns = max(1, min(self.most_columns, fits, len(self.items)))
        if columns != self.columnCount:
            self.setColumnCount(columns)


def legend_below(plot: pg.PlotWidget, columns: int = 2) -> pg.LegendItem:
    """Give `plot` a legend under its x axis, up to `columns` entries to a row (fewer where the plot is narrow).
    Curves plotted with a name join it and leave it with removeItem, as with PlotItem.addLegend (it is the
    PlotItem's `legend`)."""
    item = plot.getPlotItem()
    legend = LegendBelow(item, columns)
    item.layout.addItem(legend, LEGEND_ROW, 1)
    item.legend = legend
    return legend


def epoch_axis(plot: pg.PlotWidget, label: str = "epoch") -> None:
    """The bottom axis of `plot` in epochs: labelled `label`, its ticks in epochs at any zoom (no SI scaling)."""
    plot.setLabel("bottom", label)
    plot.getPlotItem().getAxis("bottom").enableAutoSIPrefix(False)


def span_epochs(plot: pg.PlotWidget, epochs: int) -> None:
    """Show the run's whole length on the x axis (0 to `epochs`): the batch curve grows from the left, fractions of
    the first epoch read as 0.1, 0.2, …, and the axis does not rescale with every batch."""
    plot.getPlotItem().setXRange(0, max(1, epochs), padding=0.02)
