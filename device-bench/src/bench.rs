//! One benchmark run: the model's accuracy on the whole test split, its
//! latency at batch 1 and at the configured batch, and the calibration
//! workload measured alongside, as a [`BenchReport`].

use std::path::Path;
use std::time::Duration;

use datasets::{Dataset, Normalization};
use sha2::{Digest, Sha256};

use crate::calibration::{self, CALIBRATION_DESCRIPTION, CALIBRATION_WORKLOAD, Calibration};
use crate::error::BenchError;
use crate::host::BenchDevice;
use crate::model::{ModelFile, hex, shape_text};
use crate::report::{
    Accuracy, BatchLatency, BenchReport, CalibrationInfo, DataInfo, DeviceInfo, ModelInfo,
    REPORT_KIND, REPORT_SCHEMA_VERSION, RunSettings,
};
use ::runtime::remote::{Client, Input, RemoteHost, RemoteTarget, Workload};
use ::runtime::timing::{self, Schedule};
use ::runtime::{HostInfo, LatencyStats, Profile, TractModel, TractPlan};

/// Environment variable with the test-only slowdown in milliseconds (the
/// binary's hidden `--inject-slowdown-ms` sets the same option).
pub const SLOWDOWN_ENV: &str = "DEVICE_BENCH_INJECT_SLOWDOWN_MS";

/// How to run the benchmark.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOptions {
    pub device: BenchDevice,
    /// Batch of the accuracy pass and of the second latency measurement.
    pub batch: usize,
    /// Untimed runs before the timed ones, per workload.
    pub warmup: usize,
    /// Timed runs per workload.
    pub repeats: usize,
    /// Add per-node times to the report.
    pub profile: bool,
    /// Test only: busy-wait added to every model inference, so tests can
    /// show that the gate catches a slower model. Recorded in the report.
    pub inject_slowdown: Duration,
    /// Time the latency on this device (`latency-lut serve` there) instead
    /// of here; the accuracy is still computed here, tract being
    /// deterministic.
    pub remote: Option<RemoteTarget>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            device: BenchDevice::Cpu,
            batch: 32,
            warmup: 10,
            repeats: 50,
            profile: false,
            inject_slowdown: Duration::ZERO,
            remote: None,
        }
    }
}

/// The largest `--batch` a run accepts.
pub const MAX_BATCH: usize = 4096;

impl RunOptions {
    fn check(&self) -> Result<(), BenchError> {
        if self.batch == 0 {
            return Err(BenchError::Option("--batch must be at least 1".into()));
        }
        // Memory grows with the batch (11 GB at 100,000 on the digits
        // network); beyond this a batch measures nothing a deployment uses.
        if self.batch > MAX_BATCH {
            return Err(BenchError::Option(format!(
                "--batch {} is above the largest supported batch, {MAX_BATCH}",
                self.batch
            )));
        }
        if self.repeats == 0 {
            return Err(BenchError::Option("--repeats must be at least 1".into()));
        }
        if self.remote.is_some() && !self.inject_slowdown.is_zero() {
            return Err(BenchError::Option(
                "the injected slowdown slows this machine's tract, which --remote does not time"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// Runs the benchmark of the model at `model_path` on the test split of
/// `data`. See [`run_with_progress`].
pub fn run(
    model_path: &Path,
    data: &Dataset,
    options: &RunOptions,
) -> Result<BenchReport, BenchError> {
    run_with_progress(model_path, data, options, &mut |_, _| {})
}

/// Runs the benchmark, calling `progress(images_done, images_total)` after
/// every batch of the accuracy pass.
///
/// The model must be an `edgenas export` (its metadata gives the input
/// normalization) whose image shape and class count match `data`.
///
/// # Errors
/// A [`BenchError`] naming the model file when it is missing, corrupt,
/// truncated, not an edgenas export, or does not fit the data, or when tract
/// fails on it.
pub fn run_with_progress(
    model_path: &Path,
    data: &Dataset,
    options: &RunOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<BenchReport, BenchError> {
    options.check()?;
    // A device that cannot be reached, is busy or refuses the token fails
    // the run now, not after the accuracy pass. The connection is not kept
    // through that pass: the server drops silent clients.
    if let Some(target) = &options.remote {
        let device = target.connect()?.device().clone();
        log::info!(
            "latency will be measured on {}: {} ({} cores, {}), tract {}",
            target.address,
            device.host.cpu_model,
            device.host.cores,
            device.host.os,
            device.runtime_version
        );
    }
    let model = ModelFile::read(model_path)?;
    let data_shape = [data.channels, data.height, data.width];
    if model.input_shape != data_shape {
        return Err(BenchError::InputShape {
            path: model_path.to_path_buf(),
            model: shape_text(model.input_shape),
            data_source: data.source.clone(),
            data: shape_text(data_shape),
        });
    }
    if model.num_classes != data.num_classes {
        return Err(BenchError::Classes {
            path: model_path.to_path_buf(),
            model: model.num_classes,
            data_source: data.source.clone(),
            data: data.num_classes,
        });
    }
    let test = &data.test;
    if test.is_empty() {
        return Err(BenchError::Option(format!(
            "the data {} has no test images",
            data.source
        )));
    }
    if options.inject_slowdown > Duration::ZERO {
        log::warn!(
            "injecting {:?} of busy-wait per inference (test only)",
            options.inject_slowdown
        );
    }

    // The model was trained on normalized images: use exactly the
    // statistics it was exported with, not ones computed from this data.
    let normalization = Normalization {
        mean: model.metadata.mean.clone(),
        std: model.metadata.std.clone(),
    };
    let [c, h, w] = data_shape;
    let images = normalization.apply(&test.images, c, h, w);

    let loaded =
        TractModel::from_bytes(model_path, &model.bytes)?.with_slowdown(options.inject_slowdown);
    if loaded.input_count() != 1 {
        return Err(BenchError::Model {
            path: model_path.to_path_buf(),
            message: format!("tract sees {} inputs, expected 1", loaded.input_count()),
        });
    }
    let plans = Plans::new(&loaded, model.input_shape, options.batch, test.len)?;
    log::info!(
        "{}: {} ONNX nodes, {} after tract's optimization; {} test images of {}",
        model_path.display(),
        model.onnx_nodes,
        plans.one().node_count(),
        test.len,
        data.source
    );

    let accuracy = accuracy_pass(&plans, &images, &test.labels, test.image_len, progress)?;
    log::info!(
        "accuracy {:.2}% ({} of {} test images)",
        accuracy.percent,
        accuracy.correct,
        accuracy.samples
    );

    let latency_plans: Vec<&TractPlan> = if options.batch == 1 {
        vec![plans.one()]
    } else {
        vec![plans.one(), plans.full()]
    };
    let inputs: Vec<Vec<f32>> = latency_plans
        .iter()
        .map(|p| cycled_batch(&images, test.image_len, p.batch()))
        .collect();
    let (samples, remote_host) = match &options.remote {
        None => {
            let calibrations: Vec<Calibration> = latency_plans
                .iter()
                .map(|p| Calibration::load(p.batch()))
                .collect::<Result<_, _>>()?;
            let samples = time_interleaved(&latency_plans, &inputs, &calibrations, options)?;
            (samples, None)
        }
        Some(target) => {
            let (samples, device) = time_remotely(
                target,
                model_path,
                &model.bytes,
                &latency_plans,
                &inputs,
                options,
            )?;
            (samples, Some(device))
        }
    };
    let mut latency = Vec::new();
    for ((plan, input), timings) in latency_plans.iter().zip(&inputs).zip(samples) {
        let stats = LatencyStats::from_samples(&timings.model, plan.batch(), options.warmup);
        let calibration =
            LatencyStats::from_samples(&timings.calibration, plan.batch(), options.warmup);
        let profile = match (&options.remote, options.profile) {
            (Some(_), _) => timings.profile,
            (None, true) => Some(plan.profile(&[input], options.repeats)?),
            (None, false) => None,
        };
        // The ratio of each round's two back-to-back times: drift of the
        // machine within the run cancels round by round.
        let ratios: Vec<f64> = timings
            .model
            .iter()
            .zip(&timings.calibration)
            .map(|(m, c)| m / c)
            .collect();
        let ratio = LatencyStats::from_samples(&ratios, plan.batch(), options.warmup);
        log::info!(
            "batch {}: p50 {:.3} ms, p90 {:.3} ms, {:.0} images/s; {:.3}× the calibration workload ({:.3} ms; paired-ratio spread {:.1} %)",
            plan.batch(),
            stats.p50_ms,
            stats.p90_ms,
            stats.throughput_ips,
            ratio.p50_ms,
            calibration.p50_ms,
            ratio.spread * 100.0
        );
        latency.push(BatchLatency {
            batch: plan.batch(),
            calibration_ratio: ratio.p50_ms,
            ratio_spread: Some(ratio.spread),
            run_to_run_pct: None,
            stats,
            calibration,
            profile,
        });
    }

    let meta = &model.metadata;
    Ok(BenchReport {
        kind: REPORT_KIND.into(),
        schema_version: REPORT_SCHEMA_VERSION,
        tool_version: crate::tool_version(),
        created_at: jiff::Timestamp::now().to_string(),
        model: ModelInfo {
            path: model_path.display().to_string(),
            sha256: model.sha256.clone(),
            bytes: model.bytes.len(),
            onnx_nodes: model.onnx_nodes,
            plan_nodes: plans.one().node_count(),
            input_shape: model.input_shape,
            num_classes: model.num_classes,
            trained_on: meta.dataset.clone(),
            retrain_test_accuracy: meta.retrain_test_accuracy,
            bn_folded: meta.bn_folded,
            exported_by: meta.tool_version.clone(),
            genotype: meta.genotype.clone(),
        },
        data: DataInfo {
            source: data.source.clone(),
            name: data.name.clone(),
            test_samples: test.len,
            test_fingerprint: test_fingerprint(&test.images, &test.labels),
        },
        device: DeviceInfo {
            device: options.device,
            runtime: "tract".into(),
            runtime_version: remote_host
                .as_ref()
                .map_or(::runtime::TRACT_VERSION, |d| &d.runtime_version)
                .into(),
            kernels: match &remote_host {
                Some(d) => d.kernels,
                None => Some(::runtime::kernels::Kernels::from_env().generation()),
            },
            // tract's plans run on the calling thread unless a multithread
            // executor is installed, which device-bench (and the server
            // that times for it) never does.
            threads: 1,
            host: remote_host.map_or_else(HostInfo::detect, |d| d.host),
            remote: options.remote.as_ref().map(|t| t.address.clone()),
        },
        settings: RunSettings {
            batch: options.batch,
            warmup: options.warmup,
            repeats: options.repeats,
            profile: options.profile,
            injected_slowdown_ms: options.inject_slowdown.as_secs_f64() * 1e3,
        },
        accuracy,
        latency,
        calibration: CalibrationInfo {
            workload: CALIBRATION_WORKLOAD.into(),
            description: CALIBRATION_DESCRIPTION.into(),
        },
    })
}

/// The plans a run needs: batch 1, the configured batch, and the remainder
/// of the test split. tract optimizes for one concrete shape, so the last
/// partial batch gets its own plan: padding it would cost a full batch of
/// work and need care to drop the padded rows, and the plan is cheap.
struct Plans {
    /// Plans by batch size (at most three, no duplicates).
    plans: Vec<TractPlan>,
    batch: usize,
}

impl Plans {
    fn new(
        model: &TractModel,
        [c, h, w]: [usize; 3],
        batch: usize,
        samples: usize,
    ) -> Result<Self, BenchError> {
        let mut sizes = vec![1, batch];
        if !samples.is_multiple_of(batch) {
            sizes.push(samples % batch);
        }
        sizes.sort_unstable();
        sizes.dedup();
        let plans = sizes
            .into_iter()
            .map(|b| model.plan(&[vec![b, c, h, w]]))
            .collect::<Result<_, _>>()?;
        Ok(Self { plans, batch })
    }

    fn get(&self, batch: usize) -> &TractPlan {
        self.plans
            .iter()
            .find(|p| p.batch() == batch)
            .expect("a plan for every batch size the run uses")
    }

    fn one(&self) -> &TractPlan {
        self.get(1)
    }

    fn full(&self) -> &TractPlan {
        self.get(self.batch)
    }
}

/// Top-1 accuracy over every image, in batches of the configured size and
/// one remainder batch.
fn accuracy_pass(
    plans: &Plans,
    images: &[f32],
    labels: &[u8],
    image_len: usize,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Accuracy, BenchError> {
    let samples = labels.len();
    let (mut correct, mut inferences, mut start) = (0, 0, 0);
    while start < samples {
        let size = plans.batch.min(samples - start);
        let (_, logits) = plans
            .get(size)
            .run(&[&images[start * image_len..(start + size) * image_len]])?;
        let classes = logits.len() / size;
        correct += logits
            .chunks_exact(classes)
            .zip(&labels[start..start + size])
            .filter(|(row, label)| argmax(row) == usize::from(**label))
            .count();
        inferences += 1;
        start += size;
        progress(start, samples);
    }
    Ok(Accuracy {
        percent: 100.0 * correct as f64 / samples as f64,
        correct,
        samples,
        inferences,
    })
}

/// Index of the largest value; the first one wins on ties, as burn's
/// `argmax` does, so accuracies agree with burn's to the sample.
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, v) in row.iter().enumerate().skip(1) {
        if *v > row[best] {
            best = i;
        }
    }
    best
}

/// `batch` images from the front of `images`, wrapping around when the
/// split is smaller than the batch.
fn cycled_batch(images: &[f32], image_len: usize, batch: usize) -> Vec<f32> {
    let count = images.len() / image_len;
    (0..batch)
        .flat_map(|i| {
            let j = i % count;
            images[j * image_len..(j + 1) * image_len].iter().copied()
        })
        .collect()
}

/// Milliseconds of the model at one batch size and of the calibration
/// workload at the same batch, run by run (and the model's node profile,
/// when a remote device made it).
struct Timings {
    model: Vec<f64>,
    calibration: Vec<f64>,
    profile: Option<Profile>,
}

/// Times every model plan with its calibration workload, one batch size
/// after the other. Within a batch size the two alternate run by run
/// (after `warmup` rounds): both see the same machine state (a neighbour's
/// burst of work, a frequency change), so their ratio stays stable when
/// absolute times drift within the run. Batch sizes are not mixed in one
/// round: a batch-32 run evicts the caches a batch-1 run would find warm,
/// which made the batch-1 times depend on the order of the round rather
/// than on the model.
fn time_interleaved(
    plans: &[&TractPlan],
    inputs: &[Vec<f32>],
    calibrations: &[Calibration],
    options: &RunOptions,
) -> Result<Vec<Timings>, BenchError> {
    let schedule = Schedule::alternating(options.warmup, options.repeats);
    let mut out = Vec::new();
    for ((plan, input), calibration) in plans.iter().zip(inputs).zip(calibrations) {
        let mut model_timer = plan.timer(&[input])?;
        let mut calibration_timer = calibration.timer()?;
        let mut times =
            timing::interleaved(&mut [&mut model_timer, &mut calibration_timer], schedule)?;
        let calibration = times.pop().expect("two workloads");
        let model = times.pop().expect("two workloads");
        out.push(Timings {
            model,
            calibration,
            profile: None,
        });
    }
    Ok(out)
}

/// [`time_interleaved`] on a remote device: per batch size, one job of the
/// model and the calibration workload (the same bytes and inputs), which
/// the device runs alternately as this machine would, then profiles the
/// model when asked. Returns the device as it described itself.
fn time_remotely(
    target: &RemoteTarget,
    model_path: &Path,
    onnx: &[u8],
    plans: &[&TractPlan],
    inputs: &[Vec<f32>],
    options: &RunOptions,
) -> Result<(Vec<Timings>, RemoteHost), BenchError> {
    let mut client = Client::connect(&target.address, &target.token)?;
    let mut out = Vec::new();
    for (plan, input) in plans.iter().zip(inputs) {
        let mut model = Workload::shared(
            model_path.display().to_string(),
            onnx.to_vec(),
            vec![Input {
                shape: plan.input_shapes()[0].clone(),
                values: input.clone(),
            }],
        );
        if options.profile {
            model = model.with_profile(options.repeats);
        }
        let jobs = [model, calibration::workload(plan.batch())];
        let measured = client.time(&jobs, options.warmup, options.repeats)?;
        let mut times = measured.times_ms.into_iter();
        out.push(Timings {
            model: times
                .next()
                .expect("the client checked one series per workload"),
            calibration: times
                .next()
                .expect("the client checked one series per workload"),
            profile: measured.profiles.into_iter().next().flatten(),
        });
    }
    Ok((out, client.device().clone()))
}

/// SHA-256 over the raw test images (f32 little-endian) and labels.
fn test_fingerprint(images: &[f32], labels: &[u8]) -> String {
    let mut hasher = Sha256::new();
    for v in images {
        hasher.update(v.to_le_bytes());
    }
    hasher.update(labels);
    hex(&hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_takes_the_first_of_equal_maxima() {
        for (row, expected) in [
            (vec![0.0, 1.0, 0.5], 1),
            (vec![2.0, 2.0, 1.0], 0),
            (vec![-1.0, 3.0, 3.0], 1),
            (vec![5.0], 0),
            (vec![-3.0, -2.0, -2.0, -7.0], 1),
        ] {
            assert_eq!(argmax(&row), expected, "{row:?}");
        }
    }

    #[test]
    fn batches_wrap_around_small_splits() {
        let images = [1.0, 2.0, 3.0, 4.0]; // two images of two values
        assert_eq!(
            cycled_batch(&images, 2, 3),
            vec![1.0, 2.0, 3.0, 4.0, 1.0, 2.0]
        );
        assert_eq!(cycled_batch(&images, 2, 1), vec![1.0, 2.0]);
    }

    #[test]
    fn fingerprints_see_images_and_labels() {
        let a = test_fingerprint(&[0.5, 0.25], &[1]);
        assert_eq!(a.len(), 64);
        assert_ne!(a, test_fingerprint(&[0.5, 0.25], &[2]));
        assert_ne!(a, test_fingerprint(&[0.5, 0.3], &[1]));
    }
}
