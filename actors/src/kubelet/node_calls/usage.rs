//! The agent's answer to `NodeRequest::Usage` (`flotilla top`): what the node and its running
//! containers use. Memory is read once; CPU is a rate, so the agent reads the CPU time its
//! cgroups and the node have used twice, [`SAMPLE_WINDOW`] apart, and divides. Nothing is kept
//! between calls: every `top` measures afresh, so there is no sampler to own or stop.
//!
//! The readings are file reads on the blocking pool, the wait a timer on the runtime; turning
//! two readings into the answer is the pure [`usage_between`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use flotilla_kernel::api::{
    AgentUsage, ApiError, ContainerUsage, ErrorCode, PodContainer, ResourceUsage, Response,
};
use flotilla_node_os::{CgroupUsage, ContainerState, NodeUsage, Runtime, read_node_usage};

use crate::kubelet::sync::container_id;

/// How far apart the two CPU readings are: long enough that the node's CPU time, counted in
/// clock ticks (usually 10 ms), reads to within a few percent of a core; short enough that
/// `flotilla top` answers at once.
pub(super) const SAMPLE_WINDOW: Duration = Duration::from_millis(500);

/// One reading of the node and of the running containers among those asked about.
#[derive(Debug, Clone)]
pub(super) struct Reading {
    pub(super) at: Instant,
    pub(super) node: NodeUsage,
    pub(super) containers: BTreeMap<PodContainer, CgroupUsage>,
}

/// Measures and sends one [`Response::AgentUsage`], or the error that prevented it.
pub(super) async fn serve(
    runtime: Arc<dyn Runtime>,
    proc_root: PathBuf,
    containers: Vec<PodContainer>,
    reply: mpsc::Sender<Response>,
) {
    let answer = match measure(runtime, proc_root, containers).await {
        Ok(usage) => Response::AgentUsage(usage),
        Err(message) => Response::Error(ApiError::new(ErrorCode::Internal, message)),
    };
    let _ = reply.send(answer).await;
}

async fn measure(
    runtime: Arc<dyn Runtime>,
    proc_root: PathBuf,
    containers: Vec<PodContainer>,
) -> Result<AgentUsage, String> {
    let containers = Arc::new(containers);
    let first = read(&runtime, &proc_root, &containers).await?;
    tokio::time::sleep(SAMPLE_WINDOW).await;
    let second = read(&runtime, &proc_root, &containers).await?;
    Ok(usage_between(&first, &second))
}

/// Reads the node and the containers on the blocking pool.
async fn read(
    runtime: &Arc<dyn Runtime>,
    proc_root: &Path,
    containers: &Arc<Vec<PodContainer>>,
) -> Result<Reading, String> {
    let (runtime, proc_root, containers) = (
        Arc::clone(runtime),
        proc_root.to_path_buf(),
        Arc::clone(containers),
    );
    tokio::task::spawn_blocking(move || read_now(runtime.as_ref(), &proc_root, &containers))
        .await
        .map_err(|error| format!("reading the node's usage: {error}"))?
}

/// Reads the node's usage and that of every container asked about that is running; a
/// container that cannot be read is left out (it may have just ended), the node must be.
fn read_now(
    runtime: &dyn Runtime,
    proc_root: &Path,
    containers: &[PodContainer],
) -> Result<Reading, String> {
    let at = Instant::now();
    let mut read = BTreeMap::new();
    for container in containers {
        let id = container_id(&container.pod_uid, &container.container);
        if !matches!(runtime.state(&id), Some(ContainerState::Running { .. })) {
            continue;
        }
        match runtime.usage(&id) {
            Ok(usage) => {
                read.insert(container.clone(), usage);
            }
            Err(error) => tracing::debug!(%id, %error, "no usage for a running container"),
        }
    }
    let node = read_node_usage(proc_root).map_err(|error| format!("{error:#}"))?;
    Ok(Reading {
        at,
        node,
        containers: read,
    })
}

/// What was used between two readings: CPU as the rate between them, memory as last read.
/// Only containers read both times are reported.
pub(super) fn usage_between(first: &Reading, second: &Reading) -> AgentUsage {
    let elapsed = second.at.saturating_duration_since(first.at);
    let usage = |before: u64, after: u64, memory_bytes: u64| ResourceUsage {
        cpu_millis: cpu_millis(before, after, elapsed),
        memory_bytes,
    };
    AgentUsage {
        node: usage(
            first.node.cpu_usage_nanos,
            second.node.cpu_usage_nanos,
            second.node.memory_bytes,
        ),
        containers: second
            .containers
            .iter()
            .filter_map(|(container, after)| {
                let before = first.containers.get(container)?;
                Some(ContainerUsage {
                    container: container.clone(),
                    usage: usage(
                        before.cpu_usage_nanos,
                        after.cpu_usage_nanos,
                        after.memory_bytes,
                    ),
                })
            })
            .collect(),
    }
}

/// CPU in millicores, from the CPU time used at two moments `elapsed` apart, in nanoseconds.
/// A counter that went back (a cgroup re-created in between) or no time at all is no usage.
pub(super) fn cpu_millis(before_nanos: u64, after_nanos: u64, elapsed: Duration) -> u64 {
    let used = u128::from(after_nanos.saturating_sub(before_nanos));
    let elapsed = elapsed.as_nanos();
    if elapsed == 0 {
        return 0;
    }
    u64::try_from(used * 1000 / elapsed).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(pod: &str, name: &str) -> PodContainer {
        PodContainer {
            pod_uid: pod.into(),
            container: name.into(),
        }
    }

    fn cgroup(cpu_usage_nanos: u64, memory_bytes: u64) -> CgroupUsage {
        CgroupUsage {
            cpu_usage_nanos,
            memory_bytes,
        }
    }

    #[test]
    fn cpu_is_time_used_over_time_passed() {
        let second = Duration::from_secs(1);
        assert_eq!(cpu_millis(0, 1_000_000_000, second), 1000);
        assert_eq!(cpu_millis(5_000_000, 17_000_000, second), 12);
        assert_eq!(cpu_millis(0, 250_000_000, Duration::from_millis(500)), 500);
        // Two cores busy.
        assert_eq!(cpu_millis(0, 400_000_000, Duration::from_millis(200)), 2000);
        assert_eq!(cpu_millis(10, 5, second), 0, "a counter that went back");
        assert_eq!(cpu_millis(0, 10, Duration::ZERO), 0);
        assert_eq!(cpu_millis(0, u64::MAX, Duration::from_nanos(1)), u64::MAX);
    }

    #[test]
    fn readings_become_rates_and_the_last_memory() {
        let at = Instant::now();
        let first = Reading {
            at,
            node: NodeUsage {
                cpu_usage_nanos: 1_000_000_000,
                memory_bytes: 1 << 30,
            },
            containers: BTreeMap::from([
                (container("p1", "app"), cgroup(100_000_000, 10 << 20)),
                (container("p1", "gone"), cgroup(0, 1 << 20)),
            ]),
        };
        let second = Reading {
            at: at + Duration::from_millis(500),
            node: NodeUsage {
                cpu_usage_nanos: 1_750_000_000,
                memory_bytes: 2 << 30,
            },
            containers: BTreeMap::from([
                (container("p1", "app"), cgroup(350_000_000, 12 << 20)),
                // Started between the readings: no rate yet.
                (container("p2", "new"), cgroup(5_000_000, 1 << 20)),
            ]),
        };
        let usage = usage_between(&first, &second);
        assert_eq!(
            usage.node,
            ResourceUsage {
                cpu_millis: 1500,
                memory_bytes: 2 << 30,
            }
        );
        assert_eq!(
            usage.containers,
            [ContainerUsage {
                container: container("p1", "app"),
                usage: ResourceUsage {
                    cpu_millis: 500,
                    memory_bytes: 12 << 20,
                },
            }]
        );
    }
}
