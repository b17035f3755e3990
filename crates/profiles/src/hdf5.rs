//! A small read-only HDF5 reader, enough for CMap's GCTX (and HDF5 files written the same way).
//!
//! It reads what libhdf5 writes by default (h5py, MATLAB, cmapPy): superblocks 0–3, object
//! headers 1 and 2, groups as symbol tables or compact links, datasets stored compact,
//! contiguous or chunked (version-1 B-tree index) through the deflate, shuffle and Fletcher-32
//! filters, with integer, IEEE float and string (fixed or variable length) elements. Anything
//! else (dense link storage, the chunk indexes of `libver="latest"`, other filters, compound
//! types) is an error naming the file, the object and what is missing; never a guess.
//!
//! Every size read from the file is checked against the file's length before anything is
//! allocated: raw data may not exceed the file, inflated data may not exceed what the
//! declared shape needs.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Mutex;

use crate::error::{ProfileError, Result};

const SIGNATURE: &[u8; 8] = b"\x89HDF\r\n\x1a\n";
/// Deflate cannot expand data more than ≈ 1032×: a chunked dataset declaring more than its
/// stored chunks can inflate to is a corrupt header, not data.
const MAX_INFLATION: u64 = 1100;

/// An open HDF5 file.
pub struct Hdf5File {
    label: String,
    file: Mutex<File>,
    len: u64,
    offset_size: usize,
    length_size: usize,
    base: u64,
    root: u64,
}

/// The element type of a dataset.
#[derive(Debug, Clone, PartialEq)]
pub enum Datatype {
    /// Integers of `size` bytes.
    Int {
        /// Bytes per element (1, 2, 4 or 8).
        size: usize,
        /// Two's complement signed.
        signed: bool,
        /// Most significant byte first.
        big_endian: bool,
    },
    /// IEEE 754 binary32 or binary64.
    Float {
        /// Bytes per element (4 or 8).
        size: usize,
        /// Most significant byte first.
        big_endian: bool,
    },
    /// Text of a fixed number of bytes, padded.
    FixedString {
        /// Bytes per element.
        size: usize,
        /// Padded with spaces (else with NULs).
        space_padded: bool,
    },
    /// Text of any length, held in the file's global heap.
    VarString,
}

/// A dataset: its shape, element type and where its bytes are.
pub struct Dataset<'f> {
    file: &'f Hdf5File,
    name: String,
    /// Extent in each dimension (empty for a scalar).
    pub shape: Vec<usize>,
    /// Element type.
    pub datatype: Datatype,
    layout: Layout,
    filters: Vec<Filter>,
}

enum Layout {
    Compact(Vec<u8>),
    Contiguous { address: u64, size: u64 },
    Chunked { btree: u64, chunk: Vec<usize> },
}

#[derive(Clone, Copy)]
enum Filter {
    Deflate,
    Shuffle,
    Fletcher32,
}

/// A B-tree node's entry: the key's bytes and the child's address.
type BtreeEntry = (Vec<u8>, u64);

struct Message {
    kind: u16,
    flags: u8,
    data: Vec<u8>,
}

/// A little-endian cursor over bytes read from the file; running off the end is an error
/// naming `what`.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    what: &'a str,
    file: &'a Hdf5File,
}

impl<'a> Cursor<'a> {
    fn new(file: &'a Hdf5File, bytes: &'a [u8], what: &'a str) -> Self {
        Cursor {
            bytes,
            pos: 0,
            what,
            file,
        }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        match end {
            Some(end) => {
                let s = &self.bytes[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(self.file.error(format!("{} is truncated", self.what))),
        }
    }
    fn skip(&mut self, n: usize) -> Result<()> {
        self.take(n).map(|_| ())
    }
    fn uint(&mut self, n: usize) -> Result<u64> {
        Ok(le(self.take(n)?))
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(self.uint(2)? as u16)
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(self.uint(4)? as u32)
    }
    fn offset(&mut self) -> Result<u64> {
        self.uint(self.file.offset_size)
    }
    fn length(&mut self) -> Result<u64> {
        self.uint(self.file.length_size)
    }
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }
}

fn le(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .rev()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
}

/// An unsigned word of 1–8 bytes in either byte order.
fn word(bytes: &[u8], big_endian: bool) -> u64 {
    if big_endian {
        bytes.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x))
    } else {
        le(bytes)
    }
}

/// An integer element, sign-extended when `signed`.
fn integer(bytes: &[u8], signed: bool, big_endian: bool) -> i128 {
    let w = word(bytes, big_endian);
    if signed {
        let shift = 64 - 8 * bytes.len() as u32;
        i128::from(((w << shift) as i64) >> shift)
    } else {
        i128::from(w)
    }
}

fn undefined(address: u64, size: usize) -> bool {
    size >= 8 && address == u64::MAX || size < 8 && address == (1u64 << (8 * size)) - 1
}

impl Hdf5File {
    /// Opens a file and reads its superblock.
    pub fn open(path: &Path) -> Result<Self> {
        let mut file = File::open(path).map_err(|e| ProfileError::io(path, e))?;
        let len = file
            .metadata()
            .map_err(|e| ProfileError::io(path, e))?
            .len();
        let label = path.display().to_string();
        // The superblock sits at 0 or after a user block of 512, 1024, 2048, … bytes.
        let mut at = 0u64;
        let mut head = [0u8; 8];
        loop {
            if at + 8 > len {
                return Err(ProfileError::invalid(
                    &label,
                    "not an HDF5 file (no HDF5 signature at byte 0 or at any power of two \
                     from 512)",
                ));
            }
            file.seek(SeekFrom::Start(at))
                .and_then(|_| file.read_exact(&mut head))
                .map_err(|e| ProfileError::io(path, e))?;
            if &head == SIGNATURE {
                break;
            }
            at = if at == 0 { 512 } else { at * 2 };
        }
        let mut h = Hdf5File {
            label,
            file: Mutex::new(file),
            len,
            offset_size: 8,
            length_size: 8,
            base: 0,
            root: 0,
        };
        let sb = h.read_absolute(at, (len - at).min(256) as usize)?;
        let version = *sb
            .get(8)
            .ok_or_else(|| h.error("superblock is truncated"))?;
        let sizes = match version {
            0 | 1 => (sb.get(13), sb.get(14)),
            2 | 3 => (sb.get(9), sb.get(10)),
            v => return Err(h.error(format!("superblock version {v} (expected 0 to 3)"))),
        };
        let (o, l) = match sizes {
            (Some(&o), Some(&l)) => (o as usize, l as usize),
            _ => return Err(h.error("superblock is truncated")),
        };
        if ![2, 4, 8].contains(&o) || ![2, 4, 8].contains(&l) {
            return Err(h.error(format!(
                "superblock declares {o}-byte offsets and {l}-byte lengths (expected 2, 4 or 8)"
            )));
        }
        h.offset_size = o;
        h.length_size = l;
        let mut c = Cursor::new(&h, &sb, "superblock");
        if version <= 1 {
            c.skip(24)?;
            if version == 1 {
                c.skip(4)?;
            }
            let base = c.offset()?;
            c.skip(3 * o)?; // free space, end of file, driver information
            c.skip(o)?; // root entry: link name offset
            let root = c.offset()?;
            h.base = base;
            h.root = root;
        } else {
            c.skip(12)?;
            let base = c.offset()?;
            c.skip(2 * o)?; // superblock extension, end of file
            let root = c.offset()?;
            h.base = base;
            h.root = root;
        }
        Ok(h)
    }

    fn error(&self, message: impl Into<String>) -> ProfileError {
        // Object names come from the file and may hold control characters: one line always.
        ProfileError::invalid(&self.label, crate::io::escaped(&message.into()))
    }

    fn read_absolute(&self, at: u64, n: usize) -> Result<Vec<u8>> {
        if at.checked_add(n as u64).is_none_or(|end| end > self.len) {
            return Err(self.error(format!(
                "an object at byte {at} of {n} bytes runs past the end of the file \
                 ({} bytes); the file is truncated or corrupt",
                self.len
            )));
        }
        let mut buf = vec![0u8; n];
        let mut f = self.file.lock().unwrap_or_else(|p| p.into_inner());
        f.seek(SeekFrom::Start(at))
            .and_then(|_| f.read_exact(&mut buf))
            .map_err(|e| self.error(e.to_string()))?;
        Ok(buf)
    }

    /// Reads `n` bytes at a file address (relative to the base address).
    fn read(&self, address: u64, n: u64) -> Result<Vec<u8>> {
        let at = address
            .checked_add(self.base)
            .ok_or_else(|| self.error(format!("address {address} overflows")))?;
        let n = usize::try_from(n)
            .ok()
            .filter(|&n| (n as u64) <= self.len)
            .ok_or_else(|| {
                self.error(format!(
                    "an object declares {n} bytes, more than the whole file ({} bytes)",
                    self.len
                ))
            })?;
        self.read_absolute(at, n)
    }

    /// Reads up to `n` bytes at an address, fewer where the file ends first.
    fn read_upto(&self, address: u64, n: u64) -> Result<Vec<u8>> {
        let at = address.saturating_add(self.base);
        if at >= self.len {
            return Err(self.error(format!(
                "address {address} is past the end of the file ({} bytes)",
                self.len
            )));
        }
        self.read(address, n.min(self.len - at))
    }

    fn messages(&self, address: u64, what: &str) -> Result<Vec<Message>> {
        let mut out = Vec::new();
        let first = self.read_upto(address, 16)?;
        // Blocks of messages still to parse: (address, length, version-2 continuation?).
        let mut blocks: Vec<(u64, u64, bool)> = Vec::new();
        let v2 = first.starts_with(b"OHDR");
        let mut track_order = false;
        if v2 {
            let head = self.read_upto(address, 32)?;
            let mut c = Cursor::new(self, &head, what);
            c.skip(4)?;
            let version = c.u8()?;
            if version != 2 {
                return Err(self.error(format!("{what}: object header version {version}")));
            }
            let flags = c.u8()?;
            if flags & 0x20 != 0 {
                c.skip(16)?;
            }
            if flags & 0x10 != 0 {
                c.skip(4)?;
            }
            track_order = flags & 0x04 != 0;
            let size = c.uint(1 << (flags & 3))?;
            let start = address + c.pos as u64;
            blocks.push((start, size, false));
        } else {
            let mut c = Cursor::new(self, &first, what);
            let version = c.u8()?;
            if version != 1 {
                return Err(self.error(format!(
                    "{what}: object header at address {address} has version {version} \
                     (expected 1, or the signature OHDR of version 2)"
                )));
            }
            c.skip(7)?;
            let size = c.u32()?;
            blocks.push((address + 16, u64::from(size), false));
        }
        let mut seen = 0usize;
        while let Some((at, size, continuation)) = blocks.pop() {
            seen += 1;
            if seen > 10_000 {
                return Err(self.error(format!("{what}: object header continues in a loop")));
            }
            let bytes = self.read(at, size)?;
            let mut c = Cursor::new(self, &bytes, what);
            if v2 {
                if continuation && c.take(4)? != b"OCHK" {
                    return Err(self.error(format!(
                        "{what}: object header continuation at {at} lacks its signature"
                    )));
                }
                // The last 4 bytes are the checksum; a gap shorter than a message header may
                // precede it.
                let header = if track_order { 6 } else { 4 };
                while c.remaining() >= 4 + header {
                    let kind = u16::from(c.u8()?);
                    let len = c.u16()? as usize;
                    let flags = c.u8()?;
                    if track_order {
                        c.skip(2)?;
                    }
                    let data = c.take(len)?.to_vec();
                    out.push(Message { kind, flags, data });
                }
            } else {
                while c.remaining() >= 8 {
                    let kind = c.u16()?;
                    let len = c.u16()? as usize;
                    let flags = c.u8()?;
                    c.skip(3)?;
                    let data = c.take(len)?.to_vec();
                    out.push(Message { kind, flags, data });
                }
            }
            // Continuation messages found in this block come next.
            let mut found = Vec::new();
            for m in out.iter().filter(|m| m.kind == 0x10) {
                let mut c = Cursor::new(self, &m.data, what);
                found.push((c.offset()?, c.length()?, true));
            }
            out.retain(|m| m.kind != 0x10);
            found.reverse();
            blocks.extend(found);
        }
        Ok(out)
    }

    /// The object header address of a path (`/a/b`), following groups from the root.
    fn locate(&self, path: &str) -> Result<u64> {
        let mut address = self.root;
        let mut so_far = String::new();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            let members = self.links(address, &so_far)?;
            so_far.push('/');
            so_far.push_str(part);
            address = members
                .into_iter()
                .find(|(n, _)| n == part)
                .map(|(_, a)| a)
                .ok_or_else(|| self.error(format!("no object '{so_far}' in the file")))?;
        }
        Ok(address)
    }

    /// The names of a group's members, in the order the file stores them (by name for
    /// symbol-table groups, by creation for compact ones).
    pub fn members(&self, group: &str) -> Result<Vec<String>> {
        let address = self.locate(group)?;
        Ok(self
            .links(address, group)?
            .into_iter()
            .map(|(n, _)| n)
            .collect())
    }

    /// The paths of every dataset under `group` (`""` or `"/"` for the whole file), depth
    /// first in stored order; an object reached twice (hard links) is listed once.
    pub fn datasets_under(&self, group: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let start = group.trim_end_matches('/').to_string();
        let mut stack = vec![(start.clone(), self.locate(&start)?)];
        let mut visited = std::collections::HashSet::new();
        while let Some((path, address)) = stack.pop() {
            if !visited.insert(address) {
                continue;
            }
            let messages = self.messages(address, &format!("object '{path}'"))?;
            if messages
                .iter()
                .any(|m| matches!(m.kind, 0x02 | 0x06 | 0x11))
            {
                let mut children = self.links(address, &path)?;
                children.reverse();
                stack.extend(
                    children
                        .into_iter()
                        .map(|(name, child)| (format!("{path}/{name}"), child)),
                );
            } else {
                out.push(path);
            }
        }
        Ok(out)
    }

    fn links(&self, address: u64, group: &str) -> Result<Vec<(String, u64)>> {
        let what = format!("group '{}'", if group.is_empty() { "/" } else { group });
        let messages = self.messages(address, &what)?;
        let mut out = Vec::new();
        let mut is_group = false;
        for m in &messages {
            let mut c = Cursor::new(self, &m.data, &what);
            match m.kind {
                0x11 => {
                    is_group = true;
                    let btree = c.offset()?;
                    let heap = c.offset()?;
                    let names = self.local_heap(heap, &what)?;
                    let mut visited = std::collections::HashSet::new();
                    self.symbol_tree(btree, &names, &what, &mut out, &mut visited)?;
                }
                0x06 => {
                    is_group = true;
                    c.skip(1)?;
                    let flags = c.u8()?;
                    let kind = if flags & 0x08 != 0 { c.u8()? } else { 0 };
                    if flags & 0x04 != 0 {
                        c.skip(8)?;
                    }
                    if flags & 0x10 != 0 {
                        c.skip(1)?;
                    }
                    let name_len = c.uint(1 << (flags & 3))? as usize;
                    let name = String::from_utf8_lossy(c.take(name_len)?).into_owned();
                    if kind == 0 {
                        out.push((name, c.offset()?));
                    }
                }
                0x02 => {
                    is_group = true;
                    c.skip(1)?;
                    let flags = c.u8()?;
                    if flags & 1 != 0 {
                        c.skip(8)?;
                    }
                    let heap = c.offset()?;
                    if !undefined(heap, self.offset_size) {
                        return Err(self.error(format!(
                            "{what} keeps its links in dense storage (a fractal heap, as \
                             libhdf5 does for large groups with libver=\"latest\"), which this \
                             reader does not support; rewrite the file with the default \
                             libver"
                        )));
                    }
                }
                _ => {}
            }
        }
        if !is_group {
            return Err(self.error(format!("{what} is not a group")));
        }
        Ok(out)
    }

    /// The first `n` bytes at `address` (fewer where the file ends), which must start with the
    /// 4-byte `signature` of a `kind` of object.
    fn signed(
        &self,
        address: u64,
        n: u64,
        signature: &[u8; 4],
        kind: &str,
        what: &str,
    ) -> Result<Vec<u8>> {
        let head = self.read_upto(address, n)?;
        if !head.starts_with(signature) {
            return Err(self.error(format!("{what}: {kind} at {address} lacks its signature")));
        }
        Ok(head)
    }

    fn local_heap(&self, address: u64, what: &str) -> Result<Vec<u8>> {
        let head = self.signed(address, 40, b"HEAP", "local heap", what)?;
        let mut c = Cursor::new(self, &head, what);
        c.skip(8)?;
        let size = c.length()?;
        c.length()?;
        let data = c.offset()?;
        self.read(data, size)
    }

    fn symbol_tree(
        &self,
        address: u64,
        names: &[u8],
        what: &str,
        out: &mut Vec<(String, u64)>,
        visited: &mut std::collections::HashSet<u64>,
    ) -> Result<()> {
        if !visited.insert(address) {
            return Err(self.error(format!("{what}: group B-tree loops")));
        }
        let (level, children) = self.btree_node(address, 0, what, 0)?;
        for (_, child) in children {
            if level > 0 && self.btree_level(child)? != level - 1 {
                return Err(self.error(format!(
                    "{what}: a group B-tree node's child is not one level below it"
                )));
            }
            if level > 0 {
                self.symbol_tree(child, names, what, out, visited)?;
                continue;
            }
            let o = self.offset_size;
            let entry = 2 * o + 24;
            let head = self.signed(child, 8, b"SNOD", "symbol node", what)?;
            let mut c = Cursor::new(self, &head, what);
            c.skip(6)?;
            let n = c.u16()? as u64;
            let body = self.read(child + 8, n * entry as u64)?;
            let mut c = Cursor::new(self, &body, what);
            for _ in 0..n {
                let name_at = c.offset()? as usize;
                let header = c.offset()?;
                c.skip(24)?;
                let name = names
                    .get(name_at..)
                    .and_then(|s| s.split(|&b| b == 0).next())
                    .ok_or_else(|| {
                        self.error(format!("{what}: a link name lies outside its heap"))
                    })?;
                out.push((String::from_utf8_lossy(name).into_owned(), header));
            }
        }
        Ok(())
    }

    fn btree_level(&self, address: u64) -> Result<u8> {
        let head = self.read_upto(address, 6)?;
        head.get(5)
            .copied()
            .ok_or_else(|| self.error(format!("B-tree node at {address} is truncated")))
    }

    /// One version-1 B-tree node: its level and (key, child) pairs. `key_size` is the size of
    /// a key in bytes for chunk trees (type 1); group trees (type 0) use a length-sized key.
    fn btree_node(
        &self,
        address: u64,
        node_type: u8,
        what: &str,
        key_size: usize,
    ) -> Result<(u8, Vec<BtreeEntry>)> {
        let o = self.offset_size;
        let head = self.signed(address, 8 + 2 * o as u64, b"TREE", "B-tree node", what)?;
        let mut c = Cursor::new(self, &head, what);
        c.skip(4)?;
        let kind = c.u8()?;
        if kind != node_type {
            return Err(self.error(format!(
                "{what}: B-tree node at {address} has type {kind}, expected {node_type}"
            )));
        }
        let level = c.u8()?;
        let entries = c.u16()? as u64;
        let key = if node_type == 0 {
            self.length_size
        } else {
            key_size
        };
        let body_len = entries * (key + o) as u64 + key as u64;
        let body = self.read(address + 8 + 2 * o as u64, body_len)?;
        let mut c = Cursor::new(self, &body, what);
        let mut children = Vec::with_capacity(entries as usize);
        for _ in 0..entries {
            let k = c.take(key)?.to_vec();
            children.push((k, c.offset()?));
        }
        Ok((level, children))
    }

    /// A dataset by its path (`/0/DATA/0/matrix`).
    pub fn dataset(&self, path: &str) -> Result<Dataset<'_>> {
        let address = self.locate(path)?;
        let what = format!("dataset '{path}'");
        let messages = self.messages(address, &what)?;
        let find = |kind: u16, name: &str| -> Result<&Message> {
            let m = messages
                .iter()
                .find(|m| m.kind == kind)
                .ok_or_else(|| self.error(format!("{what} has no {name} (is it a group?)")))?;
            if m.flags & 0x02 != 0 {
                return Err(self.error(format!(
                    "{what}: its {name} is a shared (committed) message, not supported"
                )));
            }
            Ok(m)
        };
        let shape = self.dataspace(&find(0x01, "dataspace")?.data, &what)?;
        let datatype = self.datatype(&find(0x03, "datatype")?.data, &what)?;
        let layout = self.layout(&find(0x08, "data layout")?.data, &what, shape.len())?;
        let filters = match messages.iter().find(|m| m.kind == 0x0B) {
            Some(m) => self.filters(&m.data, &what)?,
            None => Vec::new(),
        };
        Ok(Dataset {
            file: self,
            name: what,
            shape,
            datatype,
            layout,
            filters,
        })
    }

    fn dataspace(&self, data: &[u8], what: &str) -> Result<Vec<usize>> {
        let mut c = Cursor::new(self, data, what);
        let version = c.u8()?;
        let rank = c.u8()? as usize;
        c.u8()?;
        match version {
            1 => c.skip(5)?,
            2 => {
                if c.u8()? == 2 {
                    return Err(self.error(format!("{what} has a null dataspace (no data)")));
                }
            }
            v => return Err(self.error(format!("{what}: dataspace version {v}"))),
        }
        (0..rank)
            .map(|_| {
                let d = c.length()?;
                usize::try_from(d)
                    .map_err(|_| self.error(format!("{what}: extent {d} is too large")))
            })
            .collect()
    }

    fn datatype(&self, data: &[u8], what: &str) -> Result<Datatype> {
        let mut c = Cursor::new(self, data, what);
        let class_version = c.u8()?;
        let bits = [c.u8()?, c.u8()?, c.u8()?];
        let size = c.u32()? as usize;
        let class = class_version & 0x0f;
        match class {
            0 => {
                if ![1, 2, 4, 8].contains(&size) {
                    return Err(self.error(format!("{what}: {size}-byte integers")));
                }
                Ok(Datatype::Int {
                    size,
                    signed: bits[0] & 0x08 != 0,
                    big_endian: bits[0] & 0x01 != 0,
                })
            }
            1 => {
                if bits[0] & 0x40 != 0 || ![4, 8].contains(&size) {
                    return Err(self.error(format!(
                        "{what}: a {size}-byte floating-point type that is not IEEE binary32 \
                         or binary64"
                    )));
                }
                Ok(Datatype::Float {
                    size,
                    big_endian: bits[0] & 0x01 != 0,
                })
            }
            3 => Ok(Datatype::FixedString {
                size,
                space_padded: bits[0] & 0x0f == 2,
            }),
            9 if bits[0] & 0x0f == 1 => Ok(Datatype::VarString),
            _ => {
                let name = match class {
                    2 => "time",
                    4 => "bit field",
                    5 => "opaque",
                    6 => "compound",
                    7 => "reference",
                    8 => "enumeration (h5py's booleans)",
                    9 => "variable-length sequence",
                    10 => "array",
                    _ => "unknown",
                };
                Err(self.error(format!(
                    "{what} has elements of datatype class {class} ({name}); this reader \
                     supports integers, IEEE floats and strings"
                )))
            }
        }
    }

    fn layout(&self, data: &[u8], what: &str, rank: usize) -> Result<Layout> {
        let mut c = Cursor::new(self, data, what);
        let version = c.u8()?;
        if version != 3 && version != 4 {
            return Err(self.error(format!(
                "{what}: data layout version {version} (this reader supports 3 and 4)"
            )));
        }
        match c.u8()? {
            0 => {
                let n = c.u16()? as usize;
                Ok(Layout::Compact(c.take(n)?.to_vec()))
            }
            1 => Ok(Layout::Contiguous {
                address: c.offset()?,
                size: c.length()?,
            }),
            2 if version == 3 => {
                let dims = c.u8()? as usize;
                if dims != rank + 1 {
                    return Err(self.error(format!(
                        "{what}: chunks of {} dimensions for data of {rank}",
                        dims.saturating_sub(1)
                    )));
                }
                let btree = c.offset()?;
                let chunk = (0..rank)
                    .map(|_| c.u32().map(|d| d as usize))
                    .collect::<Result<Vec<_>>>()?;
                if chunk.contains(&0) {
                    return Err(self.error(format!("{what}: a chunk dimension is 0")));
                }
                Ok(Layout::Chunked { btree, chunk })
            }
            2 => Err(self.error(format!(
                "{what} is chunked with a version-4 chunk index (files written with \
                 libver=\"latest\"), which this reader does not support; rewrite the file \
                 with the default libver"
            ))),
            k => Err(self.error(format!("{what}: data layout class {k}"))),
        }
    }

    fn filters(&self, data: &[u8], what: &str) -> Result<Vec<Filter>> {
        let mut c = Cursor::new(self, data, what);
        let version = c.u8()?;
        let n = c.u8()?;
        if version == 1 {
            c.skip(6)?;
        } else if version != 2 {
            return Err(self.error(format!("{what}: filter pipeline version {version}")));
        }
        let mut out = Vec::new();
        for _ in 0..n {
            let id = c.u16()?;
            let name_len = if version == 1 || id >= 256 {
                c.u16()? as usize
            } else {
                0
            };
            c.u16()?;
            let values = c.u16()? as usize;
            if version == 1 {
                c.skip(name_len.div_ceil(8) * 8)?;
            } else {
                c.skip(name_len)?;
            }
            c.skip(4 * values)?;
            if version == 1 && values % 2 == 1 {
                c.skip(4)?;
            }
            out.push(match id {
                1 => Filter::Deflate,
                2 => Filter::Shuffle,
                3 => Filter::Fletcher32,
                other => {
                    return Err(self.error(format!(
                        "{what} is compressed with HDF5 filter {other}; this reader supports \
                         deflate (1), shuffle (2) and Fletcher-32 (3)"
                    )))
                }
            });
        }
        Ok(out)
    }

    /// The bytes of one global-heap collection's objects, by index.
    fn global_heap(&self, address: u64, what: &str) -> Result<HashMap<u16, Vec<u8>>> {
        let head = self.signed(address, 16, b"GCOL", "global heap", what)?;
        let mut c = Cursor::new(self, &head, what);
        c.skip(8)?;
        let size = c.length()?;
        let bytes = self.read(address, size)?;
        let mut c = Cursor::new(self, &bytes, what);
        c.skip(8 + self.length_size)?;
        let mut out = HashMap::new();
        while c.remaining() >= 8 + self.length_size {
            let index = c.u16()?;
            if index == 0 {
                break; // free space to the end
            }
            c.skip(6)?;
            let n = c.length()? as usize;
            let data = c.take(n)?.to_vec();
            c.skip((n.div_ceil(8) * 8 - n).min(c.remaining()))?;
            out.insert(index, data);
        }
        Ok(out)
    }
}

impl Dataset<'_> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the dataset holds no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn element_size(&self) -> usize {
        match self.datatype {
            Datatype::Int { size, .. }
            | Datatype::Float { size, .. }
            | Datatype::FixedString { size, .. } => size,
            Datatype::VarString => 8 + self.file.offset_size,
        }
    }

    fn error(&self, message: impl std::fmt::Display) -> ProfileError {
        self.file.error(format!("{}: {message}", self.name))
    }

    /// All the elements' bytes, in row-major order.
    fn raw(&self) -> Result<Vec<u8>> {
        let e = self.element_size() as u64;
        let total = self
            .shape
            .iter()
            .try_fold(e, |acc, &d| acc.checked_mul(d as u64))
            .ok_or_else(|| self.error("its declared size overflows"))?;
        match &self.layout {
            Layout::Compact(bytes) => {
                if bytes.len() as u64 != total {
                    return Err(self.error(format!(
                        "holds {} bytes, its shape needs {total}",
                        bytes.len()
                    )));
                }
                Ok(bytes.clone())
            }
            Layout::Contiguous { address, size } => {
                if *size < total {
                    return Err(self.error(format!("holds {size} bytes, its shape needs {total}")));
                }
                if undefined(*address, self.file.offset_size) {
                    return Err(self.error("its data was never written"));
                }
                self.file.read(*address, total)
            }
            Layout::Chunked { btree, chunk } => self.chunked(*btree, chunk, total),
        }
    }

    fn chunked(&self, btree: u64, chunk: &[usize], total: u64) -> Result<Vec<u8>> {
        let e = self.element_size();
        let rank = self.shape.len();
        // A chunk may extend past a resizable dataset's current extent; its size only has to be
        // representable (what it inflates to is bounded by its stored bytes below).
        let chunk_bytes = chunk
            .iter()
            .try_fold(e, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| self.error("its chunk size overflows"))?;
        // The index first: every chunk's stored size, mask, origin and address.
        let mut leaves: Vec<(u64, u32, Vec<usize>, u64)> = Vec::new();
        let key_size = 8 + 8 * (rank + 1);
        let mut pending = vec![(btree, 0usize)];
        let mut visited = std::collections::HashSet::new();
        while let Some((node, depth)) = pending.pop() {
            if depth > 64 || !visited.insert(node) {
                return Err(self.error("its chunk B-tree is deeper than 64 levels or loops"));
            }
            let (level, children) = self.file.btree_node(node, 1, &self.name, key_size)?;
            for (key, child) in children {
                if level > 0 {
                    if self.file.btree_level(child)? != level - 1 {
                        return Err(
                            self.error("a chunk B-tree node's child is not one level below it")
                        );
                    }
                    pending.push((child, depth + 1));
                    continue;
                }
                let origin: Vec<usize> = (0..rank)
                    .map(|d| le(&key[8 + 8 * d..16 + 8 * d]) as usize)
                    .collect();
                if origin.iter().zip(&self.shape).any(|(&o, &s)| o >= s) {
                    return Err(self.error("a chunk lies outside the dataset"));
                }
                leaves.push((le(&key[0..4]), le(&key[4..8]) as u32, origin, child));
            }
        }
        // Before allocating: the stored chunks must be able to hold the data (deflate expands
        // at most ≈ 1,032×; the other filters keep the size).
        let expands = self.filters.iter().any(|f| matches!(f, Filter::Deflate));
        let producible: u64 = leaves
            .iter()
            .map(|l| {
                let most = if expands {
                    l.0.saturating_mul(MAX_INFLATION)
                } else {
                    l.0
                };
                most.min(chunk_bytes as u64)
            })
            .fold(0u64, u64::saturating_add);
        if total > producible {
            return Err(self.error(format!(
                "declares {total} bytes of data, more than its {} stored chunks can hold",
                leaves.len()
            )));
        }
        let mut out = vec![0u8; total as usize];
        let mut covered = 0u64;
        for (stored, mask, origin, address) in leaves {
            let bytes = self.file.read(address, stored)?;
            let bytes = self.unfilter(bytes, mask, chunk_bytes)?;
            covered += self.place(&bytes, &origin, chunk, &mut out);
        }
        if covered != self.len() as u64 {
            return Err(self.error(format!(
                "its chunks cover {covered} of {} elements (unwritten or overlapping chunks)",
                self.len()
            )));
        }
        Ok(out)
    }

    /// Undoes the filters (in reverse order, skipping those the chunk's mask marks as not
    /// applied); the result must be exactly one chunk.
    fn unfilter(&self, mut bytes: Vec<u8>, mask: u32, chunk_bytes: usize) -> Result<Vec<u8>> {
        for (i, filter) in self.filters.iter().enumerate().rev() {
            if mask & (1 << i) != 0 {
                continue;
            }
            bytes = match filter {
                Filter::Deflate => {
                    // Grows with what really inflates, at most one chunk (and a byte to tell).
                    let mut out =
                        Vec::with_capacity(chunk_bytes.min(bytes.len().saturating_mul(4)));
                    flate2::read::ZlibDecoder::new(&bytes[..])
                        .take(chunk_bytes as u64 + 1)
                        .read_to_end(&mut out)
                        .map_err(|e| self.error(format!("a chunk does not inflate: {e}")))?;
                    out
                }
                Filter::Shuffle => {
                    let e = self.element_size();
                    let n = bytes.len() / e;
                    let mut out = bytes.clone();
                    for b in 0..e {
                        for j in 0..n {
                            out[j * e + b] = bytes[b * n + j];
                        }
                    }
                    out
                }
                Filter::Fletcher32 => {
                    let keep = bytes.len().saturating_sub(4);
                    bytes.truncate(keep);
                    bytes
                }
            };
        }
        if bytes.len() != chunk_bytes {
            return Err(self.error(format!(
                "a chunk holds {} bytes after its filters, expected {chunk_bytes}",
                bytes.len()
            )));
        }
        Ok(bytes)
    }

    /// Copies the part of a chunk inside the dataset into place; returns the elements copied.
    fn place(&self, bytes: &[u8], origin: &[usize], chunk: &[usize], out: &mut [u8]) -> u64 {
        let e = self.element_size();
        let rank = self.shape.len();
        if rank == 0 {
            out.copy_from_slice(&bytes[..e]);
            return 1;
        }
        let extent: Vec<usize> = (0..rank)
            .map(|d| chunk[d].min(self.shape[d] - origin[d]))
            .collect();
        let run = extent[rank - 1];
        let mut index = vec![0usize; rank - 1];
        let mut copied = 0u64;
        'rows: loop {
            // Offsets of this row in the chunk and in the dataset (row-major).
            let (mut src, mut dst) = (0usize, 0usize);
            for d in 0..rank - 1 {
                src = src * chunk[d] + index[d];
                dst = dst * self.shape[d] + origin[d] + index[d];
            }
            src *= chunk[rank - 1];
            dst = dst * self.shape[rank - 1] + origin[rank - 1];
            out[dst * e..(dst + run) * e].copy_from_slice(&bytes[src * e..(src + run) * e]);
            copied += run as u64;
            for d in (0..rank - 1).rev() {
                index[d] += 1;
                if index[d] < extent[d] {
                    continue 'rows;
                }
                index[d] = 0;
            }
            break;
        }
        copied
    }

    /// The elements as `f64` (integers and floats; text is an error).
    pub fn read_f64(&self) -> Result<Vec<f64>> {
        self.numbers(&self.raw()?)
    }

    fn numbers(&self, raw: &[u8]) -> Result<Vec<f64>> {
        match self.datatype {
            Datatype::Float { size, big_endian } => Ok(raw
                .chunks_exact(size)
                .map(|b| {
                    let w = word(b, big_endian);
                    if size == 4 {
                        f64::from(f32::from_bits(w as u32))
                    } else {
                        f64::from_bits(w)
                    }
                })
                .collect()),
            Datatype::Int {
                size,
                signed,
                big_endian,
            } => Ok(raw
                .chunks_exact(size)
                .map(|b| integer(b, signed, big_endian) as f64)
                .collect()),
            _ => Err(self.error("holds text, expected numbers")),
        }
    }

    /// The elements as text: strings decoded as UTF-8 (padding removed), integers as digits,
    /// floats as Python's `repr` (NaN as empty text), as pandas prints them.
    pub fn read_text(&self) -> Result<Vec<String>> {
        let raw = self.raw()?;
        let utf8 = |b: &[u8]| -> Result<String> {
            String::from_utf8(b.to_vec()).map_err(|_| self.error("holds text that is not UTF-8"))
        };
        match self.datatype {
            Datatype::FixedString { size, space_padded } => raw
                .chunks_exact(size)
                .map(|b| {
                    let end = b.iter().position(|&x| x == 0).unwrap_or(b.len());
                    let mut b = &b[..end];
                    if space_padded {
                        while b.last() == Some(&b' ') {
                            b = &b[..b.len() - 1];
                        }
                    }
                    utf8(b)
                })
                .collect(),
            Datatype::VarString => {
                let o = self.file.offset_size;
                let mut heaps: HashMap<u64, HashMap<u16, Vec<u8>>> = HashMap::new();
                raw.chunks_exact(8 + o)
                    .map(|b| {
                        let len = le(&b[0..4]) as usize;
                        let collection = le(&b[4..4 + o]);
                        let index = le(&b[4 + o..8 + o]);
                        if len == 0 {
                            return Ok(String::new());
                        }
                        if let std::collections::hash_map::Entry::Vacant(slot) =
                            heaps.entry(collection)
                        {
                            slot.insert(self.file.global_heap(collection, &self.name)?);
                        }
                        let object = u16::try_from(index)
                            .ok()
                            .and_then(|i| heaps[&collection].get(&i))
                            .filter(|o| o.len() >= len)
                            .ok_or_else(|| {
                                self.error("a string is missing from the global heap")
                            })?;
                        utf8(&object[..len])
                    })
                    .collect()
            }
            Datatype::Float { size: 4, .. } => Ok(self
                .numbers(&raw)?
                .into_iter()
                .map(|v| crate::parquet_io::float32_repr(v as f32))
                .collect()),
            Datatype::Float { .. } => Ok(self
                .numbers(&raw)?
                .into_iter()
                .map(crate::parquet_io::python_repr)
                .collect()),
            Datatype::Int {
                size,
                signed,
                big_endian,
            } => Ok(raw
                .chunks_exact(size)
                .map(|b| integer(b, signed, big_endian).to_string())
                .collect()),
        }
    }
}
