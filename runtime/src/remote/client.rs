//! The host's side of the protocol: connect, authenticate, send timing jobs
//! and check the answers before anything downstream uses them.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::job::{Measured, Workload};
use super::wire::{
    FrameError, Hello, RemoteHost, Request, Response, TimeRequest, WorkloadHeader, f32_bytes,
    read_frame, write_frame, write_json,
};
use super::{MAX_REQUEST, PROTOCOL, PROTOCOL_VERSION, RemoteError, Token};

/// A device to measure on: the address of its `latency-lut serve` and the
/// token it expects.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteTarget {
    pub address: String,
    pub token: Token,
}

impl RemoteTarget {
    /// Connects and authenticates.
    pub fn connect(&self) -> Result<Client, RemoteError> {
        Client::connect(&self.address, &self.token)
    }
}

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one write may block.
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the client waits for the answer to its hello (a server waits
/// up to half a second for a previous client's session to end).
const HELLO_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the client waits for an answer: thousands of runs of a large
/// network on a slow board take minutes.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// An authenticated connection to a server.
pub struct Client {
    stream: TcpStream,
    address: String,
    device: RemoteHost,
}

impl Client {
    /// Connects to `address` (HOST:PORT) and presents `token`.
    pub fn connect(address: &str, token: &Token) -> Result<Self, RemoteError> {
        let addresses: Vec<SocketAddr> = address
            .to_socket_addrs()
            .map_err(|e| RemoteError::Address {
                address: format!("--remote {address}"),
                message: format!("not a HOST:PORT address: {e}"),
            })?
            .collect();
        let mut last_error = None;
        let mut connected = None;
        for a in &addresses {
            match TcpStream::connect_timeout(a, CONNECT_TIMEOUT) {
                Ok(stream) => {
                    connected = Some(stream);
                    break;
                }
                Err(e) => last_error = Some(e),
            }
        }
        let mut stream = connected.ok_or_else(|| RemoteError::Connect {
            address: address.into(),
            source: last_error
                .unwrap_or_else(|| std::io::Error::other("the name resolves to no address")),
        })?;
        let failed = |e: std::io::Error| RemoteError::Connection {
            address: address.into(),
            message: e.to_string(),
        };
        stream.set_nodelay(true).map_err(failed)?;
        stream
            .set_write_timeout(Some(WRITE_TIMEOUT))
            .map_err(failed)?;
        stream
            .set_read_timeout(Some(HELLO_TIMEOUT))
            .map_err(failed)?;
        let hello = Hello {
            protocol: PROTOCOL.into(),
            version: PROTOCOL_VERSION,
            token: token.as_str().into(),
        };
        // A server that refuses at once (busy) may not read the hello: its
        // answer says why, so it is read even when sending failed.
        let sent = write_json(&mut stream, &hello);
        let answer = read_answer(&mut stream, address);
        let device = match (answer, sent) {
            (Ok(Response::Ready(device)), _) => device,
            (Ok(other), _) => return Err(unexpected(address, "ready", other)),
            (Err(_), Err(e)) => {
                return Err(RemoteError::Connection {
                    address: address.into(),
                    message: format!("sending the hello: {e}"),
                });
            }
            (Err(e), Ok(())) => return Err(e),
        };
        stream
            .set_read_timeout(Some(ANSWER_TIMEOUT))
            .map_err(failed)?;
        Ok(Self {
            stream,
            address: address.into(),
            device,
        })
    }

    /// The server's address as given.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The device as the server described it when the client connected.
    pub fn device(&self) -> &RemoteHost {
        &self.device
    }

    /// Asks the server to describe its device now.
    pub fn describe(&mut self) -> Result<RemoteHost, RemoteError> {
        write_json(&mut self.stream, &Request::Describe).map_err(|e| self.io_error(e))?;
        match read_answer(&mut self.stream, &self.address)? {
            Response::Device(device) => Ok(device),
            other => Err(unexpected(&self.address, "device", other)),
        }
    }

    /// Times `workloads` on the device, as
    /// [`super::time_workloads`]`(workloads, warmup, repeats)` would here.
    pub fn time(
        &mut self,
        workloads: &[Workload],
        warmup: usize,
        repeats: usize,
    ) -> Result<Measured, RemoteError> {
        let raw: usize = workloads
            .iter()
            .map(|w| w.onnx.len() + w.inputs.iter().map(|i| 4 * i.values.len()).sum::<usize>())
            .sum();
        let label = workloads
            .iter()
            .map(|w| w.label.as_str())
            .collect::<Vec<_>>()
            .join(" + ");
        if raw > MAX_REQUEST {
            return Err(RemoteError::Request {
                address: self.address.clone(),
                message: format!(
                    "{label}: the models and inputs are {raw} bytes, over the {MAX_REQUEST} bytes a request may carry"
                ),
            });
        }
        let request = Request::Time(TimeRequest {
            label,
            warmup,
            repeats,
            workloads: workloads
                .iter()
                .map(|w| WorkloadHeader {
                    label: w.label.clone(),
                    inputs: w.inputs.iter().map(|i| i.shape.clone()).collect(),
                    inputs_per_run: w.inputs_per_run,
                    profile_runs: w.profile_runs,
                })
                .collect(),
        });
        if let Err(e) = self.send_job(&request, workloads) {
            // The server stops reading a request it refuses: its answer
            // says why, better than the broken pipe.
            return match read_answer(&mut self.stream, &self.address) {
                Ok(Response::Error(error)) => Err(refused(&self.address, error)),
                _ => Err(self.io_error(e)),
            };
        }
        let timed = match read_answer(&mut self.stream, &self.address)? {
            Response::Timed(timed) => timed,
            other => return Err(unexpected(&self.address, "timed", other)),
        };
        let bad = |message: String| RemoteError::Protocol {
            address: self.address.clone(),
            message,
        };
        if timed.times_ms.len() != workloads.len() || timed.profiles.len() != workloads.len() {
            return Err(bad(format!(
                "{} time series and {} profiles for {} workloads",
                timed.times_ms.len(),
                timed.profiles.len(),
                workloads.len()
            )));
        }
        for ((times, profile), w) in timed.times_ms.iter().zip(&timed.profiles).zip(workloads) {
            if times.len() != repeats || !times.iter().all(|t| t.is_finite() && *t >= 0.0) {
                return Err(bad(format!(
                    "{}: {} times, not {repeats} non-negative numbers of milliseconds",
                    w.label,
                    times.len()
                )));
            }
            if profile.is_some() != w.profile_runs.is_some() {
                return Err(bad(format!(
                    "{}: a profile was {}asked for",
                    w.label,
                    if w.profile_runs.is_some() { "" } else { "not " }
                )));
            }
        }
        self.device = timed.device;
        Ok(Measured {
            times_ms: timed.times_ms,
            profiles: timed.profiles,
        })
    }

    fn send_job(&mut self, request: &Request, workloads: &[Workload]) -> std::io::Result<()> {
        write_json(&mut self.stream, request)?;
        for w in workloads {
            write_frame(&mut self.stream, &w.onnx)?;
            for input in &w.inputs {
                write_frame(&mut self.stream, &f32_bytes(&input.values))?;
            }
        }
        Ok(())
    }

    fn io_error(&self, e: std::io::Error) -> RemoteError {
        RemoteError::Connection {
            address: self.address.clone(),
            message: e.to_string(),
        }
    }
}

fn refused(address: &str, error: super::wire::ServerError) -> RemoteError {
    RemoteError::Refused {
        address: address.into(),
        kind: error.kind,
        message: error.message,
    }
}

/// An answer that is not `expected`: the server's error, or a protocol
/// mismatch.
fn unexpected(address: &str, expected: &str, answer: Response) -> RemoteError {
    match answer {
        Response::Error(error) => refused(address, error),
        other => RemoteError::Protocol {
            address: address.into(),
            message: format!(
                "expected a `{expected}` answer, got `{}`",
                match other {
                    Response::Ready(_) => "ready",
                    Response::Device(_) => "device",
                    Response::Timed(_) => "timed",
                    Response::Error(_) => "error",
                }
            ),
        },
    }
}

fn read_answer(stream: &mut TcpStream, address: &str) -> Result<Response, RemoteError> {
    let frame = read_frame(stream, MAX_REQUEST, None).map_err(|e| RemoteError::Connection {
        address: address.into(),
        message: match e {
            FrameError::Closed => "the server closed the connection without answering".into(),
            FrameError::Idle => "no answer in time (is it `latency-lut serve`?)".into(),
            other => format!("reading the answer: {other}"),
        },
    })?;
    serde_json::from_slice(&frame).map_err(|e| RemoteError::Protocol {
        address: address.into(),
        message: format!("the answer is not a response of this protocol: {e}"),
    })
}
