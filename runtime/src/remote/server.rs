//! The server `latency-lut serve` runs on the device: one connection (one
//! job) at a time, every other connection answered `busy`; every failure
//! answered with an error frame where the connection still allows one,
//! logged, and survived.

use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::job::{Input, Workload, time_workloads};
use super::wire::{
    ErrorKind, FrameError, Hello, RemoteHost, Request, Response, ServerError, TimeRequest, Timed,
    f32_values, read_frame, write_json,
};
use super::{MAX_HEADER, MAX_HELLO, MAX_REQUEST, PROTOCOL, PROTOCOL_VERSION, RemoteError, Token};
use crate::HostInfo;

/// How a server behaves.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// How long a client may stay silent: the hello must arrive whole
    /// within it, and no later read waits longer.
    pub timeout: Duration,
    /// Test only: busy-wait added to every timed run (see
    /// `TractModel::with_slowdown`), so tests can tell remote times from
    /// local ones.
    pub slowdown: Duration,
    /// The host the server describes: this machine's (tests give another,
    /// to tell the device's description from the host's).
    pub host: HostInfo,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(60),
            slowdown: Duration::ZERO,
            host: HostInfo::detect(),
        }
    }
}

/// The most connections waiting for the device or being turned away at
/// once (each on a short-lived thread); beyond it they are closed without
/// an answer.
const MAX_REFUSING: usize = 16;
/// The most workloads, and inputs per workload, a request may hold.
const MAX_WORKLOADS: usize = 16;
const MAX_INPUTS: usize = 64;
/// The most runs (warm-up, timed or profiled) a request may ask for.
const MAX_RUNS: usize = 1_000_000;

/// A listening server.
pub struct Server {
    listener: TcpListener,
    shared: Arc<Shared>,
}

struct Shared {
    token: Token,
    options: ServerOptions,
    device: RemoteHost,
    busy: AtomicBool,
    refusing: AtomicUsize,
}

/// The socket address of `--listen`, refused when it is not a loopback
/// address unless `allow_remote`: the protocol is not encrypted, so the
/// device should be reached through an SSH tunnel.
pub fn listen_address(spec: &str, allow_remote: bool) -> Result<SocketAddr, RemoteError> {
    let bad = |message: String| RemoteError::Address {
        address: format!("--listen {spec}"),
        message,
    };
    let addresses: Vec<SocketAddr> = spec
        .to_socket_addrs()
        .map_err(|e| bad(format!("not an address to listen on (HOST:PORT): {e}")))?
        .collect();
    let first = *addresses
        .first()
        .ok_or_else(|| bad("resolves to no address".into()))?;
    if !allow_remote && let Some(open) = addresses.iter().find(|a| !a.ip().is_loopback()) {
        return Err(bad(format!(
            "{} is not a loopback address, and the protocol is not encrypted (the token travels in clear text): \
             listen on 127.0.0.1 and reach the device through an ssh tunnel \
             (`ssh -N -L 7431:127.0.0.1:7431 DEVICE` on the host), or pass --allow-remote \
             to listen on a network you trust",
            open.ip()
        )));
    }
    Ok(first)
}

impl Server {
    /// Listens on `address` (port 0: a free one, see [`Self::local_addr`]).
    pub fn bind(address: SocketAddr, token: Token, options: ServerOptions) -> io::Result<Self> {
        let listener = TcpListener::bind(address)?;
        let device = RemoteHost::here(options.host.clone());
        Ok(Self {
            listener,
            shared: Arc::new(Shared {
                token,
                options,
                device,
                busy: AtomicBool::new(false),
                refusing: AtomicUsize::new(0),
            }),
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The device the server describes to its clients.
    pub fn device(&self) -> &RemoteHost {
        &self.shared.device
    }

    /// Serves connections until the listener fails (each on a thread of its
    /// own, so that a second client is answered `busy` while a job runs).
    pub fn run(self) -> io::Error {
        let mut failures = 0;
        loop {
            match self.listener.accept() {
                Ok((stream, peer)) => {
                    failures = 0;
                    dispatch(&self.shared, stream, peer);
                }
                // A connection reset before it was accepted, or too many
                // open files for a moment: go on, unless the listener
                // keeps failing (about five seconds in a row).
                Err(e) if failures < 100 => {
                    failures += 1;
                    log::warn!("accepting a connection: {e}");
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => return e,
            }
        }
    }
}

/// The device held by one session: the busy flag, cleared when the
/// session ends, however it ends.
struct BusyGuard(Arc<Shared>);

impl BusyGuard {
    fn take(shared: &Arc<Shared>) -> Option<Self> {
        shared
            .busy
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .ok()
            .map(|_| Self(Arc::clone(shared)))
    }
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.0.busy.store(false, Ordering::Release);
    }
}

/// Takes the device for `peer`'s session, or, while another session holds
/// it, waits up to [`GRACE`] for it to end before answering `busy`.
fn dispatch(shared: &Arc<Shared>, stream: TcpStream, peer: SocketAddr) {
    if let Some(guard) = BusyGuard::take(shared) {
        start_session(guard, stream, peer);
        return;
    }
    if shared.refusing.fetch_add(1, Ordering::AcqRel) >= MAX_REFUSING {
        shared.refusing.fetch_sub(1, Ordering::AcqRel);
        log::warn!("{peer}: refused, busy (and turning away too many others to answer)");
        return;
    }
    let waiting = Arc::clone(shared);
    let spawned = std::thread::Builder::new()
        .name(format!("waiting {peer}"))
        .spawn(move || {
            let until = Instant::now() + GRACE;
            let guard = loop {
                if let Some(guard) = BusyGuard::take(&waiting) {
                    break Some(guard);
                }
                if Instant::now() >= until {
                    break None;
                }
                std::thread::sleep(Duration::from_millis(5));
            };
            waiting.refusing.fetch_sub(1, Ordering::AcqRel);
            match guard {
                Some(guard) => session(guard, stream, peer),
                None => refuse_busy(stream, peer, waiting.options.timeout),
            }
        });
    if spawned.is_err() {
        shared.refusing.fetch_sub(1, Ordering::AcqRel);
        log::error!("{peer}: cannot start a thread for the connection");
    }
}

/// How long a connection waits for the device before it is told `busy`:
/// a client that reconnects right after closing (a command that checks
/// the device, then measures) must not find its own last session still
/// winding down.
const GRACE: Duration = Duration::from_millis(500);

fn start_session(guard: BusyGuard, stream: TcpStream, peer: SocketAddr) {
    let spawned = std::thread::Builder::new()
        .name(format!("session {peer}"))
        .spawn(move || session(guard, stream, peer));
    if let Err(e) = spawned {
        log::error!("{peer}: cannot start a thread for the connection: {e}");
    }
}

fn refuse_busy(mut stream: TcpStream, peer: SocketAddr, timeout: Duration) {
    log::warn!("{peer}: refused, busy with another client's job");
    let _ = stream.set_write_timeout(Some(timeout));
    let _ = send_error(
        &mut stream,
        ErrorKind::Busy,
        "busy: another client's job is running on this device (one job at a time); try again when it has finished",
    );
    close_gracefully(stream);
}

/// Why a session ended early: what to tell the client and the log.
struct Failure {
    kind: ErrorKind,
    message: String,
}

impl Failure {
    fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

fn send_error(stream: &mut TcpStream, kind: ErrorKind, message: &str) -> io::Result<()> {
    write_json(
        stream,
        &Response::Error(ServerError {
            kind,
            message: message.into(),
        }),
    )
}

/// Stops sending, then reads (and drops) what the client still sends for a
/// moment before closing: closing a socket with unread data resets the
/// connection, and the client could lose the error frame just sent.
fn close_gracefully(mut stream: TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let until = Instant::now() + Duration::from_secs(1);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let mut sink = [0u8; 16 << 10];
    let mut drained = 0usize;
    while Instant::now() < until && drained < (64 << 20) {
        match stream.read(&mut sink) {
            Ok(0) => break,
            Ok(n) => drained += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
}

fn session(guard: BusyGuard, mut stream: TcpStream, peer: SocketAddr) {
    let shared = Arc::clone(&guard.0);
    let timeout = shared.options.timeout;
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    log::info!("{peer}: connected");
    let outcome = catch_unwind(AssertUnwindSafe(|| converse(&shared, &mut stream, peer)))
        .unwrap_or_else(|_| {
            Err(Failure::new(
                ErrorKind::Internal,
                "the server failed on this connection (see its log)",
            ))
        });
    match outcome {
        Ok(()) => log::info!("{peer}: disconnected"),
        Err(failure) => {
            log::warn!("{peer}: {}", failure.message);
            if let Err(e) = send_error(&mut stream, failure.kind, &failure.message) {
                log::debug!("{peer}: the error frame was not delivered: {e}");
            }
        }
    }
    // The device is free for the next client while this one is drained.
    drop(guard);
    close_gracefully(stream);
}

/// The failure of reading a frame at `place` (e.g. "the hello").
fn frame_failure(e: FrameError, place: &str, timeout: Duration) -> Failure {
    let secs = timeout.as_secs_f64();
    match e {
        FrameError::Idle => Failure::new(
            ErrorKind::TimedOut,
            format!(
                "nothing arrived within {secs} s (waiting for {place}): closing the connection"
            ),
        ),
        FrameError::Stalled { .. } => Failure::new(
            ErrorKind::TimedOut,
            format!("{place}: {e} (timeout {secs} s): closing the connection"),
        ),
        FrameError::TooLarge { .. } => Failure::new(ErrorKind::TooLarge, format!("{place}: {e}")),
        FrameError::Truncated { .. } => Failure::new(ErrorKind::Truncated, format!("{place}: {e}")),
        FrameError::Closed => Failure::new(
            ErrorKind::Truncated,
            format!("the connection closed before {place}"),
        ),
        FrameError::Io(e) => Failure::new(ErrorKind::Internal, format!("{place}: {e}")),
    }
}

fn converse(shared: &Shared, stream: &mut TcpStream, peer: SocketAddr) -> Result<(), Failure> {
    let timeout = shared.options.timeout;
    // Before the token is checked the client gets a small frame and one
    // timeout for all of it, so that a stranger cannot hold the device.
    let hello = read_frame(stream, MAX_HELLO, Some(Instant::now() + timeout))
        .map_err(|e| frame_failure(e, "the hello frame", timeout))?;
    let hello: Hello = serde_json::from_slice(&hello).map_err(|e| {
        Failure::new(
            ErrorKind::Malformed,
            format!(
                "the first frame is not a hello ({{\"protocol\": \"{PROTOCOL}\", \"version\": {PROTOCOL_VERSION}, \"token\": …}}): {e}"
            ),
        )
    })?;
    if hello.protocol != PROTOCOL || hello.version != PROTOCOL_VERSION {
        return Err(Failure::new(
            ErrorKind::Version,
            format!(
                "the client speaks {} version {}, this server {PROTOCOL} version {PROTOCOL_VERSION}: use the same edgenas version on the host and the device",
                hello.protocol, hello.version
            ),
        ));
    }
    if !shared.token.matches(&hello.token) {
        return Err(Failure::new(
            ErrorKind::Unauthorized,
            "wrong token (the server's --token-file or EDGENAS_TOKEN)",
        ));
    }
    log::info!("{peer}: authenticated");
    reply(stream, &Response::Ready(shared.device.clone()))?;
    loop {
        let frame = match read_frame(stream, MAX_HEADER, None) {
            Ok(frame) => frame,
            Err(FrameError::Closed) => return Ok(()),
            Err(e) => return Err(frame_failure(e, "the next request", timeout)),
        };
        let request: Request = serde_json::from_slice(&frame).map_err(|e| {
            Failure::new(
                ErrorKind::Malformed,
                format!("the frame is not a request (\"describe\" or {{\"time\": …}}): {e}"),
            )
        })?;
        match request {
            Request::Describe => reply(stream, &Response::Device(shared.device.clone()))?,
            Request::Time(request) => {
                let workloads = read_workloads(stream, &request, timeout)?;
                let response = run_job(shared, &request, &workloads, peer);
                reply(stream, &response)?;
            }
        }
    }
}

fn reply(stream: &mut TcpStream, response: &Response) -> Result<(), Failure> {
    write_json(stream, response)
        .map_err(|e| Failure::new(ErrorKind::Internal, format!("cannot send the answer: {e}")))
}

/// Checks a request's counts and sizes, then reads its raw frames.
fn read_workloads(
    stream: &mut TcpStream,
    request: &TimeRequest,
    timeout: Duration,
) -> Result<Vec<Workload>, Failure> {
    let bad = |message: String| Failure::new(ErrorKind::BadRequest, message);
    let label = &request.label;
    if request.workloads.is_empty() || request.workloads.len() > MAX_WORKLOADS {
        return Err(bad(format!(
            "{label}: {} workloads (1 to {MAX_WORKLOADS} are allowed)",
            request.workloads.len()
        )));
    }
    if request.repeats == 0 || request.repeats > MAX_RUNS || request.warmup > MAX_RUNS {
        return Err(bad(format!(
            "{label}: warmup {} and repeats {} (repeats 1 to {MAX_RUNS}, warmup at most {MAX_RUNS})",
            request.warmup, request.repeats
        )));
    }
    let mut sizes = Vec::new();
    for w in &request.workloads {
        if w.inputs.is_empty() || w.inputs.len() > MAX_INPUTS {
            return Err(bad(format!(
                "{}: {} inputs (1 to {MAX_INPUTS} are allowed)",
                w.label,
                w.inputs.len()
            )));
        }
        if w.profile_runs.is_some_and(|r| r > MAX_RUNS) {
            return Err(bad(format!(
                "{}: more than {MAX_RUNS} profiled runs",
                w.label
            )));
        }
        for shape in &w.inputs {
            let elements = (!shape.is_empty() && shape.len() <= 8 && shape.iter().all(|d| *d > 0))
                .then(|| shape.iter().try_fold(4usize, |n, d| n.checked_mul(*d)))
                .flatten()
                .filter(|bytes| *bytes <= MAX_REQUEST);
            let Some(bytes) = elements else {
                return Err(bad(format!(
                    "{}: input shape {shape:?} is not 1 to 8 positive dimensions of at most {MAX_REQUEST} bytes of f32",
                    w.label
                )));
            };
            sizes.push(bytes);
        }
    }
    // The raw frames of one request share one budget, so a request never
    // makes the server hold more than MAX_REQUEST bytes.
    let mut left = MAX_REQUEST;
    let mut next = |what: &str| -> Result<Vec<u8>, Failure> {
        let frame = read_frame(stream, left, None).map_err(|e| {
            let mut f = frame_failure(e, what, timeout);
            if f.kind == ErrorKind::TooLarge {
                f.message.push_str(&format!(
                    " left of the {MAX_REQUEST} bytes a request may carry"
                ));
            }
            f
        })?;
        left -= frame.len();
        Ok(frame)
    };
    let mut sizes = sizes.into_iter();
    let mut workloads = Vec::with_capacity(request.workloads.len());
    for w in &request.workloads {
        let onnx = next(&format!("the model of {}", w.label))?;
        let mut inputs = Vec::with_capacity(w.inputs.len());
        for (i, shape) in w.inputs.iter().enumerate() {
            let what = format!("input {i} of {}", w.label);
            let bytes = next(&what)?;
            let expected = sizes.next().expect("one size per input");
            if bytes.len() != expected {
                return Err(bad(format!(
                    "{what}: {} bytes, but shape {shape:?} of f32 is {expected}",
                    bytes.len()
                )));
            }
            inputs.push(Input {
                shape: shape.clone(),
                values: f32_values(&bytes),
            });
        }
        workloads.push(Workload {
            label: w.label.clone(),
            onnx,
            inputs,
            inputs_per_run: w.inputs_per_run,
            profile_runs: w.profile_runs,
        });
    }
    Ok(workloads)
}

/// Runs a job. A model tract refuses, or a panic inside tract, is an error
/// answer; the connection and the server go on.
fn run_job(
    shared: &Shared,
    request: &TimeRequest,
    workloads: &[Workload],
    peer: SocketAddr,
) -> Response {
    let started = Instant::now();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        time_workloads(
            workloads,
            request.warmup,
            request.repeats,
            shared.options.slowdown,
        )
    }));
    let error = |kind, message: String| {
        log::warn!("{peer}: {}: {message}", request.label);
        Response::Error(ServerError { kind, message })
    };
    match outcome {
        Ok(Ok(measured)) => {
            log::debug!(
                "{peer}: timed {} ({} workload(s), {} + {} runs) in {:.2} s",
                request.label,
                workloads.len(),
                request.warmup,
                request.repeats,
                started.elapsed().as_secs_f64()
            );
            Response::Timed(Timed {
                times_ms: measured.times_ms,
                profiles: measured.profiles,
                device: shared.device.clone(),
            })
        }
        Ok(Err(e)) => error(ErrorKind::Model, e.to_string()),
        Err(_) => error(
            ErrorKind::Internal,
            format!(
                "{}: tract panicked on this job (see the server's log)",
                request.label
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_addresses_without_the_flag() {
        for spec in ["127.0.0.1:0", "[::1]:7431", "localhost:0"] {
            assert!(listen_address(spec, false).is_ok(), "{spec}");
        }
        let err = listen_address("0.0.0.0:0", false).unwrap_err().to_string();
        assert!(
            err.contains("0.0.0.0")
                && err.contains("not a loopback address")
                && err.contains("--allow-remote"),
            "{err}"
        );
        assert!(listen_address("0.0.0.0:0", true).is_ok());
        let err = listen_address("nonsense", false).unwrap_err().to_string();
        assert!(err.contains("--listen nonsense"), "{err}");
    }
}
