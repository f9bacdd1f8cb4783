//! `flotilla image import FILE --node NAME | --all-nodes`: the archive goes into the chosen
//! nodes' image stores through the API, streamed over QUIC to each node's agent (as k3s's image
//! tarballs do for an air-gapped install, but for a whole fleet from one machine), a few nodes
//! at a time, each upload with a progress bar. Each node imports every image of the archive or
//! none; a node that fails is named, and the others go on.

use std::fs::File;
use std::io::{self, IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use flotilla_kernel::api::{ApiClient, ClientError, ImportedImage, Input, Request, Response};
use flotilla_kernel::object::Node;

use super::progress;
use crate::cli::print;
use crate::store::print::mib;

/// Uploads at a time: enough to fill a link, few enough not to swamp the API server.
const CONCURRENT_UPLOADS: usize = 4;
/// Bytes of the archive per frame.
const CHUNK: usize = 256 * 1024;
/// Frames queued ahead of the network.
const QUEUED_CHUNKS: usize = 8;

/// Which nodes get the archive.
pub enum Targets {
    Named(Vec<String>),
    All,
}

/// Imports `file` (or `-`, standard input, for one node) into the `targets`' stores.
pub async fn import(
    api: &ApiClient,
    file: &Path,
    base_name: Option<String>,
    targets: Targets,
) -> anyhow::Result<ExitCode> {
    let nodes = match targets {
        Targets::Named(nodes) => nodes,
        Targets::All => {
            let (nodes, _) = api.list::<Node>(None, None).await?;
            nodes.into_iter().map(|node| node.metadata.name).collect()
        }
    };
    if nodes.is_empty() {
        anyhow::bail!("there are no nodes to import into");
    }
    let stdin = file == Path::new("-");
    if stdin && nodes.len() > 1 {
        anyhow::bail!(
            "standard input can be sent to one node only; give the archive as a file for {} nodes",
            nodes.len()
        );
    }
    let size = if stdin {
        0
    } else {
        std::fs::metadata(file)
            .with_context(|| format!("opening {}", file.display()))?
            .len()
    };
    let bars = MultiProgress::with_draw_target(if io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    let slots = Arc::new(Semaphore::new(CONCURRENT_UPLOADS));
    let mut uploads = JoinSet::new();
    for node in nodes {
        let bar = bars.add(progress(size));
        bar.set_message(node.clone());
        let upload = Upload {
            api: api.clone(),
            node,
            source: (!stdin).then(|| file.to_path_buf()),
            base_name: base_name.clone(),
            bar,
        };
        let slots = Arc::clone(&slots);
        uploads.spawn(async move {
            let _slot = slots.acquire_owned().await;
            let node = upload.node.clone();
            (node, upload.run().await)
        });
    }
    let mut failed = false;
    let mut report = String::new();
    while let Some(done) = uploads.join_next().await {
        let (node, outcome) = done.context("an upload's task failed")?;
        match outcome {
            Ok(images) => {
                for image in images {
                    report.push_str(&imported_line(&image, &node));
                }
            }
            Err(error) => {
                failed = true;
                bars.suspend(|| eprintln!("error: node {node}: {error:#}"));
            }
        }
    }
    print(&report)?;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn imported_line(image: &ImportedImage, node: &str) -> String {
    format!(
        "imported {} ({}, {}) on node {node}\n",
        image.name,
        image.digest,
        mib(image.size)
    )
}

/// One node's copy of the archive.
struct Upload {
    api: ApiClient,
    node: String,
    /// The archive's file; `None` for standard input.
    source: Option<PathBuf>,
    base_name: Option<String>,
    bar: ProgressBar,
}

impl Upload {
    async fn run(self) -> anyhow::Result<Vec<ImportedImage>> {
        let (inputs, received) = mpsc::channel(QUEUED_CHUNKS);
        let reading = tokio::task::spawn_blocking({
            let source = self.source.clone();
            let bar = self.bar.clone();
            move || send_archive(source.as_deref(), &inputs, &bar)
        });
        let request = Request::ImportImages {
            node: self.node.clone(),
            base_name: self.base_name,
        };
        let mut answers = self.api.stream_with_inputs(request, received).await?;
        let answer = answers.recv().await;
        // A local read error explains a cut-short upload better than the node can.
        reading.await.context("reading the archive")??;
        self.bar.finish_and_clear();
        match answer {
            Some(Ok(Response::ImagesImported(images))) => Ok(images),
            Some(Ok(Response::Error(error))) => Err(ClientError::Api(error).into()),
            Some(Ok(other)) => Err(ClientError::Unexpected {
                call: "image import",
                got: other.kind_name(),
            }
            .into()),
            Some(Err(error)) => Err(error.into()),
            None => Err(ClientError::NoAnswer.into()),
        }
    }
}

/// Sends the archive as data frames, then its end; stops early when the node stops reading.
fn send_archive(
    source: Option<&Path>,
    inputs: &mpsc::Sender<Input>,
    bar: &ProgressBar,
) -> anyhow::Result<()> {
    let mut archive: Box<dyn Read> = match source {
        Some(path) => {
            Box::new(File::open(path).with_context(|| format!("opening {}", path.display()))?)
        }
        None => Box::new(io::stdin().lock()),
    };
    let mut chunk = vec![0; CHUNK];
    loop {
        let read = archive.read(&mut chunk).context("reading the archive")?;
        let input = if read == 0 {
            Input::End
        } else {
            Input::Data(chunk[..read].to_vec())
        };
        if inputs.blocking_send(input).is_err() || read == 0 {
            return Ok(());
        }
        bar.inc(read as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_image_is_named_with_its_node() {
        let line = imported_line(
            &ImportedImage {
                name: "docker.io/library/busybox:1.35".into(),
                digest: "sha256:abc".into(),
                size: 2 << 20,
            },
            "n2",
        );
        assert_eq!(
            line,
            "imported docker.io/library/busybox:1.35 (sha256:abc, 2.0 MiB) on node n2\n"
        );
    }
}
