//! The machine a report was measured on.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::BenchError;

/// Where the model runs. Only the host CPU (tract) runs in this build; the
/// type exists so a report names its device and the gate can refuse to
/// compare reports of different devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BenchDevice {
    Cpu,
}

impl BenchDevice {
    pub fn name(self) -> &'static str {
        match self {
            BenchDevice::Cpu => "cpu",
        }
    }
}

impl FromStr for BenchDevice {
    type Err = BenchError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cpu" => Ok(BenchDevice::Cpu),
            other => Err(BenchError::UnsupportedDevice(other.to_string())),
        }
    }
}

/// CPU model, core count and OS of the measuring machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostInfo {
    pub cpu_model: String,
    /// Logical cores available to the process.
    pub cores: usize,
    pub os: String,
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
    fn only_cpu_is_a_device_here() {
        assert_eq!("cpu".parse::<BenchDevice>().unwrap(), BenchDevice::Cpu);
        let err = "jetson".parse::<BenchDevice>().unwrap_err().to_string();
        assert!(
            err.contains("\"jetson\"") && err.contains("--device cpu"),
            "{err}"
        );
    }
}
