//! Test images built offline from Debian's busybox-static, as an operator builds an
//! air-gapped bundle: umoci makes an OCI layout holding `/bin/busybox` with a link for each of
//! its applets (as the official busybox image has), `CMD ["sh"]`, and a `/marker` file absent
//! from the host; skopeo writes it as an OCI archive and as a Docker archive. The pause image
//! of containerd's pod sandboxes is built the same way, as an OCI archive.
//! (`cargo xtask test` installs umoci and skopeo.)

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

const BUSYBOX: &str = "/bin/busybox";
/// The name both archives give the image.
pub const BUSYBOX_IMAGE: &str = "docker.io/library/busybox:1.35";
/// The name the pause image's archive gives it (a registry host of its own, so no pull policy
/// ever looks for it on Docker Hub).
pub const PAUSE_IMAGE: &str = "flotilla.test/pause:1";
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
    let layout = busybox_layout(dir, "1.35", |rootfs| {
        fs::write(rootfs.join("marker"), MARKER).context("writing the image's /marker")
    })?;
    run(
        dir,
        "umoci",
        &[
            "config",
            "--image",
            &layout,
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
        run(
            dir,
            "skopeo",
            &["copy", &format!("oci:{layout}"), &destination],
        )?;
    }
    Ok(archives)
}

/// Builds, in `dir`, the pause image of pod sandboxes: busybox whose shell waits until SIGTERM
/// or SIGINT, then exits 0 (as PID 1 of a PID namespace it would ignore signals it has no
/// trap for); its OCI archive.
pub fn pause_archive(dir: &Path) -> Result<PathBuf> {
    let layout = busybox_layout(dir, "pause", |_| Ok(()))?;
    let script = r#"trap "exit 0" TERM INT; while :; do sleep 3600 & wait; done"#;
    run(
        dir,
        "umoci",
        &[
            "config",
            "--image",
            &layout,
            "--config.entrypoint",
            "/bin/sh",
            "--config.entrypoint=-c",
            "--config.entrypoint",
            script,
            "--config.env",
            "PATH=/bin",
        ],
    )?;
    let archive = dir.join("pause-oci.tar");
    let destination = format!("oci-archive:{}:{PAUSE_IMAGE}", archive.display());
    run(
        dir,
        "skopeo",
        &["copy", &format!("oci:{layout}"), &destination],
    )?;
    Ok(archive)
}

/// Makes image `layout:TAG` in `dir` holding busybox and its applet links, plus what `extra`
/// writes into the root; its `layout:TAG` reference.
fn busybox_layout(
    dir: &Path,
    tag: &str,
    extra: impl FnOnce(&Path) -> Result<()>,
) -> Result<String> {
    // Both images may share one layout (and its busybox blob).
    if !dir.join("layout").exists() {
        run(dir, "umoci", &["init", "--layout", "layout"])?;
    }
    let layout = format!("layout:{tag}");
    let bundle = format!("bundle-{tag}");
    run(dir, "umoci", &["new", "--image", &layout])?;
    run(
        dir,
        "umoci",
        &["unpack", "--rootless", "--image", &layout, &bundle],
    )?;
    let rootfs = dir.join(&bundle).join("rootfs");
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
    extra(&rootfs)?;
    run(dir, "umoci", &["repack", "--image", &layout, &bundle])?;
    Ok(layout)
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
