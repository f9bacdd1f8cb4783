//! Runs the `flotilla` CLI against one cluster, as an operator would: a fresh process per
//! command, with the cluster's admin config, a private HOME (so nothing is read from or written
//! to the developer's own `~/.flotilla`) and a time limit.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::bounded_command::{output_with_input, output_within};

/// Longest a single CLI command may take before it counts as hung.
const CLI_TIME_LIMIT: Duration = Duration::from_secs(60);

/// The CLI of one cluster.
#[derive(Debug, Clone)]
pub struct Client {
    binary: PathBuf,
    config: PathBuf,
    home: PathBuf,
}

impl Client {
    /// A client running `binary` with `--config config` and `HOME=home`.
    pub fn new(binary: &Path, config: &Path, home: &Path) -> Self {
        Self {
            binary: binary.to_path_buf(),
            config: config.to_path_buf(),
            home: home.to_path_buf(),
        }
    }

    /// Runs `flotilla --config <config> <args>` and returns what it printed, whatever its exit
    /// status; fails only when it cannot be run or hangs.
    pub fn try_cli(&self, args: &[&str]) -> Result<Output> {
        output_within(&mut self.command(args), CLI_TIME_LIMIT)
    }

    /// Runs `flotilla <args>` with `input` on its standard input; panics when it cannot be
    /// run or hangs.
    pub fn cli_with_input(&self, args: &[&str], input: &[u8]) -> Output {
        output_with_input(
            &mut self.command(args),
            Some(input.to_vec()),
            CLI_TIME_LIMIT,
        )
        .unwrap_or_else(|error| panic!("{error:#}"))
    }

    /// Runs `flotilla <args>` on a terminal of its own, `cols` by `rows` (util-linux's
    /// `script` makes it), as an operator at a terminal would; what the terminal showed comes
    /// back as standard output.
    pub fn cli_on_terminal(&self, args: &[&str], cols: u16, rows: u16) -> Output {
        let line = std::iter::once(self.binary.to_string_lossy().as_ref())
            .chain(["--config", &self.config.to_string_lossy()])
            .chain(args.iter().copied())
            .map(shell_quoted)
            .collect::<Vec<_>>()
            .join(" ");
        let mut script = Command::new("script");
        script
            .args(["--quiet", "--return", "--command"])
            .arg(format!("stty cols {cols} rows {rows}; exec {line}"))
            .arg("/dev/null")
            .env("HOME", &self.home)
            .env_remove("FLOTILLA_CONFIG");
        output_within(&mut script, CLI_TIME_LIMIT).unwrap_or_else(|error| panic!("{error:#}"))
    }

    /// Like [`Client::try_cli`], panicking when the CLI cannot be run or hangs.
    pub fn cli(&self, args: &[&str]) -> Output {
        match self.try_cli(args) {
            Ok(output) => output,
            Err(error) => panic!("{error:#}"),
        }
    }

    /// Runs the CLI and returns its stdout, panicking with its stderr unless it succeeded.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let output = self.cli(args);
        assert!(
            output.status.success(),
            "`flotilla {}` failed ({}):\nstdout: {}\nstderr: {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// `flotilla apply -f <path>`.
    pub fn apply_file(&self, path: &Path) -> Output {
        let path = path.to_string_lossy();
        self.cli(&["apply", "-f", &path])
    }

    /// `flotilla get <kind> [-n <ns>] -o json`: the List of all objects of `kind`.
    pub fn get_json(&self, kind: &str, namespace: Option<&str>) -> Result<Value> {
        let mut args = vec!["get", kind];
        args.extend(namespace.map(|ns| ["-n", ns]).into_iter().flatten());
        self.json(&args)
    }

    /// `flotilla get <kind> <name> [-n <ns>] -o json`: one object.
    pub fn get_object(&self, kind: &str, name: &str, namespace: Option<&str>) -> Result<Value> {
        let mut args = vec!["get", kind, name];
        args.extend(namespace.map(|ns| ["-n", ns]).into_iter().flatten());
        self.json(&args)
    }

    fn json(&self, args: &[&str]) -> Result<Value> {
        let mut args = args.to_vec();
        args.extend(["-o", "json"]);
        let output = self.try_cli(&args)?;
        if !output.status.success() {
            bail!(
                "`flotilla {}` failed ({}): {}",
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        serde_json::from_slice(&output.stdout).with_context(|| {
            format!(
                "`flotilla {}` did not print JSON: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stdout)
            )
        })
    }

    /// Starts `flotilla <args>` in the background with its standard output piped, for a command
    /// that runs until stopped (`get --watch`). The caller kills and reaps it.
    pub fn spawn_piped(&self, args: &[&str]) -> Result<Child> {
        self.command(args)
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("could not start `flotilla {}`", args.join(" ")))
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.binary);
        command
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env("HOME", &self.home)
            .env_remove("FLOTILLA_CONFIG");
        command
    }
}

/// `word` as one shell word.
fn shell_quoted(word: &str) -> String {
    format!("'{}'", word.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bounded_command::describe;

    #[test]
    fn puts_the_config_before_the_command_and_isolates_home() {
        let client = Client::new(
            Path::new("/t/flotilla"),
            Path::new("/d/admin.conf"),
            Path::new("/d/home"),
        );
        let command = client.command(&["get", "pods", "-n", "web"]);
        assert_eq!(
            describe(&command),
            "/t/flotilla --config /d/admin.conf get pods -n web"
        );
        assert!(
            command.get_envs().any(
                |(key, value)| key == "HOME" && value == Some(Path::new("/d/home").as_os_str())
            )
        );
    }

    #[test]
    fn a_failing_get_reports_the_command_and_its_stderr() {
        let client = Client::new(
            Path::new("/bin/false"),
            Path::new("/nonexistent"),
            Path::new("/tmp"),
        );
        // `false` fails whatever its arguments, standing in for a failing CLI.
        let error = client.get_json("pods", Some("default")).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("`flotilla get pods -n default -o json` failed"),
            "{error}"
        );
    }
}
