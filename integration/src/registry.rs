//! A local OCI registry for the pull tests: Debian's docker-registry on 127.0.0.1, plain HTTP,
//! anonymous or with htpasswd (bcrypt) basic auth, killed when dropped; images go in with
//! skopeo, as an operator pushes them.

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// A registry process.
#[derive(Debug)]
pub struct Registry {
    child: Child,
    /// `127.0.0.1:PORT`, as image names write it.
    pub host: String,
    /// `USER:PASSWORD` it requires, if any.
    pub credentials: Option<String>,
}

impl Registry {
    /// Starts a registry keeping its data in `dir`, requiring `credentials` (`USER:PASSWORD`)
    /// if given, and waits until it accepts connections.
    pub fn start(dir: &Path, credentials: Option<&str>) -> Result<Registry> {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let host = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {host}\n",
            dir.join("storage").display()
        );
        if let Some(credentials) = credentials {
            let (user, password) = credentials
                .split_once(':')
                .context("credentials are USER:PASSWORD")?;
            let hash = bcrypt::hash(password, 4).context("hashing the password")?;
            let htpasswd = dir.join("htpasswd");
            fs::write(&htpasswd, format!("{user}:{hash}\n"))?;
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: flotilla-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        let config_path = dir.join("config.yml");
        fs::write(&config_path, config)?;
        let log = fs::File::create(dir.join("registry.log"))?;
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting docker-registry (install it: cargo xtask deps)")?;
        let mut registry = Registry {
            child,
            host,
            credentials: credentials.map(str::to_string),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(&registry.host).is_err() {
            if let Some(status) = registry.child.try_wait()? {
                bail!(
                    "docker-registry exited ({status}): {}",
                    fs::read_to_string(dir.join("registry.log")).unwrap_or_default()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "docker-registry is not listening on {} after 20 s",
                    registry.host
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(registry)
    }

    /// Pushes the image of the OCI archive `archive` as `REPOSITORY:TAG` here; its full name.
    pub fn push(&self, archive: &Path, repository_tag: &str) -> Result<String> {
        let image = format!("{}/{repository_tag}", self.host);
        let mut command = Command::new("skopeo");
        command.args(["copy", "--dest-tls-verify=false"]);
        if let Some(credentials) = &self.credentials {
            command.args(["--dest-creds", credentials]);
        }
        let output = command
            .arg(format!("oci-archive:{}", archive.display()))
            .arg(format!("docker://{image}"))
            .output()
            .context("running skopeo")?;
        if !output.status.success() {
            bail!(
                "skopeo copy to {image}: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(image)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
