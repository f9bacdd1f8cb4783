//! `flotilla get pods --watch -o json` in the background, to time pods: a thread reads its
//! lines as they come and passes on, with the instant each was read, which pod it showed and
//! whether that pod was Running.

use std::io::{BufRead, BufReader};
use std::process::Child;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use flotilla_integration::{Client, objects};
use serde_json::Value;

/// `flotilla get pods --watch -o json` in the background, and the times at which it printed
/// each pod.
pub struct RunningWatch {
    child: Child,
    events: Receiver<Seen>,
}

/// One pod as the watch printed it.
struct Seen {
    name: String,
    running: bool,
    at: Instant,
}

impl RunningWatch {
    /// Starts the watch of the pods of `namespace`.
    pub fn start(client: &Client, namespace: &str) -> Result<Self> {
        let mut child =
            client.spawn_piped(&["get", "pods", "-n", namespace, "--watch", "-o", "json"])?;
        let stdout = child.stdout.take().context("the watch has no stdout")?;
        let (sender, events) = mpsc::channel();
        // Ends when the watch's stdout closes, or when nobody listens any more.
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let at = Instant::now();
                let Ok(line) = line else { return };
                let Ok(event) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                let pod = &event["object"];
                let seen = Seen {
                    name: objects::name(pod).to_owned(),
                    running: objects::is_running(pod),
                    at,
                };
                if sender.send(seen).is_err() {
                    return;
                }
            }
        });
        Ok(Self { child, events })
    }

    /// Waits until the watch prints pod `name` (Running, if `running`); returns the time from
    /// `since` to that line.
    pub fn wait_for(
        &self,
        name: &str,
        running: bool,
        since: Instant,
        limit: Duration,
    ) -> Result<Duration> {
        let deadline = since + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(seen) if seen.name == name && (seen.running || !running) => {
                    return Ok(seen.at.saturating_duration_since(since));
                }
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    bail!("the watch did not show pod {name} within {limit:?}")
                }
                Err(RecvTimeoutError::Disconnected) => bail!("the pod watch ended"),
            }
        }
    }
}

impl Drop for RunningWatch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
