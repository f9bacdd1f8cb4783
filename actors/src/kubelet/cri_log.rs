//! Reading the logs a CRI runtime writes. They are in the CRI's format, one line per write
//! or line of output: `2026-12-07T10:48:12.290450029Z stdout F text`, where `P` marks a
//! partial line whose text continues on the next entry and `F` a full one. What `logs` shows
//! is the text alone, as the kubelet shows it.

/// Turns CRI log bytes into the container's output, across chunks that may split an entry.
#[derive(Debug, Default)]
pub struct CriLogDecoder {
    /// The start of an entry whose end has not come yet.
    pending: Vec<u8>,
}

impl CriLogDecoder {
    /// The output in the complete entries of `bytes` (with what earlier chunks left).
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<u8> {
        self.pending.extend_from_slice(bytes);
        let Some(last_newline) = self.pending.iter().rposition(|byte| *byte == b'\n') else {
            return Vec::new();
        };
        let rest = self.pending.split_off(last_newline + 1);
        let complete = std::mem::replace(&mut self.pending, rest);
        decode(&complete)
    }
}

/// The output in the CRI log entries of `bytes`; an entry cut off at the end is dropped, and
/// a line not in the format is kept as it is.
pub fn decode(bytes: &[u8]) -> Vec<u8> {
    let mut output = Vec::with_capacity(bytes.len());
    for entry in bytes.split_inclusive(|byte| *byte == b'\n') {
        let Some(entry) = entry.strip_suffix(b"\n") else {
            continue;
        };
        match text_of(entry) {
            Some((text, full)) => {
                output.extend_from_slice(text);
                if full {
                    output.push(b'\n');
                }
            }
            None => {
                output.extend_from_slice(entry);
                output.push(b'\n');
            }
        }
    }
    output
}

/// The text of one entry and whether it ends a line.
fn text_of(entry: &[u8]) -> Option<(&[u8], bool)> {
    let mut fields = entry.splitn(4, |byte| *byte == b' ');
    let _time = fields.next()?;
    let stream = fields.next()?;
    if stream != b"stdout" && stream != b"stderr" {
        return None;
    }
    let tag = fields.next()?;
    let full = match tag.first() {
        Some(b'F') => true,
        Some(b'P') => false,
        _ => return None,
    };
    Some((fields.next().unwrap_or_default(), full))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &[u8] = b"2026-12-07T10:48:12.290450029Z stdout F hello\n\
        2026-12-07T10:48:12.290450030Z stderr P par\n\
        2026-12-07T10:48:12.290450031Z stderr F tial\n\
        2026-12-07T10:48:12.290450032Z stdout F \n";

    #[test]
    fn entries_become_the_output() {
        assert_eq!(decode(LOG), b"hello\npartial\n\n");
        assert_eq!(decode(b"not a cri line\n"), b"not a cri line\n");
    }

    #[test]
    fn chunks_split_anywhere_decode_the_same() {
        for cut in 0..LOG.len() {
            let mut decoder = CriLogDecoder::default();
            let mut output = decoder.feed(&LOG[..cut]);
            output.extend(decoder.feed(&LOG[cut..]));
            assert_eq!(output, b"hello\npartial\n\n", "cut at {cut}");
        }
    }
}
