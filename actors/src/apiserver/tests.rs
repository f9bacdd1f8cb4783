//! The API server in-process, on a real store in a temporary directory: no QUIC, no root.

use flotilla_kernel::object::{ConfigMap, ObjectMeta};

use crate::test_api::TestApi;

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
