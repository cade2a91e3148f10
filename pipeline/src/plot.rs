//! The sweep's table and picture: test accuracy vs measured latency, with
//! the Pareto front marked (markdown table, SVG plot).

use std::fmt::Write as _;

use crate::sweep::{Point, SweepRow};

/// A point is on the front when no other point is at least as accurate and
/// at least as fast, and strictly better in one.
pub fn mark_pareto(rows: &mut [SweepRow]) {
    let points: Vec<(f64, f64)> = rows
        .iter()
        .map(|r| (r.measured.median, r.test_accuracy))
        .collect();
    for (i, row) in rows.iter_mut().enumerate() {
        let (lat, acc) = points[i];
        row.pareto = !points
            .iter()
            .enumerate()
            .any(|(j, &(l, a))| j != i && l <= lat && a >= acc && (l < lat || a > acc));
    }
}

pub fn markdown(rows: &[SweepRow]) -> String {
    let mut s = String::from(
        "| run | seed | test accuracy (%) | predicted (ms) | tract median (ms) | p10–p90 (ms) | budget met | Pareto | report |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        // Each run's page, relative to the sweep's folder.
        let page = std::path::Path::new(&r.point.name()).join(crate::report::REPORT_HTML);
        let link = if r.run_dir.join(crate::report::REPORT_HTML).exists() {
            format!("[page]({})", page.display())
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "| {} | {} | {:.2} | {:.3} | {:.3} | {:.3}–{:.3} | {} | {} | {link} |",
            r.point.label(),
            r.point.seed(),
            r.test_accuracy,
            r.predicted_latency_ms,
            r.measured.median,
            r.measured.p10,
            r.measured.p90,
            match r.budget_met {
                Some(true) => "yes",
                Some(false) => "no",
                None => "",
            },
            if r.pareto { "yes" } else { "" }
        );
    }
    let budgets = budgets(rows);
    if !budgets.is_empty() {
        s.push_str(
            "\n| budget (ms) | searched: test accuracy (%) | searched: tract median (ms) | searched: mean median / budget | searched ≤ budget / ≤ 1.05·budget | random: test accuracy (%) | random: tract median (ms) |\n|---|---|---|---|---|---|---|\n",
        );
        for b in budgets {
            let of = |random: bool| -> Vec<&SweepRow> {
                rows.iter()
                    .filter(|r| match r.point {
                        Point::Budget { budget_ms, .. } => !random && budget_ms == b,
                        Point::Random { budget_ms, .. } => random && budget_ms == b,
                        Point::Delta { .. } => false,
                    })
                    .collect()
            };
            let (searched, random) = (of(false), of(true));
            let acc = |rs: &[&SweepRow]| {
                mean_std(&rs.iter().map(|r| r.test_accuracy).collect::<Vec<_>>())
            };
            let lat = |rs: &[&SweepRow]| {
                mean_std(&rs.iter().map(|r| r.measured.median).collect::<Vec<_>>())
            };
            let within = |f: f64| {
                searched
                    .iter()
                    .filter(|r| r.measured.median <= f * b)
                    .count()
            };
            let usage = if searched.is_empty() {
                "–".to_string()
            } else {
                let mean =
                    searched.iter().map(|r| r.measured.median).sum::<f64>() / searched.len() as f64;
                format!("{:.2}", mean / b)
            };
            let _ = writeln!(
                s,
                "| {b} | {} | {} | {usage} | {}/{n} / {}/{n} | {} | {} |",
                acc(&searched),
                lat(&searched),
                within(1.0),
                within(1.05),
                acc(&random),
                lat(&random),
                n = searched.len()
            );
        }
    }
    s
}

/// The distinct budgets of a sweep, ascending.
fn budgets(rows: &[SweepRow]) -> Vec<f64> {
    let mut b: Vec<f64> = rows.iter().filter_map(|r| r.point.budget_ms()).collect();
    b.sort_by(f64::total_cmp);
    b.dedup();
    b
}

/// "mean ± std (n)" (population std), or "–" for no values.
fn mean_std(v: &[f64]) -> String {
    if v.is_empty() {
        return "–".into();
    }
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let std = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
    format!("{mean:.3} ± {std:.3} (n={})", v.len())
}

/// Test accuracy vs measured latency, the Pareto front joined by a line.
pub fn svg(rows: &[SweepRow]) -> String {
    let (w, h, m) = (640.0, 420.0, 60.0);
    let budget_lines = budgets(rows);
    let lats: Vec<f64> = rows
        .iter()
        .map(|r| r.measured.median)
        .chain(budget_lines.iter().copied())
        .collect();
    let accs: Vec<f64> = rows.iter().map(|r| r.test_accuracy).collect();
    let span = |v: &[f64]| {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let pad = ((hi - lo) * 0.1).max(1e-3);
        (lo - pad, hi + pad)
    };
    let (x0, x1) = span(&lats);
    let (y0, y1) = span(&accs);
    let x = |v: f64| m + (v - x0) / (x1 - x0) * (w - 2.0 * m);
    let y = |v: f64| h - m - (v - y0) / (y1 - y0) * (h - 2.0 * m);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    let _ = writeln!(
        s,
        "<line x1=\"{m}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/><line x1=\"{m}\" y1=\"{m}\" x2=\"{m}\" y2=\"{}\" stroke=\"black\"/>",
        h - m,
        w - m,
        h - m,
        h - m
    );
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">tract latency, batch 1 (ms, median)</text>",
        w / 2.0,
        h - 20.0
    );
    let _ = writeln!(
        s,
        "<text x=\"18\" y=\"{}\" transform=\"rotate(-90 18 {})\" text-anchor=\"middle\">test accuracy (%)</text>",
        h / 2.0,
        h / 2.0
    );
    for (v, label) in [(x0, x0), (x1, x1)] {
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{label:.3}</text>",
            x(v),
            h - m + 16.0
        );
    }
    for (v, label) in [(y0, y0), (y1, y1)] {
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{label:.2}</text>",
            m - 6.0,
            y(v) + 4.0
        );
    }
    let mut front: Vec<&SweepRow> = rows.iter().filter(|r| r.pareto).collect();
    front.sort_by(|a, b| a.measured.median.total_cmp(&b.measured.median));
    let points: Vec<String> = front
        .iter()
        .map(|r| format!("{:.1},{:.1}", x(r.measured.median), y(r.test_accuracy)))
        .collect();
    let _ = writeln!(
        s,
        "<polyline points=\"{}\" fill=\"none\" stroke=\"#c33\" stroke-width=\"1.5\"/>",
        points.join(" ")
    );
    for (i, b) in budget_lines.iter().enumerate() {
        // Labels alternate between two heights so neighbours do not overlap.
        let _ = writeln!(
            s,
            "<line x1=\"{bx:.1}\" y1=\"{m}\" x2=\"{bx:.1}\" y2=\"{}\" stroke=\"#36c\" stroke-dasharray=\"4 3\"/><text x=\"{bx:.1}\" y=\"{}\" text-anchor=\"middle\" fill=\"#36c\">budget {b} ms</text>",
            h - m,
            m - 6.0 - 14.0 * (i % 2) as f64,
            bx = x(*b)
        );
    }
    for r in rows {
        let (cx, cy) = (x(r.measured.median), y(r.test_accuracy));
        match r.point {
            Point::Delta { latency_coef, .. } => {
                let fill = if r.pareto { "#c33" } else { "#555" };
                let _ = writeln!(
                    s,
                    "<circle cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"5\" fill=\"{fill}\"/><text x=\"{:.1}\" y=\"{:.1}\">δ={latency_coef}</text>",
                    cx + 8.0,
                    cy - 8.0,
                );
            }
            Point::Budget { .. } => {
                let _ = writeln!(
                    s,
                    "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"9\" height=\"9\" fill=\"#36c\"/>",
                    cx - 4.5,
                    cy - 4.5
                );
            }
            Point::Random { .. } => {
                let _ = writeln!(
                    s,
                    "<path d=\"M{:.1},{:.1} l5,9 h-10 z\" fill=\"none\" stroke=\"#d80\" stroke-width=\"1.5\"/>",
                    cx,
                    cy - 5.0
                );
            }
        }
    }
    if !budget_lines.is_empty() {
        let _ = writeln!(
            s,
            "<g font-size=\"11\"><circle cx=\"{lx}\" cy=\"{ly}\" r=\"4\" fill=\"#555\"/><text x=\"{tx}\" y=\"{ty}\">fixed δ</text><rect x=\"{rx}\" y=\"{ry}\" width=\"8\" height=\"8\" fill=\"#36c\"/><text x=\"{tx}\" y=\"{ty2}\">budget search</text><path d=\"M{lx},{py} l4,8 h-8 z\" fill=\"none\" stroke=\"#d80\"/><text x=\"{tx}\" y=\"{ty3}\">random under budget</text></g>",
            lx = w - m - 120.0,
            ly = h - m - 50.0,
            tx = w - m - 110.0,
            ty = h - m - 46.0,
            rx = w - m - 124.0,
            ry = h - m - 36.0,
            ty2 = h - m - 28.0,
            py = h - m - 20.0,
            ty3 = h - m - 12.0,
        );
    }
    s.push_str("</svg>\n");
    s
}
