use std::time::{Duration, UNIX_EPOCH};

use super::*;

fn disk(capacity: u64, available: u64) -> DiskUsage {
    DiskUsage {
        capacity,
        available,
    }
}

fn blob(name: &str) -> Piece {
    Piece::Blob(Digest::of(name.as_bytes()))
}

/// An image used at second `used` (None: never recorded) keeping `pieces`.
fn image(name: &str, used: Option<u64>, pieces: &[(Piece, u64)]) -> StoredImage {
    StoredImage {
        name: name.to_string(),
        last_used: used.map(|secs| UNIX_EPOCH + Duration::from_secs(secs)),
        in_use: false,
        pieces: pieces.iter().cloned().collect(),
    }
}

fn in_use(mut image: StoredImage) -> StoredImage {
    image.in_use = true;
    image
}

fn removed(plan: &GcPlan) -> Vec<&str> {
    plan.remove.iter().map(|(name, _)| name.as_str()).collect()
}

#[test]
fn thresholds_are_percentages_of_a_hundred_at_most_with_low_below_high() {
    assert_eq!(ImageGcPolicy::new(85, 80), Ok(ImageGcPolicy::DEFAULT));
    assert_eq!(ImageGcPolicy::default(), ImageGcPolicy::DEFAULT);
    assert!(ImageGcPolicy::new(100, 0).unwrap().is_disabled());
    assert!(!ImageGcPolicy::DEFAULT.is_disabled());
    assert_eq!(
        ImageGcPolicy::new(101, 80),
        Err(ImageGcPolicyError::HighOutOfRange(101))
    );
    assert_eq!(
        ImageGcPolicy::new(u32::MAX, 80),
        Err(ImageGcPolicyError::HighOutOfRange(u32::MAX))
    );
    assert_eq!(
        ImageGcPolicy::new(85, 300),
        Err(ImageGcPolicyError::LowOutOfRange(300))
    );
    assert_eq!(
        ImageGcPolicy::new(85, 85),
        Err(ImageGcPolicyError::LowNotBelowHigh { low: 85, high: 85 })
    );
    assert_eq!(
        ImageGcPolicy::new(0, 0),
        Err(ImageGcPolicyError::LowNotBelowHigh { low: 0, high: 0 })
    );
}

#[test]
fn nothing_is_freed_below_the_high_threshold() {
    let policy = ImageGcPolicy::DEFAULT;
    // 84% used.
    assert_eq!(bytes_to_free(policy, disk(1000, 160)), None);
    assert_eq!(bytes_to_free(policy, disk(1000, 169)), None);
    assert_eq!(bytes_to_free(policy, disk(1000, 1000)), None);
}

#[test]
fn at_or_above_the_high_threshold_enough_is_freed_to_reach_the_low_one() {
    let policy = ImageGcPolicy::DEFAULT;
    // 85% used: 20% of 1000 must be available, 150 is.
    assert_eq!(bytes_to_free(policy, disk(1000, 150)), Some(50));
    assert_eq!(bytes_to_free(policy, disk(1000, 0)), Some(200));
    // 84.9% used counts as 85, as the kubelet's integer percentages do.
    assert_eq!(bytes_to_free(policy, disk(1000, 151)), Some(49));
    let tight = ImageGcPolicy::new(50, 10).unwrap();
    assert_eq!(bytes_to_free(tight, disk(1000, 400)), Some(500));
    // Large disks do not overflow.
    assert_eq!(bytes_to_free(policy, disk(u64::MAX, 0)), Some(u64::MAX / 5));
}

#[test]
fn a_high_threshold_of_100_turns_collection_off() {
    let off = ImageGcPolicy::new(100, 80).unwrap();
    assert_eq!(bytes_to_free(off, disk(1000, 0)), None);
}

#[test]
fn odd_statfs_numbers_free_nothing() {
    let policy = ImageGcPolicy::DEFAULT;
    assert_eq!(bytes_to_free(policy, disk(0, 0)), None);
    assert_eq!(bytes_to_free(policy, disk(1000, 5000)), None);
}

#[test]
fn unused_images_go_least_recently_used_first_until_enough_is_freed() {
    let images = [
        image("a", Some(30), &[(blob("a"), 10)]),
        image("b", Some(10), &[(blob("b"), 10)]),
        image("c", None, &[(blob("c"), 10)]),
        image("d", Some(20), &[(blob("d"), 10)]),
        image("e", Some(20), &[(blob("e"), 10)]),
    ];
    let all = plan(1000, &images);
    assert_eq!(removed(&all), ["c", "b", "d", "e", "a"]);
    assert_eq!((all.freed, all.falls_short()), (50, true));

    let some = plan(15, &images);
    assert_eq!(removed(&some), ["c", "b"]);
    assert_eq!(some.remove, [("c".to_string(), 10), ("b".to_string(), 10)]);
    assert_eq!((some.freed, some.falls_short()), (20, false));

    let none = plan(0, &images);
    assert!(none.remove.is_empty() && !none.falls_short());
}

#[test]
fn images_in_use_are_never_removed() {
    let images = [
        in_use(image("running", None, &[(blob("r"), 100)])),
        image("idle", Some(50), &[(blob("i"), 10)]),
    ];
    let plan = plan(100, &images);
    assert_eq!(removed(&plan), ["idle"]);
    assert_eq!(plan.freed, 10);
    assert!(plan.falls_short(), "only 10 of 100 bytes were eligible");
}

#[test]
fn a_shared_piece_is_counted_once_and_only_when_its_last_holder_goes() {
    let layer = (Piece::Layer(Digest::of(b"base")), 1000);
    let images = [
        image("one", Some(1), &[layer.clone(), (blob("one"), 10)]),
        image("two", Some(2), &[layer.clone(), (blob("two"), 20)]),
        image("three", Some(3), &[layer.clone(), (blob("three"), 30)]),
    ];
    let plan = plan(u64::MAX, &images);
    assert_eq!(
        plan.remove,
        [
            ("one".to_string(), 10),
            ("two".to_string(), 20),
            ("three".to_string(), 1030),
        ]
    );
    assert_eq!(plan.freed, 1060);
}

#[test]
fn a_piece_shared_with_an_image_in_use_is_never_counted_as_freed() {
    let layer = (Piece::Layer(Digest::of(b"base")), 1000);
    let images = [
        in_use(image("kept", Some(9), &[layer.clone(), (blob("kept"), 1)])),
        image("old", Some(1), &[layer.clone(), (blob("old"), 5)]),
    ];
    let plan = plan(500, &images);
    assert_eq!(plan.remove, [("old".to_string(), 5)]);
    assert!(plan.falls_short());
}

#[test]
fn a_blob_and_a_layer_with_one_digest_are_different_pieces() {
    // An uncompressed layer's blob digest is also its diff_id.
    let digest = Digest::of(b"tar");
    let images = [
        image("blob-only", Some(1), &[(Piece::Blob(digest.clone()), 7)]),
        image("layer-only", Some(2), &[(Piece::Layer(digest), 9)]),
    ];
    assert_eq!(plan(7, &images).remove, [("blob-only".to_string(), 7)]);
}
