//! Revoked client certificates, as a server enforces them. A revoked certificate fails its next
//! handshake; a connection already made with it refuses new calls and is closed as soon as the
//! revocation is recorded here, so revoking takes effect on live connections at once, not only
//! at the next reconnect. Each entry keeps why it was revoked, which the client is told as its
//! connection closes.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use tokio::sync::watch;

/// Revoked certificate serials (big-endian bytes) and why each was revoked. Writers replace
/// whole sets, so a poisoned lock still holds a consistent one.
#[derive(Debug)]
pub struct Revocations {
    revoked: RwLock<HashMap<Vec<u8>, String>>,
    /// Bumped at every change, so each live connection looks at its own certificate again.
    changed: watch::Sender<u64>,
}

impl Default for Revocations {
    fn default() -> Self {
        Self {
            revoked: RwLock::default(),
            changed: watch::Sender::new(0),
        }
    }
}

impl Revocations {
    /// Makes `revoked` (serial → reason) the whole set, and has every connection whose
    /// certificate is now in it closed.
    pub fn replace(&self, revoked: HashMap<Vec<u8>, String>) {
        *self.revoked.write().unwrap_or_else(PoisonError::into_inner) = revoked;
        self.changed.send_modify(|generation| *generation += 1);
    }

    /// Why the certificate with `serial` was revoked, if it was.
    pub fn reason(&self, serial: &[u8]) -> Option<String> {
        self.revoked
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(serial)
            .cloned()
    }

    /// Every revoked serial with its reason.
    pub fn all(&self) -> HashMap<Vec<u8>, String> {
        self.revoked
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Wakes whoever holds it at every change.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replaced_set_is_what_is_revoked_and_subscribers_hear_of_it() {
        let revocations = Revocations::default();
        let mut changes = revocations.subscribe();
        assert_eq!(revocations.reason(&[1]), None);
        revocations.replace(HashMap::from([(
            vec![1],
            "node n1 was deleted".to_string(),
        )]));
        assert!(changes.has_changed().unwrap());
        changes.borrow_and_update();
        assert_eq!(
            revocations.reason(&[1]).as_deref(),
            Some("node n1 was deleted")
        );
        revocations.replace(HashMap::new());
        assert!(changes.has_changed().unwrap());
        assert_eq!(revocations.reason(&[1]), None);
    }
}
