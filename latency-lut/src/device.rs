//! Device profiles (how to measure: backend, threads, batch, repeats) and the
//! description of the device a table was measured on.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::LutError;

/// The runtime that executes the measured graphs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LutBackend {
    /// Single-op ONNX graphs run by tract-onnx (the CPU deployment runtime).
    Tract,
    /// burn's flex CPU backend.
    Flex,
    /// burn-cuda (the Jetson GPU path); needs a build with `--features cuda`.
    Cuda,
}

impl LutBackend {
    pub fn name(self) -> &'static str {
        match self {
            LutBackend::Tract => "tract",
            LutBackend::Flex => "flex",
            LutBackend::Cuda => "cuda",
        }
    }
}

/// How a device is measured. Built-in presets: `cpu` and `jetson`; any other
/// value of `--device` is read as a TOML file with these fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceProfile {
    pub name: String,
    pub backend: LutBackend,
    /// Threads the runtime may use (tract is single-threaded: 1).
    #[serde(default = "one")]
    pub threads: usize,
    #[serde(default = "one")]
    pub batch: usize,
    /// Only `f32` is supported.
    #[serde(default = "f32_name")]
    pub dtype: String,
    #[serde(default = "default_warmup")]
    pub warmup: usize,
    #[serde(default = "default_repeats")]
    pub repeats: usize,
}

fn one() -> usize {
    1
}
fn f32_name() -> String {
    "f32".into()
}
fn default_warmup() -> usize {
    20
}
fn default_repeats() -> usize {
    100
}

impl DeviceProfile {
    /// The input of one timed inference of a network of `config`:
    /// `[batch, C, H, W]`.
    pub fn input_shape(&self, config: &arch::shape::NetworkConfig) -> [usize; 4] {
        [
            self.batch,
            config.in_channels,
            config.image_size,
            config.image_size,
        ]
    }

    /// The `cpu` preset: tract, 1 thread, batch 1.
    pub fn cpu() -> Self {
        Self {
            name: "cpu".into(),
            backend: LutBackend::Tract,
            threads: 1,
            batch: 1,
            dtype: f32_name(),
            warmup: default_warmup(),
            repeats: default_repeats(),
        }
    }

    /// The `jetson` preset: burn-cuda on GPU 0, batch 1.
    pub fn jetson() -> Self {
        Self {
            name: "jetson".into(),
            backend: LutBackend::Cuda,
            threads: 1,
            batch: 1,
            dtype: f32_name(),
            warmup: 50,
            repeats: 200,
        }
    }

    /// A preset name (`cpu`, `jetson`) or a TOML file path.
    pub fn resolve(spec: &str) -> Result<Self, LutError> {
        match spec {
            "cpu" => Ok(Self::cpu()),
            "jetson" => Ok(Self::jetson()),
            path => Self::from_toml_file(Path::new(path)),
        }
    }

    pub fn from_toml_file(path: &Path) -> Result<Self, LutError> {
        let text = std::fs::read_to_string(path).map_err(|e| LutError::Device {
            path: path.display().to_string(),
            message: format!("not a preset (cpu, jetson) and not a readable device file: {e}"),
        })?;
        let profile: DeviceProfile = toml::from_str(&text).map_err(|e| LutError::Device {
            path: path.display().to_string(),
            message: format!("invalid device profile: {}", e.message()),
        })?;
        profile.check().map_err(|message| LutError::Device {
            path: path.display().to_string(),
            message,
        })?;
        Ok(profile)
    }

    fn check(&self) -> Result<(), String> {
        if self.dtype != "f32" {
            return Err(format!(
                "dtype {:?} is not supported (only f32)",
                self.dtype
            ));
        }
        if self.batch == 0 || self.repeats == 0 || self.threads == 0 {
            return Err("batch, threads and repeats must be at least 1".into());
        }
        if self.backend == LutBackend::Tract && self.threads != 1 {
            return Err("the tract backend runs single-threaded; set threads = 1".into());
        }
        Ok(())
    }
}

/// The host a table was measured on (shared with device-bench's reports).
pub use runtime::HostInfo;

/// The full description recorded in a table: profile, host, runtime
/// versions, date, tool version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceDescription {
    pub profile: DeviceProfile,
    pub host: HostInfo,
    pub runtime: String,
    pub runtime_version: String,
    /// UTC date and time of the measurement (RFC 3339).
    pub measured_at: String,
    pub tool_version: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_profile_reads_and_rejects() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("dev.toml");
        std::fs::write(&good, "name = \"pi5\"\nbackend = \"tract\"\nrepeats = 30\n").unwrap();
        let p = DeviceProfile::resolve(good.to_str().unwrap()).unwrap();
        assert_eq!(
            (p.name.as_str(), p.backend, p.repeats, p.batch),
            ("pi5", LutBackend::Tract, 30, 1)
        );

        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "name = \"x\"\nbackend = \"tpu\"\n").unwrap();
        let e = DeviceProfile::resolve(bad.to_str().unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad.toml") && e.contains("tpu"), "{e}");

        let e = DeviceProfile::resolve("/no/such/dev.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("/no/such/dev.toml"), "{e}");
    }
}
