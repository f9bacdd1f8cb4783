//! Who gets in: revocation, anonymous bootstrap clients, CA pinning, and how refused
//! handshakes read on both sides.

use crate::client::{Client, ClientOptions};
use crate::error::TransportError;
use crate::identity::Identity;
use crate::pki::{ClusterPki, Credentials};
use crate::revocation::Revocations;
use crate::server::ServerOptions;
use crate::test_support::DEADLINE;
use crate::test_support::{Cluster, DAY, Request, Response, RunningServer, eventually, loopback};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use std::collections::HashMap;
use std::sync::Arc;
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
    let revocations = Arc::new(Revocations::default());
    revocations.replace(HashMap::from([(serial_of(&bad), "testing".to_owned())]));
    let options = ServerOptions {
        revocations: Some(revocations),
        ..ServerOptions::default()
    };
    let server = RunningServer::start_with(loopback(), &cluster.server, options);
    let refused = Client::new(server.addr, "localhost", &bad).unwrap();
    let err = echo(&refused).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "TLS handshake with {} failed: the server rejected our client certificate: it has been revoked",
            server.addr
        )
    );
    assert!(err.is_revoked() && !err.is_retryable());
    echo(&Client::new(server.addr, "localhost", &good).unwrap())
        .await
        .unwrap();
    eventually("the failure is counted", || {
        server.stats.handshake_failures() == 1
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn revoking_a_connected_certificate_ends_its_connection_at_once() {
    let cluster = Cluster::new();
    let node = cluster
        .pki
        .issue_client(&Identity::new("node:n1", "node"), DAY)
        .unwrap();
    let revocations = Arc::new(Revocations::default());
    let options = ServerOptions {
        revocations: Some(Arc::clone(&revocations)),
        ..ServerOptions::default()
    };
    let server = RunningServer::start_with(loopback(), &cluster.server, options);
    let client = Client::new(server.addr, "localhost", &node).unwrap();
    let admin = Client::new(server.addr, "localhost", &cluster.admin).unwrap();
    echo(&admin).await.unwrap();
    let mut watch = client.stream::<_, Response>(&Request::Watch).await.unwrap();
    assert!(watch.recv().await.unwrap().is_ok());

    revocations.replace(HashMap::from([(
        serial_of(&node),
        "node n1 was deleted".to_owned(),
    )]));
    let ended = tokio::time::timeout(DEADLINE, async {
        loop {
            match watch.recv().await {
                Some(Ok(_)) => continue,
                Some(Err(err)) => return Some(err),
                None => return None,
            }
        }
    })
    .await
    .expect("the open watch ends");
    assert!(
        matches!(&ended, Some(TransportError::Revoked { reason, .. }) if reason == "certificate revoked: node n1 was deleted"),
        "{ended:?}"
    );
    let told = tokio::time::timeout(DEADLINE, client.revoked()).await;
    assert_eq!(told.unwrap(), "certificate revoked: node n1 was deleted");
    let again = echo(&client).await.unwrap_err();
    assert!(
        again.is_revoked(),
        "a new connection is refused too: {again}"
    );
    echo(&admin).await.expect("other clients are not touched");
    server.stop().await;
}

#[tokio::test]
async fn a_connection_ends_when_its_client_certificate_expires() {
    let cluster = Cluster::new();
    let short = cluster
        .pki
        .issue_client(
            &Identity::new("admin", "admin"),
            std::time::Duration::from_secs(2),
        )
        .unwrap();
    let server = RunningServer::start(&cluster.server);
    let client = Client::new(server.addr, "localhost", &short).unwrap();
    let hanging = tokio::time::timeout(DEADLINE, client.call::<_, Response>(&Request::Hang));
    let ended = hanging
        .await
        .expect("the call ends when the certificate expires")
        .err();
    assert!(
        matches!(&ended, Some(TransportError::ClosedByServer { reason, .. }) if reason == "certificate expired"),
        "{ended:?}"
    );
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
