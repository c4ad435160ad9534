//! Line charts as inline SVG, for the HTML report: no script, no fonts, no
//! network, so the page opens anywhere and prints. Pure: data in, markup out.
//!
//! Axes are linear, log10, or HdrHistogram's percentile axis (x = log10(1 /
//! (1 - q)), so 90%, 99%, 99.9% ... are evenly spaced). Every series is one
//! `<path>` carrying `data-series="<name>"`; points of short series also get
//! a hover title.

use std::fmt::Write as _;

/// Width of a chart's drawing, px (the SVG scales to its container).
const WIDTH: f64 = 760.0;
/// Height, px.
const HEIGHT: f64 = 280.0;
/// Margins around the plot area: left, right, top, bottom.
const MARGIN: (f64, f64, f64, f64) = (70.0, 18.0, 12.0, 42.0);
/// Series up to this many points get a hover title per point.
const HOVER_POINTS_MAX: usize = 150;
/// Deepest percentile the percentile axis shows: 99.9999%.
pub const PERCENTILE_NINES_MAX: f64 = 6.0;

/// Colours of series, in order (Tableau 10).
pub const PALETTE: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac",
];

/// How an axis maps values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// Linear, from 0 (or the smallest value, if negative).
    Linear,
    /// Log10 (values ≤ 0 are left out).
    Log,
    /// HdrHistogram's percentile axis; values are `log10(1 / (1 - q))`.
    Percentile,
}

/// What an axis's numbers are, for its tick labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// A count or rate: 1.5k, 2M.
    Count,
    /// Microseconds: 50 µs, 1.2 ms, 3 s.
    Micros,
    /// Seconds of a run.
    Seconds,
    /// Bytes: KiB, MiB.
    Bytes,
    /// A plain number with up to two decimals.
    Plain,
}

/// One axis.
#[derive(Clone, Debug)]
pub struct Axis {
    /// Its label.
    pub label: String,
    /// Its scale.
    pub scale: Scale,
    /// Its unit.
    pub unit: Unit,
}

impl Axis {
    /// An axis.
    pub fn new(label: &str, scale: Scale, unit: Unit) -> Axis {
        Axis {
            label: label.to_owned(),
            scale,
            unit,
        }
    }
}

/// One line.
#[derive(Clone, Debug)]
pub struct Series {
    /// Its name (legend and `data-series`).
    pub name: String,
    /// Its colour.
    pub color: String,
    /// (x, y) points in x order; a non-finite y breaks the line.
    pub points: Vec<(f64, f64)>,
    /// Stroke width, px.
    pub width: f64,
    /// Dashed.
    pub dashed: bool,
    /// Opacity, 0..1.
    pub opacity: f64,
}

impl Series {
    /// A solid line of width 2.
    pub fn new(name: &str, color: &str, points: Vec<(f64, f64)>) -> Series {
        Series {
            name: name.to_owned(),
            color: color.to_owned(),
            points,
            width: 2.0,
            dashed: false,
            opacity: 1.0,
        }
    }

    /// The same, dashed.
    pub fn dashed(mut self) -> Series {
        self.dashed = true;
        self
    }

    /// The same, thinner and faded (a secondary line).
    pub fn faint(mut self) -> Series {
        self.width = 1.2;
        self.opacity = 0.45;
        self
    }
}

/// A shaded stretch of the x axis (warm-up).
#[derive(Clone, Debug)]
pub struct Band {
    /// Start.
    pub from: f64,
    /// End.
    pub to: f64,
    /// Its label.
    pub label: String,
}

/// A chart: axes, lines, bands.
#[derive(Clone, Debug)]
pub struct Chart {
    /// The x axis.
    pub x: Axis,
    /// The y axis.
    pub y: Axis,
    /// The lines, drawn in order.
    pub series: Vec<Series>,
    /// Shaded stretches.
    pub bands: Vec<Band>,
}

/// The x position of quantile `q` on a [`Scale::Percentile`] axis.
pub fn percentile_x(q: f64) -> f64 {
    if q >= 1.0 {
        PERCENTILE_NINES_MAX
    } else {
        (1.0 / (1.0 - q)).log10().min(PERCENTILE_NINES_MAX)
    }
}

struct Mapping {
    scale: Scale,
    lo: f64,
    hi: f64,
    from_px: f64,
    to_px: f64,
}

impl Mapping {
    fn value(&self, v: f64) -> f64 {
        match self.scale {
            Scale::Log => v.log10(),
            Scale::Linear | Scale::Percentile => v,
        }
    }

    fn px(&self, v: f64) -> f64 {
        let t = (self.value(v) - self.lo) / (self.hi - self.lo);
        self.from_px + t * (self.to_px - self.from_px)
    }

    fn usable(&self, v: f64) -> bool {
        v.is_finite() && (self.scale != Scale::Log || v > 0.0)
    }
}

/// The range an axis shows for `values`, in mapped units (log10 for Log).
fn range(scale: Scale, values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values {
        let m = match scale {
            Scale::Log if v > 0.0 => v.log10(),
            Scale::Log => continue,
            _ => v,
        };
        if m.is_finite() {
            lo = lo.min(m);
            hi = hi.max(m);
        }
    }
    if !lo.is_finite() {
        return match scale {
            Scale::Log => (0.0, 1.0),
            _ => (0.0, 1.0),
        };
    }
    match scale {
        Scale::Linear => {
            let lo = lo.min(0.0);
            let hi = if hi <= lo { lo + 1.0 } else { hi };
            let step = nice_step((hi - lo) / 5.0);
            (lo, (hi / step).ceil() * step)
        }
        Scale::Log => {
            let (lo, hi) = (lo.floor(), hi.ceil());
            (lo, if hi <= lo { lo + 1.0 } else { hi })
        }
        Scale::Percentile => (0.0, hi.clamp(1.0, PERCENTILE_NINES_MAX)),
    }
}

/// A round step near `raw`: 1, 2 or 5 times a power of ten.
pub fn nice_step(raw: f64) -> f64 {
    if raw <= 0.0 || !raw.is_finite() {
        return 1.0;
    }
    let power = 10f64.powf(raw.log10().floor());
    let f = raw / power;
    let nice = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * power
}

/// Ticks of an axis: (value in data units, label).
fn ticks(axis: &Axis, lo: f64, hi: f64) -> Vec<(f64, String)> {
    match axis.scale {
        Scale::Linear => {
            let step = nice_step((hi - lo) / 5.0);
            let mut out = Vec::new();
            let mut v = (lo / step).ceil() * step;
            while v <= hi + step * 1e-9 {
                out.push((v, label(axis.unit, v)));
                v += step;
            }
            out
        }
        Scale::Log => {
            let decades = (hi - lo).round() as i32;
            let mults: &[f64] = if decades <= 2 {
                &[1.0, 2.0, 5.0]
            } else {
                &[1.0]
            };
            let mut out = Vec::new();
            for d in lo as i32..=hi as i32 {
                for m in mults {
                    let v = m * 10f64.powi(d);
                    if v.log10() <= hi + 1e-9 {
                        out.push((v, label(axis.unit, v)));
                    }
                }
            }
            out
        }
        Scale::Percentile => (0..=(hi + 1e-9) as i32)
            .map(|n| {
                let text = match n {
                    0 => "0%".to_owned(),
                    1 => "90%".to_owned(),
                    n => format!("99.{}%", "9".repeat(n as usize - 2)),
                };
                (f64::from(n), text.replace("99.%", "99%"))
            })
            .collect(),
    }
}

/// A value for an axis label or a table.
pub fn label(unit: Unit, v: f64) -> String {
    fn trim(s: String) -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            s
        }
    }
    match unit {
        Unit::Count => {
            let a = v.abs();
            if a >= 1e6 {
                trim(format!("{:.2}", v / 1e6)) + "M"
            } else if a >= 1e3 {
                trim(format!("{:.1}", v / 1e3)) + "k"
            } else {
                trim(format!("{v:.1}"))
            }
        }
        Unit::Micros => {
            if v >= 1e6 {
                trim(format!("{:.2}", v / 1e6)) + " s"
            } else if v >= 1e3 {
                trim(format!("{:.2}", v / 1e3)) + " ms"
            } else {
                trim(format!("{v:.1}")) + " µs"
            }
        }
        Unit::Seconds => trim(format!("{v:.1}")) + " s",
        Unit::Bytes => {
            if v >= (1u64 << 30) as f64 {
                trim(format!("{:.1}", v / (1u64 << 30) as f64)) + " GiB"
            } else if v >= (1 << 20) as f64 {
                trim(format!("{:.1}", v / (1 << 20) as f64)) + " MiB"
            } else if v >= 1024.0 {
                trim(format!("{:.1}", v / 1024.0)) + " KiB"
            } else {
                format!("{v:.0} B")
            }
        }
        Unit::Plain => trim(format!("{v:.2}")),
    }
}

/// Escapes text for HTML and SVG.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

impl Chart {
    /// A chart with no series yet.
    pub fn new(x: Axis, y: Axis) -> Chart {
        Chart {
            x,
            y,
            series: Vec::new(),
            bands: Vec::new(),
        }
    }

    /// Whether any series has a point to draw.
    pub fn is_empty(&self) -> bool {
        self.series.iter().all(|s| s.points.is_empty())
    }

    /// The chart as an `<svg>` element followed by its legend.
    pub fn svg(&self) -> String {
        let (left, right, top, bottom) = MARGIN;
        let xs = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0))
            .chain(self.bands.iter().flat_map(|b| [b.from, b.to]));
        let ys = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1));
        let (x_lo, x_hi) = range(self.x.scale, xs);
        let (y_lo, y_hi) = range(self.y.scale, ys);
        let xm = Mapping {
            scale: self.x.scale,
            lo: x_lo,
            hi: x_hi,
            from_px: left,
            to_px: WIDTH - right,
        };
        let ym = Mapping {
            scale: self.y.scale,
            lo: y_lo,
            hi: y_hi,
            from_px: HEIGHT - bottom,
            to_px: top,
        };
        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{}">"#,
            esc(&format!("{} against {}", self.y.label, self.x.label))
        );
        for band in &self.bands {
            let (x0, x1) = (xm.px(band.from), xm.px(band.to));
            let _ = write!(
                s,
                r#"<rect class="band" x="{x0:.1}" y="{top:.1}" width="{:.1}" height="{:.1}"/><text class="band-label" x="{:.1}" y="{:.1}">{}</text>"#,
                (x1 - x0).max(0.0),
                HEIGHT - bottom - top,
                x0 + 4.0,
                top + 12.0,
                esc(&band.label)
            );
        }
        self.grid(&mut s, &xm, &ym);
        for (i, series) in self.series.iter().enumerate() {
            draw_series(&mut s, series, i, &xm, &ym, &self.x, &self.y);
        }
        let _ = write!(
            s,
            r#"<text class="axis-label" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            left + (WIDTH - left - right) / 2.0,
            HEIGHT - 6.0,
            esc(&self.x.label)
        );
        let _ = write!(
            s,
            r#"<text class="axis-label" transform="translate(14 {:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
            top + (HEIGHT - top - bottom) / 2.0,
            esc(&self.y.label)
        );
        s.push_str("</svg>");
        s.push_str(&self.legend());
        s
    }

    fn grid(&self, s: &mut String, xm: &Mapping, ym: &Mapping) {
        let (left, right, top, bottom) = MARGIN;
        for (v, text) in ticks(&self.y, ym.lo, ym.hi) {
            let y = ym.px(v);
            let _ = write!(
                s,
                r#"<line class="grid" x1="{left}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}"/><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                WIDTH - right,
                left - 6.0,
                y + 4.0,
                esc(&text)
            );
        }
        for (v, text) in ticks(&self.x, xm.lo, xm.hi) {
            let x = xm.px(v);
            // A label at the right edge would be cut: it ends there instead.
            let anchor = if x > WIDTH - right - 24.0 {
                "end"
            } else {
                "middle"
            };
            let _ = write!(
                s,
                r#"<line class="grid" x1="{x:.1}" x2="{x:.1}" y1="{top}" y2="{:.1}"/><text class="tick" x="{x:.1}" y="{:.1}" text-anchor="{anchor}">{}</text>"#,
                HEIGHT - bottom,
                HEIGHT - bottom + 16.0,
                esc(&text)
            );
        }
        let _ = write!(
            s,
            r#"<rect class="frame" x="{left}" y="{top}" width="{:.1}" height="{:.1}"/>"#,
            WIDTH - left - right,
            HEIGHT - top - bottom
        );
    }

    fn legend(&self) -> String {
        let mut s = String::from(r#"<div class="legend">"#);
        for series in &self.series {
            let _ = write!(
                s,
                r#"<span><i style="background:{};opacity:{}"{}></i>{}</span>"#,
                esc(&series.color),
                series.opacity.max(0.6),
                if series.dashed {
                    r#" class="dashed""#
                } else {
                    ""
                },
                esc(&series.name)
            );
        }
        s.push_str("</div>");
        s
    }
}

fn draw_series(
    s: &mut String,
    series: &Series,
    index: usize,
    xm: &Mapping,
    ym: &Mapping,
    x_axis: &Axis,
    y_axis: &Axis,
) {
    let mut d = String::new();
    let mut pen_down = false;
    for &(x, y) in &series.points {
        if !(xm.usable(x) && ym.usable(y)) {
            pen_down = false;
            continue;
        }
        let _ = write!(
            d,
            "{}{:.1} {:.1}",
            if pen_down { " L" } else { " M" },
            xm.px(x),
            ym.px(y)
        );
        pen_down = true;
    }
    let _ = write!(
        s,
        r#"<g class="series" data-index="{index}"><path data-series="{}" d="{}" fill="none" stroke="{}" stroke-width="{}" stroke-opacity="{}" stroke-linejoin="round"{}/>"#,
        esc(&series.name),
        d.trim(),
        esc(&series.color),
        series.width,
        series.opacity,
        if series.dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        }
    );
    if series.points.len() <= HOVER_POINTS_MAX {
        for &(x, y) in &series.points {
            if !(xm.usable(x) && ym.usable(y)) {
                continue;
            }
            let x_text = match x_axis.scale {
                Scale::Percentile => format!("{:.4}%", 100.0 * (1.0 - 10f64.powf(-x))),
                _ => label(x_axis.unit, x),
            };
            let _ = write!(
                s,
                r#"<circle class="hover" cx="{:.1}" cy="{:.1}" r="4" fill="{}"><title>{}: {} at {}</title></circle>"#,
                xm.px(x),
                ym.px(y),
                esc(&series.color),
                esc(&series.name),
                esc(&label(y_axis.unit, y)),
                esc(&x_text)
            );
        }
    }
    s.push_str("</g>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_and_labels_are_round() {
        assert_eq!(nice_step(0.7), 1.0);
        assert_eq!(nice_step(13.0), 20.0);
        assert_eq!(nice_step(4100.0), 5000.0);
        assert_eq!(label(Unit::Count, 12_500.0), "12.5k");
        assert_eq!(label(Unit::Count, 2_000_000.0), "2M");
        assert_eq!(label(Unit::Micros, 250.0), "250 µs");
        assert_eq!(label(Unit::Micros, 1_500.0), "1.5 ms");
        assert_eq!(label(Unit::Micros, 2_000_000.0), "2 s");
        assert_eq!(label(Unit::Bytes, 3.0 * (1 << 20) as f64), "3 MiB");
        assert_eq!(
            esc("<a href='x'>&</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;"
        );
    }

    #[test]
    fn the_percentile_axis_spaces_nines_evenly() {
        assert_eq!(percentile_x(0.0), 0.0);
        assert!((percentile_x(0.99) - 2.0).abs() < 1e-9);
        assert!((percentile_x(0.999) - 3.0).abs() < 1e-6);
        assert_eq!(percentile_x(1.0), PERCENTILE_NINES_MAX);
        let axis = Axis::new("percentile", Scale::Percentile, Unit::Plain);
        let labels: Vec<String> = ticks(&axis, 0.0, 4.0).into_iter().map(|t| t.1).collect();
        assert_eq!(labels, ["0%", "90%", "99%", "99.9%", "99.99%"]);
    }

    #[test]
    fn log_ticks_cover_the_decades() {
        let axis = Axis::new("latency", Scale::Log, Unit::Micros);
        let (lo, hi) = range(Scale::Log, [30.0, 4_000.0].into_iter());
        assert_eq!((lo, hi), (1.0, 4.0));
        let labels: Vec<String> = ticks(&axis, lo, hi).into_iter().map(|t| t.1).collect();
        assert_eq!(labels, ["10 µs", "100 µs", "1 ms", "10 ms"]);
    }

    #[test]
    fn a_chart_draws_each_series_and_skips_gaps() {
        let mut chart = Chart::new(
            Axis::new("second", Scale::Linear, Unit::Seconds),
            Axis::new("latency", Scale::Log, Unit::Micros),
        );
        chart.series.push(Series::new(
            "p99 <all>",
            PALETTE[0],
            vec![(1.0, 100.0), (2.0, 0.0), (3.0, 300.0), (4.0, 400.0)],
        ));
        chart
            .series
            .push(Series::new("p50", PALETTE[1], vec![(1.0, 50.0)]).dashed());
        chart.bands.push(Band {
            from: 0.0,
            to: 2.0,
            label: "warm-up".into(),
        });
        let svg = chart.svg();
        assert!(svg.starts_with("<svg class=\"chart\""), "{svg}");
        assert!(svg.contains(r#"data-series="p99 &lt;all&gt;""#), "{svg}");
        assert!(svg.contains(r#"data-series="p50""#));
        // The zero breaks the log-scale line: two pen-downs.
        let path = svg
            .split(r#"data-series="p99 &lt;all&gt;" d=""#)
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert_eq!(path.matches('M').count(), 2, "{path}");
        assert_eq!(path.matches('L').count(), 1, "{path}");
        assert!(svg.contains("warm-up"));
        assert!(svg.contains("stroke-dasharray"));
        assert!(
            svg.contains("<title>p99 &lt;all&gt;: 300 µs at 3 s</title>"),
            "{svg}"
        );
        assert!(!chart.is_empty());
    }
}
