//! `flotilla image`: the image store of the node on this machine, as `ctr images` works on
//! containerd's: import archives (an air-gapped install), list, inspect and remove images.
//! It opens the store directly (`DATA_DIR/images`), waiting while another process holds it.
//! An import with `--node` or `--all-nodes` goes to other nodes' stores through the API
//! instead ([`fleet`]).

mod fleet;

use std::fs::File;
use std::io::{self, IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use flotilla_images::{ImageDetails, ImageStore, ImageSummary};

use crate::cli::{Table, print, report};
use crate::config::{self, ClientConfig};
use crate::store::print::mib;

/// The data dir of `flotilla up`; a joined node's is `/var/lib/flotilla-node`.
const DEFAULT_DATA_DIR: &str = "/var/lib/flotilla";
/// Hex digits of a digest `image ls` shows, as crictl shows image ids.
const SHORT_DIGEST: usize = 12;

#[derive(Debug, clap::Args)]
pub struct ImageArgs {
    /// The node's data dir; its images are in DATA_DIR/images.
    #[arg(long, global = true, default_value = DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: ImageCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ImageCommand {
    /// Import every image of an OCI archive or a Docker archive (a file, or - for stdin).
    Import {
        file: PathBuf,
        /// The repository for images the archive names only by a tag (REPOSITORY:TAG).
        #[arg(long)]
        base_name: Option<String>,
        /// Import into this node's store, through the API (uses the client config);
        /// repeatable.
        #[arg(long = "node", value_name = "NAME")]
        nodes: Vec<String>,
        /// Import into the store of every node, through the API.
        #[arg(long, conflicts_with = "nodes")]
        all_nodes: bool,
    },
    /// List images: repository, tag, digest, size.
    #[command(alias = "list")]
    Ls,
    /// Show an image's manifest and config as JSON.
    Inspect { name: String },
    /// Remove images by name; blobs no other image uses go too.
    #[command(alias = "remove")]
    Rm {
        #[arg(required = true)]
        names: Vec<String>,
    },
}

pub async fn run(args: ImageArgs, config: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    if let ImageCommand::Import {
        file,
        base_name,
        nodes,
        all_nodes,
    } = &args.command
        && (*all_nodes || !nodes.is_empty())
    {
        let targets = if *all_nodes {
            fleet::Targets::All
        } else {
            fleet::Targets::Named(nodes.clone())
        };
        let outcome = async {
            let api = ClientConfig::load(&config::resolve(config)?)?.connect()?;
            let imported = fleet::import(&api, file, base_name.clone(), targets).await;
            api.close().await;
            imported
        };
        return report(outcome.await);
    }
    report(execute(args))
}

fn execute(args: ImageArgs) -> anyhow::Result<ExitCode> {
    let root = args.data_dir.join("images");
    // An import may fill the store before the node first starts (an air-gapped install); the
    // other commands read a store that exists.
    if !matches!(args.command, ImageCommand::Import { .. }) && !root.is_dir() {
        anyhow::bail!(
            "no image store at {}: not a node's data dir (--data-dir), or nothing imported yet",
            root.display()
        );
    }
    let mut store = ImageStore::open(&root)
        .with_context(|| format!("opening the image store {}", root.display()))?;
    match args.command {
        ImageCommand::Import {
            file, base_name, ..
        } => {
            let imported = import(&mut store, &file, base_name.as_deref())?;
            print(&imported.iter().map(imported_line).collect::<String>())?;
        }
        ImageCommand::Ls => print(&list_table(&store.list()?))?,
        ImageCommand::Inspect { name } => print(&inspect_json(&store.inspect(&name)?)?)?,
        ImageCommand::Rm { names } => {
            let mut failed = false;
            for name in names {
                match store.remove(&name) {
                    Ok(removed) => print(&format!("Deleted: {}\n", removed.reference))?,
                    Err(error) => {
                        failed = true;
                        eprintln!("error: {error}");
                    }
                }
            }
            return Ok(if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn import(
    store: &mut ImageStore,
    file: &Path,
    base_name: Option<&str>,
) -> anyhow::Result<Vec<ImageSummary>> {
    let what = file.display();
    let mut input: Box<dyn Read> = if file == Path::new("-") {
        Box::new(io::stdin().lock())
    } else {
        let opened = File::open(file).with_context(|| format!("opening {what}"))?;
        let size = opened.metadata().map(|m| m.len()).unwrap_or(0);
        let reader = io::BufReader::with_capacity(1 << 20, opened);
        if io::stderr().is_terminal() {
            Box::new(progress(size).wrap_read(reader))
        } else {
            Box::new(reader)
        }
    };
    store
        .import(&mut input, base_name)
        .with_context(|| format!("importing {what}"))
}

fn progress(size: u64) -> ProgressBar {
    let bar = ProgressBar::new(size);
    if let Ok(style) =
        ProgressStyle::with_template("{bar:30} {bytes}/{total_bytes} {bytes_per_sec} {wide_msg}")
    {
        bar.set_style(style);
    }
    bar
}

fn imported_line(image: &ImageSummary) -> String {
    format!(
        "imported {} ({}, {})\n",
        image.reference,
        image.digest,
        mib(image.size)
    )
}

fn list_table(images: &[ImageSummary]) -> String {
    let mut table = Table::new(["REPOSITORY", "TAG", "DIGEST", "SIZE"]);
    for image in images {
        let reference = &image.reference;
        table.push(vec![
            reference.name(),
            reference.tag.clone().unwrap_or_else(|| "<none>".into()),
            image.digest.hex()[..SHORT_DIGEST].to_string(),
            mib(image.size),
        ]);
    }
    table.render()
}

fn inspect_json(details: &ImageDetails) -> anyhow::Result<String> {
    let value = json!({
        "name": details.summary.reference.to_string(),
        "digest": details.summary.digest.to_string(),
        "size": details.summary.size,
        "manifest": details.manifest,
        "config": details.config,
    });
    Ok(serde_json::to_string_pretty(&value)? + "\n")
}

#[cfg(test)]
mod tests {
    use flotilla_images::Digest;
    use flotilla_images::reference::Reference;

    use super::*;

    fn summary(name: &str, size: u64) -> ImageSummary {
        ImageSummary {
            reference: Reference::parse(name).unwrap(),
            digest: Digest::of(name.as_bytes()),
            size,
        }
    }

    #[test]
    fn ls_shows_repository_tag_short_digest_and_size() {
        let table = list_table(&[summary("busybox:1.35", 1_091_072)]);
        let digest = Digest::of(b"busybox:1.35");
        let digest = &digest.hex()[..12];
        assert_eq!(
            table,
            format!(
                "REPOSITORY                  TAG    DIGEST         SIZE\n\
                 docker.io/library/busybox   1.35   {digest}   1.0 MiB\n"
            )
        );
    }

    #[test]
    fn an_import_names_each_image_with_its_digest() {
        let line = imported_line(&summary("team/app:1", 2 << 20));
        assert_eq!(
            line,
            format!(
                "imported docker.io/team/app:1 ({}, 2.0 MiB)\n",
                Digest::of(b"team/app:1")
            )
        );
    }
}
