//! The pod-template hash that names a Deployment's ReplicaSets (`<deployment>-<hash>`) and
//! labels their pods (`pod-template-hash`): FNV-1a (64 bits) over the template's JSON bytes.
//! JSON of the object types is deterministic (maps are sorted, empty fields skipped), so the
//! same template gives the same hash in every process and every version that adds fields.

use flotilla_kernel::object::PodTemplateSpec;

/// The label that ties a ReplicaSet and its pods to one template of a Deployment.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";

/// Characters of the rendered hash: lowercase alphanumerics without vowels (so no words), as
/// Kubernetes renders generated names.
const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// At most this many characters are rendered.
const MAX_LEN: usize = 10;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a, 64 bits.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_OFFSET, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(FNV_PRIME)
    })
}

/// The hash of `template` (without any `pod-template-hash` label of its own), rendered as up
/// to 10 lowercase alphanumerics.
pub fn template_hash(template: &PodTemplateSpec) -> String {
    let mut template = template.clone();
    template.metadata.labels.remove(POD_TEMPLATE_HASH);
    // Serializing plain data to JSON cannot fail; an empty input would still hash stably.
    let bytes = serde_json::to_vec(&template).unwrap_or_default();
    render(fnv1a64(&bytes))
}

/// `value` in base 27 over [`ALPHABET`], least significant digit first, at most 10 digits.
fn render(mut value: u64) -> String {
    let base = ALPHABET.len() as u64;
    let mut text = String::with_capacity(MAX_LEN);
    loop {
        text.push(char::from(ALPHABET[(value % base) as usize]));
        value /= base;
        if value == 0 || text.len() == MAX_LEN {
            return text;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn template(image: &str) -> PodTemplateSpec {
        let mut t = PodTemplateSpec::default();
        t.metadata.labels = BTreeMap::from([("app".into(), "web".into())]);
        t.spec.containers = vec![flotilla_kernel::object::Container {
            name: "web".into(),
            image: image.into(),
            ..Default::default()
        }];
        t
    }

    #[test]
    fn fnv1a_matches_the_reference_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn hashes_are_short_safe_and_stable() {
        let hash = template_hash(&template("nginx:1"));
        assert!(!hash.is_empty() && hash.len() <= MAX_LEN);
        assert!(hash.bytes().all(|b| ALPHABET.contains(&b)));
        assert_eq!(hash, template_hash(&template("nginx:1")));
        assert_eq!(hash, PINNED);
    }

    /// The hash of `template("nginx:1")`: it must never change, or every Deployment would
    /// roll its pods after an upgrade of flotilla.
    const PINNED: &str = "xhc7bhjxsg";

    #[test]
    fn the_hash_label_does_not_change_the_hash() {
        let mut labeled = template("nginx:1");
        labeled
            .metadata
            .labels
            .insert(POD_TEMPLATE_HASH.into(), "x".into());
        assert_eq!(template_hash(&labeled), template_hash(&template("nginx:1")));
    }

    #[test]
    fn different_templates_hash_differently() {
        assert_ne!(
            template_hash(&template("nginx:1")),
            template_hash(&template("nginx:2"))
        );
    }

    #[test]
    fn rendering_is_little_endian_base_27() {
        assert_eq!(render(0), "b");
        assert_eq!(render(27), "bc");
        assert_eq!(render(u64::MAX).len(), MAX_LEN);
    }
}
