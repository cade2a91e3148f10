//! `report.html` of a run folder: one self-contained page (inline SVG and
//! CSS, no request to any network, enforced by its Content-Security-Policy)
//! with the accuracy and latency summary, both cell diagrams, the search's
//! and the retraining's curves per epoch, α at the last epoch as heat maps,
//! the latency table's predicted breakdown of the deployed network next to
//! tract's measured time per part, and the ONNX file's facts.
//!
//! Everything is read back from the run folder's own artifacts (and the
//! latency table `run.json` names), so `edgenas report DIR` renders any
//! finished run; `edgenas run` writes the page as its last artifact.
//!
//! A small inline script checks, once the page is loaded, that every image
//! rendered and that no resource was fetched, and writes the result into
//! `<body data-check=…>` and the page's footer: what the browser test
//! (`cli/tests/report.rs`) reads from headless Chromium.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use artifacts::{
    ALPHAS_FILE, AlphasFile, ArtifactError, EpochMetrics, METRICS_FILE, ModelFile, ONNX_FILE,
    RUN_FILE, RetrainEpoch, RunSummary, read_json,
};
use latency_lut::Lut;
use runtime::TractModel;

use crate::PipelineError;

/// The page's file name in a run folder.
pub const REPORT_HTML: &str = "report.html";

/// Timed runs of the deployed model for the per-part profile.
const PROFILE_RUNS: usize = 100;

const COLORS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

/// Renders the report of the run in `dir` and writes it to
/// `dir/report.html` (atomically). Returns the page's path.
pub fn write(dir: &Path) -> Result<PathBuf, PipelineError> {
    let html = render(dir)?;
    let path = dir.join(REPORT_HTML);
    artifacts::write_atomic(&path, html.as_bytes())?;
    Ok(path)
}

fn read_lines<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>, PipelineError> {
    let text = std::fs::read_to_string(path).map_err(|e| ArtifactError::io(path, e))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map_err(|e| ArtifactError::invalid(path, format!("line {}: {e}", i + 1)).into())
        })
        .collect()
}

/// The report page of the run in `dir`.
pub fn render(dir: &Path) -> Result<String, PipelineError> {
    let run = RunSummary::load(&dir.join(RUN_FILE))?;
    let model = ModelFile::load(&dir.join("retrain"))?;
    let search_dir = dir.join("search");
    let metrics: Vec<EpochMetrics> = if search_dir.join(METRICS_FILE).exists() {
        read_lines(&search_dir.join(METRICS_FILE))?
    } else {
        Vec::new()
    };
    let alphas: Option<AlphasFile> = if search_dir.join(ALPHAS_FILE).exists() {
        Some(read_json(&search_dir.join(ALPHAS_FILE), "an alphas file")?)
    } else {
        None
    };
    let retrain_lines: Vec<RetrainEpoch> = read_lines(&dir.join("retrain").join(METRICS_FILE))?;
    let onnx_path = dir.join(ONNX_FILE);
    let onnx_bytes = std::fs::read(&onnx_path).map_err(|e| ArtifactError::io(&onnx_path, e))?;

    let mut body = String::new();
    summary_section(&mut body, &run, &model);
    section(&mut body, "Cells", |b| {
        b.push_str(&crate::draw::cells_svg(&run.genotype));
        b.push_str(&format!(
            "<p class=note><code>{}</code></p>",
            escape(&run.genotype.to_string())
        ));
    });
    if metrics.is_empty() {
        section(&mut body, "Search", |b| {
            b.push_str("<p>No search: the genotype of this run was drawn at random.</p>");
        });
    } else {
        search_section(&mut body, &metrics, run.penalty.budget_ms);
    }
    retrain_section(&mut body, &retrain_lines);
    if let Some(alphas) = &alphas {
        alpha_section(&mut body, alphas);
    }
    latency_section(&mut body, &run, &model, &onnx_path)?;
    onnx_section(&mut body, &onnx_bytes, &onnx_path)?;

    let title = format!(
        "edgenas run: {} — {:.2} % at {:.3} ms",
        run.data, run.test_accuracy, run.tract_latency_ms_p50
    );
    Ok(page(&title, &body))
}

fn page(title: &str, body: &str) -> String {
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<title>{title}</title>
<script>
window.edgenasViolations = 0;
document.addEventListener('securitypolicyviolation', function () {{ window.edgenasViolations += 1; }});
</script>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 24px auto; max-width: 1100px; color: #222; background: #fff; }}
h1 {{ font-size: 22px; }} h2 {{ font-size: 18px; border-bottom: 1px solid #ddd; padding-bottom: 4px; margin-top: 32px; }}
table {{ border-collapse: collapse; margin: 8px 0; }}
td, th {{ border: 1px solid #ddd; padding: 3px 8px; text-align: right; }}
th {{ background: #f4f4f4; }} td.l, th.l, table.facts td {{ text-align: left; }}
.charts {{ display: flex; flex-wrap: wrap; gap: 12px; }}
.bar {{ display: inline-block; height: 10px; vertical-align: middle; }}
.note {{ color: #555; font-size: 12px; }}
footer {{ margin-top: 32px; color: #777; font-size: 12px; }}
</style>
</head>
<body>
<h1>{title}</h1>
{body}
<footer>Written by {tool}. Self-contained: inline SVG and CSS, nothing fetched. <span id="check">(self-check runs in a browser)</span></footer>
<script>
window.addEventListener('load', function () {{
  var violations = window.edgenasViolations;
  var svgs = document.querySelectorAll('svg');
  var drawn = 0;
  svgs.forEach(function (s) {{
    var r = s.getBoundingClientRect();
    if (r.width > 0 && r.height > 0 && s.childElementCount > 0) drawn += 1;
  }});
  var imgs = document.querySelectorAll('img');
  var decoded = 0;
  imgs.forEach(function (i) {{ if (i.complete && i.naturalWidth > 0) decoded += 1; }});
  var fetched = performance.getEntriesByType('resource').length;
  var check = {{ svg: svgs.length, svg_drawn: drawn, img: imgs.length, img_decoded: decoded, fetched: fetched, violations: violations }};
  document.body.setAttribute('data-check', JSON.stringify(check));
  document.getElementById('check').textContent = 'Self-check: ' + drawn + ' of ' + svgs.length + ' drawings rendered, ' + fetched + ' resources fetched.';
}});
</script>
</body>
</html>
"#,
        title = escape(title),
        body = body,
        tool = escape(&artifacts::tool_version()),
    )
}

fn section(body: &mut String, title: &str, fill: impl FnOnce(&mut String)) {
    let _ = writeln!(body, "<h2>{}</h2>", escape(title));
    fill(body);
    body.push('\n');
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn row(cells: &[String]) -> String {
    let mut s = String::from("<tr>");
    for (i, c) in cells.iter().enumerate() {
        let class = if i == 0 { " class=l" } else { "" };
        let _ = write!(s, "<td{class}>{c}</td>");
    }
    s.push_str("</tr>\n");
    s
}

fn summary_section(body: &mut String, run: &RunSummary, model: &ModelFile) {
    section(body, "Summary", |b| {
        b.push_str("<table class=facts>\n");
        let mut facts: Vec<(String, String)> = vec![
            ("data".into(), escape(&run.data)),
            (
                "search".into(),
                format!(
                    "{} ({} cells), seed {}, genotype from {}",
                    serde_json::to_value(run.algo)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    run.cell,
                    run.seed,
                    run.genotype_source
                ),
            ),
            (
                "deployed network".into(),
                format!(
                    "C = {}, L = {} cells, {} nodes, input {}×{}×{}",
                    model.network.channels,
                    model.network.layers,
                    model.network.nodes,
                    model.network.in_channels,
                    model.network.image_size,
                    model.network.image_size
                ),
            ),
            (
                "test accuracy (burn)".into(),
                format!("{:.2} % of {}", run.test_accuracy, run.test_samples),
            ),
            (
                "test accuracy (tract, ONNX)".into(),
                format!("{:.2} %", run.tract_accuracy),
            ),
            (
                "latency on the device (tract, batch 1)".into(),
                format!(
                    "p50 {:.3} ms, p90 {:.3} ms on {}",
                    run.tract_latency_ms_p50, run.tract_latency_ms_p90, run.device
                ),
            ),
            (
                "predicted by the table".into(),
                format!("{:.3} ms", run.predicted_latency_ms),
            ),
            (
                "ONNX vs burn parity".into(),
                run.onnx_parity_rel_error.map_or("not checked".into(), |e| {
                    format!("max relative error {e:.1e}")
                }),
            ),
            (
                "wall time".into(),
                format!(
                    "{:.0} s (search {:.0} s, retraining {:.0} s)",
                    run.seconds, run.search_seconds, run.retrain_seconds
                ),
            ),
        ];
        if let Some(budget) = run.penalty.budget_ms {
            facts.push((
                "latency budget".into(),
                format!(
                    "{budget} ms: {} ({:+.1} %), {} repair(s)",
                    match run.budget_met {
                        Some(true) => "met",
                        Some(false) => "missed",
                        None => "not checked",
                    },
                    run.budget_over_pct.unwrap_or(f64::NAN),
                    run.budget_repairs.unwrap_or(0)
                ),
            ));
        } else {
            facts.push((
                "latency penalty".into(),
                format!("δ = {}", run.penalty.coef),
            ));
        }
        for (k, v) in facts {
            b.push_str(&row(&[escape(&k), v]));
        }
        b.push_str("</table>\n");
    });
}

/// One line of a chart; NaN values leave gaps.
struct Series {
    name: String,
    points: Vec<(f64, f64)>,
    dashed: bool,
}

impl Series {
    fn new(name: &str, points: Vec<(f64, f64)>) -> Self {
        Self {
            name: name.into(),
            points,
            dashed: false,
        }
    }

    fn dashed(mut self) -> Self {
        self.dashed = true;
        self
    }
}

/// "Nice" tick values covering [lo, hi].
fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    let span = (hi - lo).max(1e-12);
    let raw = span / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| span / s <= 6.0)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() * step;
    (0..)
        .map(|i| first + i as f64 * step)
        .take_while(|v| *v <= hi + step * 1e-9)
        .collect()
}

fn tick_label(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .into()
    } else {
        format!("{v:.3}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .into()
    }
}

/// A line chart as an inline SVG (width 520).
fn line_chart(title: &str, x_label: &str, series: &[Series]) -> String {
    let (w, h) = (520.0, 250.0);
    let (left, right, top, bottom) = (56.0, 12.0, 26.0, 62.0);
    let finite: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="11"><rect width="{w}" height="{h}" fill="white"/><text x="{}" y="16" text-anchor="middle" font-size="13">{}</text>"#,
        w / 2.0,
        escape(title)
    );
    if finite.is_empty() {
        let _ = write!(
            svg,
            r##"<text x="{}" y="{}" text-anchor="middle" fill="#777">no data</text></svg>"##,
            w / 2.0,
            h / 2.0
        );
        return svg;
    }
    let (mut x0, mut x1, mut y0, mut y1) = finite.iter().fold(
        (f64::MAX, f64::MIN, f64::MAX, f64::MIN),
        |(a, b, c, d), (x, y)| (a.min(*x), b.max(*x), c.min(*y), d.max(*y)),
    );
    if x1 - x0 < 1e-12 {
        x0 -= 0.5;
        x1 += 0.5;
    }
    if y1 - y0 < 1e-12 {
        let pad = y0.abs().max(1.0) * 0.05;
        y0 -= pad;
        y1 += pad;
    } else {
        let pad = (y1 - y0) * 0.05;
        y0 -= pad;
        y1 += pad;
    }
    let px = |x: f64| left + (x - x0) / (x1 - x0) * (w - left - right);
    let py = |y: f64| h - bottom - (y - y0) / (y1 - y0) * (h - top - bottom);
    for t in ticks(y0, y1) {
        let _ = write!(
            svg,
            r##"<line x1="{left}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#eee"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            w - right,
            left - 4.0,
            py(t) + 4.0,
            tick_label(t),
            y = py(t)
        );
    }
    for t in ticks(x0, x1) {
        let _ = write!(
            svg,
            r##"<line x1="{x:.1}" x2="{x:.1}" y1="{top}" y2="{}" stroke="#f2f2f2"/><text x="{x:.1}" y="{}" text-anchor="middle">{}</text>"##,
            h - bottom,
            h - bottom + 14.0,
            tick_label(t),
            x = px(t)
        );
    }
    let _ = write!(
        svg,
        r##"<rect x="{left}" y="{top}" width="{}" height="{}" fill="none" stroke="#999"/><text x="{}" y="{}" text-anchor="middle">{}</text>"##,
        w - left - right,
        h - top - bottom,
        left + (w - left - right) / 2.0,
        h - bottom + 30.0,
        escape(x_label)
    );
    let mut legend_x = left;
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let dash = if s.dashed {
            r#" stroke-dasharray="5,3""#
        } else {
            ""
        };
        // Split at non-finite values into runs of points.
        let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
        for &(x, y) in &s.points {
            if x.is_finite() && y.is_finite() {
                runs.last_mut().expect("non-empty").push((x, y));
            } else if !runs.last().expect("non-empty").is_empty() {
                runs.push(Vec::new());
            }
        }
        for run in runs.iter().filter(|r| !r.is_empty()) {
            let d: Vec<String> = run
                .iter()
                .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
                .collect();
            let _ = write!(
                svg,
                r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="1.6"{dash}/>"#,
                d.join(" ")
            );
            if run.len() <= 40 {
                for &(x, y) in run {
                    let _ = write!(
                        svg,
                        r#"<circle cx="{:.1}" cy="{:.1}" r="2.2" fill="{color}"/>"#,
                        px(x),
                        py(y)
                    );
                }
            }
        }
        let label_w = 16.0 + 6.5 * s.name.chars().count() as f64;
        if legend_x + label_w > w {
            legend_x = left;
        }
        let ly = h - 10.0;
        let _ = write!(
            svg,
            r#"<line x1="{legend_x}" x2="{}" y1="{}" y2="{}" stroke="{color}" stroke-width="2"{dash}/><text x="{}" y="{ly}">{}</text>"#,
            legend_x + 12.0,
            ly - 4.0,
            ly - 4.0,
            legend_x + 15.0,
            escape(&s.name)
        );
        legend_x += label_w + 8.0;
    }
    svg.push_str("</svg>");
    svg
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        f64::NAN
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

fn search_section(body: &mut String, metrics: &[EpochMetrics], budget_ms: Option<f64>) {
    section(body, "Search (per epoch)", |b| {
        let epoch = |m: &EpochMetrics| m.epoch as f64;
        let per = |f: &dyn Fn(&EpochMetrics) -> Option<f64>| -> Vec<(f64, f64)> {
            metrics
                .iter()
                .map(|m| (epoch(m), f(m).unwrap_or(f64::NAN)))
                .collect()
        };
        b.push_str(r#"<div class="charts">"#);
        b.push_str(&line_chart(
            "training losses",
            "epoch",
            &[
                Series::new("L_S (train)", per(&|m| Some(m.loss_search_train))),
                Series::new("L_E (train)", per(&|m| m.loss_eval_train)),
                Series::new("L_α (val)", per(&|m| m.loss_alpha)),
                Series::new("KD", per(&|m| m.kd_train)).dashed(),
            ],
        ));
        b.push_str(&line_chart(
            "validation accuracy (%)",
            "epoch",
            &[
                Series::new("S", per(&|m| Some(m.search_val_accuracy))),
                Series::new("E (end of epoch)", per(&|m| m.eval_val_accuracy)),
                Series::new("E after warm-up", per(&|m| m.eval_warmup_val_accuracy)).dashed(),
            ],
        ));
        b.push_str(&line_chart(
            "σ of softmax(α) per edge",
            "epoch",
            &[
                Series::new("normal", per(&|m| Some(m.alpha_std_normal))),
                Series::new("reduce", per(&|m| Some(m.alpha_std_reduce))),
            ],
        ));
        b.push_str(&line_chart(
            "mean edge entropy (nats) and smallest margin",
            "epoch",
            &[
                Series::new(
                    "entropy normal",
                    per(&|m| Some(mean(&m.edge_entropy_normal))),
                ),
                Series::new(
                    "entropy reduce",
                    per(&|m| Some(mean(&m.edge_entropy_reduce))),
                ),
                Series::new("margin normal", per(&|m| Some(m.min_margin_normal))).dashed(),
                Series::new("margin reduce", per(&|m| Some(m.min_margin_reduce))).dashed(),
            ],
        ));
        let steps: Vec<&artifacts::AlphaStep> =
            metrics.iter().flat_map(|m| m.alpha_steps.iter()).collect();
        if !steps.is_empty() {
            let at = |f: &dyn Fn(&artifacts::AlphaStep) -> f64| -> Vec<(f64, f64)> {
                steps.iter().map(|s| (s.step as f64, f(s))).collect()
            };
            let mut latency = vec![Series::new(
                "predicted latency of the current genotype (ms)",
                at(&|s| s.predicted_ms),
            )];
            if let Some(budget) = budget_ms {
                let (first, last) = (steps[0].step as f64, steps[steps.len() - 1].step as f64);
                latency.push(Series::new("budget", vec![(first, budget), (last, budget)]).dashed());
            }
            b.push_str(&line_chart("latency per α step", "α step", &latency));
            b.push_str(&line_chart(
                "δ and P(α) per α step",
                "α step",
                &[
                    Series::new("δ", at(&|s| s.coef)),
                    Series::new("P(α)", at(&|s| s.penalty)).dashed(),
                ],
            ));
        }
        b.push_str("</div>\n");
        b.push_str("<table>\n<tr><th class=l>epoch</th><th>phase</th><th>S val %</th><th>E val after warm-up %</th><th>E val %</th><th>σ_α normal / reduce</th><th>min margin normal / reduce</th><th>predicted ms</th><th>s</th></tr>\n");
        let opt = |v: Option<f64>, digits: usize| {
            v.map_or("—".to_string(), |v| format!("{v:.digits$}"))
        };
        for m in metrics {
            b.push_str(&row(&[
                m.epoch.to_string(),
                m.phase.clone(),
                format!("{:.2}", m.search_val_accuracy),
                opt(m.eval_warmup_val_accuracy, 2),
                opt(m.eval_val_accuracy, 2),
                format!("{:.4} / {:.4}", m.alpha_std_normal, m.alpha_std_reduce),
                format!("{:.4} / {:.4}", m.min_margin_normal, m.min_margin_reduce),
                opt(m.predicted_latency_ms, 3),
                format!("{:.1}", m.seconds),
            ]));
        }
        b.push_str("</table>\n");
    });
}

fn retrain_section(body: &mut String, epochs: &[RetrainEpoch]) {
    section(body, "Retraining (per epoch)", |b| {
        let per = |f: &dyn Fn(&RetrainEpoch) -> f64| -> Vec<(f64, f64)> {
            epochs.iter().map(|e| (e.epoch as f64, f(e))).collect()
        };
        b.push_str(r#"<div class="charts">"#);
        b.push_str(&line_chart(
            "training loss",
            "epoch",
            &[Series::new("loss", per(&|e| e.train_loss))],
        ));
        b.push_str(&line_chart(
            "training accuracy (%, augmented batches)",
            "epoch",
            &[Series::new("accuracy", per(&|e| e.train_accuracy))],
        ));
        b.push_str("</div>\n");
    });
}

/// softmax of one row of α.
fn softmax(row: &[f32]) -> Vec<f64> {
    let max = row.iter().fold(f32::MIN, |m, v| m.max(*v)) as f64;
    let exp: Vec<f64> = row.iter().map(|v| (*v as f64 - max).exp()).collect();
    let sum: f64 = exp.iter().sum();
    exp.iter().map(|e| e / sum).collect()
}

/// softmax(α) per edge (rows) and op (columns) as an SVG heat map.
fn heatmap(title: &str, alphas: &AlphasFile, rows: &[Vec<f32>]) -> String {
    let ops: Vec<String> = alphas.ops.iter().map(|o| o.to_string()).collect();
    let (cell_w, cell_h, left, top) = (70.0, 18.0, 90.0, 92.0);
    let w = left + cell_w * ops.len() as f64 + 10.0;
    let h = top + cell_h * rows.len() as f64 + 10.0;
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="10"><rect width="{w}" height="{h}" fill="white"/><text x="4" y="14" font-size="13">{}</text>"#,
        escape(title)
    );
    for (j, op) in ops.iter().enumerate() {
        let x = left + cell_w * (j as f64 + 0.5);
        let _ = write!(
            svg,
            r#"<text transform="translate({x:.1},{}) rotate(-40)" text-anchor="start">{}</text>"#,
            top - 6.0,
            escape(op)
        );
    }
    for (i, row) in rows.iter().enumerate() {
        let p = softmax(row);
        let best = p.iter().enumerate().fold(
            (0, f64::MIN),
            |b, (j, v)| if *v > b.1 { (j, *v) } else { b },
        );
        let y = top + cell_h * i as f64;
        let (node, pred) = alphas.edges.get(i).copied().unwrap_or((0, 0));
        let _ = write!(
            svg,
            r#"<text x="{}" y="{:.1}" text-anchor="end">node {node} ← {}</text>"#,
            left - 4.0,
            y + 13.0,
            if pred < 2 {
                format!("c_k-{}", 2 - pred)
            } else {
                format!("n{}", pred - 2)
            }
        );
        // Colour relative to the uniform value 1/|ops|: white at or below
        // it, dark blue at 1.
        let uniform = 1.0 / p.len().max(1) as f64;
        for (j, v) in p.iter().enumerate() {
            let t = ((v - uniform) / (1.0 - uniform)).clamp(0.0, 1.0).sqrt();
            let shade = |hi: f64, lo: f64| (hi + (lo - hi) * t).round() as u8;
            let fill = format!(
                "#{:02x}{:02x}{:02x}",
                shade(255.0, 8.0),
                shade(255.0, 48.0),
                shade(255.0, 107.0)
            );
            let x = left + cell_w * j as f64;
            let stroke = if j == best.0 {
                r##" stroke="#d62728" stroke-width="1.5""##
            } else {
                r##" stroke="#ddd""##
            };
            let text_fill = if t > 0.55 { "white" } else { "#222" };
            let _ = write!(
                svg,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{cell_w}" height="{cell_h}" fill="{fill}"{stroke}/><text x="{:.1}" y="{:.1}" text-anchor="middle" fill="{text_fill}">{v:.3}</text>"#,
                x + cell_w / 2.0,
                y + 13.0
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

fn alpha_section(body: &mut String, alphas: &AlphasFile) {
    section(body, "α at the last epoch: softmax per edge", |b| {
        b.push_str(&heatmap("normal cell", alphas, &alphas.normal));
        b.push_str(&heatmap("reduction cell", alphas, &alphas.reduce));
        b.push_str("<p class=note>Each row is one edge (node ← predecessor); the strongest operation is outlined. Shading starts at the uniform value 1/|ops|.</p>\n");
    });
}

/// The part of the network an optimized tract node belongs to, named like
/// the table's breakdown (`stem`, `cell3`, `classifier`), from its ONNX name.
fn node_part(name: &str) -> String {
    let first = name.split('/').next().unwrap_or(name);
    if first.starts_with("cell") {
        first.to_string()
    } else if first.starts_with("stem") {
        "stem".into()
    } else {
        "classifier".into()
    }
}

fn latency_section(
    body: &mut String,
    run: &RunSummary,
    model: &ModelFile,
    onnx_path: &Path,
) -> Result<(), PipelineError> {
    // Measured: tract's per-node profile of the deployed model, batch 1.
    let tract = TractModel::load(onnx_path)?;
    let n = &model.network;
    let shape = vec![1, n.in_channels, n.image_size, n.image_size];
    let plan = tract.plan(std::slice::from_ref(&shape))?;
    let input = latency_lut::measure::input_values(shape.iter().product(), 7);
    let profile = plan.profile(&[&input], PROFILE_RUNS)?;
    let mut measured: BTreeMap<String, f64> = BTreeMap::new();
    for node in &profile.nodes {
        *measured.entry(node_part(&node.name)).or_default() += node.mean_ms;
    }
    // Predicted: the table's breakdown, when the table is still there.
    let lut_path = run.penalty.lut_path.clone().unwrap_or_default();
    let prediction = match Lut::load(&lut_path) {
        Ok(lut) => Some(
            latency_lut::predict::predict(&lut, &run.genotype, &model.network).map_err(
                |source| PipelineError::Lut {
                    path: lut_path.clone(),
                    source,
                },
            )?,
        ),
        Err(e) => {
            log::warn!("report: no predicted breakdown ({e})");
            None
        }
    };
    section(
        body,
        "Latency: predicted (table) vs measured (tract)",
        |b| {
            let _ = writeln!(
                b,
                "<p>Measured: tract's per-node profile of <code>model.onnx</code> at batch {}, mean of {PROFILE_RUNS} runs, summed per part ({:.3} ms in nodes; the end-to-end p50 above also counts tract's per-run overhead). Predicted: the latency table <code>{}</code>, uncalibrated sum per part.</p>",
                shape[0],
                profile.nodes_total_ms,
                escape(&lut_path.display().to_string())
            );
            let predicted: BTreeMap<String, f64> = prediction
                .as_ref()
                .map(|p| {
                    p.parts
                        .iter()
                        .map(|part| {
                            let name = part.part.split(' ').next().unwrap_or(&part.part);
                            (name.to_string(), part.ms)
                        })
                        .collect()
                })
                .unwrap_or_default();
            let mut parts: Vec<String> = predicted.keys().chain(measured.keys()).cloned().collect();
            parts.sort_by_key(|p| {
                let n: usize = p
                    .trim_start_matches("cell")
                    .parse()
                    .map(|n: usize| n + 1)
                    .unwrap_or(0);
                match p.as_str() {
                    "overhead" => (0, 0),
                    "stem" => (1, 0),
                    "classifier" => (3, 0),
                    _ => (2, n),
                }
            });
            parts.dedup();
            let scale = predicted
                .values()
                .chain(measured.values())
                .fold(0.0f64, |m, v| m.max(*v))
                .max(1e-9);
            b.push_str("<table>\n<tr><th class=l>part</th><th>predicted ms</th><th>measured ms</th><th class=l>predicted (blue) / measured (orange)</th></tr>\n");
            for part in &parts {
                let p = predicted.get(part).copied();
                let m = measured.get(part).copied();
                let bar = |v: Option<f64>, color: &str| {
                    v.map_or(String::new(), |v| {
                        format!(
                            r#"<span class="bar" style="width:{:.0}px;background:{color}"></span>"#,
                            v / scale * 300.0
                        )
                    })
                };
                b.push_str(&row(&[
                    escape(part),
                    p.map_or("—".into(), |v| format!("{v:.4}")),
                    m.map_or("—".into(), |v| format!("{v:.4}")),
                    format!("{}<br>{}", bar(p, "#1f77b4"), bar(m, "#ff7f0e")),
                ]));
            }
            if let Some(p) = &prediction {
                b.push_str(&row(&[
                    "<b>total</b>".into(),
                    format!(
                        "{:.4} (calibrated {:.4})",
                        p.sum_ms,
                        if p.calibrated { p.total_ms } else { f64::NAN }
                    ),
                    format!("{:.4}", profile.nodes_total_ms),
                    String::new(),
                ]));
            }
            b.push_str("</table>\n<p>Measured time per operator kind:</p>\n<table>\n<tr><th class=l>operator</th><th>nodes</th><th>mean ms</th><th>%</th></tr>\n");
            for op in &profile.by_op {
                b.push_str(&row(&[
                    escape(&op.op),
                    op.nodes.to_string(),
                    format!("{:.4}", op.mean_ms),
                    format!("{:.1}", op.percent),
                ]));
            }
            b.push_str("</table>\n");
        },
    );
    Ok(())
}

fn onnx_section(body: &mut String, bytes: &[u8], path: &Path) -> Result<(), PipelineError> {
    let model = runtime::onnx::from_bytes(bytes)
        .map_err(|e| ArtifactError::invalid(path, format!("not an ONNX model: {e}")))?;
    let graph = model.graph.as_ref();
    let nodes = graph.map_or(0, |g| g.node.len());
    let parameters: i64 = graph.map_or(0, |g| {
        g.initializer
            .iter()
            .map(|t| t.dims.iter().product::<i64>())
            .sum()
    });
    let mut op_counts: BTreeMap<&str, usize> = BTreeMap::new();
    if let Some(g) = graph {
        for n in &g.node {
            *op_counts.entry(n.op_type.as_str()).or_default() += 1;
        }
    }
    let opsets: Vec<String> = model
        .opset_import
        .iter()
        .map(|o| {
            if o.domain.is_empty() {
                format!("ai.onnx {}", o.version)
            } else {
                format!("{} {}", o.domain, o.version)
            }
        })
        .collect();
    let metadata = runtime::onnx::metadata(&model);
    section(body, "ONNX file", |b| {
        b.push_str("<table class=facts>\n");
        for (k, v) in [
            ("file", format!("model.onnx, {} bytes", bytes.len())),
            ("nodes", nodes.to_string()),
            ("parameters", parameters.to_string()),
            ("opset", opsets.join(", ")),
            (
                "operators",
                op_counts
                    .iter()
                    .map(|(op, n)| format!("{op} ×{n}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            (
                "producer",
                format!("{} {}", model.producer_name, model.producer_version),
            ),
        ] {
            b.push_str(&row(&[escape(k), escape(&v)]));
        }
        b.push_str("</table>\n<p>Metadata:</p>\n<table class=facts>\n");
        for (k, v) in &metadata {
            let shown = if v.len() > 160 {
                format!(
                    "{}…",
                    &v[..v.char_indices().nth(160).map_or(v.len(), |c| c.0)]
                )
            } else {
                v.clone()
            };
            b.push_str(&row(&[
                escape(k),
                format!("<code>{}</code>", escape(&shown)),
            ]));
        }
        b.push_str("</table>\n");
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_cover_the_range_with_round_steps() {
        let close = |a: &[f64], b: &[f64]| {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-9)
        };
        assert!(close(&ticks(0.0, 1.0), &[0.0, 0.2, 0.4, 0.6, 0.8, 1.0]));
        // A span of 63.6: steps of 10 would make 7 ticks, so 20.
        assert!(close(&ticks(35.0, 98.6), &[40.0, 60.0, 80.0]));
        assert!(close(
            &ticks(0.0013, 0.0041),
            &[0.0015, 0.002, 0.0025, 0.003, 0.0035, 0.004]
        ));
    }

    #[test]
    fn softmax_rows_sum_to_one() {
        let p = softmax(&[1.0, 2.0, 3.0]);
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(p[2] > p[1] && p[1] > p[0]);
    }

    #[test]
    fn nodes_are_assigned_to_the_parts_of_the_table() {
        assert_eq!(
            node_part("cell3/node0/from_c_k-1/sep_conv_3x3/dw1"),
            "cell3"
        );
        assert_eq!(node_part("stem/conv"), "stem");
        assert_eq!(node_part("classifier/gemm"), "classifier");
    }

    #[test]
    fn a_chart_draws_one_polyline_per_unbroken_run() {
        let svg = line_chart(
            "t",
            "x",
            &[Series::new(
                "s",
                vec![(0.0, 1.0), (1.0, f64::NAN), (2.0, 2.0), (3.0, 3.0)],
            )],
        );
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(line_chart("t", "x", &[]).contains("no data"));
    }
}
