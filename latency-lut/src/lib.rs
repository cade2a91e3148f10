//! Latency lookup tables (SPEC §4): per-operation latency profiled on a
//! target device and the expected-latency penalty's inputs.
//!
//! Not implemented yet: this crate is reserved for the latency-lut issue and
//! deliberately exposes nothing, so that nothing can depend on a stub.
