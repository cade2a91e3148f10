//! The latency table file: device description, template, fingerprint and
//! one robust-statistics entry per (op, shape) key. Loading validates it
//! and names the file and the problem.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use runtime::reference::REFERENCE_WORKLOAD;

use crate::LutError;
use crate::device::{DeviceDescription, DeviceProfile};
use crate::measure::Timed;
use crate::noise::HostNoise;
use crate::stats::Stats;
use crate::template::{Glue, LutKey, Template};

/// Version of the table's JSON layout. 2 added the reference workload:
/// every entry of a tract table is a ratio to it. Tables of version 1 still
/// load and predict (their costs are the milliseconds of the moment they
/// were profiled); `validate` and `calibrate` refuse them.
pub const LUT_SCHEMA_VERSION: u32 = 2;
/// The first version, without the reference workload.
pub const LUT_SCHEMA_V1: u32 = 1;
/// The `kind` field every table carries.
pub const LUT_KIND: &str = "edgenas-latency-lut";

/// One measured key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    #[serde(flatten)]
    pub key: LutKey,
    /// The key's milliseconds, as measured.
    #[serde(flatten)]
    pub stats: Stats,
    /// The key's time over the reference workload's, round by round, and
    /// the reference's median (ms) over those rounds; in the tables of
    /// backends with a reference (tract, here or remote), from schema 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<EntryReference>,
}

/// An entry's measurement against the reference workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntryReference {
    /// The per-round ratios `key ms / reference ms`.
    pub ratio: Stats,
    /// The reference's median over the key's rounds (ms): the host's speed
    /// while the key was measured.
    pub median_ms: f64,
}

/// The reference workload of a table: what its costs are ratios to, how
/// fast it ran while the table was profiled, and how noisy the host was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableReference {
    /// `runtime::reference::REFERENCE_WORKLOAD`: ratios to another
    /// workload are not comparable.
    pub workload: String,
    /// The median over the keys of the reference's median (ms): the unit of
    /// the table's costs, each its ratio times this.
    pub median_ms: f64,
    /// The host's noise while the keys were measured.
    pub noise: HostNoise,
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
    /// The reference workload the entries are ratios to (tract tables from
    /// schema 2; `None` in burn's tables and in schema 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<TableReference>,
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

impl EntryReference {
    /// The reference measurement of a key timed with the reference
    /// workload (`None` when it was timed alone).
    pub fn of(timed: &Timed) -> Option<Self> {
        let ratios = timed.ratios()?;
        Some(Self {
            ratio: Stats::from_samples(&ratios),
            median_ms: Stats::from_samples(timed.reference_ms.as_ref()?).median,
        })
    }
}

impl TableReference {
    /// The reference of a table of `entries`: `None` unless every entry
    /// was measured against the reference workload.
    pub fn of(entries: &[Entry]) -> Option<Self> {
        let measured: Vec<&EntryReference> = entries
            .iter()
            .map(|e| e.reference.as_ref())
            .collect::<Option<_>>()?;
        let noise = HostNoise::of_keys(&measured)?;
        Some(Self {
            workload: REFERENCE_WORKLOAD.into(),
            median_ms: noise.reference_median_ms,
            noise,
        })
    }
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
    /// The host's noise while those networks were measured (tables with a
    /// reference workload).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise: Option<HostNoise>,
    /// Each of those networks as measured (ms, in the table's unit), in
    /// the order they were drawn: `validate` measures the first ones again
    /// to compare the host's state with the calibration's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measured_ms: Vec<f64>,
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

/// The fingerprint of measuring `template` with `profile`. A tract table
/// also depends on which of tract's kernels edgenas' runtime replaces
/// ([`runtime::kernels::Kernels::generation`]): tables measured with other
/// kernels get another fingerprint, so the cache measures a new one.
pub fn fingerprint(profile: &DeviceProfile, template: &Template) -> String {
    let canonical = serde_json::to_string(&(profile, template)).expect("serializable");
    let generation = runtime::kernels::Kernels::from_env().generation();
    match profile.backend {
        crate::device::LutBackend::Tract if generation > 0 => {
            fnv1a(&format!("{canonical} kernels {generation}"))
        }
        _ => fnv1a(&canonical),
    }
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
            &self.reference,
            &self.calibration,
        ) == (
            other.schema_version,
            &other.kind,
            &other.device,
            &other.template,
            &other.fingerprint,
            &other.entries,
            &other.reference,
            &other.calibration,
        )
    }
}

impl Lut {
    /// A table of `entries`; with a reference workload when every entry
    /// was measured against it (the table's unit is then the median of
    /// their reference medians).
    pub fn new(device: DeviceDescription, template: Template, entries: Vec<Entry>) -> Self {
        let fingerprint = fingerprint(&device.profile, &template);
        let reference = TableReference::of(&entries);
        let mut lut = Self {
            schema_version: LUT_SCHEMA_VERSION,
            kind: LUT_KIND.into(),
            device,
            template,
            fingerprint,
            entries,
            reference,
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
                    reference: None,
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
            Some(v) if v == u64::from(LUT_SCHEMA_VERSION) || v == u64::from(LUT_SCHEMA_V1) => {}
            other => {
                return Err(bad(format!(
                    "schema_version {other:?} is not supported (this tool reads {LUT_SCHEMA_V1} and {LUT_SCHEMA_VERSION})"
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
            if !e.stats.is_valid() {
                return Err(bad(format!(
                    "entry {} has invalid statistics {:?}",
                    e.key, e.stats
                )));
            }
        }
        lut.check_reference().map_err(bad)?;
        if let Some(c) = &lut.calibration {
            let sane = c.scale.is_finite()
                && c.scale > 0.0
                && c.offset_ms.is_finite()
                && c.fit_rmse_pct.is_finite()
                && c.fit_rmse_pct >= 0.0
                && c.measured_ms.len() <= c.samples
                && c.measured_ms.iter().all(|m| m.is_finite() && *m > 0.0);
            if !sane {
                return Err(bad(format!(
                    "invalid calibration (scale {}, offset {} ms, fit RMSE {} %, {} measured networks of {}): the scale and the networks' times must be positive, every value finite and at most one time per network; remove the \"calibration\" block and run `latency-lut calibrate`",
                    c.scale,
                    c.offset_ms,
                    c.fit_rmse_pct,
                    c.measured_ms.len(),
                    c.samples
                )));
            }
        }
        let expected = fingerprint(&lut.device.profile, &lut.template);
        if lut.fingerprint != expected {
            return Err(bad(format!(
                "fingerprint {} does not match its device and template ({expected}): the file was edited, or measured with another generation of edgenas' tract kernels (profile it again)",
                lut.fingerprint
            )));
        }
        Ok(lut)
    }

    /// The reference workload's parts agree: a schema 1 table has none;
    /// otherwise either no entry has one, or every entry has one and the
    /// table records the workload, which is this tool's, and the unit.
    fn check_reference(&self) -> Result<(), String> {
        let referenced = self
            .entries
            .iter()
            .filter(|e| e.reference.is_some())
            .count();
        if self.schema_version == LUT_SCHEMA_V1 {
            return if referenced == 0 && self.reference.is_none() {
                Ok(())
            } else {
                Err("schema_version 1 tables have no reference workload, but this one has one: the file was edited".into())
            };
        }
        for e in &self.entries {
            if let Some(r) = &e.reference
                && !(r.ratio.is_valid() && r.median_ms.is_finite() && r.median_ms > 0.0)
            {
                return Err(format!(
                    "entry {} has an invalid reference measurement {r:?}",
                    e.key
                ));
            }
        }
        match &self.reference {
            None if referenced == 0 => Ok(()),
            None => Err(format!(
                "{referenced} entries are ratios to a reference workload, but the table records none"
            )),
            Some(_) if referenced < self.entries.len() => Err(format!(
                "the table records a reference workload, but {} of its {} entries were not measured against it",
                self.entries.len() - referenced,
                self.entries.len()
            )),
            Some(r) if r.workload != REFERENCE_WORKLOAD => Err(format!(
                "the entries are ratios to the reference workload {:?}, this tool times {REFERENCE_WORKLOAD:?}: profile the device again",
                r.workload
            )),
            Some(r) if !(r.median_ms.is_finite() && r.median_ms > 0.0) => Err(format!(
                "invalid reference time {} ms (a positive number is expected)",
                r.median_ms
            )),
            Some(_) => Ok(()),
        }
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

    /// The entry of `key`.
    pub fn entry(&self, key: &LutKey) -> Option<&Entry> {
        self.index.get(key).map(|&i| &self.entries[i])
    }

    /// An entry's time in the table's unit (ms): its median ratio to the
    /// reference workload times the reference's time in the table, or its
    /// median milliseconds in a table without a reference.
    fn median_ms(&self, entry: &Entry) -> f64 {
        match (&self.reference, &entry.reference) {
            (Some(table), Some(e)) => e.ratio.median * table.median_ms,
            _ => entry.stats.median,
        }
    }

    /// The per-run overhead (ms) of the template's input.
    pub fn overhead_ms(&self) -> f64 {
        let key = LutKey::overhead(self.template.in_channels, self.template.image_size);
        self.entry(&key).map_or(0.0, |e| self.median_ms(e))
    }

    /// The cost of `key` inside a network (ms, in the table's unit): its
    /// median minus the per-run overhead that its isolated graph also paid
    /// (never below 0).
    pub fn cost(&self, key: &LutKey) -> Result<f64, LutError> {
        if key.op == Glue::Overhead.name() {
            return Ok(self.overhead_ms());
        }
        let entry = self
            .entry(key)
            .ok_or_else(|| LutError::Missing(key.clone()))?;
        Ok((self.median_ms(entry) - self.overhead_ms()).max(0.0))
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

#[cfg(test)]
mod tests {
    use arch::space::{OpSpace, ZeroConfig};

    use super::*;
    use crate::template::NetSize;

    fn template() -> Template {
        let size = NetSize {
            channels: 4,
            layers: 3,
        };
        Template {
            in_channels: 1,
            image_size: 8,
            num_classes: 10,
            nodes: 2,
            stem_multiplier: 3,
            ops: OpSpace::darts(ZeroConfig::V1).ops().to_vec(),
            search: size,
            search_eval: size,
            deploy: size,
        }
    }

    /// A table whose key i costs `ratio(key)` reference workloads and was
    /// measured while the reference took `reference_ms(i)`.
    fn referenced(ratio: impl Fn(&LutKey) -> f64, reference_ms: impl Fn(usize) -> f64) -> Lut {
        let template = template();
        let entries = template
            .keys()
            .into_iter()
            .enumerate()
            .map(|(i, key)| {
                let (r, unit) = (ratio(&key), reference_ms(i));
                Entry {
                    reference: Some(EntryReference {
                        ratio: Stats::from_samples(&[r]),
                        median_ms: unit,
                    }),
                    stats: Stats::from_samples(&[r * unit]),
                    key,
                }
            })
            .collect();
        Lut::new(
            crate::profile::describe(&DeviceProfile::cpu()),
            template,
            entries,
        )
    }

    fn ratio(key: &LutKey) -> f64 {
        if key.op == Glue::Overhead.name() {
            0.02
        } else {
            0.03 + 0.01 * key.c_in as f64
        }
    }

    #[test]
    fn costs_are_ratios_times_the_tables_reference_time() {
        let lut = referenced(ratio, |_| 0.2);
        let reference = lut.reference.as_ref().unwrap();
        assert_eq!(reference.workload, REFERENCE_WORKLOAD);
        assert_eq!(reference.median_ms, 0.2);
        assert_eq!(reference.noise.drift_pct, 0.0);
        assert!((lut.overhead_ms() - 0.02 * 0.2).abs() < 1e-12);
        // Every other key: its ratio less the overhead's, in references.
        for e in lut
            .entries
            .iter()
            .filter(|e| e.key.op != Glue::Overhead.name())
        {
            let expected = (ratio(&e.key) - 0.02) * 0.2;
            let cost = lut.cost(&e.key).unwrap();
            assert!(cost > 0.0 && (cost - expected).abs() < 1e-12, "{}", e.key);
        }
    }

    /// The host 1.6× slower for the second half of the profile: the keys'
    /// milliseconds jump, their ratios do not, and neither do the costs;
    /// the table's unit is the median of the reference's times.
    #[test]
    fn a_speed_switch_during_the_profile_leaves_the_costs_alone() {
        let steady = referenced(ratio, |_| 0.2);
        let n = steady.entries.len();
        let switched = referenced(ratio, |i| if i < n / 2 + 1 { 0.2 } else { 0.32 });
        assert_eq!(switched.reference.as_ref().unwrap().median_ms, 0.2);
        assert!(switched.reference.as_ref().unwrap().noise.drift_pct > 50.0);
        for e in &steady.entries {
            assert_eq!(steady.cost(&e.key).unwrap(), switched.cost(&e.key).unwrap());
        }
        // A table without a reference costs its milliseconds, which moved.
        let mut raw = switched.clone();
        raw.reference = None;
        let last = &switched.entries[n - 1];
        assert!(raw.cost(&last.key).unwrap() > switched.cost(&last.key).unwrap());
    }

    #[test]
    fn a_table_is_referenced_only_when_every_entry_is() {
        let mut lut = referenced(ratio, |_| 0.2);
        lut.entries[0].reference = None;
        assert_eq!(TableReference::of(&lut.entries), None);
        let message = lut.check_reference().unwrap_err();
        assert!(message.contains("1 of its"), "{message}");
        lut.reference = None;
        let message = lut.check_reference().unwrap_err();
        assert!(message.contains("records none"), "{message}");
        let synthetic = Lut::synthetic(&template(), |_| 1.0);
        assert_eq!(synthetic.reference, None);
        synthetic.check_reference().unwrap();
    }
}
