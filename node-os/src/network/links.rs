//! Removing a network device the node made, such as its pods' bridge, when the node's network
//! is taken down.

use std::io;

use futures_util::TryStreamExt;

use super::netlink::Netlink;
use super::routes::into_io;

/// Deletes the device `name` in the calling thread's network namespace; a missing one is
/// fine.
pub async fn remove_link(name: &str) -> io::Result<()> {
    let netlink = Netlink::open()?;
    let handle = &netlink.handle;
    async {
        let found = handle
            .link()
            .get()
            .match_name(name)
            .execute()
            .try_next()
            .await;
        let link = match found {
            Ok(Some(link)) => link,
            Ok(None) => return Ok(()),
            Err(error) => {
                let error = into_io(error);
                return if error.raw_os_error() == Some(nix::libc::ENODEV) {
                    Ok(())
                } else {
                    Err(error)
                };
            }
        };
        handle
            .link()
            .del(link.header.index)
            .execute()
            .await
            .map_err(into_io)
    }
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_is_removed_and_a_missing_one_is_fine() {
        if !flotilla_test_policy::root_or_skip("a_link_is_removed_and_a_missing_one_is_fine") {
            return;
        }
        // A namespace of the test's own, gone with its thread.
        std::thread::spawn(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let made = std::process::Command::new("ip")
                .args(["link", "add", "fl-test-br", "type", "bridge"])
                .status()
                .unwrap();
            assert!(made.success());
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                remove_link("fl-test-br").await.unwrap();
                remove_link("fl-test-br").await.unwrap();
            });
            let left = std::process::Command::new("ip")
                .args(["link", "show", "fl-test-br"])
                .output()
                .unwrap();
            assert!(!left.status.success(), "the bridge is gone");
        })
        .join()
        .unwrap();
    }
}
