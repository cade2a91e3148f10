//! `report.html` of a run: what it contains, that it is self-contained, and
//! that a real browser (headless Chromium) renders every drawing without
//! fetching anything. Without Chromium the browser test prints a SKIPPED
//! line (`.ci/run` installs Debian's `chromium` and shows that line).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

mod common;

/// One tiny `edgenas run` shared by the tests of this file.
fn run_dir() -> &'static Path {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DIR.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("run");
        let cache = tmp.path().join("cache");
        let mut args = vec![
            "run",
            "--epochs",
            "2",
            "--pretrain-epochs",
            "1",
            "--warmup-epochs",
            "1",
            "--retrain-epochs",
            "2",
            "--retrain-channels",
            "4",
            "--retrain-layers",
            "3",
            "--retrain-subset",
            "256",
            "--latency-budget",
            "5",
        ];
        args.extend_from_slice(common::TINY_NETWORK);
        args.extend_from_slice(&[
            "--lut-cache",
            cache.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        let run = Command::new(env!("CARGO_BIN_EXE_edgenas"))
            .args(&args)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        (tmp, out)
    })
    .1
}

#[test]
fn run_writes_a_self_contained_report_with_every_section() {
    let html = std::fs::read_to_string(run_dir().join("report.html")).unwrap();
    for section in [
        "<h2>Summary</h2>",
        "<h2>Cells</h2>",
        "<h2>Search (per epoch)</h2>",
        "<h2>Retraining (per epoch)</h2>",
        "<h2>α at the last epoch: softmax per edge</h2>",
        "<h2>Latency: predicted (table) vs measured (tract)</h2>",
        "<h2>ONNX file</h2>",
    ] {
        assert!(html.contains(section), "missing {section}");
    }
    // The budget's curves: latency per α step with the budget line, δ.
    assert!(html.contains("latency per α step"));
    assert!(html.contains("δ and P(α) per α step"));
    assert!(html.contains("latency budget"));
    // Both cells drawn, both heat maps, one chart per curve family.
    assert!(html.contains("normal cell (darts)") && html.contains("reduction cell (darts)"));
    assert!(html.matches("<polyline").count() >= 10);
    // Nothing to fetch: no src/href attribute, no url(), and a policy that
    // forbids every fetch. (The SVG namespace is an identifier, not a URL
    // that is requested.)
    for needle in [" src=", " href=", "@import"] {
        assert!(!html.contains(needle), "found {needle}");
    }
    // url() only for references inside the page (the arrow markers).
    assert!(html.split("url(").skip(1).all(|rest| rest.starts_with('#')));
    let without_ns = html.replace("http://www.w3.org/2000/svg", "");
    assert!(!without_ns.contains("http://") && !without_ns.contains("https://"));
    assert!(html.contains("Content-Security-Policy\" content=\"default-src 'none'"));
    // `edgenas report` renders the same run again from its folder.
    let again = Command::new(env!("CARGO_BIN_EXE_edgenas"))
        .args(["report", run_dir().to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    assert!(again.status.success());
    let printed: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert!(printed["report"].as_str().unwrap().ends_with("report.html"));
}

#[test]
fn report_of_a_folder_that_is_not_a_run_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_edgenas"))
        .args(["report", tmp.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("run.json"), "{err}");
}

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|p| p.join(name))
                    .find(|p| p.is_file())
            })
        })
}

fn headless(browser: &Path, args: &[&str]) -> std::process::Output {
    Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--virtual-time-budget=3000",
        ])
        .args(args)
        .output()
        .expect("chromium runs")
}

#[test]
fn chromium_renders_every_drawing_and_fetches_nothing() {
    let Some(browser) = chromium() else {
        println!(
            "SKIPPED: no chromium on PATH (apt-get install chromium); report.html not opened in a browser"
        );
        return;
    };
    let page = format!("file://{}", run_dir().join("report.html").display());
    // The page's own check, written into <body data-check=…> once loaded.
    let dom = headless(&browser, &["--dump-dom", &page]);
    let dom = String::from_utf8_lossy(&dom.stdout);
    let check = dom
        .split("data-check=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("the page's self-check did not run:\n{dom:.2000}"))
        .replace("&quot;", "\"");
    let check: serde_json::Value = serde_json::from_str(&check).unwrap();
    let n = |k: &str| check[k].as_u64().unwrap();
    assert!(n("svg") >= 10, "{check}");
    assert_eq!(
        n("svg_drawn"),
        n("svg"),
        "a drawing did not render: {check}"
    );
    assert_eq!(n("img_decoded"), n("img"), "{check}");
    assert_eq!(n("fetched"), 0, "the page requested something: {check}");
    assert_eq!(n("violations"), 0, "{check}");

    // A screenshot that is not blank: many non-white pixels, many colours.
    let tmp = tempfile::tempdir().unwrap();
    let shot = tmp.path().join("report.png");
    let arg = format!("--screenshot={}", shot.display());
    let out = headless(&browser, &["--window-size=1200,2400", &arg, &page]);
    assert!(shot.exists(), "{}", String::from_utf8_lossy(&out.stderr));
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let pixels = buf[..info.buffer_size()].chunks(channels);
    let mut colours = std::collections::BTreeSet::new();
    let (mut total, mut inked) = (0usize, 0usize);
    for p in pixels {
        total += 1;
        if p[..3].iter().any(|&c| c < 235) {
            inked += 1;
        }
        colours.insert((p[0] >> 3, p[1] >> 3, p[2] >> 3));
    }
    let share = inked as f64 / total as f64;
    println!(
        "report.html in chromium: {check}; screenshot {}×{}, {:.1} % inked, {} colours",
        info.width,
        info.height,
        share * 100.0,
        colours.len()
    );
    assert!(share > 0.02, "the screenshot is (nearly) blank");
    assert!(
        colours.len() > 20,
        "the screenshot has {} colours",
        colours.len()
    );
}
