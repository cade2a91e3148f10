//! The latency table file: device description, template, fingerprint and
//! one robust-statistics entry per (op, shape) key. Loading validates it
//! and names the file and the problem.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::LutError;
use crate::device::{DeviceDescription, DeviceProfile};
use crate::stats::Stats;
use crate::template::{Glue, LutKey, Template};

/// Version of the table's JSON layout.
pub const LUT_SCHEMA_VERSION: u32 = 1;
/// The `kind` field every table carries.
pub const LUT_KIND: &str = "edgenas-latency-lut";

/// One measured key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    #[serde(flatten)]
    pub key: LutKey,
    #[serde(flatten)]
    pub stats: Stats,
}

/// A latency lookup table (docs/algorithms.md §4.1). Two tables are equal
/// when their contents are, wherever they were read from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Lut {
    pub schema_version: u32,
    pub kind: String,
    pub device: DeviceDescription,
    pub template: Template,
    /// Hash of (device profile, template): a table is reused only for the
    /// same fingerprint.
    pub fingerprint: String,
    pub entries: Vec<Entry>,
    /// End-to-end calibration of the sum of entries (`latency-lut
    /// calibrate`): predicted = scale · sum + offset_ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibration>,
    #[serde(skip)]
    index: BTreeMap<LutKey, usize>,
    /// SHA-256 of the file this table was loaded from, byte for byte
    /// (`None` for a table built in memory): records cite it so a
    /// prediction can be traced to the exact file.
    #[serde(skip)]
    pub file_hash: Option<String>,
}

/// A linear correction of the summed table fitted on whole networks
/// measured end to end, which captures what isolated ops cannot: weights
/// and activations no longer hot in cache, buffer allocation between ops.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub scale: f64,
    pub offset_ms: f64,
    /// Architectures the fit used, and the seed they were sampled with.
    pub samples: usize,
    pub seed: u64,
    /// Root mean square relative error (%) of the fit on those samples.
    pub fit_rmse_pct: f64,
}

/// SHA-256 of a file's bytes, as 64 hex digits: records cite the exact
/// table file a run read.
pub fn file_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// FNV-1a 64 of a string, as 16 hex digits.
pub(crate) fn fnv1a(text: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}

/// The fingerprint of measuring `template` with `profile`.
pub fn fingerprint(profile: &DeviceProfile, template: &Template) -> String {
    let canonical = serde_json::to_string(&(profile, template)).expect("serializable");
    fnv1a(&canonical)
}

impl PartialEq for Lut {
    fn eq(&self, other: &Self) -> bool {
        (
            self.schema_version,
            &self.kind,
            &self.device,
            &self.template,
            &self.fingerprint,
            &self.entries,
            &self.calibration,
        ) == (
            other.schema_version,
            &other.kind,
            &other.device,
            &other.template,
            &other.fingerprint,
            &other.entries,
            &other.calibration,
        )
    }
}

impl Lut {
    pub fn new(device: DeviceDescription, template: Template, entries: Vec<Entry>) -> Self {
        let fingerprint = fingerprint(&device.profile, &template);
        let mut lut = Self {
            schema_version: LUT_SCHEMA_VERSION,
            kind: LUT_KIND.into(),
            device,
            template,
            fingerprint,
            entries,
            calibration: None,
            index: BTreeMap::new(),
            file_hash: None,
        };
        lut.reindex();
        lut
    }

    /// A table of `template` whose costs come from `cost` instead of a
    /// device (median = mean = p10 = p90 = the cost, one sample), described
    /// as the `cpu` profile measured now. For tests and worked examples of
    /// everything downstream of a table.
    pub fn synthetic(template: &Template, cost: impl Fn(&LutKey) -> f64) -> Self {
        let entries = template
            .keys()
            .into_iter()
            .map(|key| {
                let c = cost(&key);
                Entry {
                    key,
                    stats: Stats::from_samples(&[c]),
                }
            })
            .collect();
        let device = crate::profile::describe(&crate::DeviceProfile::cpu());
        Self::new(device, template.clone(), entries)
    }

    fn reindex(&mut self) {
        self.index = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.key.clone(), i))
            .collect();
    }

    /// Reads and validates a table.
    pub fn load(path: &Path) -> Result<Self, LutError> {
        let bad = |message: String| LutError::Table {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read: {e}")))?;
        let header = artifacts::FileHeader::peek(&text).map_err(|e| {
            if e.is_eof() {
                bad(format!("truncated JSON ({e})"))
            } else {
                bad(format!("corrupt JSON ({e})"))
            }
        })?;
        match header.kind.as_deref() {
            Some(LUT_KIND) => {}
            other => {
                return Err(bad(format!(
                    "not a latency table (kind {other:?}, expected {LUT_KIND:?})"
                )));
            }
        }
        match header.schema_version {
            Some(v) if v == u64::from(LUT_SCHEMA_VERSION) => {}
            other => {
                return Err(bad(format!(
                    "schema_version {other:?} is not supported (this tool reads {LUT_SCHEMA_VERSION})"
                )));
            }
        }
        let mut lut: Lut =
            serde_json::from_str(&text).map_err(|e| bad(format!("wrong schema: {e}")))?;
        lut.reindex();
        lut.file_hash = Some(file_sha256(text.as_bytes()));
        if lut.index.len() != lut.entries.len() {
            return Err(bad("duplicate keys".into()));
        }
        for e in &lut.entries {
            let s = &e.stats;
            let finite = [s.mean, s.median, s.p10, s.p90, s.std]
                .iter()
                .all(|v| v.is_finite() && *v >= 0.0);
            if !finite || s.count == 0 || s.p10 > s.median || s.median > s.p90 {
                return Err(bad(format!("entry {} has invalid statistics {s:?}", e.key)));
            }
        }
        if let Some(c) = &lut.calibration {
            let sane = c.scale.is_finite()
                && c.scale > 0.0
                && c.offset_ms.is_finite()
                && c.fit_rmse_pct.is_finite()
                && c.fit_rmse_pct >= 0.0;
            if !sane {
                return Err(bad(format!(
                    "invalid calibration (scale {}, offset {} ms, fit RMSE {} %): the scale must be positive and every value finite; remove the \"calibration\" block and run `latency-lut calibrate`",
                    c.scale, c.offset_ms, c.fit_rmse_pct
                )));
            }
        }
        let expected = fingerprint(&lut.device.profile, &lut.template);
        if lut.fingerprint != expected {
            return Err(bad(format!(
                "fingerprint {} does not match its device and template ({expected}): the file was edited",
                lut.fingerprint
            )));
        }
        Ok(lut)
    }

    /// Writes the table atomically.
    pub fn save(&self, path: &Path) -> Result<(), LutError> {
        let mut text = serde_json::to_string_pretty(self).expect("serializable");
        text.push('\n');
        artifacts::write_atomic(path, text.as_bytes()).map_err(|e| LutError::Table {
            path: path.display().to_string(),
            message: format!("cannot write: {}", e.into_io()),
        })
    }

    pub fn get(&self, key: &LutKey) -> Option<&Stats> {
        self.index.get(key).map(|&i| &self.entries[i].stats)
    }

    /// The per-run overhead (median ms) of the template's input.
    pub fn overhead_ms(&self) -> f64 {
        let key = LutKey::overhead(self.template.in_channels, self.template.image_size);
        self.get(&key).map_or(0.0, |s| s.median)
    }

    /// The cost of `key` inside a network: its median minus the per-run
    /// overhead that its isolated graph also paid (never below 0).
    pub fn cost(&self, key: &LutKey) -> Result<f64, LutError> {
        if key.op == Glue::Overhead.name() {
            return Ok(self.overhead_ms());
        }
        let stats = self
            .get(key)
            .ok_or_else(|| LutError::Missing(key.clone()))?;
        Ok((stats.median - self.overhead_ms()).max(0.0))
    }

    /// Errors with the first key `template` needs that the table lacks.
    pub fn check_covers(&self, template: &Template) -> Result<(), LutError> {
        for key in template.keys() {
            if self.get(&key).is_none() {
                return Err(LutError::Missing(key));
            }
        }
        Ok(())
    }

    /// Errors unless the table was measured with the device profile `name`.
    pub fn expect_device(&self, path: &Path, name: &str) -> Result<(), LutError> {
        if self.device.profile.name != name {
            return Err(LutError::Table {
                path: path.display().to_string(),
                message: format!(
                    "measured on device {:?}, expected {name:?}",
                    self.device.profile.name
                ),
            });
        }
        Ok(())
    }
}
