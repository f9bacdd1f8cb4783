//! An attached exec through a CRI runtime's streaming server, as the kubelet's client does
//! it: the runtime's `Exec` gives a URL; an HTTP upgrade there makes a SPDY/3.1 session
//! ([`crate::spdy`]) with Kubernetes' `v4.channel.k8s.io` streams — the exec's status
//! (`error`), `stdin`, `stdout`, `stderr` (not on a terminal) and terminal sizes (`resize`).
//! This process's standard streams are the exec's; on a terminal, its size is the remote
//! terminal's.

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::spdy::{self, Frame, StreamOpener};

/// The only version of Kubernetes' streaming protocol spoken here (status on its own stream,
/// terminal sizes).
const PROTOCOL: &str = "v4.channel.k8s.io";
/// How much standard input one frame carries.
const CHUNK: usize = 32 * 1024;
/// How often a terminal's size is checked for a change.
const RESIZE_POLL: Duration = Duration::from_millis(200);
/// Longest response head accepted from the streaming server.
const MAX_HEAD: usize = 16 * 1024;

/// What is attached.
#[derive(Debug, Clone, Copy)]
pub struct Attached {
    pub stdin: bool,
    pub tty: bool,
}

/// Runs the session at `url` until the server ends it; the exec's exit code.
pub async fn run(url: &str, attached: Attached) -> Result<i32, String> {
    let (authority, path) = split_url(url)?;
    let mut connection = TcpStream::connect(authority).await.map_err(|error| {
        format!("cannot reach the runtime's streaming server at {authority}: {error}")
    })?;
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n\
         X-Stream-Protocol-Version: {PROTOCOL}\r\nContent-Length: 0\r\n\r\n"
    );
    connection
        .write_all(request.as_bytes())
        .await
        .map_err(|error| format!("writing to the streaming server: {error}"))?;
    let mut buffer = upgrade(&mut connection).await?;
    let (mut reader, writer) = connection.into_split();

    let (frames, outgoing) = mpsc::channel::<Vec<u8>>(16);
    let writing = tokio::spawn(write_frames(writer, outgoing));
    let mut opener = StreamOpener::default();
    let mut open = |kind: &str| -> Result<u32, String> {
        let (stream, syn) = opener.open(&[("streamType", kind)])?;
        frames
            .try_send(syn)
            .map_err(|_| "the streaming session closed".to_string())?;
        Ok(stream)
    };
    let status_stream = open("error")?;
    let stdin_stream = attached.stdin.then(|| open("stdin")).transpose()?;
    let stdout_stream = open("stdout")?;
    let stderr_stream = (!attached.tty).then(|| open("stderr")).transpose()?;
    let resize_stream = attached.tty.then(|| open("resize")).transpose()?;

    let mut pumps = Vec::new();
    if let Some(stream) = stdin_stream {
        pumps.push(tokio::spawn(pump_stdin(stream, frames.clone())));
    }
    if let Some(stream) = resize_stream {
        pumps.push(tokio::spawn(pump_sizes(stream, frames.clone())));
    }
    let mut stdout = tokio::io::stdout();
    let mut stderr = tokio::io::stderr();
    let mut status = Vec::new();
    let mut chunk = vec![0; 64 * 1024];
    'session: loop {
        while let Some(frame) = spdy::parse(&mut buffer)? {
            match frame {
                Frame::Data { stream, data, .. } => {
                    if data.is_empty() {
                        continue;
                    }
                    if stream == status_stream {
                        status.extend_from_slice(&data);
                    } else if stream == stdout_stream {
                        copy_out(&mut stdout, &data).await;
                    } else if Some(stream) == stderr_stream {
                        copy_out(&mut stderr, &data).await;
                    }
                    let delta = u32::try_from(data.len()).unwrap_or(u32::MAX);
                    let _ = frames.send(spdy::window_update(stream, delta)).await;
                }
                Frame::Ping { id } => {
                    let _ = frames.send(spdy::ping(id)).await;
                }
                Frame::GoAway => break 'session,
                Frame::Ignored => {}
            }
        }
        match reader.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(read) => buffer.extend_from_slice(&chunk[..read]),
        }
    }
    for pump in pumps {
        pump.abort();
    }
    drop(frames);
    writing.abort();
    exit_code(&status)
}

/// Reads the server's answer to the upgrade; what followed its head, the session's start.
async fn upgrade(connection: &mut TcpStream) -> Result<Vec<u8>, String> {
    let mut head = Vec::new();
    let mut chunk = [0; 4096];
    loop {
        let read = connection
            .read(&mut chunk)
            .await
            .map_err(|error| format!("reading the streaming server's answer: {error}"))?;
        if read == 0 {
            return Err("the streaming server closed the connection before answering".to_string());
        }
        head.extend_from_slice(&chunk[..read]);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(&head) {
            Ok(httparse::Status::Complete(length)) => {
                if response.code != Some(101) {
                    let body = String::from_utf8_lossy(&head[length..]);
                    return Err(format!(
                        "the streaming server refused the exec: {} {} {}",
                        response.code.unwrap_or(0),
                        response.reason.unwrap_or_default(),
                        body.trim()
                    ));
                }
                let spoken = response
                    .headers
                    .iter()
                    .find(|header| {
                        header
                            .name
                            .eq_ignore_ascii_case("X-Stream-Protocol-Version")
                    })
                    .map(|header| String::from_utf8_lossy(header.value).into_owned());
                if spoken.as_deref() != Some(PROTOCOL) {
                    return Err(format!(
                        "the streaming server does not speak {PROTOCOL} (it answered {spoken:?})"
                    ));
                }
                return Ok(head.split_off(length));
            }
            Ok(httparse::Status::Partial) if head.len() < MAX_HEAD => {}
            Ok(httparse::Status::Partial) => {
                return Err("the streaming server's answer is too long".to_string());
            }
            Err(error) => return Err(format!("the streaming server's answer: {error}")),
        }
    }
}

async fn write_frames(mut writer: impl AsyncWrite + Unpin, mut frames: mpsc::Receiver<Vec<u8>>) {
    while let Some(frame) = frames.recv().await {
        if writer.write_all(&frame).await.is_err() {
            return;
        }
    }
}

async fn copy_out(out: &mut (impl AsyncWrite + Unpin), data: &[u8]) {
    // Nobody reading our output is no reason to stop the exec: its status still counts.
    if out.write_all(data).await.is_ok() {
        let _ = out.flush().await;
    }
}

/// Sends this process's standard input, then its end.
async fn pump_stdin(stream: u32, frames: mpsc::Sender<Vec<u8>>) {
    pump(tokio::io::stdin(), stream, frames).await;
}

async fn pump(mut input: impl AsyncRead + Unpin, stream: u32, frames: mpsc::Sender<Vec<u8>>) {
    let mut chunk = vec![0; CHUNK];
    loop {
        match input.read(&mut chunk).await {
            Ok(0) | Err(_) => {
                let _ = frames.send(spdy::data(stream, true, &[])).await;
                return;
            }
            Ok(read) => {
                if frames
                    .send(spdy::data(stream, false, &chunk[..read]))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    }
}

/// Sends the size of this process's terminal whenever it changes.
async fn pump_sizes(stream: u32, frames: mpsc::Sender<Vec<u8>>) {
    let mut sent = None;
    loop {
        if let Ok(size) = rustix::termios::tcgetwinsize(std::io::stdin()) {
            let now = (size.ws_col, size.ws_row);
            if sent != Some(now) {
                let json = format!(r#"{{"Width":{},"Height":{}}}"#, now.0, now.1);
                if frames
                    .send(spdy::data(stream, false, json.as_bytes()))
                    .await
                    .is_err()
                {
                    return;
                }
                sent = Some(now);
            }
        }
        tokio::time::sleep(RESIZE_POLL).await;
    }
}

/// The host and port, and the path, of an `http://` URL.
fn split_url(url: &str) -> Result<(&str, &str), String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        format!("the runtime's streaming URL {url:?} is not plain http (TLS is not supported)")
    })?;
    Ok(match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, "/"),
    })
}

/// The exit code the server's status (a Kubernetes `Status`) gives the exec.
pub fn exit_code(status: &[u8]) -> Result<i32, String> {
    if status.is_empty() {
        return Err("the streaming server ended the exec without its status".to_string());
    }
    let status: Value = serde_json::from_slice(status)
        .map_err(|error| format!("the exec's status is not JSON: {error}"))?;
    if status["status"] == "Success" {
        return Ok(0);
    }
    if status["reason"] == "NonZeroExitCode" {
        let code = status["details"]["causes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|cause| cause["reason"] == "ExitCode")
            .and_then(|cause| cause["message"].as_str())
            .and_then(|code| code.parse().ok());
        if let Some(code) = code {
            return Ok(code);
        }
    }
    Err(status["message"]
        .as_str()
        .unwrap_or("the exec failed")
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_authority_and_path() {
        assert_eq!(
            split_url("http://127.0.0.1:39411/exec/Yc3Fw9").unwrap(),
            ("127.0.0.1:39411", "/exec/Yc3Fw9")
        );
        assert_eq!(split_url("http://[::1]:80").unwrap(), ("[::1]:80", "/"));
        assert!(
            split_url("https://127.0.0.1:1/exec/x")
                .unwrap_err()
                .contains("TLS")
        );
    }

    #[test]
    fn statuses_give_exit_codes() {
        assert_eq!(exit_code(br#"{"metadata":{},"status":"Success"}"#), Ok(0));
        let failed = br#"{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: error executing command [sh -c exit 4], exit code 4","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"4"}]}}"#;
        assert_eq!(exit_code(failed), Ok(4));
        let refused = br#"{"status":"Failure","message":"exec: \"nope\": executable file not found in $PATH"}"#;
        assert!(
            exit_code(refused)
                .unwrap_err()
                .contains("executable file not found")
        );
        assert!(exit_code(b"").unwrap_err().contains("without its status"));
        assert!(exit_code(b"{").unwrap_err().contains("not JSON"));
    }

    #[tokio::test]
    async fn input_goes_out_in_frames_and_ends_with_fin() {
        let (frames, mut sent) = mpsc::channel(8);
        pump(&b"typed\n"[..], 3, frames).await;
        assert_eq!(sent.recv().await.unwrap(), spdy::data(3, false, b"typed\n"));
        assert_eq!(sent.recv().await.unwrap(), spdy::data(3, true, &[]));
    }
}
