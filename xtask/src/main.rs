//! `cargo xtask`: the developer and CI entry point of the flotilla workspace.
//!
//! `deps` installs the Debian packages the build needs, `up` runs a one-machine cluster from a
//! release build, `test` is what CI runs, `bench NAME` measures the release binary. It uses
//! only std so that it builds in seconds on a fresh machine, before anything else works.

mod bench;
mod cargo;
mod deps;
mod error;
mod privilege;
mod step;
mod up;
mod workspace_tests;

use std::env;
use std::process::ExitCode;

use crate::cargo::Cargo;
use crate::error::XtaskError;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  deps                       install the Debian packages the build and tests need
  up [-- FLOTILLA UP ARGS]   build release, run `flotilla up` in the foreground
  test [CARGO TEST ARGS]     build all binaries, run every workspace test (run as root)
  bench startup [--json]     build release, measure startup and pod start latency
  bench failover [--json]    build release, kill a node of three, time NotReady and replacement
  bench transport [--json]   QUIC+mTLS calls and streams against TCP+TLS on loopback
  bench store [--json]       flotilla's store against etcd 3.4: puts, reads, watch latency
  bench api [--json]         API creates against raw store puts, reads, unschedulable burst";

/// One parsed xtask command line.
#[derive(Debug, PartialEq, Eq)]
enum Task {
    Help,
    Deps,
    Up { flotilla_args: Vec<String> },
    Test { cargo_test_args: Vec<String> },
    Bench { name: String, json: bool },
}

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    match parse_task(&args).and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: error: {error}");
            let mut cause = std::error::Error::source(&error);
            while let Some(inner) = cause {
                eprintln!("  caused by: {inner}");
                cause = inner.source();
            }
            if matches!(error, XtaskError::Usage(_)) {
                eprintln!("\n{USAGE}");
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn run(task: Task) -> Result<(), XtaskError> {
    match task {
        Task::Help => {
            println!("{USAGE}");
            Ok(())
        }
        Task::Deps => Ok(deps::ensure()?),
        Task::Up { flotilla_args } => match up::run(&Cargo::from_env()?, &flotilla_args)? {},
        Task::Test { cargo_test_args } => {
            workspace_tests::run(&Cargo::from_env()?, &cargo_test_args)
        }
        Task::Bench { name, json } => bench::run(&Cargo::from_env()?, &name, json),
    }
}

/// Parses the arguments after `cargo xtask`.
fn parse_task(args: &[String]) -> Result<Task, XtaskError> {
    let Some((command, rest)) = args.split_first() else {
        return Err(XtaskError::Usage("no command given".into()));
    };
    let unexpected = |arg: &String| XtaskError::Usage(format!("unexpected argument `{arg}`"));
    match command.as_str() {
        "help" | "-h" | "--help" => Ok(Task::Help),
        "deps" => match rest.first() {
            None => Ok(Task::Deps),
            Some(arg) => Err(unexpected(arg)),
        },
        "up" => Ok(Task::Up {
            flotilla_args: without_separator(rest).to_vec(),
        }),
        "test" => Ok(Task::Test {
            cargo_test_args: rest.to_vec(),
        }),
        "bench" => match without_separator(rest) {
            [which, options @ ..] if bench::KNOWN.contains(&which.as_str()) => {
                match options.iter().find(|option| *option != "--json") {
                    Some(arg) => Err(unexpected(arg)),
                    None => Ok(Task::Bench {
                        name: which.clone(),
                        json: !options.is_empty(),
                    }),
                }
            }
            [which, ..] => Err(XtaskError::Usage(format!(
                "unknown benchmark `{which}` (known: {})",
                bench::KNOWN.join(", ")
            ))),
            [] => Err(XtaskError::Usage("bench needs a benchmark name".into())),
        },
        other => Err(XtaskError::Usage(format!("unknown command `{other}`"))),
    }
}

/// Drops one leading `--`, which developers type to separate xtask's arguments from the
/// ones passed through (`cargo xtask up -- --data-dir /tmp/f`).
fn without_separator(args: &[String]) -> &[String] {
    match args.split_first() {
        Some((first, rest)) if first == "--" => rest,
        _ => args,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Task, XtaskError> {
        let args: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
        parse_task(&args)
    }

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|arg| (*arg).to_owned()).collect()
    }

    #[test]
    fn parses_every_command() {
        assert_eq!(parse(&["deps"]).unwrap(), Task::Deps);
        assert_eq!(parse(&["--help"]).unwrap(), Task::Help);
        assert_eq!(
            parse(&["bench", "startup"]).unwrap(),
            Task::Bench {
                name: "startup".into(),
                json: false
            }
        );
        assert_eq!(
            parse(&["bench", "failover", "--json"]).unwrap(),
            Task::Bench {
                name: "failover".into(),
                json: true
            }
        );
    }

    #[test]
    fn up_passes_arguments_through_without_the_separator() {
        let expected = Task::Up {
            flotilla_args: strings(&["--data-dir", "/tmp/f"]),
        };
        assert_eq!(
            parse(&["up", "--", "--data-dir", "/tmp/f"]).unwrap(),
            expected
        );
        assert_eq!(parse(&["up", "--data-dir", "/tmp/f"]).unwrap(), expected);
    }

    #[test]
    fn test_forwards_cargo_test_arguments_verbatim() {
        assert_eq!(
            parse(&["test", "-p", "xtask", "--", "--nocapture"]).unwrap(),
            Task::Test {
                cargo_test_args: strings(&["-p", "xtask", "--", "--nocapture"]),
            }
        );
    }

    #[test]
    fn rejects_what_it_does_not_know() {
        for args in [
            &[][..],
            &["deploy"][..],
            &["deps", "--all"][..],
            &["bench"][..],
            &["bench", "shutdown"][..],
            &["bench", "startup", "--yaml"][..],
        ] {
            assert!(
                matches!(parse(args), Err(XtaskError::Usage(_))),
                "accepted {args:?}"
            );
        }
    }
}
