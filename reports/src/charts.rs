//! The report's charts, drawn with plotters' SVG backend into strings (inline SVG: the HTML
//! makes no request). Every chart is a pure function of its data, so the same seeds draw the
//! same bytes.

use crate::Summary;
use plotters::prelude::*;
use sim::timeline::{Span, Timeline};

const WIDTH: u32 = 860;
/// The phases of a failover, in the order they happen, with their timing names.
pub const PHASES: [(&str, &str); 4] = [
    ("detection (session expired)", "fault_to_expired_ms"),
    ("election (new master elected)", "fault_to_elected_ms"),
    ("promotion (ports open)", "fault_to_serving_ms"),
    ("client recovery (all reconnected)", "fault_to_client_reconnect_ms"),
];
const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// The legend box every chart draws, at `position`.
fn legend<'a, X: Ranged, Y: Ranged>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
    position: SeriesLabelPosition,
) {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 11))
        .draw()
        .expect("a legend");
}

/// A legend entry for a line of `color`.
fn line_key(color: RGBColor) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
}

fn svg(height: u32, draw: impl FnOnce(DrawingArea<SVGBackend, plotters::coord::Shift>)) -> String {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).expect("an svg fill");
        draw(root.clone());
        root.present().expect("an svg");
    }
    out
}

/// The cumulative distribution over seeds of each failover phase (ms after the fault). `None`
/// when the scenario measured none of them.
pub fn failover_cdf(summary: &Summary) -> Option<String> {
    let series: Vec<(&str, Vec<(f64, f64)>)> = PHASES
        .iter()
        .filter_map(|(label, key)| Some((*label, summary.timings.get(*key)?.cdf())))
        .filter(|(_, points)| !points.is_empty())
        .collect();
    if series.is_empty() {
        return None;
    }
    let x_max = series.iter().flat_map(|(_, p)| p.iter().map(|(x, _)| *x)).fold(1.0, f64::max) * 1.05;
    Some(svg(320, |root| {
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("{}: failover phases, CDF over {} seeds", summary.scenario, summary.seeds),
                ("sans-serif", 16),
            )
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(0.0..x_max, 0.0..1.0)
            .expect("a chart");
        chart
            .configure_mesh()
            .x_desc("ms after the fault")
            .y_desc("fraction of seeds")
            .draw()
            .expect("a mesh");
        for (i, (label, points)) in series.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            // A step function: each seed's value raises the curve.
            let mut steps = vec![(0.0, 0.0)];
            let mut last = 0.0;
            for (x, y) in points {
                steps.push((*x, last));
                steps.push((*x, *y));
                last = *y;
            }
            steps.push((x_max, last));
            chart
                .draw_series(LineSeries::new(steps, color.stroke_width(2)))
                .expect("a series")
                .label(*label)
                .legend(line_key(color));
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight);
    }))
}

/// One seed's run as lanes over simulated time: each group's master, each ensemble's leader,
/// bridges, clients connected, with the faults shaded across every lane.
pub fn timeline(title: &str, t: &Timeline) -> String {
    let mut lanes: Vec<(String, Vec<&Span>)> = Vec::new();
    let sources: [(&[Span], &str); 4] =
        [(&t.masters, "master "), (&t.zk_leaders, "leader "), (&t.bridges, ""), (&t.clients, "client ")];
    for (spans, prefix) in sources {
        for span in spans {
            let lane = format!("{prefix}{}", span.lane);
            match lanes.iter_mut().find(|(l, _)| *l == lane) {
                Some((_, list)) => list.push(span),
                None => lanes.push((lane, vec![span])),
            }
        }
    }
    let rows = lanes.len().max(1) as u32;
    let end_s = (t.end_ms as f64 / 1000.0).max(1.0);
    svg(70 + rows * 26, |root| {
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(300)
            .build_cartesian_2d(0.0..end_s, 0.0..rows as f64)
            .expect("a chart");
        let names: Vec<String> = lanes.iter().map(|(l, _)| l.clone()).collect();
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(rows as usize * 2 + 1)
            .y_label_formatter(&|y: &f64| {
                let row = (rows as f64 - y - 0.5).round();
                let on_label = ((rows as f64 - y) - 0.5 - row).abs() < 0.01;
                match (on_label, names.get(row as usize)) {
                    (true, Some(name)) => name.clone(),
                    _ => String::new(),
                }
            })
            .x_desc("simulated s")
            .draw()
            .expect("a mesh");
        for fault in &t.faults {
            let (a, b) = (
                fault.from_ms as f64 / 1000.0,
                (fault.to_ms as f64 / 1000.0).max(fault.from_ms as f64 / 1000.0 + 0.2),
            );
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(a, 0.0), (b, rows as f64)],
                    RED.mix(0.15).filled(),
                )))
                .expect("a fault");
        }
        for (row, (_, spans)) in lanes.iter().enumerate() {
            let top = rows as f64 - row as f64 - 0.15;
            let bottom = rows as f64 - row as f64 - 0.85;
            let mut labels: Vec<&str> = Vec::new();
            for span in spans {
                if !labels.contains(&span.label.as_str()) {
                    labels.push(&span.label);
                }
                let color =
                    PALETTE[labels.iter().position(|l| *l == span.label).unwrap_or(0) % PALETTE.len()];
                let (a, b) = (span.from_ms as f64 / 1000.0, span.to_ms as f64 / 1000.0);
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(a, bottom), (b, top)],
                        color.mix(0.8).filled(),
                    )))
                    .expect("a span");
                if b - a > end_s / 25.0 {
                    chart
                        .draw_series(std::iter::once(Text::new(
                            span.label.clone(),
                            (a + end_s / 200.0, top - 0.2),
                            ("sans-serif", 11).into_font().color(&WHITE),
                        )))
                        .expect("a label");
                }
            }
        }
    })
}

/// Acknowledged sends and deliveries per simulated second, faults shaded.
pub fn throughput(title: &str, t: &Timeline) -> String {
    let seconds = t.acked_per_s.len().max(t.delivered_per_s.len()).max(1);
    let y_max =
        t.acked_per_s.iter().chain(&t.delivered_per_s).copied().max().unwrap_or(1).max(1) as f64 * 1.1;
    svg(280, |root| {
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..(t.end_ms as f64 / 1000.0).max(seconds as f64), 0.0..y_max)
            .expect("a chart");
        chart.configure_mesh().x_desc("simulated s").y_desc("messages / s").draw().expect("a mesh");
        for fault in &t.faults {
            let (a, b) = (fault.from_ms as f64 / 1000.0, fault.to_ms as f64 / 1000.0);
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(a, 0.0), (b.max(a + 0.2), y_max)],
                    RED.mix(0.12).filled(),
                )))
                .expect("a fault");
        }
        let series = [
            ("acknowledged sends", &t.acked_per_s, PALETTE[0]),
            ("deliveries", &t.delivered_per_s, PALETTE[2]),
        ];
        for (label, values, color) in series {
            let points = values.iter().enumerate().map(|(s, n)| (s as f64 + 0.5, *n as f64));
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))
                .expect("a series")
                .label(label)
                .legend(line_key(color));
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight);
    })
}

/// What became of the messages, per scenario: delivered, lost, duplicated, DLQ, stuck (summed
/// over seeds, log scale so a handful of losses next to millions of deliveries still shows).
pub fn message_outcomes(summaries: &[(String, &Summary)]) -> Option<String> {
    let kinds = ["delivered", "lost", "duplicated", "dlq", "stuck", "topic_missed_across_groups"];
    let with: Vec<&(String, &Summary)> =
        summaries.iter().filter(|(_, s)| s.counts.get("sent").is_some_and(|n| *n > 0)).collect();
    if with.is_empty() {
        return None;
    }
    let y_max = with.iter().flat_map(|(_, s)| kinds.iter().map(|k| s.count(k))).max().unwrap_or(1).max(10)
        as f64
        * 2.0;
    let groups = with.len();
    Some(svg(340, |root| {
        let mut chart = ChartBuilder::on(&root)
            .caption("Message outcomes, summed over seeds (log scale)", ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(90)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..groups as f64, (1.0..y_max).log_scale())
            .expect("a chart");
        let names: Vec<String> = with.iter().map(|(title, _)| title.clone()).collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(groups * 2 + 1)
            .x_label_formatter(&|x: &f64| {
                let i = (x - 0.5).round();
                if (x - 0.5 - i).abs() < 0.01 {
                    names.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .x_label_style(("sans-serif", 10).into_font().transform(FontTransform::Rotate90))
            .y_desc("messages (+1)")
            .draw()
            .expect("a mesh");
        let width = 0.8 / kinds.len() as f64;
        for (k, kind) in kinds.iter().enumerate() {
            let color = PALETTE[k % PALETTE.len()];
            let bars = with.iter().enumerate().map(|(i, (_, s))| {
                let x = i as f64 + 0.1 + k as f64 * width;
                Rectangle::new([(x, 1.0), (x + width * 0.9, s.count(kind) as f64 + 1.0)], color.filled())
            });
            chart
                .draw_series(bars)
                .expect("bars")
                .label(*kind)
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight);
    }))
}

/// Each timing's median against the sweep's points (one point per column of the sweep table).
/// `None` when nothing was measured.
pub fn sweep(scenario: &str, labels: &[String], series: &[(String, Vec<Option<f64>>)]) -> Option<String> {
    let y_max = series.iter().flat_map(|(_, v)| v.iter().flatten().copied()).fold(0.0, f64::max);
    if y_max <= 0.0 || labels.is_empty() {
        return None;
    }
    let n = labels.len();
    Some(svg(340, |root| {
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("{scenario}: median timings across the sweep"), ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(-0.5..(n as f64 - 0.5), 0.0..y_max * 1.1)
            .expect("a chart");
        chart
            .configure_mesh()
            .x_labels(n * 2 + 1)
            .x_label_formatter(&|x: &f64| {
                let i = x.round();
                if (x - i).abs() < 0.01 && i >= 0.0 {
                    labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_desc("ms (median over seeds)")
            .draw()
            .expect("a mesh");
        for (k, (name, values)) in series.iter().enumerate() {
            let color = PALETTE[k % PALETTE.len()];
            let points: Vec<(f64, f64)> =
                values.iter().enumerate().filter_map(|(i, v)| v.map(|v| (i as f64, v))).collect();
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
                .expect("a series")
                .label(name.as_str())
                .legend(line_key(color));
            chart.draw_series(points.iter().map(|p| Circle::new(*p, 3, color.filled()))).expect("points");
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft);
    }))
}

/// The measured waits between a URI's failure and its next attempt (`bridge_wait_ms:<uri>#k`,
/// min–max over seeds as a bar, the median as a point) against the configured back-off curve.
/// `None` without such timings.
pub fn backoff(
    scenario: &str,
    timings: &std::collections::BTreeMap<String, crate::Distribution>,
    curve: &[f64],
) -> Option<String> {
    // URI → k → stats.
    let mut uris: Vec<(String, Vec<(usize, crate::Stats)>)> = Vec::new();
    for (name, d) in timings {
        let Some(rest) = name.strip_prefix("bridge_wait_ms:") else { continue };
        let Some((uri, k)) = rest.rsplit_once('#') else { continue };
        let (Ok(k), Some(st)) = (k.parse::<usize>(), d.stats()) else { continue };
        match uris.iter_mut().find(|(u, _)| u == uri) {
            Some((_, list)) => list.push((k, st)),
            None => uris.push((uri.to_string(), vec![(k, st)])),
        }
    }
    if uris.is_empty() {
        return None;
    }
    let k_max =
        uris.iter().flat_map(|(_, l)| l.iter().map(|(k, _)| *k)).max().unwrap_or(1).max(curve.len().min(8));
    // Scaled to the curve and the medians: a URI whose broker was itself down waits far longer
    // once (its bar runs off the top).
    let y_max = uris
        .iter()
        .flat_map(|(_, l)| l.iter().map(|(_, st)| st.p50 * 1.2))
        .chain(curve.iter().map(|w| w * 1.6))
        .fold(1.0, f64::max)
        / 1000.0;
    Some(svg(340, |root| {
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("{scenario}: wait before each attempt, per URI, against the configured back-off"),
                ("sans-serif", 16),
            )
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(0.5..(k_max as f64 + 0.5), 0.0..y_max)
            .expect("a chart");
        chart.configure_mesh().x_desc("attempt after the fault (k)").y_desc("s").draw().expect("a mesh");
        let configured: Vec<(f64, f64)> =
            curve.iter().take(k_max).enumerate().map(|(i, w)| ((i + 1) as f64, w / 1000.0)).collect();
        chart
            .draw_series(LineSeries::new(configured, BLACK.stroke_width(1)))
            .expect("the curve")
            .label("configured back-off")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLACK.stroke_width(1)));
        let width = 0.6 / uris.len() as f64;
        for (u, (uri, list)) in uris.iter().enumerate() {
            let color = PALETTE[u % PALETTE.len()];
            let dx = -0.3 + width * (u as f64 + 0.5);
            chart
                .draw_series(list.iter().map(|(k, st)| {
                    let x = *k as f64 + dx;
                    Rectangle::new(
                        [(x - width * 0.3, st.min / 1000.0), (x + width * 0.3, st.max / 1000.0)],
                        color.mix(0.5).filled(),
                    )
                }))
                .expect("ranges")
                .label(uri.as_str())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
            chart
                .draw_series(
                    list.iter()
                        .map(|(k, st)| Circle::new((*k as f64 + dx, st.p50 / 1000.0), 3, color.filled())),
                )
                .expect("medians");
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft);
    }))
}

/// Each restarted slave's catch-up time against what it had to download. `None` without
/// catch-ups.
pub fn catch_up(scenario: &str, points: &[(f64, f64)]) -> Option<String> {
    if points.is_empty() {
        return None;
    }
    let x_max = points.iter().map(|p| p.0).fold(0.1, f64::max) * 1.1;
    let y_max = points.iter().map(|p| p.1).fold(1.0, f64::max) * 1.1;
    Some(svg(300, |root| {
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("{scenario}: slave catch-up time against its backlog ({} catch-ups)", points.len()),
                ("sans-serif", 16),
            )
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..x_max, 0.0..y_max)
            .expect("a chart");
        chart.configure_mesh().x_desc("MB downloaded").y_desc("ms to catch up").draw().expect("a mesh");
        chart
            .draw_series(points.iter().map(|p| Circle::new(*p, 3, PALETTE[0].mix(0.7).filled())))
            .expect("points");
    }))
}
