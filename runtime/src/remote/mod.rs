//! Timing on another machine: `latency-lut serve` runs on the target device
//! and times, with its own tract, exactly the jobs the host would time
//! locally ([`time_workloads`]); `latency-lut profile --remote`,
//! `device-bench run --remote` and `edgenas run --remote` send them with a
//! [`Client`].
//!
//! # Protocol `edgenas-remote`, version 1
//!
//! TCP. Every message is a *frame*: a `u32` big-endian length, then that
//! many bytes of payload. JSON frames (UTF-8) carry the messages of
//! [`wire`]; raw frames carry an ONNX model or the values of one input
//! tensor (row-major `f32`, little-endian). Limits: the first frame of a
//! connection 64 KiB ([`MAX_HELLO`]), every later JSON frame 1 MiB
//! ([`MAX_HEADER`]), the raw frames of one request 256 MiB together
//! ([`MAX_REQUEST`]); a length prefix above its limit is refused before
//! anything is read or allocated.
//!
//! 1. The client's first frame is a [`Hello`]: `{"protocol":
//!    "edgenas-remote", "version": 1, "token": "…"}`. The server compares
//!    the token in constant time and answers `{"ready": RemoteHost}` (the
//!    device's `HostInfo`, tract and tool versions) or an error, and
//!    closes on an error.
//! 2. Then any number of requests, each answered before the next:
//!    * `"describe"` → `{"device": RemoteHost}`;
//!    * `{"time": TimeRequest}` (label, warmup, repeats and per workload
//!      its label, input shapes, whether each run copies its inputs and
//!      how many profiled runs), followed for each workload by one raw
//!      frame of ONNX bytes and one raw frame per input →
//!      `{"timed": {"times_ms": [[…] per workload], "profiles": [...],
//!      "device": RemoteHost}}`. Workloads are timed interleaved, round by
//!      round (`timing::interleaved`, one call each per round after
//!      `warmup` rounds), as device-bench times a model with its
//!      calibration workload; one workload is a plain warm-up-then-repeat
//!      loop, as latency-lut times a key.
//! 3. Every failure is answered with `{"error": {"kind": …, "message":
//!    …}}` ([`ErrorKind`]): a frame that is too large, malformed, cut off
//!    or stalled, a wrong token, a bad request close the connection (the
//!    byte stream can no longer be trusted); a model tract cannot run
//!    keeps it open. A client that connects while another holds the
//!    server gets `busy` at once: one connection, hence one job, at a
//!    time, so that two jobs never share the device's cores.
//!
//! A silent client is dropped after the server's timeout (the first frame
//! must arrive whole within it; later, no read may wait longer), so a
//! stalled host cannot hold the device. Nothing is encrypted: the server
//! listens on loopback unless told otherwise, and an SSH tunnel carries
//! the connection from the host.

mod client;
mod job;
mod server;
pub mod wire;

use std::io;
use std::path::Path;

pub use client::{Client, RemoteTarget};
pub use job::{Input, Measured, Workload, time_workloads};
pub use server::{Server, ServerOptions, listen_address};
pub use wire::{ErrorKind, Hello, InputUse, RemoteHost};

/// The protocol's name, in every hello.
pub const PROTOCOL: &str = "edgenas-remote";
/// The protocol's version: client and server must speak the same.
pub const PROTOCOL_VERSION: u32 = 1;
/// The largest first frame (the hello, read before the token is checked).
pub const MAX_HELLO: usize = 64 << 10;
/// The largest JSON frame after the hello.
pub const MAX_HEADER: usize = 1 << 20;
/// The most bytes the raw frames of one request may carry together (the
/// ONNX models and input values); a deployed network is a few MB.
pub const MAX_REQUEST: usize = 256 << 20;
/// The environment variable holding the token when no file is given.
pub const TOKEN_ENV: &str = "EDGENAS_TOKEN";
/// The shortest token accepted, in bytes.
pub const MIN_TOKEN_LEN: usize = 16;

/// Why a remote measurement could not be made. Messages are one line and
/// name the address (or the token's source).
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// No token, an unreadable token file, or one too short.
    #[error("{0}")]
    Token(String),
    /// An address that does not parse or resolve, or that may not be used.
    #[error("{address}: {message}")]
    Address { address: String, message: String },
    #[error(
        "cannot connect to {address}: {source} (is `latency-lut serve` running there, and the ssh tunnel up?)"
    )]
    Connect {
        address: String,
        #[source]
        source: io::Error,
    },
    /// The connection failed in the middle of a conversation.
    #[error("{address}: {message}")]
    Connection { address: String, message: String },
    /// The server answered with an error frame.
    #[error("{address} refused: {message}")]
    Refused {
        address: String,
        kind: ErrorKind,
        message: String,
    },
    /// A request the protocol cannot carry (over its size limit).
    #[error("{address}: {message}")]
    Request { address: String, message: String },
    /// The server answered something this client does not expect.
    #[error("{address}: unexpected reply: {message}")]
    Protocol { address: String, message: String },
}

/// The shared secret a client presents in its hello. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl Token {
    /// A token from `text` (surrounding whitespace, such as the newline of
    /// `openssl rand -hex 16 > token`, is not part of it); `source` names
    /// where it came from in errors.
    pub fn new(text: &str, source: &str) -> Result<Self, RemoteError> {
        let token = text.trim();
        if token.len() < MIN_TOKEN_LEN {
            return Err(RemoteError::Token(format!(
                "{source}: the token has {} bytes, at least {MIN_TOKEN_LEN} are needed (e.g. `openssl rand -hex 16`)",
                token.len()
            )));
        }
        if token.chars().any(char::is_control) {
            return Err(RemoteError::Token(format!(
                "{source}: the token holds control characters (one line of text is expected)"
            )));
        }
        Ok(Self(token.to_string()))
    }

    /// The token of `--token-file` when given, else of `EDGENAS_TOKEN`;
    /// neither is an error.
    pub fn resolve(file: Option<&Path>) -> Result<Self, RemoteError> {
        match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    RemoteError::Token(format!(
                        "--token-file {}: cannot read the token: {e}",
                        path.display()
                    ))
                })?;
                Self::new(&text, &format!("--token-file {}", path.display()))
            }
            None => match std::env::var(TOKEN_ENV) {
                Ok(text) => Self::new(&text, TOKEN_ENV),
                Err(_) => Err(RemoteError::Token(format!(
                    "no token: give --token-file FILE or set {TOKEN_ENV} (the same token on the device and the host)"
                ))),
            },
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is this token, in time that depends on the
    /// lengths only, not on where the two first differ.
    pub fn matches(&self, presented: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), presented.as_bytes());
        let mut diff = u8::from(a.len() != b.len());
        for i in 0..a.len().max(b.len()) {
            diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0);
        }
        std::hint::black_box(diff) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_trimmed_checked_and_compared_whole() {
        let token = Token::new("  0123456789abcdef\n", "test").unwrap();
        assert!(token.matches("0123456789abcdef"));
        for wrong in [
            "0123456789abcdeF",
            "0123456789abcde",
            "0123456789abcdef0",
            "",
        ] {
            assert!(!token.matches(wrong), "{wrong:?}");
        }
        let short = Token::new("short\n", "--token-file t")
            .unwrap_err()
            .to_string();
        assert!(
            short.contains("--token-file t") && short.contains("16"),
            "{short}"
        );
        let control = Token::new("0123456789\u{7}abcdef", "x").unwrap_err();
        assert!(control.to_string().contains("control"), "{control}");
        assert_eq!(format!("{token:?}"), "Token(<redacted>)");
        let missing = Token::resolve(Some(Path::new("/no/such/token")))
            .unwrap_err()
            .to_string();
        assert!(missing.contains("/no/such/token"), "{missing}");
    }
}
