//! Who gets in: revocation, anonymous bootstrap clients, CA pinning, and how refused
//! handshakes read on both sides.

use crate::client::{Client, ClientOptions};
use crate::error::TransportError;
use crate::identity::Identity;
use crate::pki::{ClusterPki, Credentials};
use crate::server::ServerOptions;
use crate::test_support::{Cluster, DAY, Request, Response, RunningServer, eventually, loopback};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};

fn serial_of(creds: &Credentials) -> Vec<u8> {
    let der = CertificateDer::from_pem_slice(creds.cert_pem.as_bytes()).unwrap();
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    cert.raw_serial().to_vec()
}

async fn echo(client: &Client) -> Result<Response, TransportError> {
    client.call(&Request::Echo("hi".into())).await
}

#[tokio::test]
async fn a_revoked_certificate_is_refused_at_the_handshake() {
    let cluster = Cluster::new();
    let bad = cluster
        .pki
        .issue_client(&Identity::new("node:bad", "node"), DAY)
        .unwrap();
    let good = cluster
        .pki
        .issue_client(&Identity::new("node:good", "node"), DAY)
        .unwrap();
    let bad_serial = serial_of(&bad);
    let consulted = Arc::new(Mutex::new(Vec::new()));
    let log = consulted.clone();
    let options = ServerOptions {
        revoked: Some(Arc::new(move |identity: &Identity, serial: &[u8]| {
            log.lock().unwrap().push(identity.name.clone());
            serial == bad_serial.as_slice()
        })),
        ..ServerOptions::default()
    };
    let server = RunningServer::start_with(loopback(), &cluster.server, options);
    let err = echo(&Client::new(server.addr, "localhost", &bad).unwrap())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "TLS handshake with {} failed: the server rejected our client certificate: it has been revoked",
            server.addr
        )
    );
    echo(&Client::new(server.addr, "localhost", &good).unwrap())
        .await
        .unwrap();
    assert_eq!(*consulted.lock().unwrap(), vec!["node:bad", "node:good"]);
    eventually("the failure is counted", || {
        server.stats.handshake_failures() == 1
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn each_refused_handshake_counts_once_and_reads_as_one_line() {
    let cluster = Cluster::new();
    let server = RunningServer::start(&cluster.server);
    let stranger = ClusterPki::create(OffsetDateTime::now_utc()).unwrap();
    let foreign = Credentials {
        ca_pem: cluster.pki.ca_pem().to_owned(),
        ..stranger
            .issue_client(&Identity::new("admin", "admin"), DAY)
            .unwrap()
    };
    let long_ago = OffsetDateTime::now_utc() - time::Duration::days(3);
    let expired = cluster
        .pki
        .issue_client_at(&Identity::new("admin", "admin"), long_ago, DAY)
        .unwrap();
    let wrong_trust = Credentials {
        ca_pem: stranger.ca_pem().to_owned(),
        ..cluster.admin.clone()
    };
    let attempts = [
        (
            Client::new(server.addr, "localhost", &foreign).unwrap(),
            "cluster CA",
        ),
        (
            Client::new(server.addr, "localhost", &expired).unwrap(),
            "expired",
        ),
        (
            Client::new(server.addr, "localhost", &wrong_trust).unwrap(),
            "not signed",
        ),
        (
            Client::new(server.addr, "elsewhere.example", &cluster.admin).unwrap(),
            "elsewhere.example",
        ),
    ];
    for (n, (client, expected)) in attempts.iter().enumerate() {
        let err = echo(client).await.unwrap_err().to_string();
        assert!(err.contains(expected), "{err}");
        assert!(!err.contains('\n'), "{err}");
        let expected = n as u64 + 1;
        eventually("the failure is counted", || {
            server.stats.handshake_failures() >= expected
        })
        .await;
        assert_eq!(server.stats.handshake_failures(), expected, "after {err}");
    }
    server.stop().await;
}

#[tokio::test]
async fn anonymous_clients_are_refused_unless_the_server_allows_them() {
    let cluster = Cluster::new();
    let pin = cluster.pki.ca_pin().unwrap();
    let strict = RunningServer::start(&cluster.server);
    let newcomer =
        Client::bootstrap(strict.addr, "localhost", pin, ClientOptions::default()).unwrap();
    let err = echo(&newcomer).await.unwrap_err();
    assert!(
        matches!(&err, TransportError::ClientCertRejected { reason, .. } if reason.contains("none was sent")),
        "{err}"
    );
    strict.stop().await;

    let options = ServerOptions {
        allow_anonymous: true,
        ..ServerOptions::default()
    };
    let open = RunningServer::start_with(loopback(), &cluster.server, options);
    let newcomer =
        Client::bootstrap(open.addr, "localhost", pin, ClientOptions::default()).unwrap();
    let response = echo(&newcomer).await.unwrap();
    assert_eq!(
        response,
        Response::Echo {
            text: "hi".into(),
            from: Identity::anonymous()
        }
    );
    let member = Client::new(open.addr, "localhost", &cluster.admin).unwrap();
    assert_eq!(
        echo(&member).await.unwrap(),
        Response::Echo {
            text: "hi".into(),
            from: Identity::new("admin", "admin")
        }
    );
    open.stop().await;
}

#[tokio::test]
async fn a_pinned_client_refuses_a_server_of_another_ca() {
    let cluster = Cluster::new();
    let options = ServerOptions {
        allow_anonymous: true,
        ..ServerOptions::default()
    };
    let server = RunningServer::start_with(loopback(), &cluster.server, options);
    let other_pin = ClusterPki::create(OffsetDateTime::now_utc())
        .unwrap()
        .ca_pin()
        .unwrap();
    let client = Client::bootstrap(
        server.addr,
        "localhost",
        other_pin,
        ClientOptions::default(),
    )
    .unwrap();
    let err = echo(&client).await.unwrap_err();
    let real_pin = cluster.pki.ca_pin().unwrap().to_string();
    assert_eq!(
        err.to_string(),
        format!(
            "TLS handshake with {} failed: the server's CA is {real_pin}, not the pinned {other_pin}",
            server.addr
        )
    );
    assert!(!err.is_retryable());

    let pinned_right = cluster.pki.ca_pin().unwrap();
    let wrong_name = Client::bootstrap(
        server.addr,
        "elsewhere.example",
        pinned_right,
        ClientOptions::default(),
    )
    .unwrap();
    let err = echo(&wrong_name).await.unwrap_err();
    assert!(
        matches!(err, TransportError::ServerCertRejected { .. }),
        "{err}"
    );
    server.stop().await;
}
