//! Building blocks shared by the report's plots: SVG rendering into a string, the palette, a
//! legend column, category and iteration axes, and line panels.
//!
//! Text is written as SVG `<text>` elements and laid out by the viewer's font. plotters (built
//! without its `ttf`/`ab_glyph` features) only estimates text extents with naive metrics and needs
//! no font files, so label and legend areas are sized here from the longest label.

use std::error::Error;
use std::io;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::plots::Plot;

pub(super) type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
pub(super) type DrawResult = Result<(), Box<dyn Error>>;

/// Draws into a white SVG of `size` pixels and returns its text; errors name the plot's file.
pub(super) fn render(
    plot: &Plot,
    size: (u32, u32),
    draw: impl FnOnce(&Area) -> DrawResult,
) -> io::Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        let drawn = root
            .fill(&WHITE)
            .map_err(Into::into)
            .and_then(|()| draw(&root));
        let presented = drawn.and_then(|()| root.present().map_err(Into::into));
        presented.map_err(|e| io::Error::other(format!("plot {}: {e}", plot.file_name())))?;
    } // The backend writes the closing tag into `svg` when dropped.
    Ok(svg)
}

/// Ten well-separated colours (matplotlib's tab10); index `i` wraps around.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

pub(super) const GREY: RGBColor = RGBColor(110, 110, 110);

pub(super) fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Pixel width of `text` at `size` px: generous for proportional sans-serif fonts.
fn text_width(text: &str, size: u32) -> u32 {
    (text.chars().count() as u32 * size * 6).div_ceil(10)
}

pub(super) fn small_text(h: HPos, v: VPos) -> TextStyle<'static> {
    ("sans-serif", 12)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(h, v))
}

/// A `[lo, hi]` range in % around `values`, on multiples of 5 with some headroom, within 0..100.
pub(super) fn percent_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if lo > hi {
        return (0.0, 100.0);
    }
    let lo = (((lo - 3.0) / 5.0).floor() * 5.0).max(0.0);
    let hi = (((hi + 3.0) / 5.0).ceil() * 5.0).min(100.0);
    if hi - lo < 10.0 {
        ((hi - 10.0).max(0.0), (lo + 10.0).min(100.0))
    } else {
        (lo, hi)
    }
}

/// What a legend entry's sample looks like.
#[derive(Clone, Copy)]
pub(super) enum Glyph {
    Line,
    Dashed,
    Bar,
    Whisker,
    Ring,
}

pub(super) struct LegendEntry {
    pub(super) label: String,
    pub(super) colour: RGBColor,
    pub(super) glyph: Glyph,
}

/// Splits off a right-hand column wide enough for the legend's longest label.
pub(super) fn split_legend<'a>(root: &Area<'a>, entries: &[LegendEntry]) -> (Area<'a>, Area<'a>) {
    let longest = entries
        .iter()
        .map(|e| text_width(&e.label, 14))
        .max()
        .unwrap_or(0);
    let width = root.dim_in_pixel().0;
    root.split_horizontally(width - (longest + 60).clamp(80, width / 3))
}

/// Draws the legend top-down in `area`, a sample glyph left of each label.
pub(super) fn draw_legend(area: &Area, entries: &[LegendEntry]) -> DrawResult {
    let font = ("sans-serif", 14)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    for (i, entry) in entries.iter().enumerate() {
        let (x, y) = (8, 60 + 24 * i as i32);
        let c = entry.colour;
        match entry.glyph {
            Glyph::Line => {
                area.draw(&PathElement::new([(x, y), (x + 26, y)], c.stroke_width(2)))?
            }
            Glyph::Dashed => {
                for dx in [0, 10, 20] {
                    area.draw(&PathElement::new(
                        [(x + dx, y), (x + dx + 6, y)],
                        c.stroke_width(2),
                    ))?;
                }
            }
            Glyph::Bar => area.draw(&Rectangle::new([(x, y - 6), (x + 26, y + 6)], c.filled()))?,
            Glyph::Whisker => {
                area.draw(&PathElement::new([(x, y), (x + 26, y)], c.stroke_width(2)))?;
                for end in [x, x + 26] {
                    area.draw(&PathElement::new(
                        [(end, y - 5), (end, y + 5)],
                        c.stroke_width(2),
                    ))?;
                }
                area.draw(&Circle::new((x + 13, y), 5, c.filled()))?;
            }
            Glyph::Ring => area.draw(&Circle::new((x + 13, y), 3, c.stroke_width(1)))?,
        }
        area.draw(&Text::new(entry.label.clone(), (x + 34, y), font.clone()))?;
    }
    Ok(())
}

/// An `f64` axis with ticks exactly at the given values (categories, whole iterations).
///
/// plotters' own `with_key_points` keeps `f64`'s no-default-formatting marker and so cannot be
/// given a label formatter in 0.3.7; this axis can.
pub(super) struct Ticked {
    inner: RangedCoordf64,
    ticks: Vec<f64>,
}

impl Ticked {
    fn new(range: std::ops::Range<f64>, ticks: Vec<f64>) -> Self {
        Self {
            inner: range.into(),
            ticks,
        }
    }
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // Bold grid lines and labels at the ticks; no light grid lines between them.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.inner.range()
    }
}

/// Rows of categories, first category at the top: `y = n − 1 − i`.
pub(super) fn category_y(n: usize, i: usize) -> f64 {
    (n - 1 - i) as f64
}

/// The y-axis tick label of category rows (see [`category_y`]).
pub(super) fn category_labels(names: &[String]) -> impl Fn(&f64) -> String + '_ {
    move |y: &f64| {
        let n = names.len() as f64;
        let k = y.round();
        if k >= 0.0 && k < n {
            names[(n - 1.0 - k) as usize].clone()
        } else {
            String::new()
        }
    }
}

pub(super) type CategoryChart<'a, 'b> =
    ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, Ticked>>;

/// A chart with a numeric x axis and one y row per name, labels sized to the longest name.
pub(super) fn category_chart<'a, 'b>(
    area: &'a Area<'b>,
    title: &str,
    names: &[String],
    x: std::ops::Range<f64>,
) -> Result<CategoryChart<'a, 'b>, Box<dyn Error>> {
    let n = names.len().max(1);
    let label_width = names.iter().map(|s| text_width(s, 14)).max().unwrap_or(0) + 20;
    let y = Ticked::new(
        -0.5..n as f64 - 0.5,
        (0..names.len()).map(|i| i as f64).collect(),
    );
    Ok(ChartBuilder::on(area)
        .caption(title, ("sans-serif", 20))
        .margin(14)
        .x_label_area_size(48)
        .y_label_area_size(label_width)
        .build_cartesian_2d(x, y)?)
}

/// One line over iterations: `points[i]` is the value at iteration `i + 1`, `None` for a gap.
pub(super) struct Line {
    pub(super) label: String,
    /// Colour index; indices past the palette wrap around and draw dashed.
    pub(super) index: usize,
    pub(super) points: Vec<Option<f64>>,
}

impl Line {
    pub(super) fn legend_entry(&self) -> LegendEntry {
        let glyph = if self.index < PALETTE.len() {
            Glyph::Line
        } else {
            Glyph::Dashed
        };
        LegendEntry {
            label: self.label.clone(),
            colour: colour(self.index),
            glyph,
        }
    }

    /// Runs of consecutive present points, as `(iteration, value)`.
    pub(super) fn segments(&self) -> Vec<Vec<(f64, f64)>> {
        let mut segments = vec![Vec::new()];
        for (i, point) in self.points.iter().enumerate() {
            match point {
                Some(v) => segments
                    .last_mut()
                    .expect("non-empty")
                    .push(((i + 1) as f64, *v)),
                None if segments.last().is_some_and(|s| !s.is_empty()) => segments.push(Vec::new()),
                None => {}
            }
        }
        segments.retain(|s| !s.is_empty());
        segments
    }
}

pub(super) struct Panel {
    pub(super) caption: String,
    pub(super) caption_size: u32,
    pub(super) y_desc: &'static str,
    pub(super) y_range: (f64, f64),
}

/// Line chart over iterations `1..=iterations`, one tick per iteration up to 15, fewer beyond.
pub(super) fn draw_lines(
    area: &Area,
    panel: &Panel,
    iterations: usize,
    lines: &[Line],
) -> DrawResult {
    let last = iterations.max(1) as f64;
    let step = iterations.div_ceil(15).max(1);
    let ticks: Vec<f64> = (1..=iterations.max(1))
        .step_by(step)
        .map(|i| i as f64)
        .collect();
    let x = Ticked::new(0.75..last + 0.25, ticks);
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.caption, ("sans-serif", panel.caption_size))
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d(x, panel.y_range.0..panel.y_range.1)?;
    chart
        .configure_mesh()
        .max_light_lines(0)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .x_desc("iteration")
        .y_desc(panel.y_desc)
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .draw()?;
    for line in lines {
        let c = colour(line.index);
        for segment in line.segments() {
            if line.index < PALETTE.len() {
                chart.draw_series(LineSeries::new(segment.clone(), c.stroke_width(2)))?;
            } else {
                chart.draw_series(DashedLineSeries::new(
                    segment.clone(),
                    8,
                    4,
                    c.stroke_width(2),
                ))?;
            }
            chart.draw_series(segment.iter().map(|&p| Circle::new(p, 3, c.filled())))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_break_at_gaps() {
        let line = Line {
            label: "x".into(),
            index: 0,
            points: vec![None, Some(1.0), Some(2.0), None, Some(3.0)],
        };
        assert_eq!(
            line.segments(),
            vec![vec![(2.0, 1.0), (3.0, 2.0)], vec![(5.0, 3.0)]]
        );
    }

    #[test]
    fn percent_range_pads_and_clamps() {
        assert_eq!(percent_range([61.0, 64.0].into_iter()), (55.0, 70.0));
        assert_eq!(percent_range([99.0].into_iter()), (90.0, 100.0));
        assert_eq!(percent_range(std::iter::empty()), (0.0, 100.0));
    }

    #[test]
    fn ticked_axis_has_bold_ticks_only() {
        let axis = Ticked::new(-0.5..2.5, vec![0.0, 1.0, 2.0]);
        let bold = plotters::coord::ranged1d::BoldPoints(10);
        assert_eq!(axis.key_points(bold), vec![0.0, 1.0, 2.0]);
        assert_eq!(axis.key_points(10), Vec::<f64>::new());
        assert_eq!(axis.map(&-0.5, (0, 300)), 0);
        assert_eq!(axis.map(&2.5, (0, 300)), 300);
    }
}
