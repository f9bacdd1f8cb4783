//! The API server in-process, on a real store in a temporary directory: no QUIC, no root.

use flotilla_kernel::object::{ConfigMap, Kind, ObjectMeta, Pod, PodPhase};

use crate::test_api::{TestApi, host_pod_on};

fn config_map(name: String) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name,
            namespace: "default".into(),
            ..ObjectMeta::default()
        },
        data: [("key".to_string(), "value".to_string())].into(),
        ..ConfigMap::default()
    }
}

#[tokio::test]
async fn concurrent_creates_share_the_stores_group_commits() {
    let api = TestApi::start().await;
    let admin = api.client("admin", "admin");
    let before = api.store.status().unwrap().syncs;
    let creates: Vec<_> = (0..64)
        .map(|i| {
            let admin = admin.clone();
            tokio::spawn(async move { admin.create(&config_map(format!("c{i}"))).await })
        })
        .collect();
    for create in creates {
        create.await.unwrap().expect("the create succeeds");
    }
    let syncs = api.store.status().unwrap().syncs - before;
    // Serialized, each create would wait for the fsync of the one before: 64 syncs.
    assert!(
        syncs <= 32,
        "64 concurrent creates took {syncs} synced writes"
    );
    let (listed, _) = admin
        .list::<ConfigMap>(Some("default"), None)
        .await
        .unwrap();
    assert_eq!(listed.len(), 64);
}

#[tokio::test]
async fn a_delete_meeting_a_status_update_starts_again_instead_of_failing() {
    let api = TestApi::start().await;
    let admin = api.client("admin", "admin");
    let agent = api.client("node:n1", "node");
    for i in 0..5 {
        let name = format!("p{i}");
        let mut pod = admin.create(&host_pod_on("n1", &name)).await.unwrap();
        // The node's agent reports status as an operator deletes the pod: the update is sent
        // first, so it lands between the delete's read of the pod and its write.
        pod.status.phase = PodPhase::Running;
        let (updated, deleted) = tokio::join!(
            agent.update_status(&pod),
            admin.delete(Kind::Pod, "default", &name, None)
        );
        updated.expect("the status update succeeds");
        let deleted: Pod = deleted
            .expect("a delete without preconditions does not fail on a concurrent write")
            .decode()
            .unwrap();
        assert!(deleted.metadata.deletion_timestamp.is_some());
        assert_eq!(
            deleted.status.phase,
            PodPhase::Running,
            "the delete kept the update"
        );
    }
}
