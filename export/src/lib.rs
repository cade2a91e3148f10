//! ONNX export of a retrained evaluation network (genotype + weights →
//! `model.onnx`, SPEC §1).
//!
//! Not implemented yet: this crate is reserved for the export issue and
//! deliberately exposes nothing, so that nothing can depend on a stub.
