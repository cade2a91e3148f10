//! The device a report was measured on. The host description is
//! [`runtime::HostInfo`], shared with latency-lut's tables.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::BenchError;

pub use ::runtime::HostInfo;

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

#[cfg(test)]
mod tests {
    use super::*;

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
