//! Pulls from Debian's docker-registry started here on 127.0.0.1: over plain HTTP when the
//! registry is listed for it, behind htpasswd basic auth, behind a bearer token service, and
//! over HTTPS with a CA of the test's own. Each pulled image must list and unpack like an
//! imported one; each refusal must name the registry's reason; a failed pull must leave the
//! store as it was.

mod registry;

use std::fs;
use std::future::Future;
use std::path::Path;

use base64::Engine;
use flotilla_images::{
    CaCertificates, ImageError, ImageStore, Platform, PullOptions, RegistryCredentials, download,
    pull,
};
use registry::token::TokenService;
use registry::{
    MARKER, Registry, Setup, busybox_layout, free_port, multi_platform_layout, tls_files,
};

fn block_on<F: Future>(future: F) -> F::Output {
    // The node agent's runtime has one thread: so has this one.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(future)
}

/// A test's directories: where the image is built, the registry's, and the store.
struct Dirs {
    _temp: tempfile::TempDir,
    build: std::path::PathBuf,
    registry: std::path::PathBuf,
    store: std::path::PathBuf,
}

fn dirs() -> Dirs {
    let temp = tempfile::tempdir().expect("a temporary directory");
    let [build, registry, store] = ["build", "registry", "store"].map(|name| {
        let dir = temp.path().join(name);
        fs::create_dir_all(&dir).expect("making a test directory");
        dir
    });
    Dirs {
        _temp: temp,
        build,
        registry,
        store,
    }
}

fn plain_http(registry: &Registry) -> PullOptions {
    PullOptions {
        plain_http: vec![registry.host.clone()],
        ..PullOptions::default()
    }
}

fn credentials(registry: &Registry, username: &str, password: &str) -> RegistryCredentials {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    let json = format!(
        r#"{{"auths": {{"{}": {{"auth": "{auth}"}}}}}}"#,
        registry.host
    );
    RegistryCredentials::from_docker_config(json.as_bytes()).expect("the test's Docker config")
}

/// The message of a pull that must fail as the registry or the network refused it.
fn refused(store: &Path, image: &str, options: &PullOptions) -> String {
    match block_on(pull(store, image, options)) {
        Err(error @ ImageError::Pull { .. }) => error.to_string(),
        other => panic!("pulling {image}: want a refusal, got {other:?}"),
    }
}

fn listed(store: &Path) -> Vec<String> {
    let store = ImageStore::open(store).expect("opening the store");
    let images = store.list().expect("listing the store");
    images
        .iter()
        .map(|image| image.reference.to_string())
        .collect()
}

/// Checks the image unpacks to busybox with the marker.
fn assert_unpacks(store: &Path, image: &str) {
    let store = ImageStore::open(store).expect("opening the store");
    let layers = store.unpack(image).expect("unpacking the image");
    let marker = layers
        .iter()
        .find_map(|layer| fs::read_to_string(layer.join("marker")).ok());
    assert_eq!(marker.as_deref(), Some(MARKER));
    assert!(
        layers
            .iter()
            .any(|layer| layer.join("bin/busybox").is_file())
    );
    let details = store.inspect(image).expect("inspecting the image");
    let config = details.config.config().clone().unwrap_or_default();
    assert_eq!(config.cmd().clone(), Some(vec!["sh".to_string()]));
}

#[test]
fn pulls_over_plain_http_only_from_a_registry_listed_for_it() {
    if !registry::ready("pulls_over_plain_http_only_from_a_registry_listed_for_it") {
        return;
    }
    let dirs = dirs();
    let layout = busybox_layout(&dirs.build);
    let registry = Registry::start(&dirs.registry, &Setup::default());
    registry.push(&layout, None);
    let image = registry.image();

    // HTTPS unless the registry is listed: this one speaks only HTTP.
    let error = refused(&dirs.store, &image, &PullOptions::default());
    assert!(
        error.starts_with(&format!("failed to pull {image:?}: ")) && error.contains("plain HTTP"),
        "{error}"
    );
    assert!(listed(&dirs.store).is_empty());

    let summary = block_on(pull(&dirs.store, &image, &plain_http(&registry))).unwrap();
    assert_eq!(summary.reference.to_string(), image);
    assert_eq!(listed(&dirs.store), vec![image.clone()]);
    assert_unpacks(&dirs.store, &image);

    // Again: the config and the layer are in the store, only the manifest is downloaded.
    let again = block_on(download(&dirs.store, &image, &plain_http(&registry))).unwrap();
    assert!(again.downloaded() < 4096, "{} bytes", again.downloaded());
    assert_eq!(again.digest(), &summary.digest);
    let recorded = ImageStore::open(&dirs.store)
        .unwrap()
        .record_pull(again)
        .unwrap();
    assert_eq!(recorded, summary);

    // A tag the registry does not have, and no registry at all.
    let missing_tag = format!("{}/library/busybox:9.99", registry.host);
    assert_eq!(
        refused(&dirs.store, &missing_tag, &plain_http(&registry)),
        format!("failed to pull {missing_tag:?}: manifest unknown")
    );
    let nowhere_host = format!("127.0.0.1:{}", free_port());
    let nowhere = format!("{nowhere_host}/library/busybox:1.35");
    let options = PullOptions {
        plain_http: vec![nowhere_host],
        ..PullOptions::default()
    };
    let error = refused(&dirs.store, &nowhere, &options);
    assert!(error.contains("Connection refused"), "{error}");

    // The failed pulls left the store as it was, and nothing of theirs behind.
    assert_eq!(listed(&dirs.store), vec![image]);
    assert_eq!(fs::read_dir(dirs.store.join("pulls")).unwrap().count(), 0);
}

#[test]
fn pulls_the_nodes_platform_from_a_multi_platform_image() {
    if !registry::ready("pulls_the_nodes_platform_from_a_multi_platform_image") {
        return;
    }
    let dirs = dirs();
    let layout = busybox_layout(&dirs.build);
    let (multi, arm64, amd64) = multi_platform_layout(&layout);
    let registry = Registry::start(&dirs.registry, &Setup::default());
    let image = format!("{}/library/busybox:multi", registry.host);
    registry.push_as(&multi, &image, None);

    let options = PullOptions {
        platform: Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
        },
        ..plain_http(&registry)
    };
    let summary = block_on(pull(&dirs.store, &image, &options)).expect("pulling the index");
    assert_ne!(summary.digest, amd64, "the name points to the index");
    assert_unpacks(&dirs.store, &image);
    // The index and the amd64 manifest are stored; the arm64 manifest is not.
    let blobs = dirs.store.join("blobs/sha256");
    assert!(blobs.join(summary.digest.hex()).is_file());
    assert!(blobs.join(amd64.hex()).is_file());
    assert!(!blobs.join(arm64.hex()).exists());

    let riscv = PullOptions {
        platform: Platform {
            architecture: "riscv64".into(),
            ..options.platform.clone()
        },
        ..plain_http(&registry)
    };
    assert_eq!(
        refused(&dirs.store, &image, &riscv),
        format!(
            "failed to pull {image:?}: no manifest for platform linux/riscv64 in the image's \
             index (it has linux/arm64, linux/amd64)"
        )
    );
}

#[test]
fn a_registry_with_htpasswd_refuses_anonymous_pulls_and_takes_basic_auth() {
    if !registry::ready("a_registry_with_htpasswd_refuses_anonymous_pulls_and_takes_basic_auth") {
        return;
    }
    let dirs = dirs();
    let layout = busybox_layout(&dirs.build);
    let htpasswd = dirs.registry.join("htpasswd");
    // Debian's registry reads bcrypt entries only; cost 4 keeps the test fast.
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    fs::write(&htpasswd, format!("alice:{hash}\n")).unwrap();
    let setup = Setup {
        htpasswd: Some(htpasswd),
        ..Setup::default()
    };
    let registry = Registry::start(&dirs.registry, &setup);
    registry.push(&layout, Some("alice:s3cret"));
    let image = registry.image();

    let error = refused(&dirs.store, &image, &plain_http(&registry));
    assert_eq!(
        error,
        format!(
            "failed to pull {image:?}: unauthorized: authentication required (no credentials \
             match the registry)"
        )
    );
    let wrong = PullOptions {
        credentials: credentials(&registry, "alice", "wrong"),
        ..plain_http(&registry)
    };
    let error = refused(&dirs.store, &image, &wrong);
    assert!(
        error.contains("unauthorized") && error.contains("\"alice\""),
        "{error}"
    );
    assert!(listed(&dirs.store).is_empty());

    let right = PullOptions {
        credentials: credentials(&registry, "alice", "s3cret"),
        ..plain_http(&registry)
    };
    block_on(pull(&dirs.store, &image, &right)).unwrap();
    assert_unpacks(&dirs.store, &image);
}

#[test]
fn a_registry_behind_a_token_service_takes_the_token_it_gave() {
    if !registry::ready("a_registry_behind_a_token_service_takes_the_token_it_gave") {
        return;
    }
    let dirs = dirs();
    let layout = busybox_layout(&dirs.build);
    let tokens = TokenService::start(&dirs.registry, "alice", "s3cret");
    let setup = Setup {
        token: Some(tokens.auth.clone()),
        ..Setup::default()
    };
    let registry = Registry::start(&dirs.registry, &setup);
    registry.push(&layout, Some("alice:s3cret"));
    let image = registry.image();

    let error = refused(&dirs.store, &image, &plain_http(&registry));
    assert!(
        error.starts_with(&format!(
            "failed to pull {image:?}: unauthorized: the token service refused"
        )),
        "{error}"
    );
    let right = PullOptions {
        credentials: credentials(&registry, "alice", "s3cret"),
        ..plain_http(&registry)
    };
    block_on(pull(&dirs.store, &image, &right)).unwrap_or_else(|error| {
        panic!("{error}\nregistry log:\n{}", registry.log());
    });
    assert_unpacks(&dirs.store, &image);
}

#[test]
fn pulls_over_https_from_a_registry_whose_ca_it_is_given() {
    if !registry::ready("pulls_over_https_from_a_registry_whose_ca_it_is_given") {
        return;
    }
    let dirs = dirs();
    let layout = busybox_layout(&dirs.build);
    let (ca, certificate, key) = tls_files(&dirs.registry);
    let setup = Setup {
        tls: Some((certificate, key)),
        ..Setup::default()
    };
    let registry = Registry::start(&dirs.registry, &setup);
    registry.push(&layout, None);
    let image = registry.image();

    let error = refused(&dirs.store, &image, &PullOptions::default());
    assert!(error.contains("certificate"), "{error}");
    let trusted = PullOptions {
        ca_certificates: vec![CaCertificates::File(ca.clone())],
        ..PullOptions::default()
    };
    block_on(pull(&dirs.store, &image, &trusted)).unwrap();
    assert_unpacks(&dirs.store, &image);
    // The bundle may come as bytes (from a ConfigMap, say) as well.
    let as_bytes = PullOptions {
        ca_certificates: vec![CaCertificates::Pem(fs::read(&ca).unwrap())],
        ..PullOptions::default()
    };
    block_on(pull(&dirs.store, &image, &as_bytes)).unwrap();
}
