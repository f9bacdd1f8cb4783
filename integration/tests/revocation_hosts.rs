//! Revocation that holds, on real test hosts: `flotilla server` in one host and two joined
//! `flotilla node`s. A revoked node's open connection is closed at once, its agent is told why
//! and stops, and its certificate is refused from then on; a deleted Node's agent is cut off
//! the same way, so it cannot bring its Node back, not even by starting again.

use std::time::{Duration, Instant};

use flotilla_integration::{Fleet, Observation, running_as_root_or_skip, wait_until};

/// Waits until agent `index` has exited, and returns its log.
fn stopped_agent_log(fleet: &mut Fleet, index: usize) -> String {
    let agent = fleet.agent(index).expect("the agent");
    let since = Instant::now();
    wait_until(
        Duration::from_secs(20),
        &format!("n{index}'s agent to stop"),
        || {
            Ok(match fleet.hosts.exit_status(agent)? {
                Some(status) => {
                    assert!(!status.success(), "a revoked agent exits with a failure");
                    Observation::Done
                }
                None => Observation::Waiting("still running".into()),
            })
        },
    );
    eprintln!(
        "n{index}'s agent stopped {:?} after its revocation",
        since.elapsed()
    );
    fleet.hosts.log(agent).expect("the agent's log")
}

#[test]
fn a_revoked_or_deleted_node_is_cut_off_at_once_and_cannot_come_back() {
    if !running_as_root_or_skip("a_revoked_or_deleted_node_is_cut_off_at_once_and_cannot_come_back")
    {
        return;
    }
    let mut fleet = Fleet::start(2, &[], &["--lease-renew", "250ms"]).expect("fleet");

    let revoked = fleet.cli(&["node", "revoke", "n1"]).expect("revoke n1");
    assert!(revoked.contains("1 certificate(s) revoked"), "{revoked}");
    let log = stopped_agent_log(&mut fleet, 1);
    assert!(
        log.contains("revoked this node's certificate")
            && log.contains(r#"node \"n1\" was revoked by admin"#),
        "the agent says why it stops:\n{log}"
    );
    let as_n1 = fleet
        .cli_as_node(1, &["get", "node", "n1"])
        .expect("the CLI runs");
    let refused = String::from_utf8_lossy(&as_n1.stderr);
    assert!(
        !as_n1.status.success() && refused.contains("revoked"),
        "n1's certificate is refused: {refused}"
    );

    fleet.cli(&["delete", "node", "n2"]).expect("delete n2");
    let log = stopped_agent_log(&mut fleet, 2);
    assert!(
        log.contains(r#"node \"n2\" was deleted"#),
        "the agent is told its Node was deleted:\n{log}"
    );
    // Started again, the same agent cannot register its Node anew.
    let agent = fleet.agent(2).expect("n2's agent");
    fleet.hosts.start(agent).expect("restart n2's agent");
    let log = stopped_agent_log(&mut fleet, 2);
    assert!(log.contains("revoked"), "{log}");
    let gone = fleet.cli(&["get", "node", "n2"]).unwrap_err().to_string();
    assert!(gone.contains("not found"), "the Node stays deleted: {gone}");
}
