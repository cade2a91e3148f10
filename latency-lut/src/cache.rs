//! A search's latency table: the template it needs, and a folder of
//! measured tables reused across runs (keyed by the device profile and the
//! template's fingerprint).

use std::path::{Path, PathBuf};
use std::time::Instant;

use arch::shape::NetworkConfig;
use artifacts::SearchConfig;
use artifacts::progress::Progress;

use crate::device::{DeviceProfile, LutBackend};
use crate::measure::Backends;
use crate::table::{LUT_SCHEMA_V1, Lut, fingerprint};
use crate::template::{NetSize, Template};
use crate::{LutError, profile, validate};

/// Architectures the end-to-end calibration is fitted on by default.
pub const CALIBRATION_SAMPLES: usize = 30;
/// Seed of the calibration's architectures (`validate` defaults to 0, so
/// the two never share samples).
pub const CALIBRATION_SEED: u64 = 1;

/// The template of a search on images of `in_channels`×`image_size`² in
/// `num_classes` classes: its search network, its search-phase evaluation
/// network and the network that will be retrained and deployed. The stem
/// multiplier is the networks' own (`NetworkConfig`).
pub fn template_for(
    config: &SearchConfig,
    in_channels: usize,
    image_size: usize,
    num_classes: usize,
    deploy: NetSize,
) -> Template {
    let network = NetworkConfig::new(in_channels, image_size, num_classes);
    Template {
        in_channels,
        image_size,
        num_classes,
        nodes: config.nodes,
        stem_multiplier: network.stem_multiplier,
        ops: config.space().ops().to_vec(),
        search: NetSize {
            channels: config.channels,
            layers: config.layers,
        },
        search_eval: NetSize {
            channels: config.eval_channels,
            layers: config.eval_layers,
        },
        deploy,
    }
}

/// Measures `template` on `profile` into `out` (resuming from
/// `out.partial`), then fits the end-to-end calibration on `calibrate`
/// architectures (0 leaves the table uncalibrated) and rewrites `out`.
pub fn profile_and_calibrate(
    template: &Template,
    device: &DeviceProfile,
    backends: &Backends,
    out: &Path,
    calibrate: usize,
    progress: &dyn Progress,
) -> Result<Lut, LutError> {
    let started = Instant::now();
    let bar = progress.start("profile", 0);
    let mut lut = profile::profile(template, device, backends, out, &mut |done, total, key| {
        bar.set(done, total, &key.to_string())
    })?;
    bar.finish();
    log::info!(
        "profiled {} keys on {} ({}) in {:.1} s → {}",
        lut.entries.len(),
        device.name,
        lut.device.runtime,
        started.elapsed().as_secs_f64(),
        out.display()
    );
    if calibrate > 0 {
        calibrate_table(
            &mut lut,
            backends,
            out,
            calibrate,
            CALIBRATION_SEED,
            progress,
        )?;
    }
    Ok(lut)
}

/// Fits the end-to-end calibration of `lut` on `samples` architectures
/// drawn with `seed`, stores it in the table and rewrites `path`.
pub fn calibrate_table(
    lut: &mut Lut,
    backends: &Backends,
    path: &Path,
    samples: usize,
    seed: u64,
    progress: &dyn Progress,
) -> Result<(), LutError> {
    let started = Instant::now();
    let bar = progress.start("calibrate", samples);
    let calibration =
        validate::calibrate(lut, backends, samples, seed, &mut |i, n| bar.set(i, n, ""))?;
    bar.finish();
    log::info!(
        "calibrated on {samples} architectures in {:.1} s: predicted = {:.4} · sum {:+.4} ms (fit RMSE {:.1} %)",
        started.elapsed().as_secs_f64(),
        calibration.scale,
        calibration.offset_ms,
        calibration.fit_rmse_pct
    );
    lut.calibration = Some(calibration);
    lut.save(path)
}

/// Holds the exclusive lock of the cache entry `path` (`.NAME.lock` beside
/// it), waiting for another process that holds it.
fn lock_entry(path: &Path) -> Result<std::fs::File, LutError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let lock_path = path.with_file_name(format!(".{name}.lock"));
    let failed = |e: std::io::Error| LutError::Table {
        path: lock_path.display().to_string(),
        message: format!("cannot lock the cache entry: {e}"),
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(failed)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            log::info!(
                "another process is profiling {}; waiting for it to finish",
                path.display()
            );
            file.lock().map_err(failed)?;
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(failed(e)),
    }
    Ok(file)
}

/// A folder of measured tables, one per (device profile, template).
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// Where the table of `device` and `template` lives in the cache.
    pub fn path(&self, device: &DeviceProfile, template: &Template) -> PathBuf {
        self.dir.join(format!(
            "lut-{}-{}.json",
            device.name,
            fingerprint(device, template)
        ))
    }

    /// Where the table of `device` and `template` measured with `backends`
    /// lives: [`Self::path`], except for tables of a remote device, which
    /// are kept apart per device host (`lut-NAME-remote-HOST-FINGERPRINT
    /// .json`, HOST a hash of its description), so that a table measured
    /// on one machine is never reused for another.
    pub fn path_for(
        &self,
        device: &DeviceProfile,
        template: &Template,
        backends: &Backends,
    ) -> PathBuf {
        match backends.tract.remote() {
            Some(remote) if device.backend == LutBackend::Tract => {
                let host = serde_json::to_string(&remote.device().host).expect("serializable");
                self.dir.join(format!(
                    "lut-{}-remote-{}-{}.json",
                    device.name,
                    &crate::table::fnv1a(&host)[..8],
                    fingerprint(device, template)
                ))
            }
            _ => self.path(device, template),
        }
    }

    /// The cached, calibrated table of `device` and `template`, profiled
    /// and calibrated now when the cache has none (or one that was cut off
    /// before its calibration). Returns the table and its path.
    pub fn get_or_profile(
        &self,
        device: &DeviceProfile,
        template: &Template,
        backends: &Backends,
        progress: &dyn Progress,
    ) -> Result<(Lut, PathBuf), LutError> {
        let path = self.path_for(device, template, backends);
        std::fs::create_dir_all(&self.dir).map_err(|e| LutError::Table {
            path: self.dir.display().to_string(),
            message: format!("cannot create the latency cache: {e}"),
        })?;
        // One process profiles a table at a time; the others wait here and
        // then reuse it (an OS advisory lock, released when the file closes,
        // also when the holder is killed).
        let _lock = lock_entry(&path)?;
        let mut lut = if path.exists() {
            // A cached table that does not load is an error, not a silent
            // re-measurement: runs that used it point at it.
            let lut = Lut::load(&path).map_err(|e| LutError::Table {
                path: path.display().to_string(),
                message: format!(
                    "the cached table does not load ({e}); delete it to profile the device again"
                ),
            })?;
            log::info!("reusing latency table {}", path.display());
            // A table of schema 1 still predicts, in the milliseconds of
            // the host's speed when it was profiled; it cannot be
            // calibrated against networks measured now.
            if lut.schema_version == LUT_SCHEMA_V1 {
                if lut.calibration.is_none() {
                    return Err(LutError::Table {
                        path: path.display().to_string(),
                        message: "the cached table was profiled before the reference workload (schema_version 1) and never calibrated; delete it to profile the device again".into(),
                    });
                }
                log::warn!(
                    "{} was profiled before the reference workload (schema_version 1): its costs are milliseconds of the host's speed at that time; delete it to profile the device again",
                    path.display()
                );
            }
            lut
        } else {
            profile_and_calibrate(template, device, backends, &path, 0, progress)?
        };
        // A table cut off between profiling and calibration is complete but
        // uncalibrated: finish it now.
        if lut.calibration.is_none() {
            calibrate_table(
                &mut lut,
                backends,
                &path,
                CALIBRATION_SAMPLES,
                CALIBRATION_SEED,
                progress,
            )?;
        }
        // Cite the file as it is now, profiled or calibrated just now or
        // not (the lock is still held: it is the file later runs read).
        let bytes = std::fs::read(&path).map_err(|e| LutError::Table {
            path: path.display().to_string(),
            message: format!("cannot read back: {e}"),
        })?;
        lut.file_hash = Some(crate::table::file_sha256(&bytes));
        Ok((lut, path))
    }
}
