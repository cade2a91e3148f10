//! `profile`: measure every key of a template on a device, with a resumable
//! partial file (`<out>.partial`) so an interrupted run continues where it
//! stopped.

use std::path::{Path, PathBuf};

use crate::LutError;
use crate::device::{DeviceDescription, DeviceProfile, HostInfo, LutBackend};
use crate::measure::Backends;
use crate::stats::Stats;
use crate::table::{Entry, EntryReference, LUT_SCHEMA_VERSION, Lut};
use crate::template::{LutKey, Template};

/// The partial file next to `out`.
pub fn partial_path(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    out.with_file_name(format!("{name}.partial"))
}

/// The device description of a measurement made now on this machine.
pub fn describe(profile: &DeviceProfile) -> DeviceDescription {
    let version = match profile.backend {
        LutBackend::Tract => runtime::TRACT_VERSION,
        LutBackend::Flex | LutBackend::Cuda => "0.22.1",
    };
    let mut host = HostInfo::detect();
    if profile.backend == LutBackend::Cuda {
        host.gpu = Some("CUDA device 0".into());
    }
    describe_host(profile, host, version, env!("CARGO_PKG_VERSION"))
}

/// The device description of a measurement made now on `host`, with the
/// runtime and tool versions installed there (a remote device's).
pub fn describe_host(
    profile: &DeviceProfile,
    host: HostInfo,
    runtime_version: &str,
    tool_version: &str,
) -> DeviceDescription {
    let runtime = match profile.backend {
        LutBackend::Tract => "tract-onnx",
        LutBackend::Flex => "burn-flex",
        LutBackend::Cuda => "burn-cuda",
    };
    DeviceDescription {
        profile: profile.clone(),
        host,
        runtime: runtime.into(),
        runtime_version: runtime_version.into(),
        measured_at: jiff::Timestamp::now().to_string(),
        tool_version: tool_version.into(),
    }
}

/// Measures every key of `template` (skipping those a matching partial file
/// already holds), writes `out` atomically and removes the partial file.
/// `on_key(done, total, key)` reports progress.
pub fn profile(
    template: &Template,
    profile: &DeviceProfile,
    backends: &Backends,
    out: &Path,
    on_key: &mut dyn FnMut(usize, usize, &LutKey),
) -> Result<Lut, LutError> {
    // Fail at once, before any work, when the backend is not available.
    let backend = backends.for_profile(profile)?;
    let keys = template.keys();
    let partial = partial_path(out);
    let description = backend.describe(profile);
    let mut entries: Vec<Entry> = Vec::new();
    if partial.exists() {
        match Lut::load(&partial) {
            // The host too: a table is measured on one machine, not resumed
            // on another (this one, or a remote device).
            // And the layout: a partial table of an older version holds
            // entries without their reference measurement.
            Ok(old)
                if old.fingerprint == crate::table::fingerprint(profile, template)
                    && old.device.host == description.host
                    && old.schema_version == LUT_SCHEMA_VERSION =>
            {
                log::info!(
                    "resuming from {} ({} of {} keys measured)",
                    partial.display(),
                    old.entries.len(),
                    keys.len()
                );
                entries = old.entries;
            }
            Ok(_) => log::warn!(
                "ignoring {}: measured for another device, host or template, or by an older version",
                partial.display()
            ),
            Err(e) => log::warn!("ignoring unreadable partial table: {e}"),
        }
    }
    let total = keys.len();
    for (i, key) in keys.iter().enumerate() {
        on_key(i, total, key);
        if entries.iter().any(|e| &e.key == key) {
            continue;
        }
        let timed = backend.measure_key(key, profile)?;
        entries.push(Entry {
            key: key.clone(),
            stats: Stats::from_samples(&timed.times_ms),
            reference: EntryReference::of(&timed),
        });
        Lut::new(description.clone(), template.clone(), entries.clone()).save(&partial)?;
    }
    on_key(total, total, keys.last().expect("a template has keys"));
    entries.sort_by(|a, b| a.key.cmp(&b.key));
    let lut = Lut::new(description, template.clone(), entries);
    lut.save(out)?;
    let _ = std::fs::remove_file(&partial);
    Ok(lut)
}
