//! One nftables transaction: a JSON batch fed to `nft -j -f -`, which applies all of it or
//! none. Every table flotilla keeps (masquerade, services, policies) is written this way, one
//! process per batch, never one per rule.

use std::io::{self, Write};
use std::process::{Command, ExitStatus, Stdio};

use serde::Serialize;

/// The nftables command line tool.
pub const NFT: &str = "nft";

/// How much of nft's complaint an error keeps (a rejected batch of thousands of rules can
/// make it print them all).
const MAX_STDERR: usize = 4096;

/// Why a batch for one of flotilla's tables was not applied; the table is as it was.
#[derive(Debug, thiserror::Error)]
pub enum NftError {
    /// The batch could not be encoded as JSON.
    #[error("cannot encode the nftables batch for table ip {table}")]
    Encode {
        table: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// `nft` could not be run, or not be given its batch.
    #[error("cannot run `{NFT} -j -f -` for table ip {table}")]
    Run {
        table: &'static str,
        #[source]
        source: io::Error,
    },
    /// `nft` rejected the batch.
    #[error("`{NFT} -j -f -` failed for table ip {table} ({status}): {}", .stderr.trim())]
    Nft {
        table: &'static str,
        status: ExitStatus,
        stderr: String,
    },
}

/// Applies `batch` (an nftables JSON document) to `table` in one transaction.
pub fn apply(table: &'static str, batch: &impl Serialize) -> Result<(), NftError> {
    let json = serde_json::to_vec(batch).map_err(|source| NftError::Encode { table, source })?;
    let run_error = |source| NftError::Run { table, source };
    let mut nft = Command::new(NFT)
        .args(["-j", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(run_error)?;
    // nft reads all of its input before it writes anything, so this cannot deadlock. Should
    // it exit early, its stderr says more than the broken pipe.
    let written = match nft.stdin.take() {
        Some(mut stdin) => stdin.write_all(&json),
        None => Err(io::Error::other("nft's stdin was not piped")),
    };
    let output = nft.wait_with_output().map_err(run_error)?;
    if !output.status.success() {
        return Err(NftError::Nft {
            table,
            status: output.status,
            stderr: shortened(String::from_utf8_lossy(&output.stderr).into_owned()),
        });
    }
    written.map_err(run_error)
}

fn shortened(mut text: String) -> String {
    if text.len() > MAX_STDERR {
        let mut end = MAX_STDERR;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str(" …");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_complaints_are_cut_at_a_character() {
        let long = "é".repeat(MAX_STDERR);
        let cut = shortened(long);
        assert!(cut.ends_with(" …"));
        assert!(cut.len() <= MAX_STDERR + " …".len());
        assert_eq!(shortened("short".into()), "short");
    }
}
