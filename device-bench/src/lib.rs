//! Validation of an exported model on the target runtime (tract): accuracy,
//! latency and the CI regression gate (SPEC §1).
//!
//! Not implemented yet: this crate is reserved for the export/device-bench
//! issue and deliberately exposes nothing, so that nothing can depend on a stub.
