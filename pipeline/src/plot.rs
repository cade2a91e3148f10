//! The sweep's table and picture: test accuracy vs measured latency, with
//! the Pareto front marked (markdown table, SVG plot).

use std::fmt::Write as _;

use crate::sweep::SweepRow;

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
        "| δ | test accuracy (%) | predicted (ms) | tract median (ms) | p10–p90 (ms) | Pareto |\n|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {:.2} | {:.3} | {:.3} | {:.3}–{:.3} | {} |",
            r.latency_coef,
            r.test_accuracy,
            r.predicted_latency_ms,
            r.measured.median,
            r.measured.p10,
            r.measured.p90,
            if r.pareto { "yes" } else { "" }
        );
    }
    s
}

/// Test accuracy vs measured latency, the Pareto front joined by a line.
pub fn svg(rows: &[SweepRow]) -> String {
    let (w, h, m) = (640.0, 420.0, 60.0);
    let lats: Vec<f64> = rows.iter().map(|r| r.measured.median).collect();
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
    for r in rows {
        let (cx, cy) = (x(r.measured.median), y(r.test_accuracy));
        let fill = if r.pareto { "#c33" } else { "#555" };
        let _ = writeln!(
            s,
            "<circle cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"5\" fill=\"{fill}\"/><text x=\"{:.1}\" y=\"{:.1}\">δ={}</text>",
            cx + 8.0,
            cy - 8.0,
            r.latency_coef
        );
    }
    s.push_str("</svg>\n");
    s
}
