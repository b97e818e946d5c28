//! Minimal `.npy` (format 1.0) reader and writer for the dtypes model artifacts use, so that
//! `numpy.load("user_factors.npy")` works on a model directory with no topten code at all.

use std::io::{Read, Write};

/// Element types stored in model artifacts.
pub trait NpyElement: Copy + Default {
    /// numpy's dtype descriptor (little-endian).
    const DESCR: &'static str;
    /// Size in bytes.
    const SIZE: usize;
    /// Appends the little-endian bytes.
    fn write_le(self, out: &mut Vec<u8>);
    /// Reads from little-endian bytes of length `SIZE`.
    fn read_le(bytes: &[u8]) -> Self;
}

macro_rules! npy_element {
    ($t:ty, $descr:expr) => {
        impl NpyElement for $t {
            const DESCR: &'static str = $descr;
            const SIZE: usize = std::mem::size_of::<$t>();
            fn write_le(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn read_le(bytes: &[u8]) -> Self {
                <$t>::from_le_bytes(bytes.try_into().expect("element size"))
            }
        }
    };
}
npy_element!(f32, "<f4");
npy_element!(u32, "<u4");
npy_element!(i64, "<i8");

/// Why an `.npy` file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NpyError {
    /// Reading or writing failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Not an `.npy` file, or one this reader does not handle.
    #[error("not a supported .npy file: {0}")]
    Format(String),
}

/// Encodes an array of `shape` (row-major) into `.npy` bytes.
pub fn to_bytes<T: NpyElement>(data: &[T], shape: &[usize]) -> Vec<u8> {
    assert_eq!(
        shape.iter().product::<usize>(),
        data.len(),
        "shape does not match data"
    );
    let shape_txt = match shape {
        [n] => format!("({n},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {shape_txt}, }}",
        T::DESCR
    );
    // Magic (6) + version (2) + header length (2) + header, padded to 64 bytes, ending in \n.
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + data.len() * T::SIZE);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for &v in data {
        v.write_le(&mut out);
    }
    out
}

/// Writes an array to `out` in `.npy` format.
pub fn write<T: NpyElement, W: Write>(
    mut out: W,
    data: &[T],
    shape: &[usize],
) -> std::io::Result<()> {
    out.write_all(&to_bytes(data, shape))
}

/// Reads an `.npy` array of element type `T`; returns data and shape.
pub fn read<T: NpyElement, R: Read>(mut input: R) -> Result<(Vec<T>, Vec<usize>), NpyError> {
    let mut bytes = Vec::new();
    input.read_to_end(&mut bytes)?;
    from_bytes(&bytes)
}

/// Decodes `.npy` bytes of element type `T`.
pub fn from_bytes<T: NpyElement>(bytes: &[u8]) -> Result<(Vec<T>, Vec<usize>), NpyError> {
    let bad = |m: &str| NpyError::Format(m.to_owned());
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("missing magic string"));
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize,
            12,
        ),
        v => return Err(NpyError::Format(format!("unsupported version {v}"))),
    };
    let header = std::str::from_utf8(
        bytes
            .get(start..start + header_len)
            .ok_or_else(|| bad("truncated header"))?,
    )
    .map_err(|_| bad("header is not text"))?;
    if !header.contains(&format!("'descr': '{}'", T::DESCR)) {
        return Err(NpyError::Format(format!(
            "expected dtype {} in header {header}",
            T::DESCR
        )));
    }
    if header.contains("'fortran_order': True") {
        return Err(bad("fortran order is not supported"));
    }
    let shape_start = header.find("'shape': (").ok_or_else(|| bad("no shape"))? + 10;
    let shape_end = shape_start
        + header[shape_start..]
            .find(')')
            .ok_or_else(|| bad("no shape"))?;
    let shape: Vec<usize> = header[shape_start..shape_end]
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|_| bad("bad shape")))
        .collect::<Result<_, _>>()?;
    let n: usize = shape.iter().product();
    let body = &bytes[start + header_len..];
    if body.len() != n * T::SIZE {
        return Err(NpyError::Format(format!(
            "expected {} data bytes, found {}",
            n * T::SIZE,
            body.len()
        )));
    }
    Ok((body.chunks_exact(T::SIZE).map(T::read_le).collect(), shape))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_pads_header_to_64_bytes() {
        let data: Vec<f32> = (0..6).map(|v| v as f32 * 0.5).collect();
        let bytes = to_bytes(&data, &[2, 3]);
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + header_len) % 64, 0);
        assert_eq!(bytes[10 + header_len - 1], b'\n');
        let (back, shape) = from_bytes::<f32>(&bytes).unwrap();
        assert_eq!((back, shape), (data, vec![2, 3]));
        let (v, shape) = from_bytes::<i64>(&to_bytes(&[1i64, 2, 3], &[3])).unwrap();
        assert_eq!((v, shape), (vec![1, 2, 3], vec![3]));
    }

    #[test]
    fn rejects_wrong_dtype_and_truncation() {
        let bytes = to_bytes(&[1.0f32, 2.0], &[2]);
        assert!(from_bytes::<i64>(&bytes).is_err());
        assert!(from_bytes::<f32>(&bytes[..bytes.len() - 1]).is_err());
    }
}
