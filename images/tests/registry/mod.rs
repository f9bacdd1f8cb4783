//! What the pull tests run against: Debian's docker-registry (distribution 2.8) on 127.0.0.1,
//! configured here (plain HTTP or TLS, anonymous, htpasswd or token auth), holding the busybox
//! test image that umoci builds from Debian's busybox-static and skopeo pushes (as
//! `integration/src/test_images.rs` builds its archives).

use std::fs;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use flotilla_images::Digest;
use serde_json::{Value, json};

pub mod token;

const REGISTRY: &str = "docker-registry";
const BUSYBOX: &str = "/bin/busybox";
/// The repository and tag the image is pushed as.
pub const IMAGE: &str = "library/busybox:1.35";
/// What `/marker` in the image holds.
pub const MARKER: &str = "from the image\n";

/// Whether a test that starts a registry may go on: it needs root (unpacking keeps file
/// owners) and the programs; without them it skips, saying so, or fails under CI.
pub fn ready(test: &str) -> bool {
    if !flotilla_test_policy::root_or_skip(test) {
        return false;
    }
    let mut missing: Vec<&str> = [REGISTRY, "skopeo", "umoci"]
        .into_iter()
        .filter(|program| on_path(program).is_none())
        .collect();
    if !Path::new(BUSYBOX).is_file() {
        missing.push(BUSYBOX);
    }
    if missing.is_empty() {
        return true;
    }
    let reason = format!(
        "needs {} (apt-get install docker-registry skopeo umoci busybox-static)",
        missing.join(", ")
    );
    if flotilla_test_policy::ci_is_set(
        std::env::var_os(flotilla_test_policy::CI_VARIABLE).as_deref(),
    ) {
        panic!("{test} cannot run: {reason}; CI is set, so this is a failure, not a skip");
    }
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: {reason} (with CI set this fails)"
    );
    false
}

fn on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(program))
            .find(|candidate| candidate.is_file())
    })
}

/// How a registry is set up.
#[derive(Debug, Default)]
pub struct Setup {
    /// Serve HTTPS with this certificate and key (PEM files).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Require HTTP basic auth, checked against this htpasswd file.
    pub htpasswd: Option<PathBuf>,
    /// Require bearer tokens from this token service.
    pub token: Option<token::TokenAuth>,
}

/// A registry process, killed when dropped.
#[derive(Debug)]
pub struct Registry {
    child: Child,
    /// `127.0.0.1:PORT`, as image names write it.
    pub host: String,
    log: PathBuf,
}

impl Registry {
    /// Starts a registry storing its blobs in `dir`, and waits until it accepts connections.
    pub fn start(dir: &Path, setup: &Setup) -> Registry {
        let port = free_port();
        let host = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\n\
             log:\n  level: warn\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n\
             http:\n  addr: {host}\n",
            dir.join("storage").display()
        );
        if let Some((certificate, key)) = &setup.tls {
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                certificate.display(),
                key.display()
            ));
        }
        if let Some(htpasswd) = &setup.htpasswd {
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: flotilla-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        if let Some(token) = &setup.token {
            config.push_str(&token.registry_config());
        }
        let config_path = dir.join("config.yml");
        fs::write(&config_path, config).expect("writing the registry's config");
        let log = dir.join("registry.log");
        let output = fs::File::create(&log).expect("creating the registry's log");
        let child = Command::new(REGISTRY)
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(output.try_clone().expect("starting docker-registry"))
            .stderr(output)
            .spawn()
            .expect("sharing the log file");
        let mut registry = Registry { child, host, log };
        registry.wait_until_listening();
        registry
    }

    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(&self.host).is_err() {
            if let Some(status) = self.child.try_wait().expect("checking on docker-registry") {
                panic!("{REGISTRY} exited ({status}): {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "{REGISTRY} is not listening on {} after 20 s: {}",
                self.host,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `HOST/library/busybox:1.35`.
    pub fn image(&self) -> String {
        format!("{}/{IMAGE}", self.host)
    }

    /// Pushes the OCI layout `layout` (`DIR:TAG`) as [`IMAGE`], with `creds` (`USER:PASSWORD`)
    /// if given; TLS is not verified (the test checks its own client, not skopeo).
    pub fn push(&self, layout: &str, creds: Option<&str>) {
        self.push_as(layout, &self.image(), creds);
    }

    /// Pushes `layout` (`DIR:TAG`, an image or an index with all its images) as `image`.
    pub fn push_as(&self, layout: &str, image: &str, creds: Option<&str>) {
        let source = format!("oci:{layout}");
        let destination = format!("docker://{image}");
        let mut args = vec!["copy", "--all", "--dest-tls-verify=false"];
        if let Some(creds) = creds {
            args.extend(["--dest-creds", creds]);
        }
        args.extend([source.as_str(), destination.as_str()]);
        run(Path::new("/"), "skopeo", &args);
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on now (the registry takes it a moment later).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("binding a free port")
        .local_addr()
        .expect("the free port's address")
        .port()
}

/// Builds the busybox image as an OCI layout in `dir`; returns `DIR/layout:1.35` for skopeo.
pub fn busybox_layout(dir: &Path) -> String {
    let layout = "layout:1.35";
    run(dir, "umoci", &["init", "--layout", "layout"]);
    run(dir, "umoci", &["new", "--image", layout]);
    run(
        dir,
        "umoci",
        &["unpack", "--rootless", "--image", layout, "bundle"],
    );
    let rootfs = dir.join("bundle/rootfs");
    fs::create_dir_all(rootfs.join("bin")).expect("making the image's /bin");
    fs::copy(BUSYBOX, rootfs.join("bin/busybox")).expect("copying busybox");
    let applets = Command::new(BUSYBOX)
        .arg("--list")
        .output()
        .expect("listing busybox's applets");
    for applet in String::from_utf8_lossy(&applets.stdout).lines() {
        if applet != "busybox" && !applet.contains('/') {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet))
                .expect("linking an applet");
        }
    }
    fs::write(rootfs.join("marker"), MARKER).expect("writing the marker");
    run(dir, "umoci", &["repack", "--image", layout, "bundle"]);
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
    );
    format!("{}/{layout}", dir.display())
}

fn run(dir: &Path, program: &str, args: &[&str]) {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|error| panic!("running {program}: {error}"));
    assert!(
        output.status.success(),
        "{program} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr).trim()
    );
}

/// Adds to the busybox layout (`DIR/layout:1.35`, from [`busybox_layout`]) an index tagged
/// `multi` that lists a linux/arm64 manifest first and the linux/amd64 one second (the arm64
/// one is the amd64 one with an annotation: the registry does not look inside). Returns
/// `DIR/layout:multi` and the digests of the (arm64, amd64) manifests.
pub fn multi_platform_layout(layout: &str) -> (String, Digest, Digest) {
    let dir = Path::new(layout.trim_end_matches(":1.35"));
    let index_path = dir.join("index.json");
    let mut index: Value =
        serde_json::from_slice(&fs::read(&index_path).expect("reading index.json"))
            .expect("index.json is JSON");
    let amd64 = index["manifests"][0].clone();
    let amd64_digest = Digest::parse(amd64["digest"].as_str().expect("a digest")).expect("sha256");
    let blob = |digest: &Digest| dir.join("blobs/sha256").join(digest.hex());
    let mut manifest: Value =
        serde_json::from_slice(&fs::read(blob(&amd64_digest)).expect("reading the manifest"))
            .expect("the manifest is JSON");
    manifest["annotations"] = json!({"flotilla.test/platform": "arm64"});
    let arm64_bytes = serde_json::to_vec(&manifest).expect("serializing");
    let arm64_digest = Digest::of(&arm64_bytes);
    fs::write(blob(&arm64_digest), &arm64_bytes).expect("writing the arm64 manifest");
    let entry = |digest: &Digest, size: usize, architecture: &str| {
        json!({"mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest.to_string(), "size": size,
            "platform": {"os": "linux", "architecture": architecture}})
    };
    let amd64_size = amd64["size"].as_u64().expect("a size") as usize;
    let nested = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            entry(&arm64_digest, arm64_bytes.len(), "arm64"),
            entry(&amd64_digest, amd64_size, "amd64"),
        ],
    }))
    .expect("serializing");
    let nested_digest = Digest::of(&nested);
    fs::write(blob(&nested_digest), &nested).expect("writing the index");
    index["manifests"]
        .as_array_mut()
        .expect("manifests")
        .push(json!({
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": nested_digest.to_string(), "size": nested.len(),
            "annotations": {"org.opencontainers.image.ref.name": "multi"},
        }));
    fs::write(
        &index_path,
        serde_json::to_vec(&index).expect("serializing"),
    )
    .expect("writing index.json");
    (
        format!("{}:multi", dir.display()),
        arm64_digest,
        amd64_digest,
    )
}

/// A CA and a certificate it signed for 127.0.0.1, as PEM files in `dir`:
/// (CA certificate, server certificate, server key).
pub fn tls_files(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let ca_key = rcgen::KeyPair::generate().expect("a CA key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "flotilla test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("the CA certificate");
    let server_key = rcgen::KeyPair::generate().expect("a server key");
    let server = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .expect("server parameters")
        .signed_by(&server_key, &ca)
        .expect("the server certificate");
    let paths = (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    );
    fs::write(&paths.0, ca.pem()).expect("writing ca.pem");
    fs::write(&paths.1, server.pem()).expect("writing server.pem");
    fs::write(&paths.2, server_key.serialize_pem()).expect("writing server.key");
    paths
}
