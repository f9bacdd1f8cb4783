//! Certificate renewal of a joined node: a supervised actor whose one task renews the node's
//! certificate when 70% of what is left of it has passed, forever. If the task dies the actor
//! is restarted, which reads the certificate on disk again and goes on.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::task::JoinHandle;

use flotilla_kernel::api::{ApiClient, Request};
use flotilla_kernel::supervision::spawn_owned;
use flotilla_transport::{Client, certificate_facts, new_csr};

use crate::config::ClientConfig;

/// Renew when this share of the certificate's remaining lifetime has passed.
const RENEW_AT: f64 = 0.7;
/// Never renew more often than this, however short the certificate.
const RENEW_MIN_WAIT: Duration = Duration::from_secs(1);
/// Wait before retrying a failed renewal.
const RENEW_RETRY: Duration = Duration::from_secs(30);

pub struct CertRenewal;

#[derive(Clone)]
pub struct RenewalArgs {
    pub api: ApiClient,
    pub transport: Client,
    /// The node's client config, where the renewed certificate is kept.
    pub path: PathBuf,
}

impl Actor for CertRenewal {
    type Msg = ();
    type State = JoinHandle<()>;
    type Arguments = RenewalArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<()>,
        args: RenewalArgs,
    ) -> Result<JoinHandle<()>, ActorProcessingErr> {
        let config = ClientConfig::load(&args.path)?;
        renewal_wait(&config.cert, SystemTime::now())
            .map_err(|error| format!("cannot read this node's certificate: {error:#}"))?;
        Ok(spawn_owned(
            myself.get_cell(),
            "certificate renewal",
            renew_forever(args, config),
        ))
    }

    async fn post_stop(
        &self,
        _: ActorRef<()>,
        task: &mut JoinHandle<()>,
    ) -> Result<(), ActorProcessingErr> {
        task.abort();
        Ok(())
    }
}

/// Renews the certificate before it expires, forever.
async fn renew_forever(args: RenewalArgs, mut config: ClientConfig) {
    loop {
        match renewal_wait(&config.cert, SystemTime::now()) {
            Ok(wait) => tokio::time::sleep(wait).await,
            Err(error) => {
                tracing::error!(error = %format!("{error:#}"), "cannot read this node's certificate");
                return;
            }
        }
        match renew(&args, &mut config).await {
            Ok(()) => tracing::info!("renewed the node certificate"),
            Err(error) => {
                tracing::warn!(error = %format!("{error:#}"), "renewing the certificate failed");
                tokio::time::sleep(RENEW_RETRY).await;
            }
        }
    }
}

/// How long to wait, from `now`, before renewing the certificate in `cert_pem`: 70% of what
/// is left of it. Counted from now rather than from its start, which the CA backdates to allow
/// for clock skew.
fn renewal_wait(cert_pem: &str, now: SystemTime) -> anyhow::Result<Duration> {
    let facts = certificate_facts(cert_pem)?;
    let left = facts.not_after.duration_since(now).unwrap_or_default();
    Ok(left.mul_f64(RENEW_AT).max(RENEW_MIN_WAIT))
}

async fn renew(args: &RenewalArgs, config: &mut ClientConfig) -> anyhow::Result<()> {
    let (key_pem, csr_pem) = new_csr("renewal")?;
    let (cert_pem, ca_pem) = args
        .api
        .certificate(Request::RenewCertificate { csr_pem })
        .await?;
    let mut renewed = config.clone();
    renewed.cert = cert_pem;
    renewed.key = key_pem;
    renewed.ca = ca_pem;
    // Saved before it is used: a crash right after must not leave the node with only the old
    // certificate.
    renewed.save(&args.path)?;
    args.transport
        .set_credentials(&renewed.credentials())
        .await?;
    *config = renewed;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_is_due_at_seventy_percent_of_what_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let pki = flotilla_transport::ClusterPki::load_or_create(dir.path()).unwrap();
        let identity = flotilla_transport::Identity::new("node:a", "node");
        let day = Duration::from_secs(86_400);
        let creds = pki.issue_client(&identity, day).unwrap();
        let not_after = certificate_facts(&creds.cert_pem).unwrap().not_after;
        let now = not_after - Duration::from_secs(1000);
        assert_eq!(
            renewal_wait(&creds.cert_pem, now).unwrap(),
            Duration::from_secs(700)
        );
        let almost_expired = not_after - Duration::from_millis(10);
        assert_eq!(
            renewal_wait(&creds.cert_pem, almost_expired).unwrap(),
            RENEW_MIN_WAIT
        );
        assert!(renewal_wait("garbage", now).is_err());
    }
}
