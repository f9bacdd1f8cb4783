//! `flotilla`: the whole orchestrator as one binary — `flotilla up` runs a cluster on this
//! machine; every other command is an operator's client of the API.

mod boot;
mod cli;
mod config;
mod image;
mod image_gc_args;
mod network_args;
mod network_teardown;
mod node;
mod registry_args;
mod runtime_args;
mod store;
mod ttl;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "flotilla",
    version,
    about = "An orchestrator for bare-metal fleets, as one binary"
)]
struct Flotilla {
    /// Client config (default: $FLOTILLA_CONFIG, else ~/.flotilla/config).
    #[arg(long, global = true, env = "FLOTILLA_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a whole cluster (control plane and node agent) in this process.
    Up(boot::UpArgs),
    /// Run the control plane only; machines join it with `flotilla node`.
    Server(boot::ServerArgs),
    /// Run a node agent that joins a remote cluster; `node revoke NAME` cuts a node off.
    Node(node::NodeArgs),
    /// Bootstrap tokens with which machines join.
    #[command(subcommand)]
    Token(cli::TokenCommand),
    /// Operators' certificates: add (writes a client config), list, revoke.
    #[command(subcommand)]
    User(cli::UserCommand),
    /// The raw store (like etcdctl): read, write, watch, compact, snapshot, restore, or serve
    /// a store alone.
    #[command(subcommand)]
    Store(store::StoreCommand),
    /// The images of the node on this machine: import archives, list, inspect, remove.
    Image(image::ImageArgs),
    #[command(flatten)]
    Client(cli::Command),
}

/// The hidden first arguments with which the node agent re-executes this binary as the init of
/// an image container (see `flotilla_node_os::sandbox::init`) and to run a command in a
/// container (`flotilla_node_os::sandbox::exec`).
const CONTAINER_INIT: &str = "container-init";
const CONTAINER_EXEC: &str = "container-exec";

fn main() -> ExitCode {
    // Before anything else: the container init must stay single-threaded and quiet.
    let mut raw_args = std::env::args_os().skip(1);
    if let (Some(first), Some(argument)) = (raw_args.next(), raw_args.next()) {
        let code = if first == flotilla_node_os::sandbox::pause::SUBCOMMAND {
            Some(flotilla_node_os::sandbox::pause::run())
        } else if first == CONTAINER_INIT {
            Some(flotilla_node_os::sandbox::init::run(std::path::Path::new(
                &argument,
            )))
        } else if first == flotilla_cri::exec::SUBCOMMAND {
            Some(flotilla_cri::exec::run(&argument.to_string_lossy()))
        } else if first == CONTAINER_EXEC {
            Some(flotilla_node_os::sandbox::exec::run(
                &argument.to_string_lossy(),
            ))
        } else {
            None
        };
        if let Some(code) = code {
            return ExitCode::from(u8::try_from(code).unwrap_or(u8::MAX));
        }
    }
    let flotilla = Flotilla::parse();
    if matches!(&flotilla.command, Command::Node(args) if args.runs_agent())
        && flotilla_node_os::init::is_pid1()
    {
        return node::as_init();
    }
    let server = matches!(
        flotilla.command,
        Command::Up(_)
            | Command::Server(_)
            | Command::Node(_)
            | Command::Store(store::StoreCommand::Serve(_))
    );
    init_logging(server);
    let runtime = match flotilla_transport::runtime::build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: starting the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match flotilla.command {
            Command::Up(args) => boot::up(args).await,
            Command::Server(args) => boot::server(args).await,
            Command::Node(args) => node::run(args, flotilla.config).await,
            Command::Token(command) => {
                let config = config::ClientConfig::load(&config::resolve(flotilla.config)?)?;
                cli::run_token(command, &config).await
            }
            Command::User(command) => {
                let config = config::ClientConfig::load(&config::resolve(flotilla.config)?)?;
                cli::run_user(command, &config).await
            }
            Command::Store(command) => store::run(command, flotilla.config).await,
            // Files on this machine, or other nodes' stores through the API.
            Command::Image(args) => image::run(args, flotilla.config).await,
            Command::Client(command) => {
                let path = config::resolve(flotilla.config)?;
                let api = config::ClientConfig::load(&path)?.connect()?;
                let code = cli::run(command, &api).await;
                api.close().await;
                code
            }
        }
    });
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Servers log at info; client commands only say more than their output when asked
/// (`RUST_LOG`).
fn init_logging(server: bool) {
    // hickory's server logs every query at info.
    let default = if server {
        "info,hickory_server=warn"
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
