//! `flotilla exec POD [-c CONTAINER] [-i] [-t] -- COMMAND...`: runs a command in a running
//! container, wherever its node is, printing what it writes to standard output and standard
//! error as it comes and ending with its exit code, as `kubectl exec` does. `-i` passes standard
//! input on; `-t` runs the command on a terminal, with this terminal in raw mode and its size
//! (and every change of it) passed on.

mod raw_terminal;

use std::io::{Read, Write};
use std::process::ExitCode;

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use flotilla_kernel::api::{ApiClient, ClientError, Input, Request, Response, TerminalSize};

use super::logs::Target;
use super::terminal;
use raw_terminal::RawTerminal;

/// Inputs queued for the API server before reading standard input waits.
const INPUT_BUFFER: usize = 64;
/// The most standard input one frame carries.
const INPUT_CHUNK: usize = 16 * 1024;
/// The size of a terminal that cannot tell its own.
const DEFAULT_SIZE: TerminalSize = TerminalSize { cols: 80, rows: 24 };

#[derive(Debug, clap::Args)]
pub struct ExecArgs {
    /// The pod: NAME or pod/NAME.
    #[arg(value_name = "POD")]
    pod: String,
    /// The container (default: the pod's only container).
    #[arg(short, long)]
    container: Option<String>,
    /// The pod's namespace (default: "default").
    #[arg(short, long)]
    namespace: Option<String>,
    /// Pass standard input to the command.
    #[arg(short = 'i', long)]
    stdin: bool,
    /// Run the command on a terminal (standard input must be one).
    #[arg(short = 't', long)]
    tty: bool,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<String>,
}

pub async fn run(args: ExecArgs, api: &ApiClient) -> anyhow::Result<ExitCode> {
    let Target {
        namespace,
        pod: name,
        container,
    } = Target::find(
        api,
        &args.pod,
        args.namespace.as_deref(),
        args.container.as_deref(),
    )
    .await?;
    let tty = args.tty && raw_terminal::stdin_is_terminal();
    if args.tty && !tty {
        terminal::notice(
            "Unable to use a TTY - input is not a terminal or the right kind of file",
        )?;
    }
    if !args.stdin && !tty {
        let request = Request::Exec {
            namespace,
            pod: name,
            container: Some(container),
            command: args.command,
        };
        return relay(api.stream(request).await?).await;
    }
    let size = tty.then(|| raw_terminal::size().unwrap_or(DEFAULT_SIZE));
    let request = Request::ExecAttached {
        namespace,
        pod: name,
        container: Some(container),
        command: args.command,
        stdin: args.stdin,
        tty: size,
    };
    let (inputs, received) = mpsc::channel(INPUT_BUFFER);
    if tty {
        tokio::spawn(pass_resizes(inputs.clone()));
    }
    if args.stdin {
        pass_stdin(inputs);
    }
    let responses = api.stream_with_inputs(request, received).await?;
    // Raw only once the call is open, so an error before it prints as usual.
    let _raw = if tty { RawTerminal::enter()? } else { None };
    relay(responses).await
}

/// Prints what the command writes until its exit code comes, and ends with that.
async fn relay(
    mut responses: mpsc::Receiver<Result<Response, ClientError>>,
) -> anyhow::Result<ExitCode> {
    while let Some(response) = responses.recv().await {
        match response? {
            Response::ExecOutput {
                stderr: false,
                data,
            } => terminal::print_bytes(&data)?,
            Response::ExecOutput { stderr: true, data } => {
                let mut stderr = std::io::stderr().lock();
                stderr.write_all(&data).and_then(|()| stderr.flush())?;
            }
            Response::ExecExit { code } => {
                return Ok(ExitCode::from(u8::try_from(code).unwrap_or(u8::MAX)));
            }
            Response::Error(error) => return Err(ClientError::Api(error).into()),
            other => {
                let got = other.kind_name();
                return Err(ClientError::Unexpected { call: "exec", got }.into());
            }
        }
    }
    Err(anyhow::anyhow!(
        "the node agent ended the exec without its exit code"
    ))
}

/// Reads standard input on a thread of its own (a read that blocks must not hold the runtime
/// up when the exec ends) and passes it on, then its end.
fn pass_stdin(inputs: mpsc::Sender<Input>) {
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buffer = vec![0; INPUT_CHUNK];
        loop {
            let input = match stdin.read(&mut buffer) {
                Ok(0) | Err(_) => Input::End,
                Ok(read) => Input::Data(buffer[..read].to_vec()),
            };
            let ended = input == Input::End;
            if inputs.blocking_send(input).is_err() || ended {
                return;
            }
        }
    });
}

/// Passes every new size of this terminal on, until the exec ends.
async fn pass_resizes(inputs: mpsc::Sender<Input>) {
    let Ok(mut resized) = signal(SignalKind::window_change()) else {
        return;
    };
    while resized.recv().await.is_some() {
        let Some(size) = raw_terminal::size() else {
            continue;
        };
        if inputs.send(Input::Resize(size)).await.is_err() {
            return;
        }
    }
}
