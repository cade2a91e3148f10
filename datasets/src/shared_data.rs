//! Where the real (large, not embedded) datasets live, for tests and benchmarks.

use std::path::PathBuf;

/// Environment variable that overrides the shared data folder.
pub const SHARED_DATA_ENV: &str = "EDGENAS_SHARED_DATA";

/// The shared offline data folder (`fashion-mnist/`, `cifar10-3k/`, ...), if it exists.
///
/// `$EDGENAS_SHARED_DATA` when set, else `shared/data` next to the workspace
/// checkout (`<datasets crate>/../../shared/data`, baked in at compile time).
/// Meant for tests of any crate: they call this and skip loudly on `None`,
/// since the data is too large to live in the repository.
pub fn shared_data_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os(SHARED_DATA_ENV) {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"),
    };
    dir.is_dir().then_some(dir)
}
