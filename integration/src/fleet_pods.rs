//! What the network tests and benchmarks ask of a [`Fleet`]'s pods and nodes: the busybox
//! image on every node, a pod's address once it runs, a node's pod range, a command's output
//! in a node's host or in a pod.

use std::net::Ipv4Addr;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use ipnet::Ipv4Net;
use serde_json::Value;

use crate::fleet::Fleet;
use crate::test_images::busybox_archives;
use crate::wait::{Observation, poll_until};

const POLL: Duration = Duration::from_millis(200);
/// How long a command in a node's host may take.
const HOST_COMMAND_LIMIT: Duration = Duration::from_secs(10);

impl Fleet {
    /// Builds the busybox test image and imports it on every node.
    pub fn import_busybox(&self) -> Result<()> {
        let images = tempfile::Builder::new()
            .prefix("flotilla-fleet-image-")
            .tempdir()
            .context("a directory for the test image")?;
        let archives = busybox_archives(images.path())?;
        let archive = archives.oci.display().to_string();
        self.cli(&["image", "import", &archive, "--all-nodes"])?;
        Ok(())
    }

    /// The object the CLI prints for `args` with `-o json`.
    pub fn json(&self, args: &[&str]) -> Result<Value> {
        let mut args = args.to_vec();
        args.extend(["-o", "json"]);
        serde_json::from_str(&self.cli(&args)?).context("the CLI's JSON")
    }

    /// Pod `name`'s IP once it runs, waiting at most `limit`.
    pub fn running_pod_ip(&self, name: &str, limit: Duration) -> Result<Ipv4Addr> {
        let mut ip = None;
        poll_until(limit, POLL, || {
            let pod = self.json(&["get", "pod", name])?;
            ip = pod["status"]["podIP"]
                .as_str()
                .and_then(|ip| ip.parse().ok());
            Ok(match ip {
                Some(_) if pod["status"]["phase"] == "Running" => Observation::Done,
                _ => Observation::Waiting(format!("pod {name}: {}", pod["status"])),
            })
        })?;
        ip.context("a pod IP")
    }

    /// The pod range the IPAM controller gave node `node`.
    pub fn pod_range(&self, node: &str) -> Result<Ipv4Net> {
        let node = self.json(&["get", "node", node])?;
        let range = node["spec"]["podCIDR"].as_str().context("a podCIDR")?;
        range.parse().with_context(|| format!("podCIDR {range:?}"))
    }

    /// What `argv` prints in the host of node `nN`; fails with its stderr.
    pub fn in_node_host(&self, index: usize, argv: &[&str]) -> Result<String> {
        let out = self
            .hosts
            .run_in(self.node_host(index)?, argv, HOST_COMMAND_LIMIT)?;
        if !out.status.success() {
            bail!("{argv:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// What `argv` prints in pod `pod` once it succeeds, tried for at most `limit` (routes and
    /// rules settle as nodes join).
    pub fn exec_until_ok(&self, pod: &str, argv: &[&str], limit: Duration) -> Result<String> {
        let mut args = vec!["exec", pod, "--"];
        args.extend_from_slice(argv);
        let mut output = String::new();
        poll_until(limit, POLL, || match self.cli(&args) {
            Ok(out) => {
                output = out;
                Ok(Observation::Done)
            }
            Err(error) => Ok(Observation::Waiting(error.to_string())),
        })?;
        Ok(output)
    }
}
