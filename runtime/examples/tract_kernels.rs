//! tract's own kernels vs edgenas' (runtime::kernels) on one ONNX model,
//! timed interleaved in one process, with their outputs compared.
//!
//!     cargo run --release -p runtime --example tract_kernels -- MODEL.onnx 1,1,28,28 [ROUNDS]
//!
//! Prints one JSON line: p50 of each (ms), their ratio, the largest
//! absolute output difference.

use runtime::kernels::Kernels;
use runtime::timing::{self, Schedule};
use runtime::tract::TractModel;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    runtime::memory::keep_freed_memory();
    let args: Vec<String> = std::env::args().collect();
    let (path, shape) = match args.as_slice() {
        [_, path, shape, ..] => (path, shape),
        _ => return Err("usage: tract_kernels MODEL.onnx N,C,H,W [ROUNDS]".into()),
    };
    let shape: Vec<usize> = shape.split(',').map(str::parse).collect::<Result<_, _>>()?;
    let rounds: usize = args.get(3).map(|r| r.parse()).transpose()?.unwrap_or(20);
    let model = TractModel::load(std::path::Path::new(path))?;
    let plans = [Kernels::Tract, Kernels::Edgenas]
        .map(|k| model.plan_with(std::slice::from_ref(&shape), k));
    let [tract, ours] = plans;
    let (tract, ours) = (tract?, ours?);
    let input: Vec<f32> = (0..shape.iter().product::<usize>())
        .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
        .collect();
    let (_, a) = tract.run(&[&input])?;
    let (_, b) = ours.run(&[&input])?;
    let diff = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    let mut t = tract.copying_timer(&[&input])?;
    let mut o = ours.copying_timer(&[&input])?;
    let schedule = Schedule {
        warmup_rounds: 1,
        rounds,
        turn_warmup: 5,
        turn_timed: 20,
    };
    let times = timing::interleaved(&mut [&mut t, &mut o], schedule)?;
    let p50 = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (pt, po) = (p50(&times[0]), p50(&times[1]));
    println!(
        "{{\"model\": {path:?}, \"tract_p50_ms\": {pt:.4}, \"edgenas_p50_ms\": {po:.4}, \"tract_over_edgenas\": {:.3}, \"max_abs_diff\": {diff:e}}}",
        pt / po
    );
    Ok(())
}
