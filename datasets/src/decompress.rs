//! Reads a whole file into memory, gunzipping it when it carries the gzip magic.

use std::io::Read;
use std::path::Path;

use flate2::read::MultiGzDecoder;

use crate::DataError;

/// The two bytes every gzip member starts with (RFC 1952).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Reads `path` fully; decompresses if the content (not the extension) is gzip.
///
/// Sniffing the magic rather than trusting `.gz` means a file that was
/// gunzipped but kept its name, or gzipped without renaming, still loads.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, DataError> {
    let raw = std::fs::read(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    maybe_gunzip(raw, path)
}

/// Decompresses `raw` if it is gzip; `path` only names the source in errors.
pub(crate) fn maybe_gunzip(raw: Vec<u8>, path: &Path) -> Result<Vec<u8>, DataError> {
    if !raw.starts_with(&GZIP_MAGIC) {
        return Ok(raw);
    }
    // Multi-member decoder: `cat a.gz b.gz` is a valid gzip file too.
    let mut out = Vec::with_capacity(raw.len() * 4);
    MultiGzDecoder::new(raw.as_slice())
        .read_to_end(&mut out)
        .map_err(|source| DataError::Gzip {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(out)
}
