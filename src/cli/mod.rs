//! The operator's commands (`flotilla get pods`, `flotilla apply -f web.yaml`, ...), shaped
//! after kubectl so that an operator's habits, scripts and muscle memory carry over. They
//! speak to the API only through `ApiClient`, wherever the API server runs.
//!
//! Each command is a module with a thin async driver around pure parts (argument parsing,
//! columns, printers, describe views) that are tested without a server. A command prints its
//! results and the errors of single items (one bad document, one missing name) as it goes,
//! and carries on with the rest; an error that stops it is printed by [`run`]. Either way an
//! error is one line on standard error and the exit code is 1.

mod apply;
mod columns;
mod create;
mod delete;
mod describe;
mod drain;
mod exec;
mod get;
mod label;
mod label_text;
mod logs;
mod lookup;
mod manifest_files;
mod namespace;
mod pod_status;
mod printers;
mod resource_arg;
mod scale;
mod table;
mod taint;
mod terminal;
mod token;
mod top;
mod user;
mod wire_word;

pub use table::{Table, age};
pub use terminal::{print, print_line};
pub use token::TokenCommand;
pub use user::UserCommand;

use std::process::ExitCode;

use flotilla_kernel::api::ApiClient;

pub use apply::ApplyArgs;
pub use create::CreateCommand;
pub use delete::DeleteArgs;
pub use describe::DescribeArgs;
pub use exec::ExecArgs;
pub use get::GetArgs;
pub use logs::LogsArgs;
pub use scale::ScaleArgs;
pub use taint::TaintArgs;
pub use top::TopArgs;

/// The operator's commands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create or update objects from manifests (files, directories or stdin).
    Apply(ApplyArgs),
    /// Show objects as a table, JSON, YAML or names.
    Get(GetArgs),
    /// Show objects in detail, with what they relate to.
    Describe(DescribeArgs),
    /// Delete objects by name or as described by manifests.
    Delete(DeleteArgs),
    /// Print a container's log.
    Logs(LogsArgs),
    /// Run a command in a running container.
    Exec(ExecArgs),
    /// Show the CPU and memory pods or nodes use now.
    Top(TopArgs),
    /// Set the replicas of Deployments or ReplicaSets.
    Scale(ScaleArgs),
    /// Mark a node unschedulable: new pods go elsewhere, running ones stay.
    Cordon(drain::NodeNameArgs),
    /// Make a cordoned node schedulable again.
    Uncordon(drain::NodeNameArgs),
    /// Cordon a node and evict its pods, as their disruption budgets allow.
    Drain(drain::DrainArgs),
    /// Add or remove a node's taints: `taint nodes NODE key=value:NoSchedule`, `key-`.
    Taint(TaintArgs),
    /// Set or remove labels: `label nodes n1 disk=ssd`, `disk-`.
    Label(label::MetaArgs),
    /// Set or remove annotations: `annotate pod/web note='moved'`, `note-`.
    Annotate(label::MetaArgs),
    /// Create an object from arguments: `create job NAME --from=cronjob/CRONJOB`.
    #[command(subcommand)]
    Create(CreateCommand),
}

/// Runs one command against the API. Every failure is reported here or by the command, as
/// one line on standard error, and gives exit code 1; `Err` means not even that line could
/// be written.
pub async fn run(command: Command, api: &ApiClient) -> anyhow::Result<ExitCode> {
    let outcome = match command {
        Command::Apply(args) => apply::run(args, api).await,
        Command::Get(args) => get::run(args, api).await,
        Command::Describe(args) => describe::run(args, api).await,
        Command::Delete(args) => delete::run(args, api).await,
        Command::Logs(args) => logs::run(args, api).await,
        Command::Exec(args) => exec::run(args, api).await,
        Command::Top(args) => top::run(args, api).await,
        Command::Scale(args) => scale::run(args, api).await,
        Command::Cordon(args) => drain::cordon(args, api, true).await,
        Command::Uncordon(args) => drain::cordon(args, api, false).await,
        Command::Drain(args) => drain::drain(args, api).await,
        Command::Taint(args) => taint::run(args, api).await,
        Command::Label(args) => label::run(label::Field::Labels, args, api).await,
        Command::Annotate(args) => label::run(label::Field::Annotations, args, api).await,
        Command::Create(command) => create::run(command, api).await,
    };
    report(outcome)
}

/// `flotilla token ...`, which also needs the config (to print the CA pin).
pub async fn run_token(
    command: TokenCommand,
    config: &crate::config::ClientConfig,
) -> anyhow::Result<ExitCode> {
    let outcome = match config.connect() {
        Ok(api) => {
            let outcome = token::run(command, &api, config).await;
            api.close().await;
            outcome
        }
        Err(error) => Err(error),
    };
    report(outcome)
}

/// `flotilla user ...`, which also needs the config (the server's address for the new one).
pub async fn run_user(
    command: UserCommand,
    config: &crate::config::ClientConfig,
) -> anyhow::Result<ExitCode> {
    let outcome = match config.connect() {
        Ok(api) => {
            let outcome = user::run(command, &api, config).await;
            api.close().await;
            outcome
        }
        Err(error) => Err(error),
    };
    report(outcome)
}

pub fn report(outcome: anyhow::Result<ExitCode>) -> anyhow::Result<ExitCode> {
    match outcome {
        Ok(code) => Ok(code),
        Err(error) if terminal::is_broken_pipe(&error) => Ok(ExitCode::SUCCESS),
        Err(error) => {
            terminal::print_error(&error)?;
            Ok(ExitCode::FAILURE)
        }
    }
}

/// The exit code of a command that carried on past failed items.
fn exit_code(failed: bool) -> ExitCode {
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, clap::Parser)]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    fn parse(line: &str) -> Result<Command, clap::Error> {
        Cli::try_parse_from(std::iter::once("flotilla").chain(line.split_whitespace()))
            .map(|cli| cli.command)
    }

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn kubectl_style_command_lines_parse() {
        for line in [
            "apply -f web.yaml -f manifests/ -n prod",
            "apply -f -",
            "get pods",
            "get po web-1 web-2 -n prod -o wide",
            "get deploy -A -l app=web -o json",
            "get pod/web-1 deployment.apps/web -o yaml",
            "get nodes -o name",
            "describe node n1",
            "describe pods -n prod",
            "delete pod web-1 --grace-period 0",
            "delete -f web.yaml --ignore-not-found",
            "delete pod web-1 --grace-period -1",
            "logs web-1 -c app -f --tail 20 -n prod",
            "logs pod/web-1 --tail=-1",
            "scale deployment/web --replicas 3",
            "scale deploy web --replicas=0 -n prod",
            "top pod",
            "top pods -A --containers",
            "top po web-1 -n prod --containers",
            "top node",
            "top nodes n1",
        ] {
            assert!(parse(line).is_ok(), "{line}: {:?}", parse(line).err());
        }
    }

    #[test]
    fn malformed_command_lines_are_refused() {
        for line in [
            "apply",
            "get",
            "get pods -o table",
            "scale deploy/web",
            "scale deploy/web --replicas -1",
            "logs",
            "top",
            "top deploy",
            "top node n1 n2",
        ] {
            assert!(parse(line).is_err(), "{line} parsed");
        }
    }
}
