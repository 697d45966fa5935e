//! Charts as inline SVG (plotters' SVG backend; the text is SVG text the
//! browser sets in its own sans-serif, so no font is loaded).

use std::collections::BTreeMap;

use plotters::prelude::*;

use crate::document::{LoadResults, StepSummary, Sweep};

/// Two charts side by side in the report's width.
const WIDTH: u32 = 530;
const HEIGHT: u32 = 300;
const COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];
const FONT: &str = "sans-serif";

/// A series: its name, colour and points.
struct Line {
    name: String,
    color: RGBColor,
    points: Vec<(f64, f64)>,
}

/// A horizontal line across the chart, and a marked point.
#[derive(Default)]
struct Marks {
    level: Option<(String, f64)>,
    point: Option<(String, f64, f64)>,
}

struct Axes<'a> {
    title: &'a str,
    x: &'a str,
    y: &'a str,
    /// Labels of the x axis, for an axis that is not linear to the reader.
    x_label: Option<&'a dyn Fn(&f64) -> String>,
    x_range: Option<(f64, f64)>,
    /// Ticks on the x axis, when the default would fall between values.
    x_ticks: Option<usize>,
    /// A logarithmic latency axis, for steps far apart.
    log_y: bool,
    /// Where the legend goes: where the lines are not.
    legend: SeriesLabelPosition,
}

impl<'a> Axes<'a> {
    /// Linear axes, the x range from the points, the legend upper left.
    fn linear(title: &'a str, x: &'a str, y: &'a str) -> Self {
        Self {
            title,
            x,
            y,
            x_label: None,
            x_range: None,
            x_ticks: None,
            log_y: false,
            legend: SeriesLabelPosition::UpperLeft,
        }
    }
}

/// The p50, p95 and p99 lines of `points` (x and the three percentiles).
fn percentile_lines(points: &[(f64, [f64; 3])]) -> Vec<Line> {
    [("p50", 0), ("p95", 1), ("p99", 3)]
        .into_iter()
        .enumerate()
        .map(|(k, (name, color))| Line {
            name: name.into(),
            color: COLORS[color],
            points: points.iter().map(|(x, p)| (*x, p[k])).collect(),
        })
        .collect()
}

fn draw(axes: &Axes, lines: &[Line], marks: &Marks) -> String {
    let mut svg = String::new();
    if let Err(e) = draw_into(&mut svg, axes, lines, marks) {
        return format!(
            "<p class=\"error\">The chart \u{201c}{}\u{201d} could not be drawn: {}</p>",
            crate::text::escape(axes.title),
            crate::text::escape(&e.to_string())
        );
    }
    svg
}

/// Draws the mesh, the lines and the marks on a built chart (linear or
/// logarithmic latency axis alike).
macro_rules! plot {
    ($chart:expr, $axes:expr, $lines:expr, $marks:expr, $x_min:expr, $x_max:expr, $y_max:expr) => {{
        let mut chart = $chart;
        let mut mesh = chart.configure_mesh();
        mesh.x_desc($axes.x)
            .y_desc($axes.y)
            .label_style((FONT, 11))
            .axis_desc_style((FONT, 12))
            .light_line_style(RGBColor(238, 238, 238))
            .bold_line_style(RGBColor(220, 220, 220));
        if let Some(f) = $axes.x_label {
            mesh.x_label_formatter(f);
        }
        if let Some(ticks) = $axes.x_ticks {
            mesh.x_labels(ticks);
        }
        mesh.draw()?;
        for line in $lines {
            let color = line.color;
            chart
                .draw_series(LineSeries::new(
                    line.points.iter().copied(),
                    color.stroke_width(2),
                ))?
                .label(line.name.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
            if line.points.len() <= 30 {
                chart.draw_series(
                    line.points
                        .iter()
                        .map(|p| Circle::new(*p, 3, color.filled())),
                )?;
            }
        }
        if let Some((name, level)) = &$marks.level {
            let red = RGBColor(200, 0, 0);
            chart
                .draw_series(LineSeries::new(
                    [($x_min, *level), ($x_max, *level)],
                    red.stroke_width(1),
                ))?
                .label(name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], red));
        }
        if let Some((name, x, y)) = &$marks.point {
            chart.draw_series([Circle::new((*x, *y), 7, BLACK.stroke_width(2))])?;
            chart.draw_series([Text::new(
                name.clone(),
                (*x + ($x_max - $x_min) * 0.025, *y + $y_max * 0.1),
                (FONT, 12).into_font().color(&BLACK),
            )])?;
        }
        if !$lines.is_empty() {
            chart
                .configure_series_labels()
                .position($axes.legend.clone())
                .label_font((FONT, 11))
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(200, 200, 200))
                .draw()?;
        }
    }};
}

fn draw_into(
    svg: &mut String,
    axes: &Axes,
    lines: &[Line],
    marks: &Marks,
) -> Result<(), Box<dyn std::error::Error>> {
    let all = lines.iter().flat_map(|l| &l.points);
    let (x_min, x_max) = axes.x_range.unwrap_or_else(|| {
        let (lo, hi) = all.clone().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
            (lo.min(p.0), hi.max(p.0))
        });
        if lo > hi {
            (0.0, 1.0)
        } else if hi - lo < 1e-9 {
            (lo - 1.0, hi + 1.0)
        } else {
            (lo, hi)
        }
    });
    let y_top = all
        .map(|p| p.1)
        .chain(marks.level.iter().map(|l| l.1))
        .fold(0.0, f64::max);
    let y_max = if y_top > 0.0 { y_top * 1.12 } else { 1.0 };

    let root = SVGBackend::with_string(svg, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut builder = ChartBuilder::on(&root);
    builder
        .caption(axes.title, (FONT, 15))
        .margin(10)
        .x_label_area_size(38)
        .y_label_area_size(58);
    if axes.log_y {
        let y_min = lines
            .iter()
            .flat_map(|l| &l.points)
            .map(|p| p.1)
            .filter(|y| *y > 0.0)
            .fold(f64::MAX, f64::min);
        let y_min = if y_min >= f64::MAX { 0.01 } else { y_min * 0.8 };
        let chart = builder.build_cartesian_2d(x_min..x_max, (y_min..y_max).log_scale())?;
        plot!(chart, axes, lines, marks, x_min, x_max, y_max);
    } else {
        let chart = builder.build_cartesian_2d(x_min..x_max, 0.0..y_max)?;
        plot!(chart, axes, lines, marks, x_min, x_max, y_max);
    }
    root.present()?;
    Ok(())
}

/// A step's p50, p95 and p99 second by second.
pub fn latency_over_time(step: &StepSummary) -> String {
    let points = step
        .timeline
        .iter()
        .filter(|s| !s.latency.is_empty())
        .map(|s| (f64::from(s.second), [s.p50_ms, s.p95_ms, s.p99_ms]))
        .collect::<Vec<_>>();
    draw(
        &Axes::linear(&step.step, "seconds into the measured part", "latency ms"),
        &percentile_lines(&points),
        &Marks::default(),
    )
}

/// HTTP requests and their failures per second, all steps together (not
/// the open model's rounds, mail waits or flow failures); the last second,
/// when the measured part ended within it, over the part it covered.
pub fn throughput(load: &LoadResults) -> String {
    let mut seconds: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
    for interval in load
        .steps
        .iter()
        .filter(|s| crate::document::is_request(&s.step))
        .flat_map(|s| &s.timeline)
    {
        let e = seconds.entry(interval.second).or_default();
        e.0 += interval.requests;
        e.1 += interval.failures;
    }
    let covered = |second: u32| (load.measured_s - f64::from(second)).clamp(0.05, 1.0);
    let line = |name: &str, i: usize, f: fn(&(u64, u64)) -> u64| Line {
        name: name.into(),
        color: COLORS[i],
        points: seconds
            .iter()
            .map(|(s, v)| (f64::from(*s), f(v) as f64 / covered(*s)))
            .collect(),
    };
    draw(
        &Axes::linear(
            "Throughput and errors",
            "seconds into the measured part",
            "per second",
        ),
        &[line("requests", 0, |v| v.0), line("failures", 3, |v| v.1)],
        &Marks::default(),
    )
}

/// The quantiles a distribution is drawn at.
const QUANTILES: [f64; 14] = [
    0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 0.9995, 0.9999, 1.0,
];
/// How far right the last point (the maximum) goes: 99.99 % and beyond.
const MAX_NINES: f64 = 4.0;

/// Where quantile `q` sits on an axis of nines: 90 % at 1, 99 % at 2.
fn nines(q: f64) -> f64 {
    if q >= 1.0 {
        MAX_NINES
    } else {
        (-(1.0 - q).log10()).min(MAX_NINES)
    }
}

/// Every step's latency by percentile, on an axis of nines.
pub fn distribution(steps: &[StepSummary]) -> String {
    let lines: Vec<Line> = steps
        .iter()
        .filter(|s| !s.latency.is_empty())
        .enumerate()
        .map(|(i, s)| Line {
            name: s.step.clone(),
            color: COLORS[i % COLORS.len()],
            points: QUANTILES
                .iter()
                .map(|q| (nines(*q), s.latency.quantile_ms(*q)))
                .collect(),
        })
        .collect();
    let label = |x: &f64| {
        let q = 100.0 * (1.0 - 10f64.powf(-x));
        if *x >= MAX_NINES {
            "99.99 %".to_owned()
        } else {
            let text = format!("{q:.2}");
            format!("{} %", text.trim_end_matches('0').trim_end_matches('.'))
        }
    };
    draw(
        &Axes {
            title: "Latency by percentile",
            x: "percentile",
            y: "latency ms (log)",
            x_label: Some(&label),
            x_range: Some((0.0, MAX_NINES)),
            // 0 %, 90 %, 99 %, 99.9 %, 99.99 %.
            x_ticks: Some(5),
            log_y: true,
            legend: SeriesLabelPosition::LowerRight,
        },
        &lines,
        &Marks::default(),
    )
}

/// A sweep: its rounds' percentiles against the achieved rate, the
/// objective as a line and the capacity marked.
pub fn sweep(sweep: &Sweep) -> String {
    let points = sweep
        .steps
        .iter()
        .map(|s| (s.achieved_per_s, [s.p50_ms, s.p95_ms, s.p99_ms]))
        .collect::<Vec<_>>();
    let knee = sweep.capacity_per_s.and_then(|c| {
        sweep
            .steps
            .iter()
            .find(|s| (s.asked_per_s - c).abs() < 1e-9)
            .map(|s| (format!("capacity {c:.0}/s"), s.achieved_per_s, s.p99_ms))
    });
    draw(
        &Axes::linear(
            "Latency against the achieved rate",
            "achieved rounds per second",
            "latency ms (from the intended start)",
        ),
        &percentile_lines(&points),
        &Marks {
            level: Some((
                format!("objective: p99 ≤ {} ms", sweep.objective.p99_ms),
                sweep.objective.p99_ms,
            )),
            point: knee,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nines_put_percentiles_where_readers_expect_them() {
        assert!((nines(0.9) - 1.0).abs() < 1e-9);
        assert!((nines(0.99) - 2.0).abs() < 1e-9);
        assert!((nines(1.0) - MAX_NINES).abs() < 1e-9);
        assert!(nines(0.0).abs() < 1e-9);
    }
}
