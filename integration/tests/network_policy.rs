//! End to end, on test hosts: a NetworkPolicy denies, then allows. A web server on n1 answers
//! clients on n2 until a default-deny ingress policy selects it; a second policy then lets in
//! only the pods labelled `role: frontend`, through its Service as well as by pod IP.

use std::time::Duration;

use flotilla_integration::{Fleet, Observation, poll_until, running_as_root_or_skip};

const POLL: Duration = Duration::from_millis(200);

const PODS: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: db
  labels: {app: db}
spec:
  nodeSelector: {kubernetes.io/hostname: n1}
  containers:
  - name: db
    image: busybox:1.35
    imagePullPolicy: Never
    command: [sh, -c, 'mkdir -p /www && echo db > /www/index.html && exec httpd -f -p 8080 -h /www']
---
apiVersion: v1
kind: Service
metadata:
  name: db
spec:
  selector: {app: db}
  ports:
  - {port: 80, targetPort: 8080}
---
apiVersion: v1
kind: Pod
metadata:
  name: frontend
  labels: {role: frontend}
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
  name: other
  labels: {role: other}
spec:
  nodeSelector: {kubernetes.io/hostname: n2}
  containers:
  - name: client
    image: busybox:1.35
    imagePullPolicy: Never
    command: [sleep, '3600']
"#;

const DENY_ALL: &str = r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: default-deny-ingress
spec:
  podSelector: {}
  policyTypes: [Ingress]
"#;

const ALLOW_FRONTEND: &str = r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: db-from-frontend
spec:
  podSelector:
    matchLabels: {app: db}
  ingress:
  - from:
    - podSelector:
        matchLabels: {role: frontend}
    ports:
    - {protocol: TCP, port: 8080}
"#;

/// Whether pod `from` gets an answer from `host:port` within two seconds.
fn answers(fleet: &Fleet, from: &str, host: &str, port: u16) -> bool {
    let request = format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {host} {port}");
    fleet
        .cli(&["exec", from, "--", "sh", "-c", &request])
        .is_ok_and(|reply| reply.contains("200 OK"))
}

/// Waits until each `(client, host, port)` answers or not as `expected` says.
fn until_reachability(fleet: &Fleet, what: &str, cases: &[(&str, &str, u16, bool)]) {
    let waited = poll_until(Duration::from_secs(60), POLL, || {
        let wrong: Vec<String> = cases
            .iter()
            .filter(|(from, host, port, expected)| answers(fleet, from, host, *port) != *expected)
            .map(|(from, host, port, expected)| {
                format!("{from} -> {host}:{port} should answer: {expected}")
            })
            .collect();
        Ok(if wrong.is_empty() {
            Observation::Done
        } else {
            Observation::Waiting(wrong.join("; "))
        })
    });
    if let Err(error) = waited {
        panic!("{what}: {error:#}");
    }
}

#[test]
fn a_network_policy_denies_then_allows() {
    if !running_as_root_or_skip("a_network_policy_denies_then_allows") {
        return;
    }
    let fleet = Fleet::start(2, &[], &[]).expect("a server and two nodes");
    fleet.import_busybox().expect("busybox on both nodes");
    fleet.apply(PODS).unwrap();
    let running_ip = |name| fleet.running_pod_ip(name, Duration::from_secs(90)).unwrap();
    let db_ip = running_ip("db").to_string();
    for client in ["frontend", "other"] {
        running_ip(client);
    }
    let db = db_ip.as_str();
    let service = "db.default.svc.cluster.local";

    until_reachability(
        &fleet,
        "open before any policy",
        &[("frontend", db, 8080, true), ("other", db, 8080, true)],
    );

    fleet.apply(DENY_ALL).unwrap();
    until_reachability(
        &fleet,
        "denied by default-deny-ingress",
        &[
            ("frontend", db, 8080, false),
            ("other", db, 8080, false),
            ("frontend", service, 80, false),
        ],
    );

    fleet.apply(ALLOW_FRONTEND).unwrap();
    until_reachability(
        &fleet,
        "frontend allowed by db-from-frontend",
        &[
            ("frontend", db, 8080, true),
            ("frontend", service, 80, true),
            ("other", db, 8080, false),
            ("other", service, 80, false),
        ],
    );
    let listed = fleet.cli(&["get", "netpol"]).unwrap();
    assert!(
        listed.contains("db-from-frontend") && listed.contains("app=db"),
        "{listed}"
    );

    fleet
        .cli(&["delete", "networkpolicy", "default-deny-ingress"])
        .unwrap();
    fleet
        .cli(&["delete", "networkpolicy", "db-from-frontend"])
        .unwrap();
    until_reachability(
        &fleet,
        "open again once the policies are gone",
        &[("other", db, 8080, true)],
    );
}
