use std::fs;
use std::os::unix::fs::PermissionsExt;

use super::*;

/// A fake plug-in: logs its command, container id, name and input to `calls.log` beside it,
/// then prints `answer` for ADD (and exits with `status`).
fn plugin(dir: &Path, name: &str, answer: &str, status: i32) {
    let script = format!(
        "#!/bin/sh\ninput=$(cat)\necho \"$CNI_COMMAND $CNI_CONTAINERID $CNI_IFNAME {name} $input\" >> \"$(dirname \"$0\")/calls.log\"\n\
         if [ \"$CNI_COMMAND\" = ADD ] || [ {status} -ne 0 ]; then echo '{answer}'; fi\nexit {status}\n"
    );
    let path = dir.join(name);
    fs::write(&path, script).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
}

fn calls(bin: &Path) -> Vec<String> {
    fs::read_to_string(bin.join("calls.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

struct Setup {
    _root: tempfile::TempDir,
    cni: Cni,
    bin: PathBuf,
}

fn setup(plugins: &[&str]) -> Setup {
    let root = tempfile::tempdir().unwrap();
    let bin = root.path().join("bin");
    fs::create_dir_all(&bin).unwrap();
    let conf = root.path().join("net.d");
    fs::create_dir_all(&conf).unwrap();
    let plugins: Vec<Value> = plugins
        .iter()
        .map(|kind| {
            if *kind == "ports" {
                serde_json::json!({"type": kind, "capabilities": {"portMappings": true}})
            } else {
                serde_json::json!({"type": kind})
            }
        })
        .collect();
    let list = serde_json::json!({"cniVersion": "1.0.0", "name": "test", "plugins": plugins});
    fs::write(conf.join("10-test.conflist"), list.to_string()).unwrap();
    let cni = Cni {
        conf_dir: conf,
        bin_dirs: vec![root.path().join("missing"), bin.clone()],
        cache_dir: root.path().join("cache"),
    };
    Setup {
        _root: root,
        cni,
        bin,
    }
}

fn attachment(id: &str) -> Attachment {
    Attachment {
        id: id.into(),
        netns: PathBuf::from("/run/netns/test"),
        ifname: "eth0".into(),
        pod_namespace: "default".into(),
        pod_name: "web".into(),
        port_mappings: vec![PortMapping {
            host_port: 8080,
            container_port: 80,
            protocol: "tcp".into(),
            host_ip: String::new(),
        }],
    }
}

const FIRST: &str = r#"{"cniVersion":"1.0.0","ips":[{"address":"10.42.1.7/24"}]}"#;
const SECOND: &str =
    r#"{"cniVersion":"1.0.0","ips":[{"address":"10.42.1.7/24"},{"address":"fd00::7/64"}]}"#;

#[tokio::test]
async fn add_chains_the_plugins_and_del_undoes_them_in_reverse() {
    let s = setup(&["first", "ports"]);
    plugin(&s.bin, "first", FIRST, 0);
    plugin(&s.bin, "ports", SECOND, 0);
    let ips = s.cni.add(&attachment("uid-1")).await.unwrap();
    assert_eq!(
        ips,
        [
            "10.42.1.7".parse::<IpAddr>().unwrap(),
            "fd00::7".parse().unwrap()
        ]
    );
    assert_eq!(s.cni.addresses("uid-1"), ips);
    assert_eq!(s.cni.attached(), ["uid-1"]);
    let log = calls(&s.bin);
    assert!(log[0].starts_with("ADD uid-1 eth0 first {"), "{log:?}");
    assert!(!log[0].contains("prevResult"), "{log:?}");
    assert!(!log[0].contains("portMappings"), "{log:?}");
    // The second plug-in gets the first's result and the capability it asked for.
    assert!(log[1].starts_with("ADD uid-1 eth0 ports {"), "{log:?}");
    assert!(log[1].contains(r#""prevResult":{"#), "{log:?}");
    assert!(log[1].contains(r#""runtimeConfig":{"portMappings":[{"containerPort":80,"hostPort":8080,"protocol":"tcp"}]}"#), "{log:?}");
    assert!(log[1].contains(r#""name":"test""#), "{log:?}");

    s.cni.check("uid-1").await.unwrap();
    s.cni.del("uid-1").await.unwrap();
    let log = calls(&s.bin);
    let commands: Vec<String> = log
        .iter()
        .map(|line| line.splitn(5, ' ').take(4).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        commands,
        [
            "ADD uid-1 eth0 first",
            "ADD uid-1 eth0 ports",
            "CHECK uid-1 eth0 first",
            "CHECK uid-1 eth0 ports",
            "DEL uid-1 eth0 ports",
            "DEL uid-1 eth0 first",
        ]
    );
    assert!(s.cni.attached().is_empty());
    assert!(s.cni.addresses("uid-1").is_empty());
    // Nothing recorded: nothing to do.
    s.cni.del("uid-1").await.unwrap();
}

#[tokio::test]
async fn a_failed_add_says_why_and_can_still_be_deleted() {
    let s = setup(&["first", "broken"]);
    plugin(&s.bin, "first", FIRST, 0);
    plugin(
        &s.bin,
        "broken",
        r#"{"cniVersion":"1.0.0","code":11,"msg":"no address left","details":"range full"}"#,
        1,
    );
    let error = s.cni.add(&attachment("uid-2")).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "CNI plug-in broken ADD failed: no address left (range full) [code 11]"
    );
    // The half-made attachment is recorded, so DEL reaches every plug-in.
    assert_eq!(s.cni.attached(), ["uid-2"]);
    assert!(s.cni.addresses("uid-2").is_empty());
    plugin(&s.bin, "broken", "{}", 0);
    s.cni.del("uid-2").await.unwrap();
    assert!(s.cni.attached().is_empty());
}

#[tokio::test]
async fn missing_plugins_configs_and_bad_ids_are_named() {
    let s = setup(&["absent"]);
    let error = s.cni.add(&attachment("uid-3")).await.unwrap_err();
    let message = error.to_string();
    assert!(
        message.starts_with("CNI plug-in \"absent\" not found in "),
        "{message}"
    );
    assert!(message.contains("/missing:"), "{message}");

    let error = s.cni.add(&attachment("../escape")).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "\"../escape\" is not a valid container id"
    );

    fs::remove_file(s.cni.conf_dir.join("10-test.conflist")).unwrap();
    let error = s.cni.add(&attachment("uid-4")).await.unwrap_err();
    assert!(matches!(error, CniError::NoConfig { .. }), "{error}");
    assert!(s.cni.attached().contains(&"uid-3".to_string()));
    assert!(!s.cni.attached().contains(&"uid-4".to_string()));
}
