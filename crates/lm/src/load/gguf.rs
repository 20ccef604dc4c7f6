//! GGUF v2/v3 files: metadata, tensor directory, tensor data (llama.cpp's model format).
//!
//! Layout: magic `GGUF`, version (u32), tensor count and metadata count (u64), the metadata
//! key–value pairs, the tensor infos (name, dims innermost first, ggml type, offset), padding
//! to `general.alignment` (default 32), then the tensor data. All integers little-endian.
//!
//! Every length read from the file is checked against a cap and against the bytes that are
//! actually left before anything is allocated, so a hostile or truncated file is an error,
//! never a panic or a huge allocation.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use crate::error::{Error, Result};
use crate::load::quant::{GgmlType, dequantize};

const MAGIC: &[u8; 4] = b"GGUF";
const DEFAULT_ALIGNMENT: u64 = 32;
/// Longest metadata string accepted: chat templates run to tens of KiB; 16 MiB leaves room
/// without letting a corrupt length allocate gigabytes.
const MAX_STRING_BYTES: u64 = 16 << 20;
/// Longest metadata array: vocabularies and merge lists reach a few hundred thousand entries.
const MAX_ARRAY_LEN: u64 = 1 << 24;
/// Arrays of arrays are legal but nothing real nests deeper than this.
const MAX_ARRAY_DEPTH: usize = 4;
/// Most metadata pairs and tensors: real files have hundreds to tens of thousands.
const MAX_ENTRIES: u64 = 1 << 20;
/// ggml tensors have at most four dimensions.
const MAX_DIMS: u32 = 4;

/// A metadata value.
#[derive(Clone, Debug, PartialEq)]
#[allow(missing_docs)]
pub enum MetadataValue {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    String(String),
    Array(Vec<MetadataValue>),
    U64(u64),
    I64(i64),
    F64(f64),
}

impl MetadataValue {
    /// The GGUF type name, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::U8(_) => "u8",
            Self::I8(_) => "i8",
            Self::U16(_) => "u16",
            Self::I16(_) => "i16",
            Self::U32(_) => "u32",
            Self::I32(_) => "i32",
            Self::F32(_) => "f32",
            Self::Bool(_) => "bool",
            Self::String(_) => "string",
            Self::Array(_) => "array",
            Self::U64(_) => "u64",
            Self::I64(_) => "i64",
            Self::F64(_) => "f64",
        }
    }

    /// The value as an unsigned integer, if it is a non-negative integer of any width.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Self::U8(v) => Some(v.into()),
            Self::U16(v) => Some(v.into()),
            Self::U32(v) => Some(v.into()),
            Self::U64(v) => Some(v),
            Self::I8(v) => u64::try_from(v).ok(),
            Self::I16(v) => u64::try_from(v).ok(),
            Self::I32(v) => u64::try_from(v).ok(),
            Self::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as a float, if it is any float or integer.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Self::F32(v) => Some(v.into()),
            Self::F64(v) => Some(v),
            Self::I8(v) => Some(v.into()),
            Self::I16(v) => Some(v.into()),
            Self::I32(v) => Some(v.into()),
            Self::I64(v) => Some(v as f64),
            _ => self.as_u64().map(|v| v as f64),
        }
    }
}

/// Where a tensor lives and what it holds.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    /// Name as stored, e.g. `blk.0.attn_q.weight`.
    pub name: String,
    /// Dimensions in ggml order: innermost (contiguous) first.
    pub dims: Vec<u64>,
    /// Element type.
    pub ggml_type: GgmlType,
    /// Offset of the data from the start of the data section, bytes.
    pub offset: u64,
    /// Size of the data, bytes.
    pub n_bytes: u64,
}

impl TensorInfo {
    /// Shape in row-major order (outermost first), as PyTorch and burn write it.
    pub fn shape(&self) -> Vec<usize> {
        self.dims.iter().rev().map(|&d| d as usize).collect()
    }

    /// Number of elements.
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }
}

/// An open GGUF stream: the parsed header, and the reader for tensor data.
#[derive(Debug)]
pub struct Gguf<R> {
    reader: R,
    version: u32,
    metadata: Vec<(String, MetadataValue)>,
    metadata_index: HashMap<String, usize>,
    tensors: Vec<TensorInfo>,
    tensor_index: HashMap<String, usize>,
    data_start: u64,
}

impl Gguf<BufReader<File>> {
    /// Opens and parses the header of a GGUF file; tensor data is read on demand.
    pub fn open(path: &Path) -> Result<Self> {
        let io = atomic_write::io_error(path);
        let file = File::open(path).map_err(io)?;
        Self::read(BufReader::new(file))
    }
}

impl<R: Read + Seek> Gguf<R> {
    /// Parses the header from a seekable stream positioned anywhere (it rewinds).
    pub fn read(mut reader: R) -> Result<Self> {
        let len = reader.seek(SeekFrom::End(0)).map_err(|e| io_error(0, e))?;
        reader
            .seek(SeekFrom::Start(0))
            .map_err(|e| io_error(0, e))?;
        let mut parser = Parser {
            reader: &mut reader,
            offset: 0,
            len,
        };
        let header = parser.header()?;
        let data_start = parser.offset.next_multiple_of(header.alignment);
        for tensor in &header.tensors {
            let end = data_start
                .checked_add(tensor.offset)
                .and_then(|start| start.checked_add(tensor.n_bytes));
            if end.is_none_or(|end| end > len) {
                return Err(Error::Gguf {
                    offset: len,
                    reason: format!(
                        "tensor `{}` ({} bytes at data offset {}) runs past the end of the file",
                        tensor.name, tensor.n_bytes, tensor.offset
                    ),
                });
            }
        }
        let metadata_index = header
            .metadata
            .iter()
            .enumerate()
            .map(|(i, (key, _))| (key.clone(), i))
            .collect();
        let tensor_index = header
            .tensors
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.clone(), i))
            .collect();
        Ok(Self {
            reader,
            version: header.version,
            metadata: header.metadata,
            metadata_index,
            tensors: header.tensors,
            tensor_index,
            data_start,
        })
    }

    /// Format version (2 or 3).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// All metadata pairs in file order.
    pub fn metadata(&self) -> &[(String, MetadataValue)] {
        &self.metadata
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&MetadataValue> {
        self.metadata_index.get(key).map(|&i| &self.metadata[i].1)
    }

    /// The value of `key`, or an error naming the missing key.
    pub fn require(&self, key: &str) -> Result<&MetadataValue> {
        self.get(key)
            .ok_or_else(|| Error::MissingMetadata { key: key.into() })
    }

    /// An integer value of `key` (any integer width), or an error naming the key.
    pub fn require_u64(&self, key: &str) -> Result<u64> {
        let value = self.require(key)?;
        value.as_u64().ok_or_else(|| Error::MetadataType {
            key: key.into(),
            expected: "a non-negative integer",
            found: value.type_name(),
        })
    }

    /// A numeric value of `key`, or an error naming the key.
    pub fn require_f64(&self, key: &str) -> Result<f64> {
        let value = self.require(key)?;
        value.as_f64().ok_or_else(|| Error::MetadataType {
            key: key.into(),
            expected: "a number",
            found: value.type_name(),
        })
    }

    /// A string value of `key`, or an error naming the key.
    pub fn require_str(&self, key: &str) -> Result<&str> {
        match self.require(key)? {
            MetadataValue::String(s) => Ok(s),
            other => Err(Error::MetadataType {
                key: key.into(),
                expected: "a string",
                found: other.type_name(),
            }),
        }
    }

    /// All tensor infos in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// The info of tensor `name`, or an error naming it.
    pub fn tensor_info(&self, name: &str) -> Result<&TensorInfo> {
        self.tensor_index
            .get(name)
            .map(|&i| &self.tensors[i])
            .ok_or_else(|| Error::MissingTensor { name: name.into() })
    }

    /// The raw bytes of tensor `name`.
    pub fn tensor_bytes(&mut self, name: &str) -> Result<Vec<u8>> {
        let info = self.tensor_info(name)?.clone();
        let start = self.data_start + info.offset;
        self.reader
            .seek(SeekFrom::Start(start))
            .map_err(|e| io_error(start, e))?;
        let mut bytes = vec![0; info.n_bytes as usize];
        self.reader
            .read_exact(&mut bytes)
            .map_err(|e| io_error(start, e))?;
        Ok(bytes)
    }

    /// Tensor `name` dequantised to f32, with its row-major shape.
    ///
    /// # Shapes
    /// Returns `(shape, values)` with `values.len()` = product of `shape`.
    pub fn tensor_f32(&mut self, name: &str) -> Result<(Vec<usize>, Vec<f32>)> {
        let info = self.tensor_info(name)?.clone();
        let bytes = self.tensor_bytes(name)?;
        let mut values = Vec::new();
        dequantize(info.ggml_type, &info.name, &bytes, &mut values)?;
        Ok((info.shape(), values))
    }
}

fn io_error(offset: u64, source: std::io::Error) -> Error {
    Error::Gguf {
        offset,
        reason: format!("read failed: {source}"),
    }
}

/// The parsed header.
struct Header {
    version: u32,
    metadata: Vec<(String, MetadataValue)>,
    tensors: Vec<TensorInfo>,
    alignment: u64,
}

/// A bounds-checked little-endian reader that knows how many bytes remain.
struct Parser<'a, R> {
    reader: &'a mut R,
    offset: u64,
    len: u64,
}

impl<R: Read> Parser<'_, R> {
    fn header(&mut self) -> Result<Header> {
        let magic = self.bytes(4)?;
        if magic != MAGIC {
            return Err(self.error(0, format!("bad magic {magic:02x?}, expected \"GGUF\"")));
        }
        let version = self.u32()?;
        if !(2..=3).contains(&version) {
            return Err(self.error(4, format!("unsupported version {version} (reads 2 and 3)")));
        }
        let n_tensors = self.count("tensor count", MAX_ENTRIES)?;
        let n_metadata = self.count("metadata count", MAX_ENTRIES)?;

        let mut metadata = Vec::new();
        let mut seen = HashMap::new();
        for _ in 0..n_metadata {
            let at = self.offset;
            let key = self.string()?;
            let value_type = self.u32()?;
            let value = self.value(value_type, 0)?;
            if seen.insert(key.clone(), ()).is_some() {
                return Err(self.error(at, format!("duplicate metadata key `{key}`")));
            }
            metadata.push((key, value));
        }
        let alignment = match metadata.iter().find(|(k, _)| k == "general.alignment") {
            None => DEFAULT_ALIGNMENT,
            Some((_, value)) => match value.as_u64() {
                Some(a) if a > 0 && a.is_power_of_two() && a <= 1 << 20 => a,
                _ => {
                    return Err(self.error(
                        self.offset,
                        format!("general.alignment {value:?} is not a power of two ≤ 1 MiB"),
                    ));
                }
            },
        };

        let mut tensors: Vec<TensorInfo> = Vec::new();
        let mut names = HashMap::new();
        for _ in 0..n_tensors {
            let at = self.offset;
            let tensor = self.tensor_info(alignment)?;
            if names.insert(tensor.name.clone(), ()).is_some() {
                return Err(self.error(at, format!("duplicate tensor `{}`", tensor.name)));
            }
            tensors.push(tensor);
        }
        Ok(Header {
            version,
            metadata,
            tensors,
            alignment,
        })
    }

    fn tensor_info(&mut self, alignment: u64) -> Result<TensorInfo> {
        let at = self.offset;
        let name = self.string()?;
        let n_dims = self.u32()?;
        if n_dims == 0 || n_dims > MAX_DIMS {
            return Err(self.error(
                at,
                format!("tensor `{name}` has {n_dims} dimensions (1 to 4)"),
            ));
        }
        let dims = (0..n_dims)
            .map(|_| self.u64())
            .collect::<Result<Vec<_>>>()?;
        let type_id = self.u32()?;
        let offset = self.u64()?;
        let ggml_type =
            GgmlType::from_id(type_id).ok_or_else(|| Error::UnsupportedQuantization {
                tensor: name.clone(),
                type_name: format!("ggml type id {type_id}"),
            })?;
        let n_elements = dims
            .iter()
            .try_fold(1_u64, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| self.error(at, format!("tensor `{name}`: element count overflows")))?;
        let n_bytes = ggml_type.bytes_for(n_elements).ok_or_else(|| {
            self.error(
                at,
                format!(
                    "tensor `{name}`: {n_elements} elements are not whole {} blocks",
                    ggml_type.name()
                ),
            )
        })?;
        if !offset.is_multiple_of(alignment) {
            return Err(self.error(
                at,
                format!("tensor `{name}`: offset {offset} is not a multiple of {alignment}"),
            ));
        }
        Ok(TensorInfo {
            name,
            dims,
            ggml_type,
            offset,
            n_bytes,
        })
    }

    fn value(&mut self, value_type: u32, depth: usize) -> Result<MetadataValue> {
        use MetadataValue as V;
        Ok(match value_type {
            0 => V::U8(self.array::<1>()?[0]),
            1 => V::I8(i8::from_le_bytes(self.array()?)),
            2 => V::U16(u16::from_le_bytes(self.array()?)),
            3 => V::I16(i16::from_le_bytes(self.array()?)),
            4 => V::U32(self.u32()?),
            5 => V::I32(i32::from_le_bytes(self.array()?)),
            6 => V::F32(f32::from_le_bytes(self.array()?)),
            7 => match self.array::<1>()?[0] {
                0 => V::Bool(false),
                1 => V::Bool(true),
                other => return Err(self.error(self.offset - 1, format!("bool byte {other}"))),
            },
            8 => V::String(self.string()?),
            9 => {
                if depth >= MAX_ARRAY_DEPTH {
                    return Err(self.error(self.offset, "arrays nested too deeply".into()));
                }
                let element_type = self.u32()?;
                let count = self.count("array length", MAX_ARRAY_LEN)?;
                // Every element takes at least one byte, so `remaining` bounds the allocation.
                let mut items = Vec::with_capacity(count.min(self.remaining()) as usize);
                for _ in 0..count {
                    items.push(self.value(element_type, depth + 1)?);
                }
                V::Array(items)
            }
            10 => V::U64(self.u64()?),
            11 => V::I64(i64::from_le_bytes(self.array()?)),
            12 => V::F64(f64::from_le_bytes(self.array()?)),
            other => {
                return Err(self.error(self.offset - 4, format!("unknown value type {other}")));
            }
        })
    }

    fn string(&mut self) -> Result<String> {
        let at = self.offset;
        let len = self.count("string length", MAX_STRING_BYTES)?;
        let bytes = self.bytes(len)?;
        String::from_utf8(bytes).map_err(|_| self.error(at, "string is not valid UTF-8".into()))
    }

    /// A u64 count, checked against `limit`.
    fn count(&mut self, what: &'static str, limit: u64) -> Result<u64> {
        let at = self.offset;
        let value = self.u64()?;
        if value > limit {
            return Err(Error::LimitExceeded {
                what,
                value,
                limit,
                offset: at,
            });
        }
        Ok(value)
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut buf = [0; N];
        self.fill(&mut buf)?;
        Ok(buf)
    }

    fn bytes(&mut self, n: u64) -> Result<Vec<u8>> {
        if n > self.remaining() {
            return Err(self.truncated(n));
        }
        let mut buf = vec![0; n as usize];
        self.fill(&mut buf)?;
        Ok(buf)
    }

    fn fill(&mut self, buf: &mut [u8]) -> Result<()> {
        if buf.len() as u64 > self.remaining() {
            return Err(self.truncated(buf.len() as u64));
        }
        self.reader
            .read_exact(buf)
            .map_err(|e| io_error(self.offset, e))?;
        self.offset += buf.len() as u64;
        Ok(())
    }

    fn remaining(&self) -> u64 {
        self.len.saturating_sub(self.offset)
    }

    fn truncated(&self, needed: u64) -> Error {
        self.error(
            self.offset,
            format!(
                "truncated: {needed} more bytes needed, {} left",
                self.remaining()
            ),
        )
    }

    fn error(&self, offset: u64, reason: String) -> Error {
        Error::Gguf { offset, reason }
    }
}
