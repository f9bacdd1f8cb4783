//! SHA-256 digests as the OCI image spec writes them (`sha256:` and 64 lowercase hex digits),
//! and a writer that computes one over what passes through it.

use std::fmt;
use std::io::{self, Write};

use ring::digest::{Context, SHA256};

use crate::error::ImageError;

const PREFIX: &str = "sha256:";

/// A blob's name: the SHA-256 of its bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest {
    hex: String,
}

impl Digest {
    /// Parses `sha256:HEX`; other algorithms are refused, as containerd refuses them by default.
    pub fn parse(text: &str) -> Result<Digest, ImageError> {
        let hex = text
            .strip_prefix(PREFIX)
            .ok_or_else(|| ImageError::InvalidDigest(text.to_string()))?;
        Digest::from_hex(hex).ok_or_else(|| ImageError::InvalidDigest(text.to_string()))
    }

    /// The digest an OCI descriptor names.
    pub fn named_by(descriptor: &oci_spec::image::Descriptor) -> Result<Digest, ImageError> {
        Digest::parse(descriptor.digest().as_ref())
    }

    /// The digest whose hex digits are `hex`, if they are 64 lowercase hex digits.
    pub fn from_hex(hex: &str) -> Option<Digest> {
        let valid = hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        valid.then(|| Digest {
            hex: hex.to_string(),
        })
    }

    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        let mut hasher = Hasher::new(io::sink());
        hasher.update(bytes);
        hasher.finish().0
    }

    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}", self.hex)
    }
}

/// Writes through to `inner`, hashing and counting the bytes.
pub struct Hasher<W> {
    inner: W,
    context: Context,
    written: u64,
}

impl<W> Hasher<W> {
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            context: Context::new(&SHA256),
            written: 0,
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        self.context.update(bytes);
        self.written += bytes.len() as u64;
    }

    /// The digest and size of everything written, and the inner writer.
    pub fn finish(self) -> (Digest, u64, W) {
        let hex = self
            .context
            .finish()
            .as_ref()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        (Digest { hex }, self.written, self.inner)
    }
}

impl<W: Write> Write for Hasher<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_of_nothing_is_sha256s() {
        assert_eq!(
            Digest::of(b"").to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn only_sha256_with_64_lowercase_hex_digits_parses() {
        let good = Digest::of(b"x").to_string();
        assert_eq!(Digest::parse(&good).unwrap().to_string(), good);
        for bad in [
            "sha512:abcd",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "sha256:e3b0",
            "sha256:../../../../etc/passwd",
        ] {
            assert!(
                matches!(Digest::parse(bad), Err(ImageError::InvalidDigest(_))),
                "{bad}"
            );
        }
    }
}
