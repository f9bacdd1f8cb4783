//! Test images built offline from Debian's busybox-static, as an operator builds an
//! air-gapped bundle: umoci makes an OCI layout holding `/bin/busybox` with a link for each of
//! its applets (as the official busybox image has), `CMD ["sh"]`, and a `/marker` file absent
//! from the host; skopeo writes it as an OCI archive and as a Docker archive.
//! (`cargo xtask test` installs umoci and skopeo.)

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

const BUSYBOX: &str = "/bin/busybox";
/// The name both archives give the image.
pub const BUSYBOX_IMAGE: &str = "docker.io/library/busybox:1.35";
/// What `/marker` in the image holds.
pub const MARKER: &str = "from the image\n";

/// The two archives of the busybox test image.
#[derive(Debug)]
pub struct BusyboxArchives {
    pub oci: PathBuf,
    pub docker: PathBuf,
}

/// Builds the busybox image in `dir` and writes both archives there.
pub fn busybox_archives(dir: &Path) -> Result<BusyboxArchives> {
    let layout = "layout:1.35";
    run(dir, "umoci", &["init", "--layout", "layout"])?;
    run(dir, "umoci", &["new", "--image", layout])?;
    run(
        dir,
        "umoci",
        &["unpack", "--rootless", "--image", layout, "bundle"],
    )?;
    let rootfs = dir.join("bundle/rootfs");
    fs::create_dir_all(rootfs.join("bin")).context("making the image's /bin")?;
    fs::copy(BUSYBOX, rootfs.join("bin/busybox"))
        .with_context(|| format!("copying {BUSYBOX} (Debian's busybox-static)"))?;
    let applets = Command::new(BUSYBOX)
        .arg("--list")
        .output()
        .with_context(|| format!("listing the applets of {BUSYBOX}"))?;
    for applet in String::from_utf8_lossy(&applets.stdout).lines() {
        if applet != "busybox" && !applet.contains('/') {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet))
                .with_context(|| format!("linking /bin/{applet}"))?;
        }
    }
    fs::write(rootfs.join("marker"), MARKER).context("writing the image's /marker")?;
    run(dir, "umoci", &["repack", "--image", layout, "bundle"])?;
    run(
        dir,
        "umoci",
        &[
            "config",
            "--image",
            layout,
            "--config.cmd",
            "sh",
            "--config.env",
            "PATH=/bin",
        ],
    )?;
    let archives = BusyboxArchives {
        oci: dir.join("busybox-oci.tar"),
        docker: dir.join("busybox-docker.tar"),
    };
    for (format, path) in [
        ("oci-archive", &archives.oci),
        ("docker-archive", &archives.docker),
    ] {
        let destination = format!("{format}:{}:{BUSYBOX_IMAGE}", path.display());
        run(dir, "skopeo", &["copy", "oci:layout:1.35", &destination])?;
    }
    Ok(archives)
}

fn run(dir: &Path, program: &str, args: &[&str]) -> Result<()> {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .with_context(|| format!("running {program} (install it: cargo xtask deps)"))?;
    if !output.status.success() {
        bail!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}
