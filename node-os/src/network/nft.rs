//! One nftables transaction: a JSON batch fed to `nft -j -f -`, which applies all of it or
//! none. Every table flotilla keeps (masquerade, services, policies) is written this way, one
//! process per batch, never one per rule.

use std::borrow::Cow;
use std::io::{self, Write};
use std::process::{Command, ExitStatus, Stdio};

use nftables::expr::Expression;
use nftables::schema::{Chain, Element, FlushObject, NfCmd, NfListObject, Rule, SetTypeValue};
use nftables::stmt::Statement;
use nftables::types::NfFamily;
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

/// One `nft -j -f -` input for one of flotilla's `ip` tables: the `nftables` crate's typed
/// commands, plus the declarations of verdict maps, which the crate cannot express (its
/// `SetType` has no `verdict`) and are typed here.
#[derive(Debug, Serialize)]
pub struct Batch<'a> {
    #[serde(skip)]
    table: &'static str,
    nftables: Vec<BatchCommand<'a>>,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
enum BatchCommand<'a> {
    Nft(NfCmd<'a>),
    AddVerdictMap { add: VerdictMapObject },
}

#[derive(Debug, Serialize)]
struct VerdictMapObject {
    map: VerdictMap,
}

/// `map NAME { type KEY : verdict }`.
#[derive(Debug, Serialize)]
struct VerdictMap {
    family: NfFamily,
    table: &'static str,
    name: &'static str,
    #[serde(rename = "type")]
    key: SetTypeValue<'static>,
    map: &'static str,
}

impl<'a> Batch<'a> {
    /// An empty batch for table `ip <table>`.
    pub fn new(table: &'static str) -> Self {
        Self {
            table,
            nftables: Vec::new(),
        }
    }

    pub fn add(&mut self, object: NfListObject<'a>) {
        self.nftables.push(BatchCommand::Nft(NfCmd::Add(object)));
    }

    pub fn delete(&mut self, object: NfListObject<'a>) {
        self.nftables.push(BatchCommand::Nft(NfCmd::Delete(object)));
    }

    pub fn flush(&mut self, object: FlushObject<'a>) {
        self.nftables.push(BatchCommand::Nft(NfCmd::Flush(object)));
    }

    /// Declares the verdict map `name` keyed by `key`.
    pub fn add_verdict_map(&mut self, name: &'static str, key: SetTypeValue<'static>) {
        self.nftables.push(BatchCommand::AddVerdictMap {
            add: VerdictMapObject {
                map: VerdictMap {
                    family: NfFamily::IP,
                    table: self.table,
                    name,
                    key,
                    map: "verdict",
                },
            },
        });
    }

    /// A regular chain of the table.
    pub fn chain(&self, name: impl Into<Cow<'a, str>>) -> Chain<'a> {
        Chain {
            family: NfFamily::IP,
            table: self.table.into(),
            name: name.into(),
            ..Chain::default()
        }
    }

    pub fn add_chain(&mut self, name: impl Into<Cow<'a, str>>) {
        let chain = self.chain(name);
        self.add(NfListObject::Chain(chain));
    }

    pub fn add_rule(&mut self, chain: impl Into<Cow<'a, str>>, expr: Vec<Statement<'a>>) {
        self.add(NfListObject::Rule(Rule {
            family: NfFamily::IP,
            table: self.table.into(),
            chain: chain.into(),
            expr: Cow::Owned(expr),
            ..Rule::default()
        }));
    }

    /// `add element` (or `delete element`) of `elements` to `set`, if there are any.
    pub fn elements(&mut self, add: bool, set: &'a str, elements: Vec<Expression<'a>>) {
        if elements.is_empty() {
            return;
        }
        let object = NfListObject::Element(Element {
            family: NfFamily::IP,
            table: self.table.into(),
            name: set.into(),
            elem: Cow::Owned(elements),
        });
        if add {
            self.add(object);
        } else {
            self.delete(object);
        }
    }

    /// Applies the batch in one transaction.
    pub fn apply(&self) -> Result<(), NftError> {
        apply(self.table, self)
    }
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
