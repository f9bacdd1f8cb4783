//! `bench startup|failover|transport|store|api|pod-start|network|scheduler [--json]`: the benchmarks
//! `cargo xtask bench` runs against the release binary. Each prints an aligned table, or with
//! `--json` one JSON object.

mod api;
mod api_burst;
mod api_objects;
mod closed_loop;
mod failover;
mod network;
mod pod_start;
mod scheduler;
mod startup;
mod store;
mod transport;

use std::env;
use std::process::ExitCode;

use serde_json::Value;

const USAGE: &str =
    "usage: bench startup|failover|transport|store|api|pod-start|network|scheduler [--json]";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let (name, json) = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [name] => (name.to_string(), false),
        [name, "--json"] => (name.to_string(), true),
        _ => return usage(),
    };
    let outcome: anyhow::Result<(String, Value)> = match name.as_str() {
        "startup" => startup::startup().map(|r| (r.to_table(), r.to_json())),
        "failover" => failover::failover().map(|r| (r.to_table(), r.to_json())),
        "transport" => transport::transport().map(|r| (r.to_table(), r.to_json())),
        "store" => store::store().map(|r| (r.to_table(), r.to_json())),
        "api" => api::api().map(|r| (r.to_table(), r.to_json())),
        "pod-start" => pod_start::pod_start().map(|r| (r.to_table(), r.to_json())),
        "network" => network::network().map(|r| (r.to_table(), r.to_json())),
        "scheduler" => scheduler::scheduler().map(|r| (r.to_table(), r.to_json())),
        _ => return usage(),
    };
    match outcome {
        Ok((table, object)) => {
            if json {
                println!("{object}");
            } else {
                print!("{table}");
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("bench: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn usage() -> ExitCode {
    eprintln!("{USAGE}");
    ExitCode::from(2)
}
