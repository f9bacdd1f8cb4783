//! End to end, on test hosts: a server and two nodes running the pod network, the service
//! proxy and the cluster DNS. A Deployment behind a ClusterIP Service is reached from a pod on
//! the other node by DNS name, and through a NodePort from another host; scaling it changes
//! the endpoints; a pod that fails readiness gets no traffic; restarting both agents in the
//! middle of a connection through the Service keeps it; deleting everything removes the
//! Services' rules, the pods' networks and their records.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::Result;

use flotilla_integration::{Fleet, Observation, poll_until, running_as_root_or_skip};

const POLL: Duration = Duration::from_millis(200);

const WEB: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: busybox:1.35
        imagePullPolicy: Never
        command: [sh, -c, 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www']
        ports:
        - {name: http, containerPort: 8080}
        readinessProbe:
          httpGet: {path: /index.html, port: http}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: http}
---
apiVersion: v1
kind: Service
metadata:
  name: web-np
spec:
  type: NodePort
  selector: {app: web}
  ports:
  - {port: 80, targetPort: 8080, nodePort: 30080}
"#;

/// A pod with the Service's label that never becomes ready: it must get no traffic.
const UNREADY: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: unready
  labels: {app: web}
spec:
  containers:
  - name: web
    image: busybox:1.35
    imagePullPolicy: Never
    command: [sh, -c, 'mkdir -p /www && echo unready > /www/index.html && exec httpd -f -p 8080 -h /www']
    ports:
    - {name: http, containerPort: 8080}
    readinessProbe:
      exec: {command: ['false']}
      periodSeconds: 1
"#;

/// A client pinned to n2, and a slow stream served on n1 behind a Service: 40 lines over 10 s
/// to each connection.
const CLIENT_AND_STREAM: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: client
spec:
  nodeSelector: {kubernetes.io/hostname: n2}
  containers:
  - name: client
    image: busybox:1.35
    imagePullPolicy: Never
    command: [sleep, '3600']
---
apiVersion: v1
kind: Pod
metadata:
  name: stream
  labels: {app: stream}
spec:
  nodeSelector: {kubernetes.io/hostname: n1}
  containers:
  - name: stream
    image: busybox:1.35
    imagePullPolicy: Never
    command: [sh, -c, 'while true; do nc -l -p 9000 -e sh -c "for i in \$(seq 1 40); do echo line \$i; sleep 0.25; done"; done']
---
apiVersion: v1
kind: Service
metadata:
  name: stream
spec:
  selector: {app: stream}
  ports:
  - {port: 9000}
"#;

/// Reads the stream through its Service and says how many lines came.
const READER: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: reader
spec:
  nodeSelector: {kubernetes.io/hostname: n2}
  restartPolicy: Never
  containers:
  - name: reader
    image: busybox:1.35
    imagePullPolicy: Never
    command: [sh, -c, 'echo start; nc stream.default.svc.cluster.local 9000 | wc -l']
"#;

/// Waits for `check` to say nothing is missing; panics with what it last said.
fn wait(what: &str, limit: Duration, mut check: impl FnMut() -> Result<Option<String>>) {
    let waited = poll_until(limit, POLL, || {
        Ok(match check()? {
            None => Observation::Done,
            Some(waiting) => Observation::Waiting(waiting),
        })
    });
    if let Err(error) = waited {
        panic!("{what}: {error:#}");
    }
}

/// The ready and not-ready addresses of the Service's EndpointSlices.
fn endpoints(fleet: &Fleet, service: &str) -> Result<(BTreeSet<String>, BTreeSet<String>)> {
    let list = fleet.json(&[
        "get",
        "endpointslices",
        "-l",
        &format!("kubernetes.io/service-name={service}"),
    ])?;
    let (mut ready, mut not_ready) = (BTreeSet::new(), BTreeSet::new());
    for slice in list["items"].as_array().into_iter().flatten() {
        for endpoint in slice["endpoints"].as_array().into_iter().flatten() {
            let into = if endpoint["conditions"]["ready"] == true {
                &mut ready
            } else {
                &mut not_ready
            };
            for address in endpoint["addresses"].as_array().into_iter().flatten() {
                into.insert(address.as_str().unwrap_or_default().to_string());
            }
        }
    }
    Ok((ready, not_ready))
}

/// What `wget` in the client pod gets from `url`.
fn fetch(fleet: &Fleet, url: &str) -> Result<String> {
    fleet.cli(&["exec", "client", "--", "wget", "-qO-", url])
}

#[test]
fn services_are_reached_by_name_and_node_port() {
    if !running_as_root_or_skip("services_are_reached_by_name_and_node_port") {
        return;
    }
    let mut fleet = Fleet::start(2, &[], &[]).expect("a server and two nodes");
    fleet.import_busybox().expect("busybox on both nodes");
    fleet.apply(WEB).unwrap();
    fleet.apply(CLIENT_AND_STREAM).unwrap();
    fleet
        .running_pod_ip("client", Duration::from_secs(90))
        .expect("the client runs");
    wait("two ready endpoints", Duration::from_secs(90), || {
        let (ready, _) = endpoints(&fleet, "web")?;
        Ok((ready.len() != 2).then(|| format!("ready: {ready:?}")))
    });

    // By DNS name, from the other node's pod: both replicas answer in time.
    let mut seen = BTreeSet::new();
    wait(
        "both replicas through the ClusterIP",
        Duration::from_secs(60),
        || {
            match fetch(&fleet, "http://web.default.svc.cluster.local/") {
                Ok(body) => {
                    seen.insert(body.trim().to_string());
                }
                Err(error) => return Ok(Some(error.to_string())),
            }
            Ok((seen.len() < 2).then(|| format!("seen {seen:?}")))
        },
    );
    assert!(seen.iter().all(|name| name.starts_with("web-")), "{seen:?}");

    // Through the NodePort of either node, from the server's host.
    let server = fleet.hosts.host(0).unwrap();
    for index in [1, 2] {
        let node = fleet
            .hosts
            .address(fleet.node_host(index).unwrap())
            .unwrap();
        let url = format!("http://{node}:30080/");
        wait(&url, Duration::from_secs(30), || {
            let out = fleet.hosts.run_in(
                server,
                &["busybox", "wget", "-qO-", &url],
                Duration::from_secs(10),
            )?;
            let body = String::from_utf8_lossy(&out.stdout).into_owned();
            Ok((!body.starts_with("web-")).then(|| format!("{body:?}")))
        });
    }

    // Scaling changes the endpoints; a pod that is not ready is listed but gets no traffic.
    fleet
        .cli(&["scale", "deployment/web", "--replicas", "3"])
        .unwrap();
    fleet.apply(UNREADY).unwrap();
    wait(
        "three ready endpoints and one not",
        Duration::from_secs(90),
        || {
            let (ready, not_ready) = endpoints(&fleet, "web")?;
            Ok((ready.len() != 3 || not_ready.len() != 1)
                .then(|| format!("ready {ready:?}, not ready {not_ready:?}")))
        },
    );
    for _ in 0..20 {
        let body = fetch(&fleet, "http://web/").unwrap();
        assert!(body.starts_with("web-"), "{body:?}");
    }

    // A connection through a Service outlives restarts of both agents.
    fleet.apply(READER).unwrap();
    wait("the reader reads", Duration::from_secs(60), || {
        let logs = fleet.cli(&["logs", "reader"]).unwrap_or_default();
        Ok((!logs.starts_with("start")).then(|| format!("logs {logs:?}")))
    });
    for index in [1, 2] {
        let agent = fleet.agent(index).unwrap();
        fleet.hosts.restart(agent).unwrap();
    }
    wait("the stream's 40 lines", Duration::from_secs(60), || {
        let logs = fleet.cli(&["logs", "reader"]).unwrap_or_default();
        Ok((logs.trim_end() != "start\n40").then(|| format!("logs {logs:?}")))
    });

    // Everything deleted: no Service rules, pod networks or records are left.
    for args in [
        ["delete", "deployment", "web"],
        ["delete", "service", "web"],
        ["delete", "service", "web-np"],
        ["delete", "service", "stream"],
    ] {
        fleet.cli(&args).unwrap();
    }
    for name in ["unready", "client", "stream", "reader"] {
        fleet.cli(&["delete", "pod", name]).unwrap();
    }
    wait("every pod gone", Duration::from_secs(90), || {
        let left = fleet.pods()?.len();
        Ok((left != 0).then(|| format!("{left} pods left")))
    });
    for index in [1, 2] {
        let host = fleet.node_host(index).unwrap();
        wait("no service chains", Duration::from_secs(30), || {
            let out = fleet.hosts.run_in(
                host,
                &["nft", "list", "table", "ip", "flotilla-proxy"],
                Duration::from_secs(10),
            )?;
            let table = String::from_utf8_lossy(&out.stdout).into_owned();
            Ok(table.contains("10.43.").then_some(table))
        });
        let records = fleet.node_dir(index).join("cni/attachments");
        let left = std::fs::read_dir(&records).map(|d| d.count()).unwrap_or(0);
        assert_eq!(
            left,
            0,
            "n{index}: attachments left in {}",
            records.display()
        );
    }
}
