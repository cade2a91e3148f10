//! The bytes on the connection: length-prefixed frames, and the JSON
//! messages they carry (see the module above for the conversation).

use std::io::{self, Read, Write};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::HostInfo;
use crate::profile::Profile;

/// The first frame of every connection.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hello {
    /// Always [`super::PROTOCOL`].
    pub protocol: String,
    pub version: u32,
    pub token: String,
}

/// What a client asks after the hello.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// The device's description.
    Describe,
    /// Time workloads; the raw frames of their models and inputs follow.
    Time(TimeRequest),
}

/// A timing job: the workloads' raw frames follow in order, for each one
/// its ONNX model, then one frame per input.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeRequest {
    /// Named in the server's log.
    pub label: String,
    /// Untimed rounds before the timed ones.
    pub warmup: usize,
    /// Timed rounds: every workload's times has this many entries.
    pub repeats: usize,
    pub workloads: Vec<WorkloadHeader>,
}

/// One workload of a [`TimeRequest`], without its bytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadHeader {
    /// Names the model in errors (a table key, a model file).
    pub label: String,
    /// Shape of every input, batch first.
    pub inputs: Vec<Vec<usize>>,
    pub inputs_per_run: InputUse,
    /// Profile the plan node by node over this many runs after timing.
    #[serde(default)]
    pub profile_runs: Option<usize>,
}

/// How each timed run gets its inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputUse {
    /// A fresh copy per run, made before the clock starts
    /// (`TractPlan::copying_timer`: latency tables, the sweep).
    Copied,
    /// The same tensors every run (`TractPlan::timer`: device-bench).
    Shared,
}

/// The device as a server describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteHost {
    pub host: HostInfo,
    /// The server's tract version ([`crate::TRACT_VERSION`]).
    pub runtime_version: String,
    /// The generation of edgenas' kernels its plans run (0: tract's own;
    /// [`crate::kernels::Kernels::generation`]); absent from servers older
    /// than the field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernels: Option<u32>,
    /// The server's edgenas version.
    pub tool_version: String,
    pub protocol_version: u32,
}

impl RemoteHost {
    /// This machine, as a server started here describes itself.
    pub fn here(host: HostInfo) -> Self {
        Self {
            host,
            runtime_version: crate::TRACT_VERSION.into(),
            kernels: Some(crate::kernels::Kernels::from_env().generation()),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            protocol_version: super::PROTOCOL_VERSION,
        }
    }
}

/// What a server answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Response {
    /// The hello was accepted.
    Ready(RemoteHost),
    /// The answer to [`Request::Describe`].
    Device(RemoteHost),
    Timed(Timed),
    Error(ServerError),
}

/// The answer to a [`TimeRequest`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timed {
    /// Per workload, `repeats` times in milliseconds, in run order.
    pub times_ms: Vec<Vec<f64>>,
    /// Per workload, its node profile when one was asked for.
    pub profiles: Vec<Option<Profile>>,
    pub device: RemoteHost,
}

/// An error frame.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerError {
    pub kind: ErrorKind,
    pub message: String,
}

/// What went wrong, for programs (the message is for people).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Another client's job holds the device.
    Busy,
    /// The hello's token is wrong.
    Unauthorized,
    /// The client speaks another protocol or version.
    Version,
    /// A length prefix above the frame's limit.
    TooLarge,
    /// A frame that is not the message expected there.
    Malformed,
    /// The connection went silent (between requests or within a frame).
    TimedOut,
    /// The connection closed within a frame.
    Truncated,
    /// A well-formed request the server will not run (sizes, counts).
    BadRequest,
    /// tract could not load, plan or run a model.
    Model,
    /// The server failed (a panic in tract, an I/O error).
    Internal,
}

/// Why a frame could not be read.
#[derive(Debug)]
pub enum FrameError {
    /// The peer closed the connection between frames.
    Closed,
    /// Nothing arrived within the read timeout, between frames.
    Idle,
    /// The length prefix is above the limit.
    TooLarge {
        len: usize,
        limit: usize,
    },
    /// The connection closed after `got` of `expected` bytes (the 4-byte
    /// prefix, or the payload).
    Truncated {
        got: usize,
        expected: usize,
    },
    /// The peer stopped sending within a frame, or the frame's deadline
    /// passed.
    Stalled {
        got: usize,
        expected: usize,
    },
    Io(io::Error),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Closed => f.write_str("the connection closed"),
            FrameError::Idle => f.write_str("nothing arrived within the timeout"),
            FrameError::TooLarge { len, limit } => write!(
                f,
                "a frame of {len} bytes is over the limit of {limit} bytes"
            ),
            FrameError::Truncated { got, expected } => write!(
                f,
                "the connection closed within a frame ({got} of {expected} bytes{})",
                if *expected == 4 {
                    " of its length prefix"
                } else {
                    ""
                }
            ),
            FrameError::Stalled { got, expected } => write!(
                f,
                "the frame stalled after {got} of {expected} bytes{}",
                if *expected == 4 {
                    " of its length prefix"
                } else {
                    ""
                }
            ),
            FrameError::Io(e) => write!(f, "{e}"),
        }
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Bytes read per call, and the most a frame allocates ahead of its data:
/// a length prefix alone never makes the reader allocate its length.
const CHUNK: usize = 64 << 10;

/// Reads one frame of at most `limit` bytes. Reads time out as the
/// stream's read timeout says; with `deadline`, the frame must also be
/// complete by then (a peer trickling bytes cannot hold a read forever).
pub fn read_frame(
    r: &mut impl Read,
    limit: usize,
    deadline: Option<Instant>,
) -> Result<Vec<u8>, FrameError> {
    let late = || deadline.is_some_and(|d| Instant::now() > d);
    let mut prefix = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match r.read(&mut prefix[got..]) {
            Ok(0) if got == 0 => return Err(FrameError::Closed),
            Ok(0) => return Err(FrameError::Truncated { got, expected: 4 }),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if is_timeout(&e) && got == 0 => return Err(FrameError::Idle),
            Err(e) if is_timeout(&e) => return Err(FrameError::Stalled { got, expected: 4 }),
            Err(e) => return Err(FrameError::Io(e)),
        }
        if got < 4 && late() {
            return Err(FrameError::Stalled { got, expected: 4 });
        }
    }
    let len = u32::from_be_bytes(prefix) as usize;
    if len > limit {
        return Err(FrameError::TooLarge { len, limit });
    }
    let mut payload = Vec::with_capacity(len.min(CHUNK));
    while payload.len() < len {
        let start = payload.len();
        payload.resize(start + (len - start).min(CHUNK), 0);
        match r.read(&mut payload[start..]) {
            Ok(0) => {
                return Err(FrameError::Truncated {
                    got: start,
                    expected: len,
                });
            }
            Ok(n) => payload.truncate(start + n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => payload.truncate(start),
            Err(e) if is_timeout(&e) => {
                return Err(FrameError::Stalled {
                    got: start,
                    expected: len,
                });
            }
            Err(e) => return Err(FrameError::Io(e)),
        }
        if payload.len() < len && late() {
            return Err(FrameError::Stalled {
                got: payload.len(),
                expected: len,
            });
        }
    }
    Ok(payload)
}

/// Writes one frame (the caller keeps payloads under the limits).
pub fn write_frame(w: &mut impl Write, payload: &[u8]) -> io::Result<()> {
    let len = u32::try_from(payload.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame over 4 GiB"))?;
    if payload.len() <= CHUNK {
        // One write, so a small message leaves in one segment.
        let mut frame = Vec::with_capacity(4 + payload.len());
        frame.extend_from_slice(&len.to_be_bytes());
        frame.extend_from_slice(payload);
        w.write_all(&frame)?;
    } else {
        w.write_all(&len.to_be_bytes())?;
        w.write_all(payload)?;
    }
    w.flush()
}

/// Writes `message` as a JSON frame.
pub fn write_json(w: &mut impl Write, message: &impl Serialize) -> io::Result<()> {
    let bytes = serde_json::to_vec(message).map_err(io::Error::other)?;
    write_frame(w, &bytes)
}

/// Row-major `f32` values as the little-endian bytes of an input frame.
pub fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// The values of an input frame (`bytes.len()` a multiple of 4).
pub fn f32_values(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_frame(&mut out, payload).unwrap();
        out
    }

    #[test]
    fn frames_round_trip_and_refuse_what_they_must() {
        for payload in [&b""[..], b"{}", &vec![7u8; 3 * CHUNK + 5]] {
            let bytes = framed(payload);
            assert_eq!(&bytes[..4], &(payload.len() as u32).to_be_bytes());
            let back = read_frame(&mut &bytes[..], usize::MAX, None).unwrap();
            assert_eq!(back, payload);
        }
        let read = |bytes: &[u8], limit| read_frame(&mut &bytes[..], limit, None);
        assert!(matches!(read(b"", 10), Err(FrameError::Closed)));
        assert!(matches!(
            read(&[0, 0], 10),
            Err(FrameError::Truncated {
                got: 2,
                expected: 4
            })
        ));
        assert!(matches!(
            read(&[0, 0, 0, 9, 1, 2], 10),
            Err(FrameError::Truncated {
                got: 2,
                expected: 9
            })
        ));
        // A 1 GiB prefix is refused from the prefix alone.
        assert!(matches!(
            read(&(1u32 << 30).to_be_bytes(), MAX),
            Err(FrameError::TooLarge { len, limit: MAX }) if len == 1 << 30
        ));
        let text = FrameError::TooLarge {
            len: 1 << 30,
            limit: MAX,
        }
        .to_string();
        assert!(text.contains("1073741824") && text.contains("16"), "{text}");
    }

    const MAX: usize = 16;

    #[test]
    fn inputs_round_trip_as_little_endian_f32() {
        let values = [0.0, -1.5, f32::MAX, 1e-30];
        let bytes = f32_bytes(&values);
        assert_eq!(&bytes[4..8], &(-1.5f32).to_le_bytes());
        assert_eq!(f32_values(&bytes), values);
    }

    #[test]
    fn messages_have_the_documented_json() {
        let hello = Hello {
            protocol: "edgenas-remote".into(),
            version: 1,
            token: "t".into(),
        };
        assert_eq!(
            serde_json::to_string(&hello).unwrap(),
            r#"{"protocol":"edgenas-remote","version":1,"token":"t"}"#
        );
        assert_eq!(
            serde_json::to_string(&Request::Describe).unwrap(),
            r#""describe""#
        );
        let error = Response::Error(ServerError {
            kind: ErrorKind::TooLarge,
            message: "m".into(),
        });
        assert_eq!(
            serde_json::to_string(&error).unwrap(),
            r#"{"error":{"kind":"too_large","message":"m"}}"#
        );
        let time: Request = serde_json::from_str(
            r#"{"time":{"label":"k","warmup":1,"repeats":2,"workloads":[{"label":"m","inputs":[[1,3]],"inputs_per_run":"copied"}]}}"#,
        )
        .unwrap();
        let Request::Time(t) = time else {
            panic!("not a time request")
        };
        assert_eq!(t.workloads[0].inputs, vec![vec![1, 3]]);
        assert_eq!(t.workloads[0].profile_runs, None);
    }
}
