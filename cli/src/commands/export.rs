//! `edgenas export`: the retrained evaluation network as a self-describing
//! ONNX model, verified against burn with tract on real test images.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use export::ExportOptions;

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// A retrain folder (with model.json and weights.bpk) or a run folder
    /// of `edgenas run` (its retrain/ is used).
    #[arg(long)]
    pub run: PathBuf,
    /// The ONNX file to write (atomically).
    #[arg(long)]
    pub out: PathBuf,
    /// Keep BatchNormalization nodes instead of folding them into the
    /// convolutions.
    #[arg(long)]
    pub no_fold_bn: bool,
    /// Skip the tract-vs-burn parity check on test images.
    #[arg(long)]
    pub no_verify: bool,
    /// Test images used by the parity check.
    #[arg(long, default_value_t = 64)]
    pub verify_images: usize,
    /// Also write OUT.check.json: the verification images (normalized) and
    /// burn's logits for them, so other runtimes can be checked against
    /// burn (bench/interop/ort_check.py does it for onnxruntime).
    #[arg(long)]
    pub write_check: bool,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: ExportArgs) -> Result<()> {
    let options = ExportOptions {
        fold_bn: !args.no_fold_bn,
        verify_images: (!args.no_verify).then_some(args.verify_images),
        write_check: args.write_check,
    };
    let summary = export::export_run(&args.run, &args.out, &options)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        eprintln!(
            "wrote {} ({} nodes, {} bytes{})",
            summary.model_path.display(),
            summary.nodes,
            summary.bytes,
            summary
                .max_rel_error
                .map(|r| format!(", parity with burn: relative error {r:.2e}"))
                .unwrap_or_default()
        );
    }
    Ok(())
}
