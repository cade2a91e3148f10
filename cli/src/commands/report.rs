//! `edgenas report`: one self-contained HTML page of a finished run.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// The run folder of `edgenas run` (its run.json, search/, retrain/ and
    /// model.onnx are read; the latency table named in run.json gives the
    /// predicted breakdown when it is still there).
    pub run_dir: PathBuf,
    /// Print {"report": PATH} on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: ReportArgs) -> Result<()> {
    let path = pipeline::report::write(&args.run_dir)?;
    if args.json {
        println!("{}", serde_json::json!({ "report": path }));
    }
    eprintln!("wrote {}", path.display());
    Ok(())
}
