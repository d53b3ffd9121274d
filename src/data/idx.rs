//! IDX files (MNIST, Fashion-MNIST), raw or gzip-compressed.

use anyhow::{bail, Context, Result};
use std::io::Read;
use std::path::Path;

/// An IDX array of unsigned bytes: its dimensions and its data, row-major.
#[derive(Debug)]
pub struct IdxArray {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const UNSIGNED_BYTE: u8 = 0x08;

/// Reads an IDX file; gzip is detected from the content, not the name.
pub fn read(path: &Path) -> Result<IdxArray> {
    let raw = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
    let bytes = if raw.starts_with(&GZIP_MAGIC) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .with_context(|| format!("{}: corrupt gzip stream", path.display()))?;
        out
    } else {
        raw
    };
    parse(&bytes).with_context(|| format!("{}", path.display()))
}

fn parse(bytes: &[u8]) -> Result<IdxArray> {
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
        bail!("not an IDX file (it does not start with the IDX magic number)");
    }
    if bytes[2] != UNSIGNED_BYTE {
        bail!(
            "IDX element type 0x{:02x} is not supported (only unsigned bytes, 0x08)",
            bytes[2]
        );
    }
    let ndims = bytes[3] as usize;
    let header = 4 + 4 * ndims;
    if ndims == 0 || bytes.len() < header {
        bail!("truncated IDX header");
    }
    let dims: Vec<usize> = bytes[4..header]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let expected: usize = dims.iter().product();
    let found = bytes.len() - header;
    if found < expected {
        bail!("truncated: its header announces {expected} bytes of data (dims {dims:?}), found {found}");
    }
    if found > expected {
        bail!(
            "{} unexpected bytes after the data (dims {dims:?})",
            found - expected
        );
    }
    Ok(IdxArray {
        dims,
        data: bytes[header..].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut b = vec![0, 0, UNSIGNED_BYTE, dims.len() as u8];
        for d in dims {
            b.extend_from_slice(&d.to_be_bytes());
        }
        b.extend_from_slice(data);
        b
    }

    #[test]
    fn parses_dims_and_data() {
        let a = parse(&idx(&[2, 3], &[1, 2, 3, 4, 5, 6])).unwrap();
        assert_eq!(a.dims, vec![2, 3]);
        assert_eq!(a.data, vec![1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn rejects_truncated_and_foreign_bytes() {
        let e = parse(&idx(&[2, 3], &[1, 2, 3])).unwrap_err().to_string();
        assert!(e.contains("truncated"), "{e}");
        let e = parse(b"PK\x03\x04 not idx").unwrap_err().to_string();
        assert!(e.contains("not an IDX file"), "{e}");
        let e = parse(&[0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0])
            .unwrap_err()
            .to_string();
        assert!(e.contains("not supported"), "{e}");
    }
}
