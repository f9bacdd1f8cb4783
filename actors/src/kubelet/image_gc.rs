//! Image garbage collection on this node, as the kubelet's image GC manager runs it: every
//! [`PERIOD`], if the disk holding the image store is used at or above the high threshold, the
//! images no pod bound here names go, least recently used first, until usage is below the low
//! threshold. The store decides ([`flotilla_images::gc`]); this says which images are in use,
//! runs the store's work on the blocking pool (it locks the store) and logs what went.

use std::collections::BTreeSet;
use std::time::Duration;

use flotilla_images::reference::Reference;
use flotilla_images::{GcPlan, ImageStore};
use flotilla_kernel::object::{Container, Pod};

use super::AgentState;

/// The kubelet's ImageGCPeriod.
pub const PERIOD: Duration = Duration::from_secs(5 * 60);

/// Starts a collection unless the policy turns it off; the agent goes on meanwhile.
pub fn collect(state: &AgentState) {
    let args = &state.args;
    if args.image_gc.is_disabled() {
        return;
    }
    let (dir, policy) = (args.image_dir.clone(), args.image_gc);
    let in_use = in_use(state.pods.values().map(|entry| &entry.pod));
    tokio::spawn(async move {
        let work = tokio::task::spawn_blocking(move || {
            let mut store = ImageStore::open(&dir)?;
            let disk = store.disk_usage()?;
            store.collect_images(policy, disk, &in_use)
        });
        match work.await {
            Ok(Ok(Some(plan))) => report(&plan),
            Ok(Ok(None)) => {}
            Ok(Err(error)) => tracing::warn!(%error, "image garbage collection failed"),
            Err(error) => tracing::error!(%error, "image garbage collection did not finish"),
        }
    });
}

/// The images the containers of `pods` name, as the store names them. A pod bound here keeps
/// its images whether its containers run, wait to start or are being stopped.
fn in_use<'a>(pods: impl Iterator<Item = &'a Pod>) -> BTreeSet<String> {
    pods.flat_map(|pod| pod.spec.all_containers())
        .filter(|container| container.image != Container::HOST_IMAGE)
        .filter_map(|container| Reference::parse(&container.image).ok())
        .map(|reference| reference.to_string())
        .collect()
}

fn report(plan: &GcPlan) {
    for (image, bytes) in &plan.remove {
        tracing::info!(%image, bytes, "image garbage collection removed an unused image");
    }
    if plan.falls_short() {
        // The kubelet's words, for operators who search for them.
        tracing::warn!(
            "Failed to garbage collect required amount of images. Attempted to free {} bytes, \
             but only found {} bytes eligible to free",
            plan.to_free,
            plan.freed
        );
    }
}

#[cfg(test)]
mod tests {
    use flotilla_kernel::object::PodSpec;

    use super::*;

    fn pod(images: &[&str]) -> Pod {
        let container = |image: &&str| Container {
            name: image.replace(['/', ':', '.'], "-"),
            image: image.to_string(),
            ..Container::default()
        };
        Pod {
            spec: PodSpec {
                init_containers: images[..1].iter().map(container).collect(),
                containers: images[1..].iter().map(container).collect(),
                ..PodSpec::default()
            },
            ..Pod::default()
        }
    }

    #[test]
    fn the_images_pods_name_are_in_use_as_the_store_names_them() {
        let pods = [
            pod(&["busybox", "registry.local:5000/team/app:1.2"]),
            pod(&["busybox:latest", "host", "UPPER/Case"]),
        ];
        assert_eq!(
            in_use(pods.iter()),
            BTreeSet::from([
                "docker.io/library/busybox:latest".to_string(),
                "registry.local:5000/team/app:1.2".to_string(),
            ])
        );
    }
}
