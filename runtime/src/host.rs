//! The machine a measurement was made on, as recorded in latency tables
//! and device-bench reports.

use serde::{Deserialize, Serialize};

/// CPU model, core count and OS of the measuring machine (and its GPU when
/// a table was measured on one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostInfo {
    pub cpu_model: String,
    /// Logical cores available to the process.
    pub cores: usize,
    pub os: String,
    /// GPU name when latency-lut's backend is `cuda`. Skipped when absent:
    /// device-bench reports and baselines never had the field, and tables
    /// that wrote `null` read back the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<String>,
}

impl HostInfo {
    pub fn detect() -> Self {
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|text| cpu_model(&text))
            .unwrap_or_else(|| "unknown".into());
        Self {
            cpu_model,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
            gpu: None,
        }
    }
}

/// The CPU name in `/proc/cpuinfo`: `model name` on x86, `Model` (or the
/// `CPU part` as a last resort) on ARM boards such as the Jetson.
fn cpu_model(cpuinfo: &str) -> Option<String> {
    ["model name", "Model", "Hardware", "CPU part"]
        .iter()
        .find_map(|key| {
            cpuinfo
                .lines()
                .find(|l| l.split(':').next().is_some_and(|k| k.trim() == *key))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
                .filter(|v| !v.is_empty())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_model_from_x86_and_arm_cpuinfo() {
        let x86 = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel\t\t: 85\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\n";
        assert_eq!(
            cpu_model(x86).as_deref(),
            Some("Intel(R) Xeon(R) CPU @ 2.20GHz")
        );
        let arm = "processor\t: 0\nCPU part\t: 0xd42\n\nModel\t\t: NVIDIA Jetson Orin Nano Developer Kit\n";
        assert_eq!(
            cpu_model(arm).as_deref(),
            Some("NVIDIA Jetson Orin Nano Developer Kit")
        );
        assert_eq!(cpu_model("processor: 0\n"), None);
    }

    #[test]
    fn old_files_read_with_or_without_gpu() {
        let bench = r#"{"cpu_model":"x","cores":2,"os":"linux x86_64"}"#;
        let lut = r#"{"cpu_model":"x","cores":2,"os":"linux x86_64","gpu":null}"#;
        let a: HostInfo = serde_json::from_str(bench).unwrap();
        let b: HostInfo = serde_json::from_str(lut).unwrap();
        assert_eq!(a, b);
        assert_eq!(serde_json::to_string(&a).unwrap(), bench);
    }
}
